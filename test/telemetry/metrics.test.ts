import assert from 'node:assert/strict'

import type {Gauge, Counter} from 'prom-client'
import {register as globalRegistry} from 'prom-client'

import {faultedServices, RunTelemetry} from '../../src/telemetry/metrics.js'
import {applied, fakeStream, probe, started} from './events.js'

type Series = Record<string, number>

/** A metric's series as `label=value,…` → value, for whole-map assertions. */
async function series(metric: Gauge<string> | Counter<string>): Promise<Series> {
  const {values} = await metric.get()
  return Object.fromEntries(
    values.map(v => [
      Object.entries(v.labels)
        .sort()
        .map(([k, x]) => `${k}=${String(x)}`)
        .join(','),
      v.value,
    ]),
  )
}

describe('telemetry: RunTelemetry (the event-stream subscriber)', () => {
  it('a whole run: fault active while live, 0 after the revert; probe state sets; outcome counted; duration from start to verdict', async () => {
    const telemetry = new RunTelemetry()
    const {events, advance} = fakeStream()
    events.subscribe(telemetry.observe)
    advance(500)
    events.emit(started('ratings-abort'))
    events.emit({kind: 'probe-result', result: probe('latency', 'baseline', 'held')})
    advance(3000)
    events.emit({kind: 'fault-applied', fault: applied('faultline-ratings', ['ratings'])})
    assert.deepEqual(await series(telemetry.faultActive), {'experiment=ratings-abort,service=ratings': 1})
    events.emit({kind: 'probe-result', result: probe('latency', 'fault', 'missed')})
    events.emit({kind: 'probe-result', result: probe('errors', 'fault', 'errored')})
    advance(6000)
    events.emit({
      kind: 'revert',
      namespace: 'default',
      name: 'faultline-ratings',
      action: 'deleted',
      message: 'deleted',
    })
    advance(2500)
    events.emit({kind: 'run-finished', outcome: 'deviated', exitCode: 1, reason: 'latency missed in fault'})

    assert.deepEqual(await series(telemetry.faultActive), {'experiment=ratings-abort,service=ratings': 0})
    const probes = await series(telemetry.probeResult)
    assert.equal(Object.keys(probes).length, 9, 'three probe/phase pairs × three statuses')
    assert.equal(probes['experiment=ratings-abort,phase=baseline,probe=latency,status=held'], 1)
    assert.equal(probes['experiment=ratings-abort,phase=baseline,probe=latency,status=missed'], 0)
    assert.equal(probes['experiment=ratings-abort,phase=fault,probe=latency,status=missed'], 1)
    assert.equal(probes['experiment=ratings-abort,phase=fault,probe=errors,status=errored'], 1)
    assert.equal(
      Object.values(probes).reduce((a, b) => a + b, 0),
      3,
      'exactly one status per probe and phase is 1',
    )
    const runs = await series(telemetry.runs)
    assert.equal(runs['experiment=ratings-abort,outcome=deviated'], 1)
    assert.equal(
      runs['experiment=ratings-abort,outcome=held'],
      0,
      'every outcome is initialised, so increase() sees the first run',
    )
    assert.deepEqual(await series(telemetry.duration), {'experiment=ratings-abort': 11.5})
  })

  it('a failed revert leaves the fault reported active', async () => {
    const telemetry = new RunTelemetry()
    const {events} = fakeStream()
    events.subscribe(telemetry.observe)
    events.emit(started('ratings-delay'))
    events.emit({kind: 'fault-applied', fault: applied('ratings', ['ratings'])})
    events.emit({
      kind: 'revert-failed',
      namespace: 'default',
      name: 'ratings',
      message: 'conflict',
      command: 'chaos revert --run x',
    })
    events.emit({kind: 'run-finished', outcome: 'revert-failed', exitCode: 5, reason: 'revert failed'})
    assert.deepEqual(await series(telemetry.faultActive), {'experiment=ratings-delay,service=ratings': 1})
  })

  it("counts runs across a game day and drops a previous run's probes that no longer exist", async () => {
    const telemetry = new RunTelemetry()
    const {events} = fakeStream()
    events.subscribe(telemetry.observe)
    for (const [name, outcome] of [
      ['old-probe', 'held'],
      ['new-probe', 'held'],
    ] as const) {
      events.emit(started('ratings-abort'))
      events.emit({kind: 'probe-result', result: probe(name, 'fault', 'held')})
      events.emit({kind: 'run-finished', outcome, exitCode: 0, reason: 'held'})
    }
    events.emit(started('reviews-circuit-breaker'))
    events.emit({kind: 'run-finished', outcome: 'could-not-run', exitCode: 4, reason: 'no cluster'})
    const runs = await series(telemetry.runs)
    assert.equal(runs['experiment=ratings-abort,outcome=held'], 2)
    assert.equal(runs['experiment=reviews-circuit-breaker,outcome=could-not-run'], 1)
    assert.deepEqual(
      Object.keys(await series(telemetry.probeResult)).filter(k => k.includes('probe=old-probe')),
      [],
    )
  })

  it('ignores events before run-started and never touches the global registry', async () => {
    const before = (await globalRegistry.getMetricsAsJSON()).map(m => m.name)
    const telemetry = new RunTelemetry()
    const {events} = fakeStream()
    events.subscribe(telemetry.observe)
    events.emit({kind: 'probe-result', result: probe('latency', 'baseline', 'held')})
    assert.deepEqual(await series(telemetry.probeResult), {})
    assert.deepEqual(
      (await globalRegistry.getMetricsAsJSON()).map(m => m.name),
      before,
    )
    assert.ok(!before.some(n => n.startsWith('chaos_')))
    // Two telemetries in one process do not collide (a registry each).
    assert.doesNotThrow(() => new RunTelemetry())
  })

  it('the live registry carries only the families that change mid-run', async () => {
    const names = (await new RunTelemetry().liveRegistry.getMetricsAsJSON()).map(m => m.name).sort()
    assert.deepEqual(names, ['chaos_fault_active', 'chaos_probe_result'])
  })
})

describe('telemetry: faultedServices', () => {
  it('a VirtualService for one host: that host', () => {
    assert.deepEqual(faultedServices(applied('faultline-ratings', ['ratings'])), ['ratings'])
  })

  it('an object routing several hosts: only the host the fault route is scoped to by authority', () => {
    const regex = 'ratings(\\.default(\\.svc(\\.cluster\\.local)?)?)?(:[0-9]+)?'
    assert.deepEqual(
      faultedServices(applied('shared', ['reviews', 'ratings', 'ratings.default.svc.cluster.local'], regex)),
      ['ratings', 'ratings.default.svc.cluster.local'],
    )
  })

  it('no fault route, no service', () => {
    const fault = applied('x', ['ratings'])
    const after = fault.after as {http: {name?: string}[]}
    after.http = after.http.filter(r => r.name === 'default')
    assert.deepEqual(faultedServices(fault), [])
  })
})
