import assert from 'node:assert/strict'

import type {ProbeResult} from '../../src/journal/events.js'
import {decideVerdict, OUTCOME_EXIT, type VerdictInput} from '../../src/runner/verdict.js'

const result = (probe: string, phase: ProbeResult['phase'], status: ProbeResult['status']): ProbeResult => ({
  probe,
  kind: 'threshold',
  phase,
  status,
  actual: 'p(99)=12ms',
  expected: 'p(99)<500',
})

const base: VerdictInput = {
  failedReverts: [],
  revertCommand: 'chaos revert --run r1 --namespace default',
  fired: true,
  fault: [result('fast', 'fault', 'held')],
  recovery: [result('fast', 'recovery', 'held')],
}

describe('the verdict (a table)', () => {
  const cases: Array<{name: string; input: Partial<VerdictInput>; outcome: string; exit: number; reason: RegExp}> = [
    {
      name: 'held and recovered',
      input: {},
      outcome: 'held',
      exit: 0,
      reason:
        /^the hypothesis held: 1 probe result\(s\) under the fault, all within tolerance; recovered: 1 probe result\(s\) in the recovery phase within tolerance$/,
    },
    {
      name: 'held, nothing checked the recovery',
      input: {recovery: []},
      outcome: 'held',
      exit: 0,
      reason: /; no probe checked the recovery$/,
    },
    {
      name: 'missed under the fault',
      input: {fault: [result('fast', 'fault', 'missed')]},
      outcome: 'deviated',
      exit: 1,
      reason: /^the hypothesis deviated under the fault: "fast" missed \(p\(99\)=12ms, expected p\(99\)<500\)$/,
    },
    {
      name: 'did not recover',
      input: {recovery: [result('fast', 'recovery', 'missed')]},
      outcome: 'deviated',
      exit: 1,
      reason: /^the system did not recover after the revert: "fast" missed/,
    },
    {
      name: 'an errored recovery is no recovery',
      input: {recovery: [result('fast', 'recovery', 'errored')]},
      outcome: 'deviated',
      exit: 1,
      reason: /did not recover after the revert: "fast" errored/,
    },
    {
      name: 'both',
      input: {fault: [result('a', 'fault', 'missed')], recovery: [result('b', 'recovery', 'missed')]},
      outcome: 'deviated',
      exit: 1,
      reason:
        /^the hypothesis deviated under the fault: "a" missed .*; and the system did not recover after the revert: "b" missed/,
    },
    {
      name: 'never fired: nothing was tested',
      input: {fired: false},
      outcome: 'deviated',
      exit: 1,
      reason: /the fault never fired/,
    },
    {
      name: 'stopped early',
      input: {abortReason: 'interrupted (signal)', fault: [result('a', 'fault', 'missed')]},
      outcome: 'aborted',
      exit: 3,
      reason: /^interrupted \(signal\); faults were reverted$/,
    },
    {
      name: 'a failed revert wins over everything',
      input: {
        abortReason: 'interrupted (signal)',
        fired: false,
        failedReverts: [{namespace: 'default', name: 'ratings', message: '503'}],
      },
      outcome: 'revert-failed',
      exit: 5,
      reason:
        /^revert failed for default\/ratings \(503\): faults may still be live\. Run: chaos revert --run r1 --namespace default$/,
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const v = decideVerdict({...base, ...c.input})
      assert.equal(v.outcome, c.outcome)
      assert.equal(v.exitCode, c.exit)
      assert.equal(v.exitCode, OUTCOME_EXIT[v.outcome])
      assert.match(v.reason, c.reason)
    })
  }
})
