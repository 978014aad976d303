import assert from 'node:assert/strict'

import {
  BOOKINFO_PORT,
  bookinfoServices,
  CLIENT_APP,
  makePod,
  podName,
  SANDBOX_WORKLOADS,
  serviceNameFromHost,
  StaticTopology,
  STATS_LESS_APP,
} from '../src/topology.js'
import {STATS_ANNOTATION_VALUE} from '../src/topology.js'
import {podObject} from '../src/apiserver/pods.js'
import {MeshSidecar} from '../src/mesh/sidecar.js'
import {ISTIO_PROFILES} from '../src/mesh/profile.js'

describe('bookinfo topology', () => {
  const pods = SANDBOX_WORKLOADS.map((w, i) => makePod(w, podName(w), 10_000 + i))
  const topology = new StaticTopology(bookinfoServices(), pods)

  it('names pods as a ReplicaSet does', () => {
    for (const pod of pods) {
      const deployment =
        pod.labels.app === CLIENT_APP || pod.labels.app === STATS_LESS_APP
          ? pod.labels.app
          : `${pod.labels.app}-${pod.labels.version}`
      assert.match(
        pod.name,
        new RegExp(`^${deployment}-[bcdfghjklmnpqrstvwxz2456789]{9,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$`),
      )
    }
    assert.equal(new Set(pods.map(p => p.name)).size, pods.length)
  })

  it('has the four services on 9080 and selects pods by app', () => {
    assert.deepEqual(
      topology.services().map(s => [s.name, s.port, s.selector.app]),
      [
        ['productpage', BOOKINFO_PORT, 'productpage'],
        ['details', BOOKINFO_PORT, 'details'],
        ['reviews', BOOKINFO_PORT, 'reviews'],
        ['ratings', BOOKINFO_PORT, 'ratings'],
      ],
    )
    const reviews = topology.services().find(s => s.name === 'reviews')!
    assert.deepEqual(
      topology.endpoints(reviews).map(p => p.labels.version),
      ['v1', 'v2', 'v3'],
    )
    const pp = pods.find(p => p.labels.app === 'productpage')!
    assert.equal(pp.serviceAccount, 'bookinfo-productpage')
    assert.deepEqual(pp.containers, ['productpage', 'istio-proxy'])
    assert.equal(pp.namespace, 'default')
  })

  it('resolves hosts as cluster DNS does from the default namespace', () => {
    for (const host of [
      'ratings',
      'ratings.default',
      'ratings.default.svc',
      'ratings.default.svc.cluster.local',
      'RATINGS.default.svc.cluster.local.',
    ]) {
      assert.equal(topology.serviceForHost(host)?.name, 'ratings', host)
    }
    for (const host of ['ratings.other', 'example.com', 'ratings.default.svc.cluster.remote', '', 'chaos-client']) {
      assert.equal(topology.serviceForHost(host), undefined, host)
    }
    assert.deepEqual(serviceNameFromHost('a.b.svc'), {service: 'a', namespace: 'b'})
  })
})

describe('sandbox pods as Istio injects them', () => {
  const workload = {app: 'reviews', version: 'v2'}
  it('1.30: istio-proxy is a native sidecar (init container, restartPolicy: Always); 1.22: a container (docs/real-cluster.md)', () => {
    const now = podObject(makePod(workload, podName(workload), 1, ISTIO_PROFILES['1.30']), '2026-01-01T00:00:00Z') as {
      spec: {containers: {name: string}[]; initContainers?: {name: string; restartPolicy?: string; image: string}[]}
    }
    assert.deepEqual(
      now.spec.containers.map(c => c.name),
      ['reviews'],
    )
    assert.deepEqual(
      now.spec.initContainers?.map(c => [c.name, c.restartPolicy, c.image]),
      [['istio-proxy', 'Always', 'docker.io/istio/proxyv2:1.30.3']],
    )
    const old = podObject(makePod(workload, podName(workload), 1, ISTIO_PROFILES['1.22']), '2026-01-01T00:00:00Z') as {
      spec: {containers: {name: string; image: string}[]; initContainers?: unknown}
    }
    assert.deepEqual(
      old.spec.containers.map(c => c.name),
      ['reviews', 'istio-proxy'],
    )
    assert.equal(old.spec.initContainers, undefined)
  })

  it('bookinfo pods carry the proxy.istio.io/config stats annotation; the stats-less pod does not, so its proxy has no fault counters', async () => {
    const annotated = makePod(workload, podName(workload), 1)
    assert.equal(annotated.annotations?.['proxy.istio.io/config'], STATS_ANNOTATION_VALUE)
    const bare = makePod({app: STATS_LESS_APP, version: 'v1'}, podName({app: STATS_LESS_APP, version: 'v1'}), 2)
    assert.deepEqual(bare.annotations, {})
    const stats = (pod: typeof bare) => {
      const sidecar = new MeshSidecar(pod, Math.random, Date.now, () => undefined)
      sidecar.faultStats(9080)
      return sidecar.statsText()
    }
    assert.match(stats(annotated), /^http\.outbound_0\.0\.0\.0_9080;\.fault\.delays_injected: 0$/m)
    assert.doesNotMatch(stats(bare), /fault/)
    assert.match(stats(bare), /^server\.live: 1$/m)
  })
})
