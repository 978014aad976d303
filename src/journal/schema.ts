/**
 * The journal's published JSON Schema (`schema/journal.schema.json`), generated from its one
 * TypeBox model (model.ts), and the check `chaos report` runs on a journal read from disk.
 * Run `npm run schema` after changing the model.
 */
import {writeFileSync} from 'node:fs'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'
import addFormats from 'ajv-formats'

import {Experiment} from '../experiment/model.js'
import {JournalDocument} from './model.js'

export {JOURNAL_SCHEMA_ID, JournalDocument, RunEvent} from './model.js'
import {JOURNAL_SCHEMA_ID} from './model.js'

/** Where the generated schema is committed, relative to this module (src/ or dist/). */
export const JOURNAL_SCHEMA_FILE = fileURLToPath(new URL('../../schema/journal.schema.json', import.meta.url))

/** The JSON Schema for journal.json, as a plain JSON value. */
export function journalSchema(): Record<string, unknown> {
  // JSON round trip drops TypeBox's symbol keys, leaving plain JSON Schema.
  const root = JSON.parse(JSON.stringify(JournalDocument)) as Record<string, unknown>
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: JOURNAL_SCHEMA_ID,
    ...root,
    $defs: {Experiment: JSON.parse(JSON.stringify(Experiment)) as unknown},
  }
}

/** The schema as the text committed to the repository. */
export function journalSchemaText(): string {
  return JSON.stringify(journalSchema(), null, 2) + '\n'
}

let validator: ValidateFunction | undefined

/** Why `value` is not a valid journal, one line per problem (`/events/3/t: must be >= 0`); empty when it is. */
export function journalIssues(value: unknown): string[] {
  if (validator === undefined) {
    const ajv = new Ajv({allErrors: true, strict: false, discriminator: true})
    addFormats.default(ajv, ['date-time'])
    validator = ajv.compile(journalSchema())
  }
  if (validator(value)) return []
  // "must match then schema" only repeats the missing property reported beside it.
  return (validator.errors ?? [])
    .filter(e => e.keyword !== 'if')
    .map((e: ErrorObject) => `${e.instancePath || '/'}: ${issueMessage(e)}`)
}

/** Ajv's message, naming the property where Ajv's own message does not. */
function issueMessage(e: ErrorObject): string {
  if (e.keyword === 'additionalProperties')
    return `has a property the journal does not know ("${String((e.params as {additionalProperty?: unknown}).additionalProperty)}")`
  return e.message ?? e.keyword
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href
if (invokedDirectly) {
  writeFileSync(JOURNAL_SCHEMA_FILE, journalSchemaText())
  process.stdout.write(`wrote ${JOURNAL_SCHEMA_FILE}\n`)
}
