import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import {ConsoleReporter, resultTable, wrap} from '../../src/runner/console.js'
import {EventStream} from '../../src/journal/events.js'
import {Journal, runDirectory} from '../../src/journal/journal.js'
import type {Experiment} from '../../src/experiment/model.js'

function sink(): {stream: Writable; text: () => string} {
  let text = ''
  return {
    stream: new Writable({
      write(chunk: Buffer, _e, done) {
        text += chunk.toString()
        done()
      },
    }),
    text: () => text,
  }
}

describe('run console and journal (one event stream)', () => {
  it('renders the run for a person and folds the same events into the journal', () => {
    const out = sink()
    const dir = mkdtempSync(join(tmpdir(), 'faultline-journal-'))
    let now = Date.UTC(2026, 10, 26, 1, 0, 0)
    const events = new EventStream(() => now)
    const journal = new Journal(
      dir,
      {runId: 'r1', experiment: {name: 'x', file: 'x.yaml', spec: {} as Experiment}, environment: {}},
      new Date(now),
    )
    const reporter = new ConsoleReporter(out.stream, 0)
    events.subscribe(e => reporter.handle(e))
    events.subscribe(e => journal.record(e))
    events.emit({kind: 'preflight', check: 'lock', status: 'failed', message: 'held by run r0', hint: 'wait'})
    events.emit({kind: 'phase-started', phase: 'fault', plannedMs: 10_000})
    now += 1200
    events.emit({
      kind: 'load-second',
      second: {
        traffic: 'control',
        second: 0,
        requests: 20,
        failed: 1,
        dropped: 0,
        statuses: {200: 19, 503: 1},
        reasons: {'503 UO': 1},
        p50: 3,
        p95: 12.4,
        p99: 20,
        max: 30,
        histogram: '',
      },
    })
    events.emit({
      kind: 'load-progress',
      loadMs: 1200,
      inFlight: [
        {traffic: 'targeted', count: 31, oldestMs: 6240},
        {traffic: 'control', count: 0, oldestMs: 0},
      ],
    })
    events.emit({kind: 'fault-evidence', source: 'envoy fault filter', message: '3 faulted', afterWriteMs: 120})
    events.emit({
      kind: 'revert-failed',
      namespace: 'default',
      name: 'ratings',
      message: '503',
      command: 'chaos revert --run r1 --namespace default',
    })
    events.emit({
      kind: 'probe-result',
      result: {
        probe: 'control traffic is untouched',
        kind: 'threshold',
        phase: 'fault',
        status: 'missed',
        actual: 'rate=0.05',
        expected: 'http_req_failed rate<0.01',
      },
    })
    events.emit({kind: 'run-finished', outcome: 'revert-failed', exitCode: 5, reason: 'revert failed'})
    journal.close()
    const text = out.text()
    assert.match(text, /preflight {2}✗ lock: held by run r0\n\s+wait/)
    // The delay shows while it happens: what is in flight and for how long, beside what completed.
    assert.match(
      text,
      /fault\s+1s elapsed, 9s left · targeted 0\/s · 31 in flight, oldest 6\.2 s · nothing completed yet \| control 20\/s · 0 in flight · p95 of completed 12ms, err 5% \(503 UO × 1\)/,
    )
    assert.match(text, /fault fired 120ms after the write at the latest: envoy fault filter: 3 faulted/)
    assert.match(text, /clean up with: chaos revert --run r1 --namespace default/)
    assert.match(text, /Verdict: REVERT FAILED \(exit 5\) — revert failed/)
    const doc = JSON.parse(readFileSync(journal.file, 'utf8')) as {
      status: string
      outcome: string
      exitCode: number
      probes: unknown[]
      load: Record<string, unknown[]>
      phases: {name: string}[]
      events: {kind: string; t: number}[]
    }
    assert.deepEqual(
      [doc.status, doc.outcome, doc.exitCode, doc.probes.length, doc.load['control']?.length, doc.phases[0]?.name],
      ['finished', 'revert-failed', 5, 1, 1, 'fault'],
    )
    assert.ok(
      !doc.events.some(e => e.kind === 'load-second' || e.kind === 'load-progress'),
      'samples live in load and inFlight, not in the event log',
    )
    assert.equal(doc.events.find(e => e.kind === 'fault-evidence')?.t, 1200)
  })

  it('lays out the verdict table in columns, wrapping long cells without losing a character', () => {
    const stat = (end: string) =>
      `cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_pending_overflow ${end}`
    const table = resultTable([
      {
        probe: 'productpage answers targeted users within 4s, even under the fault',
        kind: 'threshold',
        phase: 'fault',
        status: 'held',
        actual: 'p(99)=3ms',
        expected: 'http_req_duration p(99)<500',
      },
      {probe: 'no overflow on v1', kind: 'envoy', phase: 'fault', status: 'held', actual: '0', expected: stat('== 0')},
      {probe: 'overflow on v2', kind: 'envoy', phase: 'fault', status: 'held', actual: '12', expected: stat('> 0')},
    ])
    const lines = table.split('\n')
    assert.ok(lines[0]?.startsWith('PROBE'))
    assert.match(
      lines[1] ?? '',
      /^productpage answers targeted users within\s+fault\s+held\s+p\(99\)=3ms\s+http_req_duration p\(99\)<500$/,
    )
    assert.match(lines[2] ?? '', /^4s, even under the fault$/)
    assert.ok(!table.includes('…'), 'nothing is truncated')
    // Each cell's words, read down its column, are the whole value.
    for (const [from, to, end] of [
      [3, 6, '== 0'],
      [6, 9, '> 0'],
    ] as const) {
      const cell = lines
        .slice(from, to)
        .map(l => l.slice(lines[0]!.indexOf('EXPECTED')).trim())
        .join('')
      assert.equal(cell.replace(/\s/g, ''), stat(end).replace(/\s/g, ''), `rows ${from}–${to}`)
    }
  })

  it('wraps a stat name after its own separators, not mid-word', () => {
    assert.deepEqual(wrap('http.outbound_0.0.0.0_9080.fault.delays_injected increase > 0', 40), [
      'http.outbound_0.0.0.0_9080.fault.',
      'delays_injected increase > 0',
    ])
    assert.deepEqual(wrap('x'.repeat(50), 20), ['x'.repeat(20), 'x'.repeat(20), 'x'.repeat(10)])
  })

  it('says a phase ended incomplete, with what was in flight', () => {
    const out = sink()
    const events = new EventStream(() => 0)
    const reporter = new ConsoleReporter(out.stream, 0)
    events.subscribe(e => reporter.handle(e))
    events.emit({
      kind: 'phase-ended',
      phase: 'fault',
      cutShort: {
        reason: 'interrupted (signal)',
        afterMs: 3100,
        plannedMs: 30_000,
        inFlight: [
          {traffic: 'targeted', count: 15, oldestMs: 3080},
          {traffic: 'control', count: 0, oldestMs: 0},
        ],
      },
    })
    assert.equal(
      out.text(),
      'fault      INCOMPLETE: phase cut short at +3.1 s of 30.0 s (interrupted (signal)); cancelled in flight: targeted 15 in flight, oldest 3.1 s; its probes are not evaluated\n',
    )
  })

  it('names run folders by experiment and a sortable UTC timestamp', () => {
    assert.equal(
      runDirectory('reports', 'ratings-delay', new Date(Date.UTC(2026, 10, 26, 1, 30, 10, 123))),
      join('reports', 'ratings-delay', '2026-11-26T013010Z'),
    )
  })
})
