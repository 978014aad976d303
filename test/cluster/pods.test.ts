import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {KubeConfig} from '@kubernetes/client-node'

import {hasProxy, type PodSummary} from '../../src/cluster/cluster.js'
import {KubeCluster} from '../../src/cluster/kube.js'
import {type PodObject, podSummary} from '../../src/cluster/pods.js'
import {snapshotEnvoy} from '../../src/probes/envoy.js'
import {readFaultCounters} from '../../src/runner/evidence.js'
import {FakeCluster} from '../fakes/cluster.js'

const ready = {conditions: [{type: 'Ready', status: 'True'}]}

/** istio-proxy as a container (Istio < 1.27, or nodes older than Kubernetes 1.33): istio-init runs first. */
const classic: PodObject = {
  metadata: {name: 'reviews-v1-classic', namespace: 'bookinfo', labels: {app: 'reviews', version: 'v1'}},
  spec: {
    initContainers: [{name: 'istio-init'}],
    containers: [{name: 'reviews'}, {name: 'istio-proxy'}],
  },
  status: ready,
}

/** istio-proxy as a native sidecar (Istio ≥ 1.27 on Kubernetes ≥ 1.33 nodes): the injection template's shape. */
const native: PodObject = {
  metadata: {name: 'reviews-v2-native', namespace: 'bookinfo', labels: {app: 'reviews', version: 'v2'}},
  spec: {
    initContainers: [{name: 'istio-init'}, {name: 'istio-proxy', restartPolicy: 'Always'}],
    containers: [{name: 'reviews'}],
  },
  status: ready,
}

/** Not in the mesh; an ordinary init container named istio-proxy (no restartPolicy) runs to completion, it is no sidecar. */
const outside: PodObject[] = [
  {
    metadata: {name: 'plain', labels: {app: 'reviews'}},
    spec: {containers: [{name: 'reviews'}]},
    status: {conditions: [{type: 'Ready', status: 'False'}]},
  },
  {
    metadata: {name: 'init-only', labels: {app: 'reviews'}},
    spec: {initContainers: [{name: 'istio-proxy'}], containers: [{name: 'reviews'}]},
  },
  {
    metadata: {name: 'other-sidecar', labels: {app: 'reviews'}},
    spec: {initContainers: [{name: 'log-shipper', restartPolicy: 'Always'}], containers: [{name: 'reviews'}]},
  },
]

describe('pods: istio-proxy as a container or as a native sidecar', () => {
  const cases: Array<[string, PodObject, Omit<PodSummary, 'name' | 'namespace' | 'labels' | 'ready'>, boolean]> = [
    ['a classic sidecar', classic, {containers: ['reviews', 'istio-proxy']}, true],
    ['a native sidecar', native, {containers: ['reviews'], sidecars: ['istio-proxy']}, true],
    ['no sidecar', outside[0] as PodObject, {containers: ['reviews']}, false],
    ['istio-proxy as a plain init container', outside[1] as PodObject, {containers: ['reviews']}, false],
    [
      'another native sidecar only',
      outside[2] as PodObject,
      {containers: ['reviews'], sidecars: ['log-shipper']},
      false,
    ],
  ]
  for (const [what, pod, expected, proxied] of cases) {
    it(`${what}: ${proxied ? 'has' : 'has no'} proxy`, () => {
      const summary = podSummary(pod, 'fallback')
      assert.deepEqual(
        {containers: summary.containers, ...(summary.sidecars === undefined ? {} : {sidecars: summary.sidecars})},
        expected,
      )
      assert.equal(hasProxy(summary), proxied)
    })
  }

  it('keeps name, namespace (or the fallback), labels and readiness', () => {
    assert.deepEqual(podSummary(native, 'fallback'), {
      name: 'reviews-v2-native',
      namespace: 'bookinfo',
      labels: {app: 'reviews', version: 'v2'},
      containers: ['reviews'],
      sidecars: ['istio-proxy'],
      ready: true,
    })
    assert.deepEqual(podSummary(outside[0] as PodObject, 'fallback'), {
      name: 'plain',
      namespace: 'fallback',
      labels: {app: 'reviews'},
      containers: ['reviews'],
      ready: false,
    })
  })

  describe('KubeCluster.listPods against an API server answering both shapes', function () {
    this.timeout(30_000)
    let server: Server
    let cluster: KubeCluster
    const asked: string[] = []
    before(async () => {
      server = createServer((req, res) => {
        asked.push(req.url ?? '')
        const items = [classic, native, ...outside].map(p => ({...p, metadata: {...p.metadata, namespace: 'bookinfo'}}))
        res
          .writeHead(200, {'Content-Type': 'application/json'})
          .end(JSON.stringify({kind: 'PodList', apiVersion: 'v1', metadata: {}, items}))
      })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const kc = new KubeConfig()
      kc.loadFromString(
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: bookinfo}}]\ncurrent-context: x\n`,
      )
      cluster = new KubeCluster(kc, {source: 'kubeconfig', context: 'x', server: url, namespace: 'bookinfo'})
    })
    after(() => new Promise<void>(resolve => server.close(() => resolve())))

    it('finds the proxy in containers and in restartable init containers', async () => {
      const pods = await cluster.listPods('bookinfo', 'app=reviews')
      assert.match(asked[0] ?? '', /^\/api\/v1\/namespaces\/bookinfo\/pods\?labelSelector=app%3Dreviews/)
      assert.deepEqual(
        pods.filter(hasProxy).map(p => p.name),
        ['reviews-v1-classic', 'reviews-v2-native'],
      )
      assert.deepEqual(pods.find(p => p.name === 'reviews-v2-native')?.sidecars, ['istio-proxy'])
    })
  })

  describe('the runner reads native sidecars like classic ones', () => {
    function clusterWith(pods: PodObject[]): FakeCluster {
      const cluster = new FakeCluster()
      for (const pod of pods) {
        const summary = podSummary(pod, 'default')
        cluster.pods.push({...summary, namespace: 'default'})
        if (hasProxy(summary))
          cluster.stats.set(
            summary.name,
            'http.outbound_0.0.0.0_9080;.fault.delays_injected: 4\nhttp.outbound_0.0.0.0_9080;.fault.aborts_injected: 1\n',
          )
      }
      return cluster
    }

    it('Envoy probes read both pods and report the one without a proxy', async () => {
      const snapshot = await snapshotEnvoy(clusterWith([classic, native, outside[0] as PodObject]), 'default', {
        app: 'reviews',
      })
      assert.deepEqual([...snapshot.pods.keys()].sort(), ['reviews-v1-classic', 'reviews-v2-native'])
      assert.deepEqual([...snapshot.errors.keys()], ['plain'])
      assert.match(snapshot.errors.get('plain') ?? '', /no istio-proxy container or native sidecar/)
    })

    it('fault counters count every meshed pod, native sidecars included', async () => {
      const summary = ({delays, aborts, pods}: {delays: number; aborts: number; pods: number}) => ({
        delays,
        aborts,
        pods,
      })
      assert.deepEqual(summary(await readFaultCounters(clusterWith([classic, native, ...outside]), 'default')), {
        delays: 8,
        aborts: 2,
        pods: 2,
      })
      assert.deepEqual(summary(await readFaultCounters(clusterWith([native]), 'default')), {
        delays: 4,
        aborts: 1,
        pods: 1,
      })
    })
  })
})
