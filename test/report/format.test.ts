import assert from 'node:assert/strict'

import {formatMs, formatPercent, formatRate, formatRunTime, significant} from '../../src/report/format.js'

describe('report number formatting', () => {
  it('three significant figures, whole numbers from 1000 up', () => {
    const cases: [number, string][] = [
      [0, '0'],
      [0.012345, '0.0123'],
      [1.5, '1.5'],
      [40.415, '40.4'],
      [999.5, '1000'],
      [6012.9, '6013'],
      [-2.345, '-2.35'],
      [Number.NaN, '—'],
      [Infinity, '—'],
    ]
    for (const [n, s] of cases) assert.equal(significant(n), s, String(n))
  })

  it('durations in the unit that reads best', () => {
    const cases: [number, string][] = [
      [0, '0 ms'],
      [40.415, '40.4 ms'],
      [999, '999 ms'],
      [999.7, '1 s'],
      [1088, '1.09 s'],
      [6013, '6.01 s'],
      [59_999, '1 min'],
      [60_000, '1 min'],
      [125_000, '2 min 5 s'],
      [3_720_000, '1 h 2 min'],
      [-1500, '-1.5 s'],
    ]
    for (const [ms, s] of cases) assert.equal(formatMs(ms), s, String(ms))
  })

  it('ratios, rates and run-clock times', () => {
    assert.equal(formatPercent(0.0123), '1.23%')
    assert.equal(formatPercent(0), '0%')
    assert.equal(formatRate(4.98456), '4.98/s')
    assert.equal(formatRunTime(5857), '+5.86 s')
    assert.equal(formatRunTime(5), '+5 ms')
  })
})
