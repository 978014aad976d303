import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'

import type {Static} from '@sinclair/typebox'
import {Ajv} from 'ajv'

import {
  JOURNAL_SCHEMA_FILE,
  JOURNAL_SCHEMA_ID,
  type JournalDocument as SchemaJournal,
  journalIssues,
  journalSchema,
  journalSchemaText,
  RunEvent as RunEventSchema,
} from '../../src/journal/schema.js'
import type {RunEvent} from '../../src/journal/events.js'
import type {JournalDocument} from '../../src/journal/journal.js'
import {fakeRunJournal} from '../report/fake-run.js'

// The journal fixtures: test/fixtures/journals/*.json.
const FIXTURE_DIR = new URL('../fixtures/journals/', import.meta.url)
const fixtures = readdirSync(FIXTURE_DIR).filter(f => f.endsWith('.json'))
const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(name, FIXTURE_DIR), 'utf8'))

// One model: the journal's TypeScript types are derived from the TypeBox model the schema is
// generated from (src/journal/model.ts), so there is no second copy to drift. These lines stop
// compiling if someone declares one again by hand.
export const documentIsTheModel = (doc: JournalDocument): SchemaJournal => doc
export const modelIsTheDocument = (doc: SchemaJournal): JournalDocument => doc
export const eventIsTheModel = (e: RunEvent): Static<typeof RunEventSchema> => e
export const modelIsTheEvent = (e: Static<typeof RunEventSchema>): RunEvent => e

describe('the journal JSON Schema (schema/journal.schema.json)', () => {
  it('the committed file is generated from src/journal/model.ts', () => {
    assert.ok(
      readFileSync(JOURNAL_SCHEMA_FILE, 'utf8') === journalSchemaText(),
      'schema/journal.schema.json is stale: run `npm run schema` and commit the result',
    )
  })

  it('names itself and carries the experiment model it refers to', () => {
    const schema = journalSchema()
    assert.equal(schema.$id, JOURNAL_SCHEMA_ID)
    assert.match(JSON.stringify(schema.properties), /"\$ref":"#\/\$defs\/Experiment"/)
    assert.equal((schema.$defs as Record<string, {title?: string}>).Experiment?.title, 'Experiment')
  })

  it('is read by a validator that knows nothing of Faultline (plain draft-07 ajv, no discriminator support)', () => {
    const validate = new Ajv({strict: false, validateFormats: false}).compile(journalSchema())
    for (const name of fixtures) assert.ok(validate(fixture(name)), `${name}: ${JSON.stringify(validate.errors)}`)
  })

  describe('accepts every fixture journal', () => {
    for (const name of fixtures) {
      it(name, () => assert.deepEqual(journalIssues(fixture(name)), []))
    }
  })

  describe('accepts journals the runner writes now (fake cluster, real runner)', function () {
    this.timeout(30_000)
    for (const scenario of ['held', 'revert-failed'] as const) {
      it(scenario, async () => {
        const doc = await fakeRunJournal(scenario)
        assert.equal(doc.outcome, scenario, doc.reason)
        assert.deepEqual(journalIssues(doc), [])
      })
    }
  })

  describe('rejects what is not a journal, saying where', () => {
    const held = () =>
      fixture('held.json') as Record<string, unknown> & {
        events: Record<string, unknown>[]
        probes: Record<string, unknown>[]
      }

    it('a finished journal without its outcome', () => {
      const doc = held()
      delete doc.outcome
      assert.deepEqual(journalIssues(doc), ["/: must have required property 'outcome'"])
    })

    it('an unknown event kind, reported once rather than once per kind', () => {
      const doc = held()
      doc.events[2] = {...doc.events[2], kind: 'phase-exploded'}
      const issues = journalIssues(doc)
      assert.equal(issues.length, 1, issues.join('\n'))
      assert.match(issues[0] ?? '', /^\/events\/2/)
    })

    it('an event missing a field of its own kind', () => {
      const doc = held()
      const i = doc.events.findIndex(e => e.kind === 'phase-started')
      delete doc.events[i]?.plannedMs
      assert.deepEqual(journalIssues(doc), [`/events/${i}: must have required property 'plannedMs'`])
    })

    it('a probe status outside held, missed, errored', () => {
      const doc = held()
      ;(doc.probes[0] as Record<string, unknown>).status = 'passed'
      assert.ok(journalIssues(doc).some(i => i.startsWith('/probes/0/status')))
    })

    it('a timestamp that is not one, and another kind of file', () => {
      const doc = held()
      doc.startedAt = 'yesterday'
      assert.deepEqual(journalIssues(doc), ['/startedAt: must match format "date-time"'])
      assert.ok(journalIssues({apiVersion: 'faultline.dev/v1alpha1', kind: 'Experiment'}).length > 0)
    })

    it('a property the journal does not know, by name', () => {
      assert.deepEqual(journalIssues({...held(), note: 'x'}), ['/: has a property the journal does not know ("note")'])
    })
  })
})
