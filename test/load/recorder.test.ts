import assert from 'node:assert/strict'

import {Recorder, type SecondStats} from '../../src/load/recorder.js'

describe('load recorder', () => {
  it('charges a request to the second it was meant to start in, and seals a second only when its requests are done', () => {
    const r = new Recorder(['targeted'])
    const sealed: SecondStats[] = []
    r.onSecond(s => sealed.push(s))
    r.started('targeted', 100)
    r.started('targeted', 900)
    r.completed('targeted', 900, 20, 200)
    r.flush(5000)
    assert.equal(sealed.length, 0, 'second 0 still has a request in flight')
    r.completed('targeted', 100, 6000, 503)
    r.flush(5000)
    assert.equal(sealed.length, 1)
    const [s] = sealed
    assert.equal(s?.second, 0)
    assert.equal(s?.requests, 2)
    assert.equal(s?.failed, 1)
    assert.deepEqual(s?.statuses, {200: 1, 503: 1})
    assert.ok(Math.abs((s?.max ?? 0) - 6000) < 10)
  })

  it('summarises windows: rate, failure ratio, percentiles merged across seconds; network errors fail', () => {
    const r = new Recorder(['a', 'b'])
    for (let i = 0; i < 100; i++) {
      r.started('a', i * 20)
      r.completed('a', i * 20, i < 50 ? 10 : 100, i % 25 === 0 ? 0 : 200)
    }
    r.dropped('b', 10)
    r.flush(0, true)
    const w = r.summarise('a', 0, 2000)
    assert.equal(w.requests, 100)
    assert.equal(w.failed, 4)
    assert.equal(w.rate, 50)
    assert.ok(Math.abs(w.duration.med - 10) < 0.1, String(w.duration.med))
    assert.ok(Math.abs(w.duration.p(99) - 100) < 0.2)
    assert.equal(r.summarise('a', 1000, 2000).requests, 50)
    assert.equal(r.summarise(undefined, 0, 2000).dropped, 1)
    assert.throws(() => r.started('nope', 0), /unknown traffic class/)
  })
})
