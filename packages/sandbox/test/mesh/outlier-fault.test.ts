/**
 * Issue 13, item 3: what Envoy reports to outlier detection, and where the fault filter sits.
 */
import assert from 'node:assert/strict'

import type {Mesh} from '../../src/mesh/index.js'
import {
  type AppHandler,
  destinationRule,
  FakeConfig,
  FakeTopology,
  send,
  startMesh,
  stat,
  virtualService,
} from './harness.js'

const CLIENT = 'productpage-v1-5d9b6f7c8d-abcde'
const RATINGS = 'http://ratings:9080/ratings/0'
const CLUSTER = 'cluster.outbound|9080||ratings.default.svc.cluster.local;.'

describe('sandbox mesh: outlier reports and the fault filter as Envoy runs them', () => {
  let topology: FakeTopology
  let config: FakeConfig
  let mesh: Mesh
  let port: number
  const s = (name: string) => stat(mesh, CLIENT, CLUSTER + name)
  const start = async (handler: AppHandler) => {
    await topology.pod('ratings-v1-6b7c9d8f5c-r0aaa', {app: 'ratings', version: 'v1'}, handler)
    ;({mesh, port} = await startMesh(topology, config, {now: () => 1_000_000}))
  }

  beforeEach(() => {
    topology = new FakeTopology()
    config = new FakeConfig()
    topology.service('ratings')
  })

  afterEach(async () => {
    await mesh.close()
    await topology.close()
  })

  // envoy source/common/router/router.cc onResponseTimeout: LocalOriginTimeout (504) for an attempt awaiting headers.
  it('a route timeout counts as a local-origin 504 for outlier detection: a slow host is ejected', async () => {
    await start((req, res) => setTimeout(() => res.end('late'), 300))
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [{timeout: '30ms', route: [{destination: {host: 'ratings'}}]}],
      }),
    )
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {
          outlierDetection: {consecutiveGatewayErrors: 2, consecutive5xxErrors: 0, maxEjectionPercent: 100},
        },
      }),
    )
    assert.equal((await send(port, RATINGS)).status, 504)
    assert.equal((await send(port, RATINGS)).status, 504)
    assert.equal(s('outlier_detection.ejections_enforced_consecutive_gateway_failure'), 1)
    const r = await send(port, RATINGS)
    assert.equal(r.status, 503)
    assert.equal(r.body, 'no healthy upstream')
  })

  // envoy source/common/upstream/outlier_detection_impl.cc putHttpResponseCode: a non-gateway 5xx resets the gateway count.
  it('a 5xx that is not a gateway error resets the consecutive gateway-failure count', async () => {
    const codes = [502, 500, 502, 200]
    let i = 0
    await start((req, res) => {
      req.resume()
      res.writeHead(codes[i++ % codes.length] as number)
      res.end()
    })
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {
          outlierDetection: {consecutiveGatewayErrors: 2, consecutive5xxErrors: 0, maxEjectionPercent: 100},
        },
      }),
    )
    for (const want of [502, 500, 502]) assert.equal((await send(port, RATINGS)).status, want)
    assert.equal(s('outlier_detection.ejections_detected_consecutive_gateway_failure'), 0)
    assert.equal((await send(port, RATINGS)).status, 200)
  })

  // istio 1.30.3 pilot/pkg/networking/core/listener_builder.go: the fault filter precedes the router.
  it('an abort fault on a route whose destination has no cluster answers the fault, not NC', async () => {
    await start((req, res) => res.end('ok'))
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [
          {
            fault: {abort: {httpStatus: 418, percentage: {value: 100}}},
            route: [{destination: {host: 'ratings', subset: 'v9'}}],
          },
        ],
      }),
    )
    const r = await send(port, RATINGS)
    assert.equal(r.status, 418)
    assert.equal(r.body, 'fault filter abort')
    const metrics = (await mesh.sidecar(CLIENT)?.metricsText()) ?? ''
    assert.match(metrics, /response_code="418"[^}]*response_flags="FI"/)
  })
})
