import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {Ajv} from 'ajv'

import {parseDocumentText} from '../../src/experiment/load.js'
import {documentSchema, SCHEMA_FILE, SCHEMA_ID, schemaText} from '../../src/experiment/schema.js'
import {EXAMPLES, FIXTURES} from './helpers.js'

/** Every property of every object schema, with its JSON pointer. */
function properties(schema: unknown, pointer = ''): Array<[string, Record<string, unknown>]> {
  if (typeof schema !== 'object' || schema === null) return []
  if (Array.isArray(schema)) return schema.flatMap((s, i) => properties(s, `${pointer}/${i}`))
  const s = schema as Record<string, unknown>
  const own = Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)
  return [
    ...own.map(([k, v]): [string, Record<string, unknown>] => [`${pointer}/properties/${k}`, v]),
    ...own.flatMap(([k, v]) => properties(v, `${pointer}/properties/${k}`)),
    ...['items', 'anyOf', 'additionalProperties', 'then', 'else'].flatMap(k => properties(s[k], `${pointer}/${k}`)),
    ...['patternProperties', '$defs'].flatMap(k =>
      Object.entries((s[k] ?? {}) as object).flatMap(([name, v]) => properties(v, `${pointer}/${k}/${name}`)),
    ),
  ]
}

function readExample(name: string): unknown {
  const loaded = parseDocumentText(readFileSync(join(EXAMPLES, name), 'utf8'), name)
  return JSON.parse(JSON.stringify(loaded.kind === 'Experiment' ? loaded.experiment : loaded.gameday))
}

describe('the published JSON Schema', () => {
  it('the committed schema/experiment.schema.json is generated from the model', () => {
    const committed = readFileSync(SCHEMA_FILE, 'utf8')
    assert.ok(
      committed === schemaText(),
      'schema/experiment.schema.json is stale: run `npm run schema` and commit the result',
    )
  })

  it('is one document for both kinds: $id, $defs and a switch on kind', () => {
    const schema = documentSchema()
    assert.equal(schema.$id, SCHEMA_ID)
    assert.deepEqual(Object.keys(schema.$defs as object).sort(), ['Experiment', 'GameDay'])
    assert.deepEqual(schema.then, {$ref: '#/$defs/GameDay'})
    assert.deepEqual(schema.else, {$ref: '#/$defs/Experiment'})
    assert.equal((schema.$defs as Record<string, {title: string}>).Experiment?.title, 'Experiment')
  })

  it('documents every field, so editors can explain it on hover', () => {
    const undocumented = properties(documentSchema())
      .filter(([, s]) => typeof s.description !== 'string' && s.$ref === undefined)
      .map(([p]) => p)
    assert.deepEqual(undocumented, [])
  })

  describe('checked by a plain JSON Schema validator, as an editor would', () => {
    const validate = new Ajv({allErrors: true, strict: false}).compile(documentSchema())

    for (const example of readdirSync(EXAMPLES).filter(f => f.endsWith('.yaml'))) {
      it(`accepts experiments/${example}`, () => {
        assert.ok(validate(readExample(example)), JSON.stringify(validate.errors))
      })
      it(`experiments/${example} names the schema for yaml-language-server`, () => {
        assert.match(
          readFileSync(join(EXAMPLES, example), 'utf8'),
          /^# yaml-language-server: \$schema=\.\.\/schema\/experiment\.schema\.json\n/,
        )
      })
    }

    it('accepts a GameDay and checks it as a GameDay, not as an Experiment', () => {
      const gameday = parseDocumentText(readFileSync(join(FIXTURES, 'gameday.yaml'), 'utf8'), 'gameday.yaml')
      assert.equal(gameday.kind, 'GameDay')
      const value = JSON.parse(JSON.stringify(gameday.kind === 'GameDay' ? gameday.gameday : undefined)) as Record<
        string,
        unknown
      >
      assert.ok(validate(value), JSON.stringify(validate.errors))
      assert.equal(validate({...value, kind: 'Experiment'}), false)
      assert.ok(validate.errors?.some(e => e.schemaPath.startsWith('#/$defs/Experiment')))
    })

    it('refuses what the loader refuses structurally', () => {
      const experiment = readExample('ratings-delay.yaml') as {spec: {faults: Array<Record<string, unknown>>}}
      experiment.spec.faults[0]!.delay = {fixedDelay: '7s'}
      assert.equal(validate(experiment), false)
      assert.ok(
        validate.errors?.some(
          e => e.keyword === 'required' && (e.params as {missingProperty: string}).missingProperty === 'percentage',
        ),
      )
    })
  })
})
