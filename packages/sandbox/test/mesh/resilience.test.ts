import assert from 'node:assert/strict'
import http, {type IncomingMessage, type ServerResponse} from 'node:http'

import type {Mesh} from '../../src/mesh/index.js'
import {type IstioProfile, ISTIO_PROFILES} from '../../src/mesh/profile.js'
import {
  type AppHandler,
  destinationRule,
  FakeConfig,
  FakeTopology,
  send,
  startMesh,
  stat,
  type TestPod,
  virtualService,
} from './harness.js'

const RATINGS = 'http://ratings:9080/ratings/0'
const CLIENT = 'productpage-v1-5d9b6f7c8d-abcde'
const CLUSTER = 'cluster.outbound|9080||ratings.default.svc.cluster.local;.'

const status =
  (code: number): AppHandler =>
  (req, res) => {
    req.resume()
    res.writeHead(code)
    res.end(`status ${code}`)
  }

/** Holds every request until released, to keep connections busy. */
function gate(): {handler: AppHandler; release(): void; waiting(): number} {
  const held: ServerResponse[] = []
  let open = false
  return {
    handler: (req: IncomingMessage, res: ServerResponse) => {
      req.resume()
      if (open) res.end('ok')
      else held.push(res)
    },
    release() {
      open = true
      for (const r of held.splice(0)) r.end('ok')
    },
    waiting: () => held.length,
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setImmediate(resolve))
  }
}

