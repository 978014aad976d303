import assert from 'node:assert/strict'

import {ApiError} from '../../src/cluster/cluster.js'
import {describeDecision, SidecarStats, sidecarStats, type StatsDecision} from '../../src/cluster/sidecar-stats.js'
import {sumMatching} from '../../src/cluster/stats.js'
import {FakeCluster} from '../fakes/cluster.js'

const DELAYS_TEXT = 'http.outbound_0.0.0.0_9080;.fault.delays_injected: 4\n'
const DELAYS_PROM =
  '# TYPE envoy_http_fault_delays_injected counter\nenvoy_http_fault_delays_injected{http_conn_manager_prefix="outbound_0.0.0.0_9080"} 4\n'

function clusterWith(pods: string[]): FakeCluster {
  const cluster = new FakeCluster()
  for (const name of pods) {
    cluster.pods.push({name, namespace: 'default', labels: {app: name}, containers: [name, 'istio-proxy'], ready: true})
    cluster.stats.set(name, DELAYS_TEXT)
    cluster.prometheusStats.set(name, DELAYS_PROM)
  }
  return cluster
}

/** A reader and every decision it announces. */
function reader(cluster: FakeCluster): {stats: SidecarStats; decisions: StatsDecision[]} {
  const stats = new SidecarStats(cluster)
  const decisions: StatsDecision[] = []
  stats.onDecided(d => decisions.push(d))
  return {stats, decisions}
}

