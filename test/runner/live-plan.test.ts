import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {fileURLToPath} from 'node:url'

import {loadExperiment} from '../../src/experiment/load.js'
import type {Experiment} from '../../src/experiment/model.js'
import {planAgainstCluster} from '../../src/runner/live-plan.js'
import type {Target} from '../../src/runner/target.js'
import {FakeCluster} from '../fakes/cluster.js'

const ABORT = fileURLToPath(new URL('../../experiments/ratings-abort.yaml', import.meta.url))

const listen = (server: Server) =>
  new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer()
  const port = await listen(s)
  await new Promise(resolve => s.close(resolve))
  return port
}

/** Bookinfo in `default`, with the reviews sidecar whose stats ratings-abort's Envoy probe reads. */
function bookinfo(): FakeCluster {
  const cluster = new FakeCluster()
  cluster.pods.push({
    name: 'reviews-v2',
    namespace: 'default',
    labels: {app: 'reviews'},
    containers: ['reviews', 'istio-proxy'],
    ready: true,
  })
  cluster.stats.set('reviews-v2', 'http.outbound_0.0.0.0_9080.fault.aborts_injected: 0\n')
  return cluster
}

function target(proxy?: string): Target {
  return {
    cluster: bookinfo(),
    namespace: 'default',
    ...(proxy === undefined ? {} : {proxy}),
    note: 'fake',
    close: async () => {},
  }
}

const reachability = (checks: {check: string; status: string; message: string}[]) =>
  checks.filter(c => c.check === 'reachability').map(c => [c.status, c.message])

describe('runner/live-plan: chaos plan --live runs the reachability check, writing nothing', function () {
  this.timeout(30_000)
  // The sandbox's part: a forward proxy (and gateway) that answers every request, as bookinfo behind it would.
  let mesh: Server
  let origin: string
  const seen: {url: string; agent: string | undefined}[] = []
  before(async () => {
    mesh = createServer((req, res) => {
      seen.push({url: req.url ?? '', agent: req.headers['user-agent']})
      res.end('ok')
    })
    origin = `http://127.0.0.1:${await listen(mesh)}`
  })
  after(() => new Promise(resolve => mesh.close(resolve)))
  beforeEach(() => (seen.length = 0))

  it("ready with ✓ reachability when every class is answered through the target's proxy, with its headers", async () => {
    const t = target(origin)
    const live = await planAgainstCluster(t, await loadExperiment(ABORT))
    assert.deepEqual(reachability(live.checks), [
      [
        'ok',
        `every traffic class reaches http://productpage:9080/productpage through the proxy ${origin} (3 requests each)`,
      ],
    ])
    assert.equal(live.ready, true, JSON.stringify(live.checks.filter(c => c.status === 'failed')))
    assert.equal(seen.filter(r => r.url === 'http://productpage:9080/productpage').length, 6)
    assert.equal(seen.filter(r => r.agent === 'faultline-chaos-test').length, 3)
    assert.deepEqual((t.cluster as FakeCluster).writes, [])
  })

  it('not ready when a class gets no HTTP answer: ✗ with the reason and the ways in, as a run stops (exit 4)', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`
    const t = target(dead)
    const live = await planAgainstCluster(t, await loadExperiment(ABORT))
    const failed = live.checks.filter(c => c.check === 'reachability')
    assert.deepEqual(
      failed.map(c => c.status),
      ['failed', 'failed'],
    )
    assert.match(
      failed[0]?.message ?? '',
      new RegExp(
        `^traffic class targeted cannot reach http://productpage:9080/productpage through the proxy ${dead}: proxy ECONNREFUSED`,
      ),
    )
    assert.match(failed[0]?.hint ?? '', /Nothing was injected\./)
    assert.equal(live.ready, false)
    assert.deepEqual((t.cluster as FakeCluster).writes, [])
  })

  it("through a gateway entry (the URL as openWayIn rewrites it) the requests go straight to the gateway, not through the target's proxy", async () => {
    const experiment = await loadExperiment(ABORT)
    const throughGateway: Experiment = {
      ...experiment,
      spec: {
        ...experiment.spec,
        load: {
          ...experiment.spec.load,
          url: `${origin}/productpage`,
          entry: {url: origin},
          traffic: experiment.spec.load.traffic.map(t => ({...t, headers: {...t.headers, host: 'productpage:9080'}})),
        },
      },
    }
    const dead = `http://127.0.0.1:${await deadPort()}`
    const live = await planAgainstCluster(target(dead), throughGateway)
    assert.deepEqual(reachability(live.checks), [
      ['ok', `every traffic class reaches ${origin}/productpage (3 requests each)`],
    ])
    assert.equal(seen.filter(r => r.url === '/productpage').length, 6)
  })
})
