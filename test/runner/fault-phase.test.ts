import assert from 'node:assert/strict'

import {firstEvidenceMessage, LAST_EVIDENCE_POLL_MS, lastEvidence} from '../../src/runner/fault-phase.js'

describe('fault phase: how precisely polled evidence is timed', () => {
  it("brackets the first faulted request between the last quiet read's start and the end of the read that saw it", () => {
    const message = firstEvidenceMessage(3, {startMs: 520, endMs: 612}, {startMs: 160, endMs: 270})
    assert.match(message, /^3 request\(s\) faulted by the calling sidecars/)
    assert.match(
      message,
      /the first between 160 and 612 ms after the write was answered \(counters polled every 250 ms; that read took 92 ms\)$/,
    )
  })

  it('gives only the upper bound when the first read after the write already saw the fault', () => {
    assert.match(
      firstEvidenceMessage(1, {startMs: 2, endMs: 140}, undefined),
      /the first at most 140 ms after the write was answered \(seen by the first read of the counters; that read took 138 ms\)$/,
    )
  })

  it('brackets the last faulted request after the revert and reports the end of the read that saw it', () => {
    assert.deepEqual(lastEvidence({startMs: 1, endMs: 90}, {afterMs: 300, byMs: 710}), {
      afterRevertMs: 710,
      message: `last faulted request between 300 and 710 ms after the revert was answered (counters polled every ${LAST_EVIDENCE_POLL_MS} ms)`,
    })
  })

  it('says "none counted after the first good read", not "none after the revert": a request faulted before that read is not seen', () => {
    const none = lastEvidence({startMs: 3, endMs: 95}, undefined)
    assert.equal(none.afterRevertMs, 0)
    assert.match(
      none.message,
      /^no faulted request counted after the first good read of the counters, which ended 95 ms after the revert was answered/,
    )
  })

  it('does not claim a clean revert when the counters could not be read at all', () => {
    assert.match(
      lastEvidence(undefined, undefined).message,
      /could not be read after the revert: when the last faulted request came is unknown/,
    )
  })
})
