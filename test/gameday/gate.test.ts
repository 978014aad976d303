import assert from 'node:assert/strict'

import {FAIL_ON, type FailOn, gate, gateNote, SEVERITY, tolerated, worstOutcome} from '../../src/gameday/gate.js'
import type {Outcome} from '../../src/journal/events.js'

const OUTCOMES: Outcome[] = ['held', 'deviated', 'aborted', 'could-not-run', 'revert-failed']

describe('gameday/gate', () => {
  it('orders outcomes revert-failed > aborted > could-not-run > deviated > held', () => {
    assert.deepEqual([...SEVERITY].reverse(), ['revert-failed', 'aborted', 'could-not-run', 'deviated', 'held'])
    assert.equal(worstOutcome([]), 'held')
    assert.equal(worstOutcome(['deviated', 'could-not-run', 'held']), 'could-not-run')
    assert.equal(worstOutcome(['could-not-run', 'aborted']), 'aborted')
    assert.equal(worstOutcome(['revert-failed', 'aborted', 'deviated']), 'revert-failed')
  })

  // Which outcome fails the gate under each --fail-on (true: fails).
  const FAILS: Record<FailOn, Record<Outcome, boolean>> = {
    any: {held: false, deviated: true, aborted: true, 'could-not-run': true, 'revert-failed': true},
    deviated: {held: false, deviated: true, aborted: false, 'could-not-run': false, 'revert-failed': true},
    aborted: {held: false, deviated: false, aborted: true, 'could-not-run': true, 'revert-failed': true},
  }
  for (const failOn of FAIL_ON) {
    for (const outcome of OUTCOMES) {
      it(`--fail-on ${failOn}: ${outcome} ${FAILS[failOn][outcome] ? 'fails' : 'passes'}`, () => {
        assert.equal(tolerated(outcome, failOn), !FAILS[failOn][outcome])
        const verdict = gate([outcome], failOn)
        assert.equal(verdict.outcome, outcome)
        assert.equal(
          verdict.exitCode,
          FAILS[failOn][outcome]
            ? {held: 0, deviated: 1, aborted: 3, 'could-not-run': 4, 'revert-failed': 5}[outcome]
            : 0,
        )
        assert.deepEqual(verdict.tolerated, outcome !== 'held' && !FAILS[failOn][outcome] ? [outcome] : [])
      })
    }
  }

  it('exits with the worst outcome the gate does not tolerate, and lists what it let pass', () => {
    assert.deepEqual(gate(['deviated', 'aborted', 'held'], 'any'), {outcome: 'aborted', exitCode: 3, tolerated: []})
    assert.deepEqual(gate(['deviated', 'could-not-run'], 'deviated'), {
      outcome: 'could-not-run',
      exitCode: 1,
      tolerated: ['could-not-run'],
    })
    assert.deepEqual(gate(['deviated', 'deviated', 'held'], 'aborted'), {
      outcome: 'deviated',
      exitCode: 0,
      tolerated: ['deviated'],
    })
    assert.deepEqual(gate(['deviated', 'revert-failed'], 'aborted'), {
      outcome: 'revert-failed',
      exitCode: 5,
      tolerated: ['deviated'],
    })
    assert.deepEqual(gate([], 'any'), {outcome: 'held', exitCode: 0, tolerated: []})
  })

  it('says on the console what it tolerated, and nothing when it tolerated nothing', () => {
    assert.equal(
      gateNote(gate(['deviated'], 'aborted'), 'aborted'),
      '--fail-on aborted: the gate tolerated deviated (exit 1); exit 0',
    )
    assert.equal(gateNote(gate(['deviated'], 'any'), 'any'), undefined)
    assert.equal(gateNote(gate(['held'], 'aborted'), 'aborted'), undefined)
  })
})
