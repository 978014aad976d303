import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {fileURLToPath} from 'node:url'

import {gameDayItems, GameDayPreflightFailed, preflightGameDay} from '../../src/gameday/entries.js'
import {loadExperiment} from '../../src/experiment/load.js'
import type {GameDay} from '../../src/experiment/model.js'
import type {Target} from '../../src/runner/target.js'
import {FakeCluster} from '../fakes/cluster.js'

const EXPERIMENTS = fileURLToPath(new URL('../../experiments/', import.meta.url))
const abort = `${EXPERIMENTS}ratings-abort.yaml`
const delay = `${EXPERIMENTS}ratings-delay.yaml`

async function gameday(): Promise<GameDay> {
  const inline = await loadExperiment(abort)
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'GameDay',
    metadata: {name: 'gd'},
    spec: {
      experiments: [
        {path: abort},
        {path: delay, namespace: 'staging', phases: {fault: '5s'}},
        {
          experiment: {
            ...inline,
            metadata: {...inline.metadata, name: 'inline-abort'},
            spec: {...inline.spec, target: {}},
          },
        },
      ],
    },
  }
}

/** Bookinfo in `default` and `staging`, with a reviews sidecar in each whose stats the evidence probes read. */
function bookinfo(): FakeCluster {
  const cluster = new FakeCluster()
  for (const namespace of ['default', 'staging']) {
    if (namespace === 'staging')
      for (const name of ['productpage', 'details', 'reviews', 'ratings'])
        cluster.services.push({name, namespace, type: 'ClusterIP', ports: [9080]})
    cluster.pods.push({
      name: `reviews-v2-${namespace}`,
      namespace,
      labels: {app: 'reviews'},
      containers: ['reviews', 'istio-proxy'],
      ready: true,
    })
    cluster.stats.set(
      `reviews-v2-${namespace}`,
      'http.outbound_0.0.0.0_9080.fault.delays_injected: 0\nhttp.outbound_0.0.0.0_9080.fault.aborts_injected: 0\n',
    )
  }
  return cluster
}

const listen = (server: Server) =>
  new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer()
  const port = await listen(s)
  await new Promise(resolve => s.close(resolve))
  return port
}

describe('gameday/entries', () => {
  // The sandbox's part: a forward proxy that answers every request, as bookinfo behind it would.
  let mesh: Server
  let proxy: string
  const proxied: string[] = []
  before(async () => {
    mesh = createServer((req, res) => {
      proxied.push(req.url ?? '')
      res.end('ok')
    })
    proxy = `http://127.0.0.1:${await listen(mesh)}`
  })
  after(() => new Promise(resolve => mesh.close(resolve)))

  function target(cluster: FakeCluster): Target {
    return {cluster, namespace: 'default', proxy, note: 'fake', close: async () => {}}
  }

  it("applies each entry's namespace and phases; -n wins over all; an inline one is named by its position", async () => {
    const items = await gameDayItems(await gameday(), 'gd.yaml', {namespace: 'from-context'})
    assert.deepEqual(
      items.map(i => [i.name, i.namespace, i.file]),
      [
        ['ratings-abort', 'default', abort],
        ['ratings-delay', 'staging', delay],
        ['inline-abort', 'from-context', 'gd.yaml#spec.experiments[2]'],
      ],
    )
    assert.deepEqual(items[1]?.experiment.spec.phases, {baseline: '10s', fault: '5s', recovery: '10s'})
    assert.deepEqual(items[0]?.experiment.spec.phases, {baseline: '10s', fault: '30s', recovery: '10s'})
    const forced = await gameDayItems(await gameday(), 'gd.yaml', {namespace: 'from-context'}, {namespace: 'bookinfo'})
    assert.deepEqual(
      forced.map(i => i.namespace),
      ['bookinfo', 'bookinfo', 'bookinfo'],
    )
  })

  it('preflights every experiment before any runs and writes nothing', async () => {
    const cluster = bookinfo()
    const items = await gameDayItems(await gameday(), 'gd.yaml', {namespace: 'default'}, {namespace: 'default'})
    const findings = await preflightGameDay(target(cluster), items, {})
    assert.deepEqual(
      findings.map(f => f.name),
      ['ratings-abort', 'ratings-delay', 'inline-abort'],
    )
    assert.ok(findings.every(f => f.checks.every(c => c.status !== 'failed')))
    // Each experiment's reachability check went the way its load will: through the target's proxy.
    assert.ok(findings.every(f => f.checks.some(c => c.check === 'reachability' && c.status === 'ok')))
    assert.ok(proxied.includes('http://productpage:9080/productpage'), proxied.join(', '))
    assert.deepEqual(cluster.writes, [])
  })

  it("the last experiment's missing permission stops the game day before the first injects anything (exit 4)", async () => {
    const cluster = bookinfo()
    const items = await gameDayItems(await gameday(), 'gd.yaml', {namespace: 'default'})
    cluster.denied.add('create virtualservices in staging')
    await assert.rejects(preflightGameDay(target(cluster), items, {}), (err: unknown) => {
      assert.ok(err instanceof GameDayPreflightFailed)
      assert.equal(err.exitCode, 4)
      assert.match(
        err.message,
        /^game day preflight failed, nothing was run: ratings-delay \(.*ratings-delay\.yaml\): /,
      )
      assert.doesNotMatch(err.message, /ratings-abort:/)
      assert.equal(err.findings.length, 3)
      return true
    })
    assert.deepEqual(cluster.writes, [])
  })

  it('a misspelt host in a later experiment is named with its experiment', async () => {
    const cluster = bookinfo()
    const day = await gameday()
    const inline = day.spec.experiments[2]?.experiment
    assert.ok(inline !== undefined)
    inline.spec.faults = [{...inline.spec.faults[0]!, service: 'ratngs'}]
    const items = await gameDayItems(day, 'gd.yaml', {namespace: 'default'}, {namespace: 'default'})
    await assert.rejects(
      preflightGameDay(target(cluster), items, {}),
      /inline-abort \(gd\.yaml#spec\.experiments\[2\]\): .*ratngs/,
    )
  })

  it("a later experiment whose load gets no HTTP answer stops the game day: its file, class and reason, as a run's check words them", async () => {
    const cluster = bookinfo()
    const day = await gameday()
    const inline = day.spec.experiments[2]?.experiment
    assert.ok(inline !== undefined)
    const dead = `http://127.0.0.1:${await deadPort()}`
    inline.spec.load = {...inline.spec.load, entry: {proxy: dead}} // its own way in, over the target's proxy
    const items = await gameDayItems(day, 'gd.yaml', {namespace: 'default'}, {namespace: 'default'})
    await assert.rejects(preflightGameDay(target(cluster), items, {}), (err: unknown) => {
      assert.ok(err instanceof GameDayPreflightFailed)
      assert.equal(err.exitCode, 4)
      assert.match(
        err.message,
        new RegExp(
          `^game day preflight failed, nothing was run: inline-abort \\(gd\\.yaml#spec\\.experiments\\[2\\]\\): traffic class targeted cannot reach http://productpage:9080/productpage through the proxy ${dead}: proxy ECONNREFUSED`,
        ),
      )
      assert.doesNotMatch(err.message, /ratings-abort|ratings-delay/)
      assert.match(err.message, /Nothing was injected\./)
      assert.equal(err.findings.length, 3)
      return true
    })
    assert.deepEqual(cluster.writes, [])
  })
})
