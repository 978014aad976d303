/**
 * The k6 driver against a real k6, when one is on PATH or in K6_BINARY (the fake in
 * test/fixtures/k6 does not count): skipped, saying so, otherwise.
 */
import assert from 'node:assert/strict'
import {createServer, type IncomingHttpHeaders, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {fileURLToPath} from 'node:url'

import {findK6, K6Driver} from '../../src/load/k6.js'
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