describe('reading sidecar stats: the pod proxy, else exec', () => {
  it('reads through the pod proxy on 15090 when it answers, and never execs', async () => {
    const cluster = clusterWith(['reviews-v2-a', 'reviews-v3-b'])
    const {stats, decisions} = reader(cluster)
    const read = await stats.envoy('default', 'reviews-v2-a')
    assert.equal(sumMatching(read, 'http.*.fault.delays_injected').value, 4)
    assert.equal(await stats.prometheus('default', 'reviews-v3-b'), DELAYS_PROM)
    assert.deepEqual(cluster.podProxyGets, [
      'default/reviews-v2-a:15090/stats/prometheus',
      'default/reviews-v3-b:15090/stats/prometheus',
    ])
    assert.deepEqual(cluster.execs, [])
    assert.deepEqual(decisions, [{way: 'pod-proxy', reason: ''}])
    assert.match(
      describeDecision(decisions[0] as StatsDecision).message,
      /through the API server's pod proxy \(GET pods\/NAME:15090\/proxy\/stats\/prometheus\)/,
    )
  })

  it('falls back to exec on 403 Forbidden, remembers it for the run and says so once', async () => {
    const cluster = clusterWith(['reviews-v2-a', 'reviews-v3-b'])
    cluster.denied.add('get pods/proxy')
    const {stats, decisions} = reader(cluster)
    // The first poll reads both pods at once: one asks the proxy, the other waits for its answer.
    const [a, b] = await Promise.all([stats.envoy('default', 'reviews-v2-a'), stats.envoy('default', 'reviews-v3-b')])
    assert.equal(sumMatching(a, 'http.*.fault.delays_injected').value, 4)
    assert.equal(sumMatching(b, 'http.*.fault.delays_injected').value, 4)
    await stats.envoy('default', 'reviews-v2-a')
    assert.equal(await stats.prometheus('default', 'reviews-v2-a'), DELAYS_PROM)
    assert.equal(cluster.podProxyGets.length, 1, 'the proxy is tried once per run')
    assert.deepEqual(cluster.execs, [
      'default/reviews-v2-a stats',
      'default/reviews-v3-b stats',
      'default/reviews-v2-a stats',
      'default/reviews-v2-a stats/prometheus',
    ])
    assert.equal(decisions.length, 1)
    assert.equal(decisions[0]?.way, 'exec')
    const said = describeDecision(decisions[0] as StatsDecision)
    assert.match(
      said.message,
      /read by exec .*: the pod proxy to port 15090 answered 403 pods "reviews-v2-a" is forbidden/,
    )
    assert.match(said.hint ?? '', /get pods\/proxy/)
    // A listener that comes later (the next run on this connection) hears the decision at once.
    const late: StatsDecision[] = []
    stats.onDecided(d => late.push(d))
    assert.deepEqual(late, decisions)
  })

  it("falls back to exec when nothing serves the stats on the pod's address (503), once exec has read them", async () => {
    const cluster = clusterWith(['reviews-v2-a'])
    cluster.prometheusStats.clear()
    const {stats, decisions} = reader(cluster)
    assert.equal(sumMatching(await stats.envoy('default', 'reviews-v2-a'), 'http.*.fault.delays_injected').value, 4)
    assert.equal(decisions[0]?.way, 'exec')
    assert.match(decisions[0]?.reason ?? '', /^503 .*connection refused/)
  })

  it('a pod that is gone decides nothing: the next read tries the proxy again', async () => {
    const cluster = clusterWith(['reviews-v2-a'])
    const {stats, decisions} = reader(cluster)
    await assert.rejects(stats.envoy('default', 'reviews-v9-gone'), (err: ApiError) => err.status === 404)
    assert.equal(decisions.length, 0)
    assert.deepEqual(cluster.execs, [], 'no exec into a pod that does not exist')
    await stats.envoy('default', 'reviews-v2-a')
    assert.deepEqual(
      decisions.map(d => d.way),
      ['pod-proxy'],
    )
  })

  it('when neither way works the error names both; a 403 still settles on exec, a 503 decides nothing', async () => {
    const forbidden = clusterWith(['reviews-v2-a'])
    forbidden.denied.add('get pods/proxy')
    forbidden.stats.clear()
    const a = reader(forbidden)
    await assert.rejects(
      a.stats.envoy('default', 'reviews-v2-a'),
      /could not be read either way: through the pod proxy 403 .*forbidden.*; by exec 500 pod reviews-v2-a has no sidecar stats/,
    )
    assert.deepEqual(
      a.decisions.map(d => d.way),
      ['exec'],
    )
    const refused = clusterWith(['reviews-v2-a'])
    refused.prometheusStats.clear()
    refused.stats.clear()
    const b = reader(refused)
    await assert.rejects(b.stats.envoy('default', 'reviews-v2-a'), /through the pod proxy 503 .*; by exec 500/)
    assert.equal(b.decisions.length, 0)
  })

  it("decides per namespace: a gateway's namespace that allows only exec is read by exec while the target's goes through the pod proxy", async () => {
    const cluster = clusterWith(['reviews-v2-a'])
    cluster.pods.push({name: 'gw-b', namespace: 'istio-system', labels: {}, containers: ['istio-proxy'], ready: true})
    cluster.stats.set('gw-b', DELAYS_TEXT)
    cluster.prometheusStats.set('gw-b', DELAYS_PROM)
    cluster.denied.add('get pods/proxy in istio-system')
    const {stats, decisions} = reader(cluster)
    await stats.envoy('default', 'reviews-v2-a')
    const gateway = await stats.envoy('istio-system', 'gw-b')
    assert.equal(sumMatching(gateway, 'http.*.fault.delays_injected').value, 4)
    await stats.envoy('istio-system', 'gw-b')
    await stats.envoy('default', 'reviews-v2-a')
    assert.deepEqual(cluster.podProxyGets, [
      'default/reviews-v2-a:15090/stats/prometheus',
      'istio-system/gw-b:15090/stats/prometheus',
      'default/reviews-v2-a:15090/stats/prometheus',
    ])
    assert.deepEqual(cluster.execs, ['istio-system/gw-b stats', 'istio-system/gw-b stats'])
    assert.equal(stats.decidedIn('default')?.way, 'pod-proxy')
    assert.equal(stats.decidedIn('istio-system')?.way, 'exec')
    assert.deepEqual(
      decisions.map(d => d.way),
      ['pod-proxy'],
      "the run's first decision (the target namespace's, preflight's stats line) is the one announced",
    )
  })

  it('one reader per cluster connection, so every caller in a run shares its decision', () => {
    const cluster = clusterWith([])
    assert.equal(sidecarStats(cluster), sidecarStats(cluster))
    assert.notEqual(sidecarStats(cluster), sidecarStats(clusterWith([])))
  })
})
