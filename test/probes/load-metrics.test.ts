import assert from 'node:assert/strict'

import {Recorder} from '../../src/load/recorder.js'
import {evaluateThresholds} from '../../src/probes/load-metrics.js'

function window(durations: number[], failures: number) {
  const r = new Recorder(['control'])
  durations.forEach((d, i) => {
    r.started('control', i)
    r.completed('control', i, d, i < failures ? 503 : 200)
  })
  r.flush(0, true)
  return r.summarise('control', 0, 1000)
}

describe('threshold probes over load samples', () => {
  it('holds only when every threshold holds, and reports each measured value', () => {
    const w = window(
      Array.from({length: 100}, (_, i) => i + 1),
      0,
    )
    const held = evaluateThresholds({http_req_failed: ['rate<0.01'], http_req_duration: ['p(99)<500', 'avg<100']}, w)
    assert.equal(held.status, 'held')
    assert.match(held.actual, /^rate=0, p\(99\)=99(\.\d+)?ms, avg=50\.5ms$/)
    const missed = evaluateThresholds({http_req_duration: ['p(95)<50']}, w)
    assert.equal(missed.status, 'missed')
    assert.ok(Math.abs((missed.value ?? 0) - 95) < 0.5)
  })

  it('counts network errors and 5xx as failures like k6 http_req_failed', () => {
    const w = window([5, 5, 5, 5], 2)
    const v = evaluateThresholds({http_req_failed: ['rate<0.01']}, w)
    assert.equal(v.status, 'missed')
    assert.equal(v.value, 0.5)
    assert.equal(evaluateThresholds({http_reqs: ['count>=4']}, w).status, 'held')
  })

  it('errors when there is nothing to judge', () => {
    const v = evaluateThresholds({http_req_duration: ['p(95)<4000']}, window([], 0))
    assert.equal(v.status, 'errored')
    assert.match(v.message ?? '', /no request completed/)
  })
})
