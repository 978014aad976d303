import assert from 'node:assert/strict'

import type {SecondStats} from '../../src/load/recorder.js'
import {timelineOf} from '../../src/report/run/model.js'
import {loadLengthMs, loadStartMs, phaseWindows} from '../../src/report/phases.js'
import {journal} from './journals.js'

const second = (n: number): SecondStats => ({
  traffic: 't',
  second: n,
  requests: 1,
  failed: 0,
  dropped: 0,
  statuses: {},
  p50: 1,
  p95: 1,
  p99: 1,
  max: 1,
  histogram: '',
})

describe('phases on the load clock', () => {
  it('starts the load clock at the baseline, and at 0 when no phase ran', () => {
    const phases = [
      {name: 'baseline', startT: 500, endT: 5500, plannedMs: 5000},
      {name: 'fault', startT: 5800, plannedMs: 10000},
    ]
    assert.equal(loadStartMs({phases}), 500)
    assert.equal(loadStartMs({phases: []}), 0)
  })

  it('ends the load at its last second, whatever the order of the seconds and classes', () => {
    assert.equal(loadLengthMs({load: {}}), 0)
    assert.equal(loadLengthMs({load: {a: []}}), 0)
    assert.equal(loadLengthMs({load: {a: [second(0), second(1)], b: [second(4), second(2)]}}), 5000)
  })

  it('places the phases on the load clock, from the baseline start, recovery from the fault end', () => {
    const phases = [
      {name: 'baseline', startT: 500, endT: 5500, plannedMs: 5000},
      {name: 'fault', startT: 5800, endT: 15800, plannedMs: 10000},
      {name: 'recovery', startT: 15900, plannedMs: 5000},
    ]
    assert.deepEqual(phaseWindows({phases}, 21_000), [
      {phase: 'baseline', fromMs: 0, toMs: 5000},
      {phase: 'fault', fromMs: 5300, toMs: 15300},
      {phase: 'recovery', fromMs: 15300, toMs: 21000},
    ])
    assert.deepEqual(phaseWindows({phases: []}, 0), [])
    assert.deepEqual(phaseWindows({phases: [{name: 'baseline', startT: 10, plannedMs: 1}]}, 3000), [
      {phase: 'baseline', fromMs: 0, toMs: 3000},
    ])
  })

  it("puts the report's timeline and the index's windows on the same clock", () => {
    const doc = journal('held')
    const timeline = timelineOf(doc)
    const windows = phaseWindows(doc, loadLengthMs(doc))
    assert.equal(timeline.loadOffsetMs, loadStartMs(doc))
    const onRunClock = (phase: string) => timeline.phases.find(p => p.name === phase)
    assert.equal(windows[0]?.fromMs, (onRunClock('baseline')?.fromMs ?? NaN) - timeline.loadOffsetMs)
    assert.equal(windows[1]?.fromMs, (onRunClock('fault')?.fromMs ?? NaN) - timeline.loadOffsetMs)
  })
})
