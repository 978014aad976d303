import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {newestFirst, type RunSummary, summariseRun, unreadableRun} from '../../../src/report/index/run-summary.js'
import type {JournalDocument} from '../../../src/journal/journal.js'

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'journals')
const OUTCOMES = ['held', 'deviated', 'aborted', 'could-not-run', 'revert-failed'] as const

function fixture(name: string): JournalDocument {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as JournalDocument
}

/** `rate=0, p(99)=84.48ms` → {rate: 0, 'p(99)': 84.48}. */
function measured(actual: string): Record<string, number> {
  return Object.fromEntries(
    [...actual.matchAll(/(rate|p\(9[59]\))=([\d.]+)(ms|s)?/g)].map(m => [
      m[1],
      Number(m[2]) * (m[3] === 's' ? 1000 : 1),
    ]),
  )
}

describe('run summary', () => {
  for (const name of OUTCOMES) {
    it(`agrees with the run's own threshold probes in every phase (${name})`, () => {
      const doc = fixture(name)
      const summary = summariseRun(doc, `x/${name}`)
      let compared = 0
      for (const result of doc.probes.filter(r => r.kind === 'threshold')) {
        const probe = doc.experiment.spec.spec.steadyState.find(p => p.name === result.probe)
        if (probe === undefined || !('thresholds' in probe) || probe.traffic === undefined) continue
        const figures = summary.classes.find(c => c.name === probe.traffic)?.phases[result.phase]
        assert.ok(figures !== undefined, `${result.probe} in ${result.phase}`)
        const m = measured(result.actual)
        // The probe's text is rounded to four significant figures.
        const near = (ours: number, theirs: number) =>
          assert.ok(
            Math.abs(ours - theirs) <= Math.max(0.01, theirs * 0.001),
            `${result.probe} ${result.phase}: ${ours} vs ${theirs}`,
          )
        if (m.rate !== undefined) near(figures.errorRatio, m.rate)
        if (m['p(95)'] !== undefined) near(figures.p95, m['p(95)'])
        if (m['p(99)'] !== undefined) near(figures.p99, m['p(99)'])
        compared++
      }
      assert.equal(compared > 0, name !== 'could-not-run')
    })
  }

  it('reads the verdict, reason, times, driver, fault effect and probe counts of a deviated run', () => {
    const doc = fixture('deviated')
    const s = summariseRun(doc, 'ratings-delay/2026-11-26T031548Z', new Date('2026-11-26T03:16:15Z'))
    assert.equal(s.verdict, 'deviated')
    assert.equal(s.exitCode, 1)
    assert.equal(s.experiment, 'ratings-delay')
    assert.match(s.reason, /^the hypothesis deviated: "productpage answers targeted users within 4s" missed in fault/)
    assert.equal(s.durationMs, Date.parse(doc.finishedAt as string) - Date.parse(doc.startedAt))
    assert.equal(s.driver, 'faultline builtin 0.1.0 (undici, node v20.20.2)')
    assert.deepEqual(s.faultEffect, {afterWriteMs: 369, source: 'envoy fault filter'})
    assert.deepEqual(s.probes, {held: 4, missed: 1, errored: 0})
    assert.equal(s.lastWrittenAt, '2026-11-26T03:16:15.000Z')
    assert.deepEqual(
      s.classes.map(c => [c.name, c.role]),
      [
        ['targeted', 'targeted'],
        ['control', 'control'],
      ],
    )
    const fault = s.roles.targeted?.fault
    assert.ok(
      fault !== undefined && fault.p95 > 4000 && fault.p95 <= fault.p99,
      'the 7s delay shows in the targeted p95',
    )
    assert.ok((s.roles.control?.fault?.p95 ?? Infinity) < 1000, 'control traffic is untouched')
    assert.ok(Math.abs((fault?.rate ?? 0) - 5) < 0.5, `5/s planned, ${fault?.rate}`)
  })

  it('has no load figures for a run that could not run, and no recovery for one aborted in the fault phase', () => {
    const cannot = summariseRun(fixture('could-not-run'), 'x/y')
    assert.equal(cannot.verdict, 'could-not-run')
    assert.deepEqual([cannot.classes, cannot.roles, cannot.faultEffect], [[], {}, undefined])
    const aborted = summariseRun(fixture('aborted'), 'x/y')
    assert.deepEqual(Object.keys(aborted.roles.targeted ?? {}), ['baseline', 'fault'])
  })

  it('lists a journal left running as running, with what is known so far', () => {
    const doc = fixture('held')
    Object.assign(doc, {status: 'running'})
    for (const key of ['outcome', 'deviated', 'exitCode', 'reason', 'finishedAt'] as const) delete doc[key]
    const s = summariseRun(doc, 'x/y')
    assert.equal(s.verdict, 'running')
    assert.match(s.reason, /still marked running/)
    assert.equal(s.durationMs, undefined)
    assert.ok(s.roles.targeted?.fault !== undefined)
  })

  it('keeps a spec it cannot read from failing the summary: every class is then control', () => {
    const doc = fixture('held')
    ;(doc.experiment as {spec: unknown}).spec = {nonsense: true}
    const s = summariseRun(doc, 'x/y')
    assert.deepEqual(
      s.classes.map(c => c.role),
      ['control', 'control'],
    )
    assert.equal(s.roles.targeted, undefined)
  })

  it('orders newest first, runs of unknown time last', () => {
    const at = (startedAt: string | undefined, dir: string): RunSummary => ({
      ...unreadableRun(dir, 'e', 'p'),
      ...(startedAt === undefined ? {} : {startedAt}),
    })
    const runs = [
      at(undefined, 'a'),
      at('2026-11-20T00:00:00Z', 'b'),
      at('2026-11-26T00:00:00Z', 'c'),
      at('2026-11-26T00:00:00Z', 'd'),
    ]
    assert.deepEqual(
      runs.sort(newestFirst).map(r => r.dir),
      ['d', 'c', 'b', 'a'],
    )
  })
})
