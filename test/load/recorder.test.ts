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

  it('summariseLatest also counts what the unsealed seconds have completed so far, the second in progress included', () => {
    const r = new Recorder(['a', 'b'])
    for (let i = 0; i < 10; i++) {
      r.started('a', 100 * i)
      r.completed('a', 100 * i, 5, 200)
    }
    r.flush(1500)
    r.started('a', 1100)
    r.completed('a', 1100, 7, 503)
    r.started('a', 1200)
    r.started('a', 2100)
    r.completed('a', 2100, 9, 503)
    r.started('b', 1300)
    r.completed('b', 1300, 1, 200)
    assert.deepEqual(
      [r.summarise('a', 0, 2200).requests, r.summarise('a', 0, 2200).failed],
      [10, 0],
      'summarise sees sealed seconds only',
    )
    const latest = r.summariseLatest('a', 0, 2200)
    assert.deepEqual(
      [latest.requests, latest.failed],
      [12, 2],
      'second 1 so far (one in flight) and second 2, in progress',
    )
    assert.ok(Math.abs(latest.duration.max - 9) < 0.01, String(latest.duration.max))
    assert.equal(r.summariseLatest('a', 1000, 2000).requests, 1, 'the window still ends where it ends')
    assert.equal(
      r.summariseLatest('a', 1600, 2200).requests,
      1,
      'a second whose middle lies before the window stays out',
    )
    assert.equal(r.summariseLatest(undefined, 0, 2200).requests, 13)
    r.flush(0, true)
    const figures = (w: ReturnType<Recorder['summarise']>) => [
      w.requests,
      w.failed,
      w.rate,
      w.duration.med,
      w.duration.p(99),
      w.duration.max,
    ]
    assert.deepEqual(
      figures(r.summariseLatest('a', 0, 3000)),
      figures(r.summarise('a', 0, 3000)),
      'once everything is sealed, both agree',
    )
  })

  it('does not write into a second it has sealed (a late arrival opens a new one)', () => {
    const r = new Recorder(['a'])
    const sealed: SecondStats[] = []
    r.onSecond(s => sealed.push(s))
    r.started('a', 100)
    r.completed('a', 100, 5, 200)
    r.flush(1500)
    assert.equal(sealed[0]?.requests, 1)
    r.started('a', 200)
    assert.equal(r.inFlightBefore(1000), 1, 'the late request is tracked as in flight')
    r.completed('a', 200, 5, 200)
    r.flush(1500)
    assert.deepEqual(
      sealed.map(s => s.requests),
      [1, 1],
      'the sealed second kept its count',
    )
  })

  it('records durations in live histograms that encode and summarise like the sealed ones', () => {
    const r = new Recorder(['a'])
    for (let i = 1; i <= 1000; i++) {
      r.started('a', 1500)
      r.completed('a', 1500, i / 10, 200)
    }
    r.flush(0, true)
    const [s] = r.seconds('a')
    assert.equal(s?.second, 1)
    assert.ok(Math.abs((s?.p50 ?? 0) - 50) < 0.1 && Math.abs((s?.p99 ?? 0) - 99) < 0.1, `${s?.p50} ${s?.p99}`)
    const w = r.summarise('a', 1000, 2000)
    assert.equal(w.duration.count, 1000)
    assert.ok(Math.abs(w.duration.avg - 50.05) < 0.1, String(w.duration.avg))
    assert.ok(Math.abs(w.duration.max - 100) < 0.1)
  })

  it('knows what is in flight and the age of the oldest, per class, while it is in flight', () => {
    const r = new Recorder(['targeted', 'control'])
    r.started('targeted', 100)
    r.started('targeted', 300)
    r.started('targeted', 300)
    r.started('control', 900)
    r.completed('control', 900, 5, 200)
    assert.deepEqual(r.inFlight(6300), [
      {traffic: 'targeted', count: 3, oldestMs: 6200},
      {traffic: 'control', count: 0, oldestMs: 0},
    ])
    r.completed('targeted', 100, 7000, 200)
    assert.deepEqual(r.inFlight(7100)[0], {traffic: 'targeted', count: 2, oldestMs: 6800})
    r.completed('targeted', 300, 7000, 200)
    assert.deepEqual(
      r.inFlight(7300)[0],
      {traffic: 'targeted', count: 1, oldestMs: 7000},
      'two requests meant for the same moment are two',
    )
  })

  it('counts requests the runner cancelled apart from failures, and whatever never completed as cancelled', () => {
    const r = new Recorder(['targeted'])
    for (const at of [100, 200, 300]) r.started('targeted', at)
    r.completed('targeted', 100, 10, 503)
    r.cancelled('targeted', 200)
    r.flush(5000, true)
    const [second] = r.seconds('targeted')
    assert.deepEqual(
      [second?.requests, second?.failed, second?.cancelled],
      [1, 1, 2],
      'the 300 ms request never completed: cancelled at the final flush',
    )
    const w = r.summarise('targeted', 0, 1000)
    assert.deepEqual([w.requests, w.failed, w.cancelled, w.failedRate], [1, 1, 2, 1])
    assert.deepEqual(r.inFlight(5000), [{traffic: 'targeted', count: 0, oldestMs: 0}])
  })
})
