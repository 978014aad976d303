import assert from 'node:assert/strict'

import {ApiError, type Cluster, type PodSummary} from '../../src/cluster/cluster.js'
import {evaluateEnvoy, snapshotEnvoy} from '../../src/probes/envoy.js'

const STAT = 'cluster.outbound|9080|*|ratings.default.svc.cluster.local.upstream_rq_pending_overflow'

/** A cluster whose pods report whatever the test sets: by exec (text), or through the pod proxy (`prometheus`; without it the proxy is forbidden). */
function fakeCluster(pods: PodSummary[], stats: Map<string, string>, prometheus?: Map<string, string>): Cluster {
  return {
    podProxyGet: async (_ns: string, pod: string) => {
      const text = prometheus?.get(pod)
      if (text === undefined) throw new ApiError('pods/proxy is forbidden', 403, 'Forbidden')
      return text
    },
    listPods: async (_ns: string, selector: string) =>
      pods.filter(p => selector.split(',').every(kv => p.labels[kv.split('=')[0] as string] === kv.split('=')[1])),
    proxyRequest: async (_ns: string, pod: string) => {
      const text = stats.get(pod)
      if (text === undefined) throw new Error('connection refused')
      return text
    },
  } as unknown as Cluster
}

const pod = (name: string, app: string): PodSummary => ({
  name,
  namespace: 'default',
  labels: {app},
  containers: [app, 'istio-proxy'],
  ready: true,
})
const overflow = (subset: string, n: number) =>
  `cluster.outbound|9080|${subset}|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow: ${n}\n`

describe('envoy probe', () => {
  const pods = [pod('reviews-v2-a', 'reviews'), pod('reviews-v3-b', 'reviews'), pod('ratings-v1-c', 'ratings')]

  it('sums a stat pattern over the selected pods and compares its increase over the phase', async () => {
    const stats = new Map([
      ['reviews-v2-a', overflow('v1', 2)],
      ['reviews-v3-b', overflow('v1', 1)],
      ['ratings-v1-c', overflow('v1', 100)],
    ])
    const cluster = fakeCluster(pods, stats)
    const start = await snapshotEnvoy(cluster, 'default', {app: 'reviews'})
    stats.set('reviews-v2-a', overflow('v1', 7))
    const end = await snapshotEnvoy(cluster, 'default', {app: 'reviews'})
    const rises = evaluateEnvoy(STAT, 'increase > 0', start, end)
    assert.equal(rises.status, 'held')
    assert.equal(rises.value, 5)
    assert.equal(evaluateEnvoy(STAT, 'increase == 0', start, end).status, 'missed')
    assert.equal(evaluateEnvoy(STAT, 'value < 10', undefined, end).status, 'held')
  })

  it('treats a counter reset (pod restart) like Prometheus increase()', async () => {
    const stats = new Map([['reviews-v2-a', overflow('v1', 50)]])
    const cluster = fakeCluster([pods[0] as PodSummary], stats)
    const start = await snapshotEnvoy(cluster, 'default', {app: 'reviews'})
    stats.set('reviews-v2-a', overflow('v1', 3))
    assert.equal(
      evaluateEnvoy(STAT, 'increase == 3', start, await snapshotEnvoy(cluster, 'default', {app: 'reviews'})).status,
      'held',
    )
  })

  it('errors — never passes — when the stat is absent, naming the annotation that enables it', async () => {
    const cluster = fakeCluster(
      pods,
      new Map([
        ['reviews-v2-a', 'server.live: 1\n'],
        ['reviews-v3-b', 'server.live: 1\n'],
      ]),
    )
    const snap = await snapshotEnvoy(cluster, 'default', {app: 'reviews'})
    const verdict = evaluateEnvoy(STAT, 'increase == 0', snap, snap)
    assert.equal(verdict.status, 'errored')
    assert.match(verdict.message ?? '', /proxyStatsMatcher.*upstream_rq_pending_overflow/)
  })

  it('gives the same verdict when the stats come through the pod proxy as Prometheus text', async () => {
    const prom = (n: number) =>
      `# TYPE envoy_cluster_upstream_rq_pending_overflow counter\nenvoy_cluster_upstream_rq_pending_overflow{cluster_name="outbound|9080|v1|ratings.default.svc.cluster.local"} ${n}\n`
    const prometheus = new Map([
      ['reviews-v2-a', prom(2)],
      ['reviews-v3-b', prom(1)],
    ])
    const cluster = fakeCluster(pods, new Map(), prometheus)
    const start = await snapshotEnvoy(cluster, 'default', {app: 'reviews'})
    prometheus.set('reviews-v2-a', prom(7))
    const end = await snapshotEnvoy(cluster, 'default', {app: 'reviews'})
    const verdict = evaluateEnvoy(STAT, 'increase >= 5', start, end)
    assert.equal(verdict.status, 'held', verdict.message)
    assert.equal(verdict.actual, 'increase=5')
  })

  it('errors when no pod matches or no sidecar answers', async () => {
    const none = await snapshotEnvoy(fakeCluster(pods, new Map()), 'default', {app: 'nope'})
    assert.match(evaluateEnvoy(STAT, 'increase == 0', none, none).message ?? '', /no pod matches/)
    const dead = await snapshotEnvoy(fakeCluster(pods, new Map()), 'default', {app: 'reviews'})
    assert.match(evaluateEnvoy(STAT, 'increase == 0', dead, dead).message ?? '', /connection refused/)
  })
})
