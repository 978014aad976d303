/**
 * The k6 driver against a real k6, when one is on PATH or in K6_BINARY (the fake in
 * test/fixtures/k6 does not count): skipped, saying so, otherwise.
 */
import assert from 'node:assert/strict'
import {createServer, type IncomingHttpHeaders, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {fileURLToPath} from 'node:url'

import {BuiltinDriver} from '../../src/load/builtin.js'
import type {LoadDriver} from '../../src/load/driver.js'
import {findK6, K6Driver} from '../../src/load/k6.js'
import {sumReasons} from '../../src/load/reasons.js'
import {Recorder} from '../../src/load/recorder.js'

const FAKE_DIR = fileURLToPath(new URL('../fixtures/k6/', import.meta.url))

describe('k6 load driver (real k6)', function () {
  this.timeout(60_000)
  let server: Server
  let port: number
  const seen: IncomingHttpHeaders[] = []

  before(async function () {
    const binary = await findK6(process.env).catch(() => undefined)
    if (binary === undefined || binary.startsWith(FAKE_DIR)) {
      console.log('      (skipped: no real k6 on PATH or in K6_BINARY; install k6 to run these)')
      return this.skip()
    }
    // Targeted requests take 150 ms and every 10th fails; control answers at once.
    let n = 0
    server = createServer((req, res) => {
      seen.push(req.headers)
      if (req.headers['x-chaos-test'] !== 'true') return res.end('ok')
      n++
      const status = n % 10 === 0 ? 503 : 200
      setTimeout(() => res.writeHead(status).end('slow'), 150)
    })
    port = await new Promise(resolve =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    )
  })
  after(() => server?.close())

  it('drives both classes at their rates into the recorder, with their headers, statuses and latencies', async () => {
    const driver = new K6Driver()
    assert.match(await driver.version(), /^k6 v\d+\.\d+\.\d+/)
    const recorder = new Recorder(['targeted', 'control'])
    const never = new AbortController().signal
    await driver.run(
      {
        url: `http://127.0.0.1:${port}/productpage`,
        method: 'GET',
        durationMs: 4000,
        requestTimeoutMs: 5000,
        traffic: [
          {name: 'targeted', ratePerSecond: 20, headers: {'x-chaos-test': 'true'}},
          {name: 'control', ratePerSecond: 20, headers: {}},
        ],
      },
      recorder,
      {stop: never, abort: never},
    )
    const total = (traffic: string) => recorder.summarise(traffic, 0, 60_000)
    const targeted = total('targeted')
    const control = total('control')
    assert.ok(
      Math.abs(targeted.requests - 80) <= 2 && Math.abs(control.requests - 80) <= 2,
      `${targeted.requests} targeted, ${control.requests} control`,
    )
    assert.equal(seen.filter(h => h['x-chaos-test'] === 'true').length, targeted.requests)
    assert.ok(targeted.failed >= 6 && targeted.failed <= 10, `${targeted.failed} targeted failures`)
    assert.equal(control.failed, 0)
    assert.ok(targeted.duration.med >= 150 && control.duration.p(99) < 100)
  })
})

describe("failure reasons: k6's equal the builtin driver's for the same answers (real k6)", function () {
  this.timeout(60_000)
  // Envoy-like local replies (packages/sandbox/src/mesh/README.md) and chaos's port-forward's own
  // 502, each for one traffic class (by its x-answer header), with the label both drivers must give.
  const overflow = 'upstream connect error or disconnect/reset before headers. reset reason: overflow'
  const answers: Record<string, {status: number; headers: Record<string, string>; body: string; label: string}> = {
    overflow: {status: 503, headers: {server: 'envoy', 'x-envoy-overloaded': 'true'}, body: overflow, label: '503 UO'},
    fault: {status: 500, headers: {server: 'envoy'}, body: 'fault filter abort', label: '500 FI'},
    retried: {
      status: 503,
      headers: {server: 'envoy'},
      body: 'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111',
      label: '503 UF,URX',
    },
    notRouted: {status: 404, headers: {server: 'istio-envoy'}, body: '', label: '404 NR'},
    app: {
      status: 503,
      headers: {server: 'envoy', 'x-envoy-upstream-service-time': '2'},
      body: 'no healthy upstream',
      label: '503',
    },
    portForward: {
      status: 502,
      headers: {'x-faultline-port-forward': 'no ready pod'},
      body: 'port-forward: no ready pod',
      label: 'port-forward lost: no ready pod',
    },
    ok: {status: 200, headers: {}, body: 'x'.repeat(5000), label: ''},
  }
  let server: Server
  let port: number

  before(async function () {
    const binary = await findK6(process.env).catch(() => undefined)
    if (binary === undefined || binary.startsWith(FAKE_DIR)) {
      console.log('      (skipped: no real k6 on PATH or in K6_BINARY; install k6 to run these)')
      return this.skip()
    }
    server = createServer((req, res) => {
      const a = answers[String(req.headers['x-answer'])]
      if (a === undefined) return res.writeHead(400).end()
      res.writeHead(a.status, a.headers).end(a.body)
    })
    port = await new Promise(resolve =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
    )
  })
  after(() => server?.close())

  /** Each class's reasons from one driver's 2 s run at 10/s per class. */
  async function reasonsOf(driver: LoadDriver): Promise<Record<string, Record<string, number>>> {
    const names = Object.keys(answers)
    const recorder = new Recorder(names)
    const never = new AbortController().signal
    await driver.run(
      {
        url: `http://127.0.0.1:${port}/productpage`,
        method: 'GET',
        durationMs: 2000,
        requestTimeoutMs: 2000,
        traffic: names.map(name => ({name, ratePerSecond: 10, headers: {'x-answer': name}})),
      },
      recorder,
      {stop: never, abort: never},
    )
    return Object.fromEntries(names.map(name => [name, sumReasons(recorder.seconds(name))]))
  }

  it('503 UO, 500 FI, 503 UF,URX, 404 NR, 503 and port-forward lost: no ready pod from both', async () => {
    const k6 = await reasonsOf(new K6Driver())
    const builtin = await reasonsOf(new BuiltinDriver())
    for (const [name, a] of Object.entries(answers)) {
      const labels = (r: Record<string, number>) => Object.keys(r)
      const expected = a.label === '' ? [] : [a.label]
      assert.deepEqual([labels(k6[name] ?? {}), labels(builtin[name] ?? {})], [expected, expected], name)
      if (a.label !== '') assert.ok((k6[name]?.[a.label] ?? 0) >= 18, `${name}: ${JSON.stringify(k6[name])} from k6`)
    }
  })
})
