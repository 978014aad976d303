import assert from 'node:assert/strict'

import {XMLParser, XMLValidator} from 'fast-xml-parser'

import {renderJunit, xmlSafe} from '../../../src/report/run/junit.js'
import type {JournalDocument} from '../../../src/journal/journal.js'
import {HOSTILE, journal, JOURNAL_FIXTURES} from '../journals.js'

interface Outcome {
  '@_message'?: string
  '@_type'?: string
  '#text'?: string
}
interface TestCase {
  '@_classname': string
  '@_name': string
  '@_time': string
  failure?: Outcome
  error?: Outcome
  skipped?: Outcome
  'system-out'?: string
}
interface Suite {
  [attr: `@_${string}`]: string
  properties: {property: {'@_name': string; '@_value': string}[]}
  testcase: TestCase[]
  'system-out'?: string
}

/** Reads junit.xml back as a CI server would: well-formed first, then the tree. */
function parse(xml: string): {root: Record<string, string>; suite: Suite} {
  assert.equal(XMLValidator.validate(xml), true)
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    parseAttributeValue: false,
    parseTagValue: false,
    trimValues: false,
    isArray: name => ['testsuite', 'testcase', 'property'].includes(name),
  })
  const tree = parser.parse(xml) as {testsuites: Record<string, string> & {testsuite: Suite[]}}
  assert.equal(tree.testsuites.testsuite.length, 1, 'one testsuite per run')
  return {root: tree.testsuites, suite: tree.testsuites.testsuite[0] as Suite}
}

const cases = (doc: JournalDocument) => parse(renderJunit(doc)).suite.testcase
const find = (doc: JournalDocument, classname: string, name: string) =>
  cases(doc).find(c => c['@_classname'] === classname && c['@_name'] === name)
/** Characters XML 1.0 forbids anywhere in a document. */
const FORBIDDEN =
  // eslint-disable-next-line no-control-regex
  /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

