import assert from 'node:assert/strict'

import {
  BOOKINFO_PORT, bookinfoServices, CLIENT_APP, makePod, podName, SANDBOX_WORKLOADS, serviceNameFromHost, StaticTopology,
} from '../../src/sandbox/topology.js'

describe('bookinfo topology', () => {
  const pods = SANDBOX_WORKLOADS.map((w, i) => makePod(w, podName(w), 10_000 + i))
  const topology = new StaticTopology(bookinfoServices(), pods)

  it('names pods as a ReplicaSet does', () => {
    for (const pod of pods) {
      const deployment = pod.labels.app === CLIENT_APP ? CLIENT_APP : `${pod.labels.app}-${pod.labels.version}`
      assert.match(pod.name, new RegExp(`^${deployment}-[bcdfghjklmnpqrstvwxz2456789]{9,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$`))
    }
    assert.equal(new Set(pods.map(p => p.name)).size, pods.length)
  })

  it('has the four services on 9080 and selects pods by app', () => {
    assert.deepEqual(topology.services().map(s => [s.name, s.port, s.selector.app]), [
      ['productpage', BOOKINFO_PORT, 'productpage'], ['details', BOOKINFO_PORT, 'details'],
      ['reviews', BOOKINFO_PORT, 'reviews'], ['ratings', BOOKINFO_PORT, 'ratings'],
    ])
    const reviews = topology.services().find(s => s.name === 'reviews')!
    assert.deepEqual(topology.endpoints(reviews).map(p => p.labels.version), ['v1', 'v2', 'v3'])
    const pp = pods.find(p => p.labels.app === 'productpage')!
    assert.equal(pp.serviceAccount, 'bookinfo-productpage')
    assert.deepEqual(pp.containers, ['productpage', 'istio-proxy'])
    assert.equal(pp.namespace, 'default')
  })

  it('resolves hosts as cluster DNS does from the default namespace', () => {
    for (const host of ['ratings', 'ratings.default', 'ratings.default.svc', 'ratings.default.svc.cluster.local', 'RATINGS.default.svc.cluster.local.']) {
      assert.equal(topology.serviceForHost(host)?.name, 'ratings', host)
    }
    for (const host of ['ratings.other', 'example.com', 'ratings.default.svc.cluster.remote', '', 'chaos-client']) {
      assert.equal(topology.serviceForHost(host), undefined, host)
    }
    assert.deepEqual(serviceNameFromHost('a.b.svc'), {service: 'a', namespace: 'b'})
  })
})
