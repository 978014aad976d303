import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {BuiltinDriver} from '../../src/load/builtin.js'
import type {LoadPlan} from '../../src/load/driver.js'
import {parseRate} from '../../src/load/driver.js'
import {Recorder} from '../../src/load/recorder.js'

const signals = () => ({stop: new AbortController().signal, abort: new AbortController().signal})

function listen(server: Server): Promise<number> {
  return new Promise(resolve => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))
}

describe('builtin load driver', function () {
  this.timeout(20_000)
  let server: Server
  let port: number
  const seen: {url: string; headers: Record<string, unknown>; port: number; at: number}[] = []
  let n = 0

  before(async () => {
    // Targeted requests are slow (150 ms) and every 10th fails; control answers at once;
    // `x-delay-ms` asks for a 200 after that many milliseconds.
    server = createServer((req, res) => {
      seen.push({url: req.url ?? '', headers: req.headers, port: req.socket.remotePort ?? 0, at: Date.now()})
      const delay = Number(req.headers['x-delay-ms'] ?? 0)
      if (delay > 0) return void setTimeout(() => res.end('late'), delay)
      if (req.headers['x-chaos-test'] !== 'true') return res.end('ok')
      n++
      const status = n % 10 === 0 ? 503 : 200
      setTimeout(() => res.writeHead(status).end('slow'), 150)
    })
    port = await listen(server)
  })
  after(() => server.close())

  const plan = (over: Partial<LoadPlan> = {}): LoadPlan => ({
    url: `http://127.0.0.1:${port}/productpage`,
    method: 'GET',
    durationMs: 2000,
    requestTimeoutMs: 5000,
    traffic: [
      {name: 'targeted', ratePerSecond: 50, headers: {'x-chaos-test': 'true'}},
      {name: 'control', ratePerSecond: 50, headers: {}},
    ],
    ...over,
  })

  it('parses rates', () => {
    assert.equal(parseRate('20/s'), 20)
    assert.equal(parseRate('600/m'), 10)
    assert.equal(parseRate('1.5/s'), 1.5)
    assert.throws(() => parseRate('20'), /20\/s/)
  })

  it('holds the arrival rate per class even when the target is slow (open model), tagging each class', async () => {
    const recorder = new Recorder(['targeted', 'control'])
    await new BuiltinDriver().run(plan(), recorder, signals())
    const targeted = recorder.summarise('targeted', 0, 2000)
    const control = recorder.summarise('control', 0, 2000)
    assert.equal(targeted.requests, 100, 'every scheduled targeted request was sent despite 150 ms latency')
    assert.equal(control.requests, 100)
    assert.equal(targeted.failed, 10)
    assert.equal(control.failed, 0)
    assert.ok(targeted.duration.med >= 150 && targeted.duration.med < 400, `targeted p50 ${targeted.duration.med}`)
    assert.ok(control.duration.p(99) < 150, `control p99 ${control.duration.p(99)}`)
    assert.deepEqual(
      recorder.seconds('control').map(s => s.second),
      [0, 1],
    )
    assert.equal(recorder.summarise(undefined, 0, 2000).requests, 200)
  })

  it("never makes one class wait for connections another class's slow requests hold (a fault on targeted traffic must not show on control)", async () => {
    // 5/s each: targeted requests take 4 s, so all 15 are in flight at the end — more than a rate-sized pool (10) holds.
    const recorder = new Recorder(['targeted', 'control'])
    await new BuiltinDriver().run(
      plan({
        durationMs: 3000,
        traffic: [
          {name: 'targeted', ratePerSecond: 5, headers: {'x-delay-ms': '4000'}},
          {name: 'control', ratePerSecond: 5, headers: {}},
        ],
      }),
      recorder,
      signals(),
    )
    const control = recorder.summarise('control', 0, 3000)
    assert.equal(control.requests, 15)
    assert.ok(control.duration.max < 500, `control max ${control.duration.max}ms: it queued behind the slow class`)
  })

  it('runs a closed model with vus', async () => {
    const recorder = new Recorder(['targeted'])
    await new BuiltinDriver().run(
      plan({durationMs: 1000, traffic: [{name: 'targeted', vus: 2, headers: {'x-chaos-test': 'true'}}]}),
      recorder,
      signals(),
    )
    const s = recorder.summarise('targeted', 0, 2000)
    assert.ok(s.requests >= 8 && s.requests <= 16, `2 VUs × ~150 ms for 1 s sent ${s.requests}`)
  })

  it('sends absolute-form requests through an HTTP forward proxy', async () => {
    const before = seen.length
    const recorder = new Recorder(['control'])
    await new BuiltinDriver().run(
      plan({
        url: 'http://productpage:9080/productpage',
        proxy: `http://127.0.0.1:${port}`,
        durationMs: 500,
        traffic: [{name: 'control', ratePerSecond: 10, headers: {}}],
      }),
      recorder,
      signals(),
    )
    const proxied = seen.slice(before)
    assert.equal(proxied.length, 5)
    assert.ok(
      proxied.every(r => r.url === 'http://productpage:9080/productpage'),
      proxied[0]?.url,
    )
    assert.ok(
      proxied.every(r => r.headers['host'] === 'productpage:9080'),
      String(proxied[0]?.headers['host']),
    )
  })

  it('gives each VU its own connection and starts nothing after the duration', async () => {
    const before = seen.length
    const recorder = new Recorder(['vus'])
    const started = Date.now()
    await new BuiltinDriver().run(
      plan({durationMs: 600, traffic: [{name: 'vus', vus: 3, headers: {'x-delay-ms': '20'}}]}),
      recorder,
      signals(),
    )
    const sent = seen.slice(before)
    assert.equal(new Set(sent.map(r => r.port)).size, 3, 'three VUs, three connections')
    assert.ok(sent.length >= 15, `3 VUs × ~20 ms for 600 ms sent only ${sent.length}`)
    assert.ok(
      sent.every(r => r.at - started < 700),
      'no request started after the duration',
    )
    const w = recorder.summarise('vus', 0, 2000)
    assert.equal(w.requests, sent.length, 'every request sent was recorded')
    assert.ok(w.duration.med >= 20, `latency ${w.duration.med} ms includes the server's 20 ms`)
  })

  it('stops gracefully: no new requests, and the in-flight ones complete with their real status', async () => {
    const before = seen.length
    const recorder = new Recorder(['slow'])
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 200)
    await new BuiltinDriver().run(
      plan({durationMs: 5000, traffic: [{name: 'slow', ratePerSecond: 20, headers: {'x-delay-ms': '300'}}]}),
      recorder,
      {stop: stop.signal, abort: new AbortController().signal},
    )
    const sent = seen.length - before
    const w = recorder.summarise('slow', 0, 6000)
    assert.ok(sent >= 3 && sent <= 6, `about 200 ms of 20/s were sent: ${sent}`)
    assert.equal(w.requests, sent, 'the in-flight requests were waited for and recorded')
    assert.equal(w.failed, 0)
    assert.ok(w.duration.min >= 300, `each took the server's 300 ms: ${w.duration.min}`)
  })

  it('aborts hard: in-flight requests end at once and are counted as cancelled, never as failures', async () => {
    const before = seen.length
    const recorder = new Recorder(['hung'])
    const abort = new AbortController()
    let abortedAt = 0
    setTimeout(() => {
      abortedAt = Date.now()
      abort.abort()
    }, 200)
    await new BuiltinDriver().run(
      plan({durationMs: 5000, traffic: [{name: 'hung', ratePerSecond: 20, headers: {'x-delay-ms': '3000'}}]}),
      recorder,
      {stop: new AbortController().signal, abort: abort.signal},
    )
    assert.ok(Date.now() - abortedAt < 1000, 'resolved long before the 3 s responses')
    const w = recorder.summarise('hung', 0, 6000)
    // A request still connecting when the abort came was sent and cancelled but never reached the server.
    assert.ok(
      w.cancelled >= seen.length - before,
      `${w.cancelled} cancelled, ${seen.length - before} reached the server`,
    )
    assert.ok(w.cancelled >= 3, `requests were in flight: ${w.cancelled}`)
    assert.deepEqual([w.requests, w.failed], [0, 0], 'the runner cancelled them: no request completed, none failed')
    assert.deepEqual(
      recorder.seconds('hung').map(s => s.statuses),
      [{}],
    )
    assert.deepEqual(
      recorder.inFlight(6000).map(f => f.count),
      [0],
    )
  })

  it('drops arrivals beyond the in-flight limit and counts them', async () => {
    const recorder = new Recorder(['hung'])
    await new BuiltinDriver({maxInFlight: 5}).run(
      plan({durationMs: 500, traffic: [{name: 'hung', ratePerSecond: 40, headers: {'x-delay-ms': '700'}}]}),
      recorder,
      signals(),
    )
    const w = recorder.summarise('hung', 0, 2000)
    assert.equal(w.requests, 5, 'only the limit was sent')
    assert.equal(w.dropped, 15, 'the other 15 of 20 arrivals were dropped')
  })

  it('keeps VUs on a refused connection from recursing or outliving the duration', async () => {
    const closed = createServer()
    const deadPort = await listen(closed)
    await new Promise(resolve => closed.close(resolve))
    const recorder = new Recorder(['vus'])
    const started = Date.now()
    await new BuiltinDriver().run(
      plan({url: `http://127.0.0.1:${deadPort}/`, durationMs: 300, traffic: [{name: 'vus', vus: 2, headers: {}}]}),
      recorder,
      signals(),
    )
    assert.ok(Date.now() - started < 2000)
    const w = recorder.summarise('vus', 0, 2000)
    assert.ok(w.requests >= 2)
    assert.equal(w.failed, w.requests, 'every attempt is a network error')
    assert.deepEqual(Object.keys(recorder.seconds('vus').reduce((r, x) => ({...r, ...x.reasons}), {})), [
      `ECONNREFUSED 127.0.0.1:${deadPort}`,
    ])
  })

  it("gives every failed request a reason: Envoy local replies with their flag, the application's statuses bare, the proxy's refusals", async () => {
    const envoy = createServer((req, res) => {
      const path = req.url ?? ''
      if (path.endsWith('/abort'))
        return res.writeHead(500, {server: 'envoy', 'content-type': 'text/plain'}).end('fault filter abort')
      if (path.endsWith('/overflow'))
        return res
          .writeHead(503, {server: 'envoy', 'x-envoy-overloaded': 'true'})
          .end('upstream connect error or disconnect/reset before headers. reset reason: overflow')
      if (path.endsWith('/app'))
        return res.writeHead(503, {server: 'envoy', 'x-envoy-upstream-service-time': '3'}).end('no healthy upstream')
      if (path.endsWith('/refused'))
        return res.writeHead(502, {'x-faultline-proxy': 'refused'}).end('no service named "x"')
      res.end('ok')
    })
    const envoyPort = await listen(envoy)
    try {
      const reasons: Record<string, Record<string, number>> = {}
      for (const path of ['abort', 'overflow', 'app', 'refused', 'ok']) {
        const recorder = new Recorder(['c'])
        await new BuiltinDriver().run(
          plan({
            url: `http://127.0.0.1:${envoyPort}/${path}`,
            durationMs: 200,
            traffic: [{name: 'c', ratePerSecond: 20, headers: {}}],
          }),
          recorder,
          signals(),
        )
        reasons[path] = recorder.seconds('c').reduce((r, x) => ({...r, ...x.reasons}), {})
      }
      assert.deepEqual(reasons, {
        abort: {'500 FI': 4},
        overflow: {'503 UO': 4},
        app: {'503': 4},
        refused: {'proxy refused 502': 4},
        ok: {},
      })
    } finally {
      envoy.close()
    }
  })

  it('reports the arrival rate over the sending window and the send lag', async () => {
    const driver = new BuiltinDriver()
    await driver.run(
      plan({durationMs: 1000, traffic: [{name: 'control', ratePerSecond: 200, headers: {}}]}),
      new Recorder(['control']),
      signals(),
    )
    const [report] = driver.lastSendReport
    assert.equal(report?.traffic, 'control')
    assert.equal(report?.sent, 200)
    assert.ok(
      report.firstSendMs < 100 && report.lastSendMs >= 995 * (199 / 200),
      `window ${report.firstSendMs}–${report.lastSendMs}`,
    )
    assert.ok(Math.abs(report.arrivalRate - 200) / 200 < 0.1, `arrival rate ${report.arrivalRate}`)
    assert.ok(
      report.lag.p50 >= 0 && report.lag.p50 < 50 && report.lag.max >= report.lag.p99,
      JSON.stringify(report.lag),
    )
  })

  it('refuses a plan whose classes the recorder does not know, before sending anything', async () => {
    const before = seen.length
    await assert.rejects(
      new BuiltinDriver().run(plan(), new Recorder(['control']), signals()),
      /unknown traffic class targeted/,
    )
    assert.equal(seen.length, before)
  })

  it('stops promptly when aborted', async () => {
    const recorder = new Recorder(['targeted'])
    const ac = new AbortController()
    const started = Date.now()
    setTimeout(() => ac.abort(), 300)
    await new BuiltinDriver().run(
      plan({durationMs: 10_000, traffic: [{name: 'targeted', ratePerSecond: 20, headers: {'x-chaos-test': 'true'}}]}),
      recorder,
      {stop: ac.signal, abort: new AbortController().signal},
    )
    assert.ok(Date.now() - started < 2000, 'returned soon after the abort')
  })
})
