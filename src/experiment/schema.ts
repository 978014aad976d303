/**
 * Generates the published JSON Schema (`schema/experiment.schema.json`) from the TypeBox model,
 * one document covering both kinds so an editor (yaml-language-server) can check any file.
 * Run `npm run schema` after changing model.ts; a test fails while the committed file is stale.
 */
import {writeFileSync} from 'node:fs'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {API_VERSION, definitions} from './model.js'

/** The schema's `$id`, the URL it is published under. */
export const SCHEMA_ID = 'https://faultline.dev/schema/experiment.schema.json'

/** Where the generated schema is committed, relative to this module (src/ or dist/). */
export const SCHEMA_FILE = fileURLToPath(new URL('../../schema/experiment.schema.json', import.meta.url))

/** The JSON Schema for experiment and GameDay files, as a plain JSON value. */
export function documentSchema(): Record<string, unknown> {
  // JSON round trip drops TypeBox's symbol keys, leaving plain JSON Schema.
  const $defs = JSON.parse(JSON.stringify(definitions)) as Record<string, unknown>
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: SCHEMA_ID,
    title: 'Faultline experiment file',
    description: `A chaos experiment (kind: Experiment) or an ordered list of them (kind: GameDay), apiVersion ${API_VERSION}.`,
    type: 'object',
    required: ['apiVersion', 'kind'],
    properties: {
      apiVersion: {const: API_VERSION, description: 'Always ' + API_VERSION + '.'},
      kind: {enum: ['Experiment', 'GameDay'], description: 'Experiment, or GameDay for a list of experiments.'},
    },
    if: {properties: {kind: {const: 'GameDay'}}, required: ['kind']},
    then: {$ref: '#/$defs/GameDay'},
    else: {$ref: '#/$defs/Experiment'},
    $defs,
  }
}

/** The schema as the text committed to the repository. */
export function schemaText(): string {
  return JSON.stringify(documentSchema(), null, 2) + '\n'
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  writeFileSync(SCHEMA_FILE, schemaText())
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`)
}
