import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Writable} from 'node:stream'

import {ConsoleReporter, resultTable} from '../../src/runner/console.js'
import {EventStream} from '../../src/runner/events.js'
import {Journal, runDirectory} from '../../src/runner/journal.js'
import type {Experiment} from '../../src/experiment/model.js'

function sink(): {stream: Writable; text: () => string} {
  let text = ''
  return {stream: new Writable({write(chunk: Buffer, _e, done) { text += chunk.toString(); done() }}), text: () => text}
}

describe('run console and journal (one event stream)', () => {
  it('renders the run for a person and folds the same events into the journal', () => {
    const out = sink()
    const dir = mkdtempSync(join(tmpdir(), 'faultline-journal-'))
    let now = Date.UTC(2026, 10, 26, 1, 0, 0)
    const events = new EventStream(() => now)
    const journal = new Journal(dir, {runId: 'r1', experiment: {name: 'x', file: 'x.yaml', spec: {} as Experiment}, environment: {}}, new Date(now))
    const reporter = new ConsoleReporter(out.stream, 0)
    events.subscribe(e => reporter.handle(e))
    events.subscribe(e => journal.record(e))
    events.emit({kind: 'preflight', check: 'lock', status: 'failed', message: 'held by run r0', hint: 'wait'})
    events.emit({kind: 'phase-started', phase: 'fault', plannedMs: 10_000})
    now += 1200
    events.emit({kind: 'load-second', second: {traffic: 'control', second: 0, requests: 20, failed: 1, dropped: 0, statuses: {200: 19, 503: 1}, p50: 3, p95: 12.4, p99: 20, max: 30, histogram: ''}})
    events.emit({kind: 'fault-evidence', source: 'envoy fault filter', message: '3 faulted', afterWriteMs: 120})
    events.emit({kind: 'revert-failed', namespace: 'default', name: 'ratings', message: '503', command: 'chaos revert --run r1 --namespace default'})
    events.emit({kind: 'probe-result', result: {probe: 'control traffic is untouched', kind: 'threshold', phase: 'fault', status: 'missed', actual: 'rate=0.05', expected: 'http_req_failed rate<0.01'}})
    events.emit({kind: 'run-finished', outcome: 'revert-failed', exitCode: 5, reason: 'revert failed'})
    journal.close()
    const text = out.text()
    assert.match(text, /preflight {2}✗ lock: held by run r0\n\s+wait/)
    assert.match(text, /fault\s+1s elapsed, 9s left · control 20\/s err 5% p95 12ms/)
    assert.match(text, /fault fired 120ms after the write at the latest: envoy fault filter: 3 faulted/)
    assert.match(text, /clean up with: chaos revert --run r1 --namespace default/)
    assert.match(text, /Verdict: REVERT FAILED \(exit 5\) — revert failed/)
    const doc = JSON.parse(readFileSync(journal.file, 'utf8')) as {status: string; outcome: string; exitCode: number; probes: unknown[]; load: Record<string, unknown[]>; phases: {name: string}[]; events: {kind: string; t: number}[]}
    assert.deepEqual([doc.status, doc.outcome, doc.exitCode, doc.probes.length, doc.load['control']?.length, doc.phases[0]?.name], ['finished', 'revert-failed', 5, 1, 1, 'fault'])
    assert.ok(!doc.events.some(e => e.kind === 'load-second'), 'samples live in load, not in the event log')
    assert.equal(doc.events.find(e => e.kind === 'fault-evidence')?.t, 1200)
  })

  it('lays out the verdict table in columns, truncating long cells visibly', () => {
    const table = resultTable([{probe: 'p'.repeat(60), kind: 'threshold', phase: 'fault', status: 'held', actual: 'p(99)=3ms', expected: 'http_req_duration p(99)<500'}])
    const [head, row] = table.split('\n')
    assert.ok(head?.startsWith('PROBE'))
    assert.match(row ?? '', /^p+… fault\s+held\s+p\(99\)=3ms\s+http_req_duration p\(99\)<500$/)
  })

  it('names run folders by experiment and a sortable UTC timestamp', () => {
    assert.equal(runDirectory('reports', 'ratings-delay', new Date(Date.UTC(2026, 10, 26, 1, 30, 10, 123))), join('reports', 'ratings-delay', '2026-11-26T013010Z'))
  })
})