describe('sandbox mesh: timeouts, retries, circuit breakers, outlier detection', () => {
  let topology: FakeTopology
  let config: FakeConfig
  let mesh: Mesh
  let port: number
  let clock: number
  let ratings: TestPod[]

  const start = async (...handlers: AppHandler[]) => startWith({}, ...handlers)
  const startWith = async (opts: {profile?: IstioProfile}, ...handlers: AppHandler[]) => {
    ratings = []
    for (const [i, h] of handlers.entries())
      ratings.push(await topology.pod(`ratings-v1-6b7c9d8f5c-r${i}aaa`, {app: 'ratings', version: 'v1'}, h))
    ;({mesh, port} = await startMesh(topology, config, {now: () => clock, ...opts}))
  }
  const s = (name: string) => stat(mesh, CLIENT, CLUSTER + name)
  const metrics = async () => (await mesh.sidecar(CLIENT)?.metricsText()) ?? ''

  beforeEach(() => {
    topology = new FakeTopology()
    config = new FakeConfig()
    topology.service('ratings')
    clock = 1_000_000
  })

  afterEach(async () => {
    await mesh.close()
    await topology.close()
  })

  it('route timeout gives 504 UT "upstream request timeout"', async () => {
    await start((req, res) => setTimeout(() => res.end('late'), 300))
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [{timeout: '50ms', route: [{destination: {host: 'ratings'}}]}],
      }),
    )
    const r = await send(port, RATINGS)
    assert.equal(r.status, 504)
    assert.equal(r.body, 'upstream request timeout')
    assert.ok(r.ms < 250, `answered after ${r.ms.toFixed(0)} ms`)
    assert.equal(s('upstream_rq_timeout'), 1)
    assert.equal(s('upstream_rq_504'), 1)
    assert.match(await metrics(), /response_code="504"[^}]*response_flags="UT"/)
  })

  it('retries exhaust with URX: attempts + 1 tries, the last upstream response is returned', async () => {
    await start(status(500))
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [{retries: {attempts: 3, retryOn: '5xx'}, route: [{destination: {host: 'ratings'}}]}],
      }),
    )
    const r = await send(port, RATINGS)
    assert.equal(r.status, 500)
    assert.equal(ratings[0]?.hits, 4)
    assert.equal(s('upstream_rq_retry'), 3)
    assert.equal(s('upstream_rq_retry_limit_exceeded'), 1)
    // envoy source/common/router/router.cc chargeUpstreamCode(…, dropped): retried responses count under `retry.`.
    assert.equal(s('upstream_rq_500'), 1, "only the response returned downstream is the request's code")
    assert.equal(s('retry.upstream_rq_500'), 3)
    assert.equal(s('retry.upstream_rq_5xx'), 3)
    assert.equal(s('retry.upstream_rq_completed'), 3)
    assert.match(await metrics(), /reporter="source"[^}]*response_code="500"[^}]*response_flags="URX"/)
    const served = (await mesh.sidecar(ratings[0]?.name ?? '')?.metricsText()) ?? ''
    assert.match(
      served,
      /istio_requests_total\{reporter="destination"[^}]*response_code="500"[^}]*\} 4\n/,
      'each attempt is a request at the destination',
    )
  })

  // istio 1.30.3 route/retry/retry.go: retry_on connect-failure,refused-stream,unavailable,cancelled,
  // retriable-status-codes with no codes (1.24.0 #52111 EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY dropped 503).
  it("Istio's default retry policy (≥ 1.24) does not retry a 503, nor does attempts: 3 without retryOn", async () => {
    await start(status(503), status(200))
    config.apply(destinationRule('ratings', {host: 'ratings', trafficPolicy: {loadBalancer: {simple: 'ROUND_ROBIN'}}}))
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await send(port, RATINGS)).status)
    assert.deepEqual(statuses.sort(), [200, 200, 503, 503])
    assert.equal(s('upstream_rq_retry'), 0)
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [{retries: {attempts: 3}, route: [{destination: {host: 'ratings'}}]}],
      }),
    )
    const again = [(await send(port, RATINGS)).status, (await send(port, RATINGS)).status]
    assert.deepEqual(again.sort(), [200, 503], 'round robin: the 503 host answers one of two, and is not retried')
    assert.equal(s('upstream_rq_retry'), 0)
  })

  it('with --istio 1.22 the default policy retries a 503 twice (retry.go DefaultPolicy: RetriableStatusCodes [503]), on another host when there is one', async () => {
    await startWith({profile: ISTIO_PROFILES['1.22']}, status(503), status(200))
    config.apply(destinationRule('ratings', {host: 'ratings', trafficPolicy: {loadBalancer: {simple: 'ROUND_ROBIN'}}}))
    for (let i = 0; i < 4; i++) assert.equal((await send(port, RATINGS)).status, 200)
    assert.equal(ratings[0]?.hits, 2, 'round robin sends every other first attempt to the failing host')
    assert.equal(
      stat(mesh, CLIENT, CLUSTER.replace(';.', '.') + 'upstream_rq_retry'),
      2,
      '1.22 names clusters without the `;`',
    )
  })

  it('the default policy does not retry a 500 (connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes with no codes)', async () => {
    await start(status(500))
    assert.equal((await send(port, RATINGS)).status, 500)
    assert.equal(ratings[0]?.hits, 1)
  })

  it("a refused connection gives 503 UF with Envoy's reset body; retried ones add URX", async () => {
    await start(status(200))
    const pod = ratings[0] as TestPod
    await new Promise<void>(resolve => pod.server.close(() => resolve()))
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [{retries: {attempts: 0}, route: [{destination: {host: 'ratings'}}]}],
      }),
    )
    const once = await send(port, RATINGS)
    assert.equal(once.status, 503)
    assert.equal(
      once.body,
      'upstream connect error or disconnect/reset before headers. reset reason: remote connection failure, transport failure reason: delayed connect error: 111',
    )
    config.remove('VirtualService', 'ratings')
    const retried = await send(port, RATINGS)
    assert.equal(retried.status, 503)
    assert.match(retried.body, /retried and the latest reset reason: remote connection failure/)
    assert.match(await metrics(), /response_code="503"[^}]*response_flags="UF,URX"/)
    assert.equal(s('upstream_cx_connect_fail'), 4)
  })

  it('perTryTimeout retries slow attempts and ends in 504 UT,URX', async () => {
    await start((req, res) => setTimeout(() => res.end('late'), 300))
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [
          {
            retries: {attempts: 1, perTryTimeout: '30ms', retryOn: 'gateway-error'},
            route: [{destination: {host: 'ratings'}}],
          },
        ],
      }),
    )
    const r = await send(port, RATINGS)
    assert.equal(r.status, 504)
    assert.equal(s('upstream_rq_per_try_timeout'), 2)
    assert.match(await metrics(), /response_code="504"[^}]*response_flags="UT,URX"/)
  })

  it('maxConnections + http1MaxPendingRequests overflow gives 503 UO and upstream_rq_pending_overflow', async () => {
    const g = gate()
    await start(g.handler)
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}},
      }),
    )
    const first = send(port, RATINGS)
    await until(() => g.waiting() === 1, 'the first request to hold the only connection')
    const second = send(port, RATINGS)
    await until(() => s('upstream_rq_pending_active') === 1, 'the second request to wait as pending')
    assert.equal(s('circuit_breakers.default.cx_open'), 1)
    assert.equal(s('circuit_breakers.default.rq_pending_open'), 1)
    const third = await send(port, RATINGS)
    assert.equal(third.status, 503)
    assert.equal(third.body, 'upstream connect error or disconnect/reset before headers. reset reason: overflow')
    assert.equal(third.headers['x-envoy-overloaded'], 'true')
    g.release()
    assert.equal((await first).status, 200)
    assert.equal((await second).status, 200)
    assert.equal(s('upstream_rq_pending_overflow'), 1)
    assert.equal(s('upstream_cx_overflow'), 1)
    assert.equal(s('upstream_cx_total'), 1, 'the pending request reused the one connection')
    assert.equal(s('upstream_rq_total'), 2)
    assert.equal(
      s('circuit_breakers.default.cx_open'),
      1,
      'the idle keep-alive connection still counts against max_connections',
    )
    assert.equal(s('circuit_breakers.default.rq_pending_open'), 0)
    assert.match(await metrics(), /response_code="503"[^}]*response_flags="UO"/)
    assert.match(
      await metrics(),
      /envoy_cluster_upstream_rq_pending_overflow\{cluster_name="outbound\|9080\|\|ratings.default.svc.cluster.local"\} 1/,
    )
  })

  it('http2MaxRequests caps concurrent requests (503 UO, counted as upstream_rq_pending_overflow)', async () => {
    const g = gate()
    await start(g.handler)
    config.apply(
      destinationRule('ratings', {host: 'ratings', trafficPolicy: {connectionPool: {http: {http2MaxRequests: 2}}}}),
    )
    const held = [send(port, RATINGS), send(port, RATINGS)]
    await until(() => g.waiting() === 2, 'two requests in flight')
    assert.equal(s('circuit_breakers.default.rq_open'), 1)
    assert.equal((await send(port, RATINGS)).status, 503)
    g.release()
    for (const r of await Promise.all(held)) assert.equal(r.status, 200)
    assert.equal(s('upstream_rq_pending_overflow'), 1)
  })

  it('maxRetries caps concurrent retries: upstream_rq_retry_overflow and UO', async () => {
    const g = gate()
    // First attempts fail with 503 (retriable with retryOn 503); retries are held open.
    await start((req, res) =>
      req.headers['x-envoy-attempt-count'] === '1' ? status(503)(req, res, '') : g.handler(req, res, ''),
    )
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [{retries: {attempts: 2, retryOn: '503'}, route: [{destination: {host: 'ratings'}}]}],
      }),
    )
    config.apply(
      destinationRule('ratings', {host: 'ratings', trafficPolicy: {connectionPool: {http: {maxRetries: 1}}}}),
    )
    const retried = send(port, RATINGS)
    await until(() => g.waiting() === 1, 'the first retry to be in flight')
    assert.equal(s('circuit_breakers.default.rq_retry_open'), 1)
    const refused = await send(port, RATINGS)
    assert.equal(refused.status, 503, 'its retry was refused, so the 503 is returned')
    g.release()
    assert.equal((await retried).status, 200)
    assert.equal(s('upstream_rq_retry_overflow'), 1)
    assert.match(await metrics(), /response_code="503"[^}]*response_flags="UO"/)
  })

  it('outlier detection ejects after consecutive5xxErrors for baseEjectionTime × ejections', async () => {
    await start(status(500), status(200))
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {
          loadBalancer: {simple: 'ROUND_ROBIN'},
          outlierDetection: {consecutive5xxErrors: 3, interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 50},
        },
      }),
    )
    const bad = ratings[0] as TestPod
    const eject = async () => {
      while ((s('outlier_detection.ejections_active') ?? 0) === 0) await send(port, RATINGS)
    }
    const sendsReachBad = async (n: number) => {
      const before = bad.hits
      for (let i = 0; i < n; i++) await send(port, RATINGS)
      return bad.hits - before
    }
    await eject()
    assert.equal(bad.hits, 3)
    assert.equal(s('membership_healthy'), 1)
    assert.equal(s('outlier_detection.ejections_enforced_consecutive_5xx'), 1)
    assert.equal(s('outlier_detection.ejections_detected_consecutive_5xx'), 1)
    const ejectedAt = clock
    clock = ejectedAt + 29_000
    assert.equal(await sendsReachBad(4), 0, 'still ejected before 30 s')
    clock = ejectedAt + 30_000
    assert.ok((await sendsReachBad(4)) > 0, 'back in the pool after 1 × 30 s')
    await eject()
    const second = clock
    assert.equal(s('outlier_detection.ejections_enforced_total'), 2)
    clock = second + 59_000
    assert.equal(await sendsReachBad(4), 0, 'second ejection lasts 2 × 30 s')
    clock = second + 60_000
    assert.ok((await sendsReachBad(4)) > 0)
  })

  it('maxEjectionPercent bounds ejection: one host of one at the 10% default is never ejected (ejections_overflow)', async () => {
    await start(status(500))
    config.apply(
      destinationRule('ratings', {host: 'ratings', trafficPolicy: {outlierDetection: {consecutive5xxErrors: 2}}}),
    )
    for (let i = 0; i < 4; i++) assert.equal((await send(port, RATINGS)).status, 500)
    assert.equal(s('outlier_detection.ejections_active'), 0)
    assert.equal(s('outlier_detection.ejections_overflow'), 2)
    assert.equal(s('outlier_detection.ejections_detected_consecutive_5xx'), 2)
  })

  it('every host ejected: 503 UH "no healthy upstream"', async () => {
    await start(status(500))
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {outlierDetection: {consecutive5xxErrors: 1, maxEjectionPercent: 100}},
      }),
    )
    assert.equal((await send(port, RATINGS)).status, 500)
    const r = await send(port, RATINGS)
    assert.equal(r.status, 503)
    assert.equal(r.body, 'no healthy upstream')
    assert.match(await metrics(), /response_code="503"[^}]*response_flags="UH"/)
  })

  it('outlier stats exist only when outlier detection is configured', async () => {
    await start(status(200))
    assert.equal(s('outlier_detection.ejections_active'), undefined)
    config.apply(
      destinationRule('ratings', {host: 'ratings', trafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}}}),
    )
    await send(port, RATINGS)
    assert.equal(s('outlier_detection.ejections_active'), 0)
  })

  it('a downstream that disconnects mid-request frees its connection and request slots (flag DC)', async () => {
    const g = gate()
    await start(g.handler)
    const req = http.request({host: '127.0.0.1', port, path: RATINGS})
    req.on('error', () => undefined)
    req.end()
    await until(() => g.waiting() === 1, 'the request to reach the upstream')
    assert.equal(s('upstream_rq_active'), 1)
    req.destroy()
    await until(() => s('upstream_rq_active') === 0, 'the request slot to be released')
    g.release()
    assert.match(await metrics(), /response_code="0"[^}]*response_flags="DC"/)
    assert.equal((await send(port, RATINGS)).status, 200)
  })
})
