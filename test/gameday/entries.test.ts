import assert from 'node:assert/strict'
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

function target(cluster: FakeCluster): Target {
  return {cluster, namespace: 'default', note: 'fake', close: async () => {}}
}

describe('gameday/entries', () => {
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
    assert.deepEqual(cluster.writes, [])
  })

  it("the last experiment's missing permission stops the game day before the first injects anything (exit 4)", async () => {
    const cluster = bookinfo()
    const items = await gameDayItems(await gameday(), 'gd.yaml', {namespace: 'default'})
    cluster.denied.add('create virtualservices in staging')
    await assert.rejects(preflightGameDay(target(cluster), items, {}), (err: unknown) => {
      assert.ok(err instanceof GameDayPreflightFailed)
      assert.equal(err.exitCode, 4)
      assert.match(err.message, /^game day preflight failed, nothing was run: ratings-delay: /)
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
    await assert.rejects(preflightGameDay(target(cluster), items, {}), /inline-abort: .*ratngs/)
  })
})
