/**
 * The connection pool as Envoy counts it (envoy source/common/conn_pool/conn_pool_base.cc
 * newStreamImpl): a request is pending whenever no connected idle connection is free, also while the
 * connection opened for it is connecting; max_requests_per_connection closes a connection; a
 * DestinationRule change rebuilds the cluster (a CDS update) and the old pool drains.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'

import {parse} from 'yaml'

import type {DestinationRule} from '@faultline/core/istio/types.js'
import type {Mesh} from '../../src/mesh/index.js'
import {destinationRule, FakeConfig, FakeTopology, seededRandom, send, startMesh, stat} from './harness.js'

const CLIENT = 'productpage-v1-5d9b6f7c8d-abcde'
const RATINGS = 'http://ratings:9080/ratings/0'
const RATINGS_CLUSTER = 'cluster.outbound|9080||ratings.default.svc.cluster.local;.'

/** Holds every request until released. */
function gate(): {handler: (req: IncomingMessage, res: ServerResponse) => void; release(): void; waiting(): number} {
  const held: ServerResponse[] = []
  return {
    handler: (req, res) => {
      req.resume()
      held.push(res)
    },
    release() {
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

describe('sandbox mesh: the connection pool as Envoy counts it', () => {
  let topology: FakeTopology
  let config: FakeConfig
  let mesh: Mesh
  let port: number
  const s = (name: string, cluster = RATINGS_CLUSTER) => stat(mesh, CLIENT, cluster + name)

  beforeEach(() => {
    topology = new FakeTopology()
    config = new FakeConfig()
  })

  afterEach(async () => {
    await mesh.close()
    await topology.close()
  })

  it('a request waits as pending while its new connection connects: http1MaxPendingRequests 1 with 20 concurrent requests overflows', async () => {
    topology.service('ratings')
    await topology.pod('ratings-v1-6b7c9d8f5c-r0aaa', {app: 'ratings', version: 'v1'})
    ;({mesh, port} = await startMesh(topology, config, {random: seededRandom(7)}))
    // Keep-alive client connections first, so the 20 requests reach the sidecar together.
    await Promise.all(Array.from({length: 20}, () => send(port, RATINGS)))
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {connectionPool: {http: {http1MaxPendingRequests: 1}}},
      }),
    )
    const replies = await Promise.all(Array.from({length: 20}, () => send(port, RATINGS)))
    const overflowed = replies.filter(r => r.status === 503 && r.headers['x-envoy-overloaded'] === 'true').length
    assert.ok(
      overflowed >= 10,
      `${overflowed} overflowed: requests waiting for a connecting connection must count as pending`,
    )
    assert.equal(replies.filter(r => r.status === 200).length + overflowed, 20)
    assert.equal(s('upstream_rq_pending_overflow'), overflowed)
  })

  it('maxRequestsPerConnection closes a connection after N requests (upstream_cx_max_requests)', async () => {
    topology.service('ratings')
    await topology.pod('ratings-v1-6b7c9d8f5c-r0aaa', {app: 'ratings', version: 'v1'})
    ;({mesh, port} = await startMesh(topology, config, {random: seededRandom(7)}))
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 2}}},
      }),
    )
    for (let i = 0; i < 4; i++) assert.equal((await send(port, RATINGS)).status, 200)
    assert.equal(s('upstream_cx_total'), 2, 'two requests per connection')
    assert.equal(s('upstream_cx_max_requests'), 2)
    assert.equal(s('upstream_cx_active'), 0)
  })

  // istio.io "Circuit Breaking" task (content/en/docs/tasks/traffic-management/circuit-breaking/index.md):
  // fortio -c 2 through a sidecar against this DestinationRule shows a share of 503 UO, never none.
  it("Istio's circuit-breaking task: maxConnections 1, http1MaxPendingRequests 1, maxRequestsPerConnection 1, 2 clients × 20 requests → 10–40 % 503 UO", async () => {
    topology.service('httpbin', 8000)
    await topology.pod('httpbin-7b5d9c4f8d-h0aaa', {app: 'httpbin', version: 'v1'}, (req, res) => {
      req.resume()
      res.writeHead(200, {'content-type': 'application/json'})
      res.end(JSON.stringify({url: req.url}))
    })
    ;({mesh, port} = await startMesh(topology, config, {random: seededRandom(7)}))
    await Promise.all([send(port, 'http://httpbin:8000/get'), send(port, 'http://httpbin:8000/get')])
    const dr = parse(
      readFileSync(
        new URL(
          '../../../../test/reference/istio-samples/httpbin/httpbin-circuit-breaking-destinationrule.yaml',
          import.meta.url,
        ),
        'utf8',
      ),
    ) as DestinationRule
    config.apply(destinationRule('httpbin', dr.spec))
    const codes: number[] = []
    const flagsSeen = new Set<string>()
    const client = async () => {
      for (let i = 0; i < 20; i++) {
        const r = await send(port, 'http://httpbin:8000/get')
        codes.push(r.status)
        if (r.status === 503) flagsSeen.add(String(r.headers['x-envoy-overloaded']))
      }
    }
    await Promise.all([client(), client()])
    const share = codes.filter(c => c === 503).length / codes.length
    assert.equal(codes.filter(c => c !== 200 && c !== 503).length, 0)
    assert.ok(share >= 0.1 && share <= 0.4, `503 share ${(100 * share).toFixed(0)} % (istio.io shows 10–40 %)`)
    assert.deepEqual([...flagsSeen], ['true'])
    const cluster = 'cluster.outbound|8000||httpbin.default.svc.cluster.local;.'
    assert.equal(s('upstream_rq_pending_overflow', cluster), codes.filter(c => c === 503).length)
  })

  it('a DestinationRule change rebuilds the cluster: new limits govern new requests at once, the old pool drains', async () => {
    const g = gate()
    let holding = true
    topology.service('ratings')
    await topology.pod('ratings-v1-6b7c9d8f5c-r0aaa', {app: 'ratings', version: 'v1'}, (req, res) => {
      if (holding) g.handler(req, res)
      else {
        req.resume()
        res.end('ok')
      }
    })
    ;({mesh, port} = await startMesh(topology, config, {random: seededRandom(7)}))
    // Six concurrent requests leave six idle keep-alive connections.
    const first = Array.from({length: 6}, () => send(port, RATINGS))
    await until(() => g.waiting() === 6, 'six requests in flight')
    g.release()
    await Promise.all(first)
    assert.equal(s('upstream_cx_active'), 6)
    // Four of them busy, then the rule arrives.
    const busy = Array.from({length: 4}, () => send(port, RATINGS))
    await until(() => g.waiting() === 4, 'four requests in flight')
    config.apply(
      destinationRule('ratings', {
        host: 'ratings',
        trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}},
      }),
    )
    await until(() => s('upstream_cx_active') === 4, 'the old pool to close its idle connections')
    const fresh = Array.from({length: 3}, () => send(port, RATINGS).then(r => r.status))
    await until(() => g.waiting() === 5, 'one new request on the new pool')
    assert.equal(s('upstream_cx_active'), 5, 'four draining + one new')
    const overflowBefore = s('upstream_rq_pending_overflow') ?? 0
    assert.ok(overflowBefore >= 1, 'the new limits apply at once, although old connections are busy')
    holding = false
    g.release()
    for (const r of await Promise.all(busy)) assert.equal(r.status, 200)
    const statuses = await Promise.all(fresh)
    assert.equal(statuses.filter(c => c === 503).length, overflowBefore)
    await until(() => s('upstream_cx_active') === 1, 'the drained connections to close')
  })
})
