import assert from 'node:assert/strict'

import fc from 'fast-check'

import {REDACTED, redactJournal} from '../../src/journal/redact.js'
import type {JournalDocument} from '../../src/journal/journal.js'
import {journal, type JournalFixture} from '../report/journals.js'

type Spec = JournalDocument['experiment']['spec']['spec']

/** Puts secret header values everywhere a journal can hold one. `name(i)` spells the i-th header's name. */
function plant(doc: JournalDocument, secrets: readonly string[], name: (i: number) => string): JournalDocument {
  const spec: Spec = doc.experiment.spec.spec
  const at = (i: number) => secrets[i % secrets.length] ?? ''
  const [first] = spec.load.traffic
  if (first !== undefined) first.headers = {...first.headers, [name(0)]: at(0)}
  const [fault] = spec.faults
  if (fault !== undefined)
    fault.match = {
      ...fault.match,
      headers: {...fault.match?.headers, [name(1)]: {exact: at(1)}},
      withoutHeaders: {[name(2)]: {regex: at(2)}},
    }
  spec.steadyState.push({
    name: 'login works',
    phases: ['fault'],
    http: {url: 'http://productpage:9080/login', headers: {[name(3)]: at(3)}, expect: {status: 200}},
  })
  for (const a of doc.applied) {
    const route = {
      name: 'faultline:x:0',
      match: [{headers: {[name(4)]: {prefix: at(4)}, 'x-chaos-test': {exact: 'true'}}}],
      headers: {
        request: {set: {[name(5)]: at(5)}, add: {[name(6)]: at(6)}, remove: ['x-debug']},
        response: {set: {[name(7)]: at(7)}},
      },
      route: [{destination: {host: 'ratings'}, headers: {request: {set: {[name(8)]: at(8)}}}}],
    }
    a.after = {...(a.after as object), http: [route]}
    a.before = {http: [{match: [{headers: {[name(9)]: {exact: at(9)}}}], route: [{destination: {host: 'ratings'}}]}]}
  }
  const t = doc.events.at(-1)?.t ?? 0
  const at0 = doc.events.at(-1)?.at ?? doc.startedAt
  doc.events.push(
    {kind: 'log', level: 'warn', message: `probe sent ${name(0)}: ${at(0)} and got 401`, t, at: at0},
    {kind: 'log', level: 'info', message: `request headers ${JSON.stringify({[name(3)]: at(3)})}`, t, at: at0},
    {
      kind: 'fault-applied',
      fault: {
        namespace: 'default',
        name: 'ratings',
        action: 'update',
        resourceVersion: '7',
        after: {http: [{match: [{headers: {[name(1)]: {exact: at(1)}}}]}]},
      },
      t,
      at: at0,
    },
  )
  // Quoted inside JSON under a key that is no header: only the value itself gives it away.
  doc.experiment.spec.metadata.description = `replays ${JSON.stringify({recorded: at(0)})}`
  doc.probes.push({
    probe: 'login works',
    kind: 'http',
    phase: 'fault',
    status: 'missed',
    actual: 'status 401 in 3ms',
    expected: 'status 200',
    message: `the server rejected ${at(3)}`,
  })
  return doc
}

const FIXTURES: JournalFixture[] = ['held', 'revert-failed']

