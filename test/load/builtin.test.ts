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
  const seen: {url: string; headers: Record<string, unknown>}[] = []
  let n = 0

  before(async () => {
    // Targeted requests are slow (150 ms) and every 10th fails; control answers at once.
    server = createServer((req, res) => {
      seen.push({url: req.url ?? '', headers: req.headers})
      if (req.headers['x-chaos-test'] !== 'true') return res.end('ok')
      n++
      const status = n % 10 === 0 ? 503 : 200
      setTimeout(() => res.writeHead(status).end('slow'), 150)
    })
    port = await listen(server)
  })
  after(() => server.close())

  const plan = (over: Partial<LoadPlan> = {}): LoadPlan => ({
    url: `http://127.0.0.1:${port}/productpage`, method: 'GET', durationMs: 2000, requestTimeoutMs: 5000,
    traffic: [{name: 'targeted', ratePerSecond: 50, headers: {'x-chaos-test': 'true'}}, {name: 'control', ratePerSecond: 50, headers: {}}],
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
    assert.deepEqual(recorder.seconds('control').map(s => s.second), [0, 1])
    assert.equal(recorder.summarise(undefined, 0, 2000).requests, 200)
  })

  it('runs a closed model with vus', async () => {
    const recorder = new Recorder(['targeted'])
    await new BuiltinDriver().run(plan({durationMs: 1000, traffic: [{name: 'targeted', vus: 2, headers: {'x-chaos-test': 'true'}}]}), recorder, signals())
    const s = recorder.summarise('targeted', 0, 2000)
    assert.ok(s.requests >= 8 && s.requests <= 16, `2 VUs × ~150 ms for 1 s sent ${s.requests}`)
  })

  it('sends absolute-form requests through an HTTP forward proxy', async () => {
    const before = seen.length
    const recorder = new Recorder(['control'])
    await new BuiltinDriver().run(plan({url: 'http://productpage:9080/productpage', proxy: `http://127.0.0.1:${port}`, durationMs: 500, traffic: [{name: 'control', ratePerSecond: 10, headers: {}}]}), recorder, signals())
    const proxied = seen.slice(before)
    assert.equal(proxied.length, 5)
    assert.ok(proxied.every(r => r.url === 'http://productpage:9080/productpage'), proxied[0]?.url)
  })

  it('stops promptly when aborted', async () => {
    const recorder = new Recorder(['targeted'])
    const ac = new AbortController()
    const started = Date.now()
    setTimeout(() => ac.abort(), 300)
    await new BuiltinDriver().run(plan({durationMs: 10_000, traffic: [{name: 'targeted', ratePerSecond: 20, headers: {'x-chaos-test': 'true'}}]}), recorder, {stop: ac.signal, abort: new AbortController().signal})
    assert.ok(Date.now() - started < 2000, 'returned soon after the abort')
  })
})