describe('junit.xml', () => {
  describe('counts agree with the test cases, as Jenkins, GitLab and GitHub reporters read them', () => {
    for (const name of JOURNAL_FIXTURES) {
      it(name, () => {
        const {root, suite} = parse(renderJunit(journal(name)))
        const n = (k: 'failure' | 'error' | 'skipped') => String(suite.testcase.filter(c => c[k] !== undefined).length)
        assert.equal(suite['@_tests'], String(suite.testcase.length))
        assert.equal(suite['@_failures'], n('failure'))
        assert.equal(suite['@_errors'], n('error'))
        assert.equal(suite['@_skipped'], n('skipped'))
        for (const k of ['tests', 'failures', 'errors', 'skipped', 'time'])
          assert.equal(root[`@_${k}`], suite[`@_${k}`], k)
        assert.match(suite['@_timestamp'] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/)
        for (const c of suite.testcase) {
          assert.match(c['@_time'], /^\d+\.\d{3}$/)
          assert.ok(c['@_classname'].startsWith(`${journal(name).experiment.name}.`))
          assert.ok(
            [c.failure, c.error, c.skipped].filter(x => x !== undefined).length <= 1,
            'at most one outcome element per case',
          )
        }
      })
    }
  })

  it('held: every probe × phase, the fault firing, the control traffic, the revert and the run pass', () => {
    const doc = journal('held')
    const {suite} = parse(renderJunit(doc))
    assert.deepEqual([suite['@_failures'], suite['@_errors'], suite['@_skipped']], ['0', '0', '0'])
    const names = suite.testcase.map(c => `${c['@_classname']} / ${c['@_name']}`)
    for (const expected of [
      'ratings-abort.baseline / targeted users still get the page',
      'ratings-abort.fault / targeted users still get the page',
      'ratings-abort.fault / ratings calls were aborted',
      'ratings-abort.fault / fault fired',
      'ratings-abort.fault / control traffic untouched (control)',
      'ratings-abort.revert / reverted default/faultline-ratings',
      'ratings-abort.run / run completed',
      'ratings-abort.preflight / cluster',
    ])
      assert.ok(names.includes(expected), `missing ${expected} in ${names.join('\n')}`)
    assert.equal(
      suite.testcase.filter(
        c => c['@_classname'] === 'ratings-abort.baseline' || c['@_classname'] === 'ratings-abort.recovery',
      ).length +
        suite.testcase.filter(
          c =>
            c['@_classname'] === 'ratings-abort.fault' && !/^(fault fired|control traffic untouched)/.test(c['@_name']),
        ).length,
      doc.probes.length,
    )
    assert.equal(Number(suite['@_time']), (Date.parse(doc.finishedAt ?? '') - Date.parse(doc.startedAt)) / 1000)
    const faultPhase = doc.phases.find(p => p.name === 'fault')
    assert.equal(
      Number(find(doc, 'ratings-abort.fault', 'ratings calls were aborted')?.['@_time']),
      ((faultPhase?.endT ?? 0) - (faultPhase?.startT ?? 0)) / 1000,
    )
  })

  it('deviated: the missed probe is a failure carrying the measured value and the expectation', () => {
    const doc = journal('deviated')
    const {suite} = parse(renderJunit(doc))
    const failed = suite.testcase.filter(c => c.failure !== undefined)
    assert.equal(failed.length, 1)
    assert.equal(failed[0]?.['@_classname'], 'ratings-delay.fault')
    assert.equal(failed[0]?.['@_name'], 'productpage answers targeted users within 4s')
    assert.equal(failed[0]?.failure?.['@_message'], 'measured p(99)=6013ms, expected http_req_duration p(99)<4000')
    assert.equal(failed[0]?.failure?.['@_type'], 'missed')
  })

  it('an errored probe is an <error>, not a failure: no data is never a pass', () => {
    const doc = journal('held')
    Object.assign(doc.probes[2] ?? {}, {status: 'errored', actual: '-', message: 'no sidecar answered /stats'})
    const c = find(doc, 'ratings-abort.fault', 'ratings calls were aborted')
    assert.equal(c?.failure, undefined)
    assert.equal(c?.error?.['@_message'], 'could not be evaluated: no sidecar answered /stats')
  })

  it('revert failed: the revert case fails and names the cleanup command', () => {
    const doc = journal('revert-failed')
    const c = find(doc, 'ratings-delay.revert', 'reverted default/ratings')
    assert.match(
      c?.failure?.['@_message'] ?? '',
      /^revert failed: admission webhook "validation.istio.io" denied the request/,
    )
    assert.match(
      c?.failure?.['#text'] ?? '',
      new RegExp(`clean up with: chaos revert --run ${doc.runId} --namespace default`),
    )
    assert.ok(find(doc, 'ratings-delay.run', 'run completed')?.error !== undefined)
  })

  it('aborted: the run is an error with its reason; what was measured before the stop still counts', () => {
    const doc = journal('aborted')
    assert.match(
      find(doc, 'ratings-abort.run', 'run completed')?.error?.['@_message'] ?? '',
      /^aborted: interrupted \(signal\)/,
    )
    assert.ok(find(doc, 'ratings-abort.fault', 'control traffic is untouched')?.failure !== undefined)
    assert.ok(find(doc, 'ratings-abort.fault', 'control traffic untouched (control)')?.failure !== undefined)
  })

  it('could not run: the failed preflight check is an error (once, not once per probe), every probe skipped with why', () => {
    const doc = journal('could-not-run')
    const all = cases(doc)
    const prometheus = all.filter(
      c => c['@_classname'] === 'ratings-delay-promql.preflight' && c['@_name'] === 'prometheus',
    )
    assert.equal(prometheus.length, 1)
    assert.match(prometheus[0]?.error?.['@_message'] ?? '', /did not answer \(ECONNREFUSED\)/)
    const probes = all.filter(c => /\.(baseline|fault|recovery)$/.test(c['@_classname']))
    assert.ok(probes.length >= doc.experiment.spec.spec.steadyState.length)
    for (const c of probes)
      assert.match(c.skipped?.['@_message'] ?? '', /^not evaluated: the run ended \(could-not-run\)/)
  })

  it('a journal left running (the run died) says so instead of passing', () => {
    const doc = journal('deviated')
    const cut = doc.events.findIndex(e => e.kind === 'phase-ended' && e.phase === 'fault')
    Object.assign(doc, {status: 'running', events: doc.events.slice(0, cut), probes: doc.probes.slice(0, 2)})
    for (const k of ['outcome', 'exitCode', 'reason', 'finishedAt', 'deviated'] as const) delete doc[k]
    doc.reverted = []
    assert.match(find(doc, 'ratings-delay.run', 'run completed')?.error?.['@_message'] ?? '', /still marked running/)
    assert.match(
      find(doc, 'ratings-delay.revert', 'reverted default/faultline-ratings')?.error?.['@_message'] ?? '',
      /no revert was recorded/,
    )
  })

  it('properties carry the run and its environment', () => {
    const doc = journal('held')
    const props = Object.fromEntries(
      parse(renderJunit(doc)).suite.properties.property.map(p => [p['@_name'], p['@_value']]),
    )
    assert.equal(props.runId, doc.runId)
    assert.equal(props.outcome, 'held')
    assert.equal(props.exitCode, '0')
    assert.equal(props['environment.context'], 'faultline-sandbox')
    assert.equal(props['experiment.label.app'], 'bookinfo')
  })

  it('hostile strings from the experiment and the cluster stay text: ]]>, markup, quotes, control and non-XML characters', () => {
    const doc = journal('deviated')
    doc.experiment.name = `exp ${HOSTILE}`
    const missed = doc.probes.find(p => p.status === 'missed')
    assert.ok(missed !== undefined)
    const original = missed.probe
    for (const p of doc.probes) if (p.probe === original) p.probe = HOSTILE
    for (const p of doc.experiment.spec.spec.steadyState) if (p.name === original) p.name = HOSTILE
    missed.actual = HOSTILE
    doc.environment.user = HOSTILE
    const xml = renderJunit(doc)
    assert.doesNotMatch(xml, FORBIDDEN)
    assert.doesNotMatch(xml, /<script>/)
    const {suite} = parse(xml)
    const visible = xmlSafe(HOSTILE)
    assert.equal(
      visible.includes('\\u0000') &&
        visible.includes('\\uFFFF') &&
        visible.includes('\\uD800') &&
        visible.includes('\\u001B'),
      true,
    )
    const c = suite.testcase.find(t => t.failure !== undefined)
    assert.equal(c?.['@_name'], visible.replace(/\s*[\r\n]+\s*/g, ' '))
    assert.equal(c?.['@_classname'], `exp ${visible.replace(/\s*[\r\n]+\s*/g, ' ')}.fault`)
    assert.ok(
      c?.failure?.['#text']?.includes(`measured ${visible.replace(/\r\n?/g, '\n')}`),
      JSON.stringify(c?.failure?.['#text']),
    )
    assert.ok(
      suite.properties.property.some(
        p => p['@_name'] === 'environment.user' && p['@_value'] === visible.replace(/\s*[\r\n]+\s*/g, ' '),
      ),
    )
  })
})
