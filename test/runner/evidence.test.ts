import assert from 'node:assert/strict'

import type {WindowSummary} from '../../src/load/recorder.js'
import {controlUntouched, injectedBetween, targetedEffect} from '../../src/runner/evidence.js'

/** A window of `requests` with this failure ratio, median and p99 (ms). */
function window(requests: number, failedRate: number, med: number, p99: number): WindowSummary {
  return {requests, failed: Math.round(requests * failedRate), dropped: 0, cancelled: 0, rate: requests / 10, failedRate,
    duration: {count: requests, avg: med, min: 0, max: p99, med, p: q => (q >= 99 ? p99 : med)}}
}

describe('fault and control evidence', () => {
  const baseline = window(50, 0, 20, 120)

  it('control traffic within noise is untouched: a p99 hiccup of a few hundred ms on a busy machine', () => {
    assert.equal(controlUntouched(baseline, window(50, 0, 24, 360)).untouched, true)
    assert.match(controlUntouched(baseline, window(50, 0, 24, 360)).message, /p50 20ms → 24ms, p99 120ms → 360ms, errors 0% → 0%/)
  })

  it('a fault leaking to control traffic is caught: aborts, a delay on most requests, or a long tail', () => {
    assert.equal(controlUntouched(baseline, window(50, 0.1, 20, 120)).untouched, false, '10% aborts')
    assert.equal(controlUntouched(baseline, window(50, 0, 120, 140)).untouched, false, 'a 100ms delay on every request')
    assert.equal(controlUntouched(baseline, window(50, 0, 20, 1100)).untouched, false, 'a 1s delay on a few requests')
    assert.equal(controlUntouched(baseline, window(0, 0, 0, 0)).untouched, false, 'no control traffic proves nothing')
  })

  it('targeted traffic shows the fault as slower or failing requests', () => {
    assert.equal(targetedEffect(baseline, window(50, 0, 3000, 6000)).affected, true)
    assert.equal(targetedEffect(baseline, window(50, 0.5, 20, 120)).affected, true)
    assert.equal(targetedEffect(baseline, window(50, 0, 22, 130)).affected, false)
  })

  it('counts injected faults as the rise of Envoy\'s delay and abort counters (a restarted proxy never counts negative)', () => {
    assert.equal(injectedBetween({delays: 3, aborts: 1, pods: 3}, {delays: 10, aborts: 4, pods: 3}), 10)
    assert.equal(injectedBetween({delays: 30, aborts: 1, pods: 3}, {delays: 2, aborts: 1, pods: 3}), 0)
  })
})
