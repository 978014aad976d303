import assert from 'node:assert/strict'

import {formatDuration, parseDurationMs, parseDurationNs} from '../src/duration.js'

describe('duration', () => {
  it('parses Go durations into milliseconds', () => {
    const cases: [string, number][] = [
      ['500ms', 500],
      ['7s', 7000],
      ['1m30s', 90_000],
      ['2h', 7_200_000],
      ['1.5s', 1500],
      ['0', 0],
      ['1500us', 1.5],
      ['250µs', 0.25],
    ]
    for (const [text, ms] of cases) assert.equal(parseDurationMs(text), ms, text)
  })

  it('rejects what Go rejects', () => {
    for (const text of ['', '7', 's', '1x', '1s2', '.s', 'ms5', '1 s'])
      assert.equal(parseDurationNs(text), undefined, text)
  })

  it('formats milliseconds compactly and round-trips', () => {
    const cases: [number, string][] = [
      [250, '250ms'],
      [7000, '7s'],
      [90_000, '1m30s'],
      [3_600_000, '1h'],
      [3_723_500, '1h2m3.5s'],
    ]
    for (const [ms, text] of cases) {
      assert.equal(formatDuration(ms), text)
      assert.equal(parseDurationMs(text), ms)
    }
  })
})