describe('redacting a journal', function () {
  this.timeout(120_000)
  it('masks secret headers in the spec, the VirtualServices and the events, and keeps everything else', () => {
    const original = plant(
      journal('held'),
      ['Bearer s3cr3t-token'],
      i => ['Authorization', 'cookie', 'SET-COOKIE', 'proxy-authorization'][i % 4] ?? '',
    )
    const before = JSON.stringify(original)
    const doc = redactJournal(original)
    assert.equal(JSON.stringify(original), before, 'the input is not touched')
    assert.ok(!JSON.stringify(doc).includes('s3cr3t'))
    const spec = doc.experiment.spec.spec
    assert.deepEqual(spec.load.traffic[0]?.headers, {
      'x-chaos-test': 'true',
      host: 'productpage:9080',
      Authorization: REDACTED,
    })
    assert.deepEqual(spec.faults[0]?.match?.headers, {'x-chaos-test': {exact: 'true'}, cookie: {exact: REDACTED}})
    assert.deepEqual(spec.faults[0]?.match?.withoutHeaders, {'SET-COOKIE': {regex: REDACTED}})
    const route = (doc.applied[0]?.after as {http: {headers: unknown; match: unknown}[]}).http[0]
    assert.deepEqual(route?.match, [{headers: {Authorization: {prefix: REDACTED}, 'x-chaos-test': {exact: 'true'}}}])
    assert.deepEqual(route?.headers, {
      request: {set: {cookie: REDACTED}, add: {'SET-COOKIE': REDACTED}, remove: ['x-debug']},
      response: {set: {'proxy-authorization': REDACTED}},
    })
    const sent = doc.events.at(-3)
    assert.equal(sent?.kind === 'log' ? sent.message : undefined, `probe sent Authorization: ${REDACTED}`)
    assert.equal(doc.probes.at(-1)?.message, `the server rejected ${REDACTED}`)
    assert.deepEqual(doc.load, original.load, 'load seconds (histograms) are left intact')
    assert.equal(doc.runId, original.runId)
  })

  it('masks headers the user names (--redact-header), any case, and only those besides the defaults', () => {
    const original = plant(journal('held'), ['k-123456'], i => (i % 2 === 0 ? 'X-Api-Key' : 'x-tenant'))
    const doc = redactJournal(original, ['x-API-key'])
    assert.equal(doc.experiment.spec.spec.load.traffic[0]?.headers?.['X-Api-Key'], REDACTED)
    assert.deepEqual(
      doc.experiment.spec.spec.faults[0]?.match?.headers?.['x-tenant'],
      {exact: REDACTED},
      'the same value under another header is masked too: it is the secret',
    )
    const plain = plant(journal('held'), ['tenant-42'], () => 'x-tenant')
    assert.deepEqual(
      redactJournal(plain, ['x-api-key']),
      {...plain, load: plain.load},
      'nothing secret, nothing changed',
    )
  })

  it('quotes of a secret header in free text are masked to the closing quote or line end, even when the value appears nowhere else', () => {
    const doc = journal('deviated')
    const last = doc.events.at(-1)
    assert.ok(last !== undefined)
    doc.events.push(
      {
        kind: 'log',
        level: 'warn',
        message: 'upstream answered set-cookie: session=abc; Path=/\nthen {"Cookie":"x=1","host":"a"}',
        t: last.t,
        at: last.at,
      },
      {kind: 'log', level: 'info', message: 'cookie jar is empty; authorization=', t: last.t, at: last.at},
    )
    const [quoted, harmless] = redactJournal(doc)
      .events.slice(-2)
      .map(e => (e.kind === 'log' ? e.message : ''))
    assert.equal(quoted, `upstream answered set-cookie: ${REDACTED}\nthen {"Cookie":"${REDACTED}","host":"a"}`)
    assert.equal(
      harmless,
      'cookie jar is empty; authorization=',
      'a header name in prose, with no value, is left alone',
    )
  })

  // Ten distinct secrets, one per place, so each place's masking is tested on its own.
  it('no secret value survives anywhere in the redacted journal (property)', () => {
    const original = FIXTURES.map(f => journal(f))
    const text = new Map(FIXTURES.map(f => [f, JSON.stringify(journal(f))]))
    const secret = fc
      .string({minLength: 4, maxLength: 24, unit: 'binary'})
      .filter(
        s =>
          s.trim().length >= 4 &&
          !/[[\]]/.test(s) &&
          !REDACTED.includes(s) &&
          !original.some(d => JSON.stringify(d.load).includes(s)),
      )
    const headerName = fc.constantFrom(
      'authorization',
      'Authorization',
      'COOKIE',
      'set-cookie',
      'Proxy-Authorization',
      'x-api-key',
      'X-Session',
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...FIXTURES),
        fc.uniqueArray(secret, {minLength: 10, maxLength: 10}),
        fc.array(headerName, {minLength: 10, maxLength: 10}),
        (fixture, secrets, names) => {
          const doc = plant(
            JSON.parse(text.get(fixture) ?? '') as JournalDocument,
            secrets,
            i => names[i] ?? 'authorization',
          )
          const redacted = JSON.stringify(redactJournal(doc, ['X-API-KEY', 'x-session']))
          for (const s of secrets) {
            assert.ok(!redacted.includes(s), `${JSON.stringify(s)} survived`)
            assert.ok(!redacted.includes(JSON.stringify(s).slice(1, -1)), `${JSON.stringify(s)} survived JSON-escaped`)
          }
        },
      ),
      {numRuns: 150},
    )
  })
})
