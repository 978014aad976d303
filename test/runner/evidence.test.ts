import assert from 'node:assert/strict'

import type {WindowSummary} from '../../src/load/recorder.js'
import {
  adoptNewPods,
  callersOf,
  controlUntouched,
  type FaultCounters,
  gatewayNamespaces,
  injectedBetween,
  MAX_EVIDENCE_PODS,
  readFaultCounters,
  readFaultCountersWith,
  requestsTo,
  targetedEffect,
} from '../../src/runner/evidence.js'
import {FakeCluster} from '../fakes/cluster.js'

/** A window of `requests` with this failure ratio, median and p99 (ms). */
function window(requests: number, failedRate: number, med: number, p99: number): WindowSummary {
  return {
    requests,
    failed: Math.round(requests * failedRate),
    dropped: 0,
    cancelled: 0,
    rate: requests / 10,
    failedRate,
    duration: {count: requests, avg: med, min: 0, max: p99, med, p: q => (q >= 99 ? p99 : med)},
  }
}

describe('fault and control evidence', () => {
  const baseline = window(50, 0, 20, 120)

  it('control traffic within noise is untouched: a p99 hiccup of a few hundred ms on a busy machine', () => {
    assert.equal(controlUntouched(baseline, window(50, 0, 24, 360)).untouched, true)
    assert.match(
      controlUntouched(baseline, window(50, 0, 24, 360)).message,
      /p50 20ms → 24ms, p99 120ms → 360ms, errors 0% → 0%/,
    )
  })

  it('a fault leaking to control traffic is caught: aborts, a delay on most requests, or a long tail', () => {
    assert.equal(controlUntouched(baseline, window(50, 0.1, 20, 120)).untouched, false, '10% aborts')
    assert.equal(controlUntouched(baseline, window(50, 0, 120, 140)).untouched, false, 'a 100ms delay on every request')
    assert.equal(controlUntouched(baseline, window(50, 0, 20, 1100)).untouched, false, 'a 1s delay on a few requests')
    assert.equal(controlUntouched(baseline, window(0, 0, 0, 0)).untouched, false, 'no control traffic proves nothing')
  })

  it('targeted traffic shows the fault as slower or failing requests', () => {
    assert.equal(targetedEffect(baseline, window(50, 0, 3000, 6000)).affected, true)
    assert.equal(targetedEffect(baseline, window(50, 0.5, 20, 120)).affected, true)
    assert.equal(targetedEffect(baseline, window(50, 0, 22, 130)).affected, false)
  })

  const counters = (pods: Record<string, [number, number]>): FaultCounters => {
    const byPod = new Map(Object.entries(pods).map(([name, [delays, aborts]]) => [name, {delays, aborts}]))
    return {
      delays: [...byPod.values()].reduce((n, p) => n + p.delays, 0),
      aborts: [...byPod.values()].reduce((n, p) => n + p.aborts, 0),
      pods: byPod.size,
      byPod,
    }
  }

  it("counts injected faults as the rise of Envoy's delay and abort counters, pod by pod", () => {
    assert.equal(injectedBetween(counters({a: [3, 1], b: [0, 0]}), counters({a: [10, 4], b: [0, 0]})), 10)
    // A proxy that restarted counts from zero, never negative: its 2 delays since the restart count.
    assert.equal(injectedBetween(counters({a: [30, 1]}), counters({a: [2, 1]})), 2)
  })

  it('a pod counts only between two good reads: one unreadable at the start never reports "fired"', () => {
    // reviews-v2 could not be read before the write; its 500 delays are from before the fault.
    assert.equal(
      injectedBetween(counters({'reviews-v1': [0, 0]}), counters({'reviews-v1': [0, 0], 'reviews-v2': [500, 0]})),
      0,
    )
    // A pod unreadable at the end adds nothing either.
    assert.equal(
      injectedBetween(counters({'reviews-v1': [0, 0], 'reviews-v2': [5, 0]}), counters({'reviews-v1': [3, 0]})),
      3,
    )
  })

  it('a pod first read mid-phase counts from that read on, never from before it', () => {
    const start = counters({'reviews-v1': [0, 0]})
    // reviews-v2 is read for the first time: its 500 delays are not counted...
    const first = counters({'reviews-v1': [0, 0], 'reviews-v2': [500, 0]})
    assert.equal(injectedBetween(start, first), 0)
    const adopted = adoptNewPods(start, first)
    assert.deepEqual([adopted.delays, adopted.pods], [500, 2])
    assert.equal(adoptNewPods(adopted, first), adopted, 'nothing new: the same counters')
    // ...but what it counts after that read is.
    assert.equal(injectedBetween(adopted, counters({'reviews-v1': [0, 0], 'reviews-v2': [504, 1]})), 5)
  })

  /** A sidecar's Istio request counters (reporter="source"), as /stats/prometheus serves them by default. */
  const sent = (to: Record<string, number>) =>
    '# TYPE istio_requests_total counter\n' +
    Object.entries(to)
      .map(
        ([host, n]) =>
          `istio_requests_total{reporter="source",source_workload="x",destination_service="${host}.default.svc.cluster.local",response_code="200"} ${n}\n`,
      )
      .join('')

  it("polls only the sidecars that call the faulted host, as Istio's default metrics show them, once the baseline has shown who they are", async () => {
    const cluster = new FakeCluster()
    const pod = (name: string, app: string) =>
      cluster.pods.push({name, namespace: 'default', labels: {app}, containers: [app, 'istio-proxy'], ready: true})
    pod('productpage-v1-a', 'productpage')
    pod('reviews-v1-a', 'reviews')
    pod('reviews-v2-a', 'reviews')
    pod('reviews-v3-a', 'reviews')
    pod('ratings-v1-a', 'ratings')
    // Only Istio's default inclusion: no outbound cluster counters, just istio_requests_total.
    cluster.prometheusStats.set('productpage-v1-a', sent({reviews: 40, details: 40}))
    cluster.prometheusStats.set('reviews-v1-a', sent({}))
    cluster.prometheusStats.set('reviews-v2-a', sent({ratings: 20}))
    cluster.prometheusStats.set(
      'reviews-v3-a',
      sent({ratings: 21}) +
        'istio_requests_total{reporter="destination",destination_service="ratings.default.svc.cluster.local"} 99\n',
    )
    cluster.prometheusStats.set(
      'ratings-v1-a',
      'istio_requests_total{reporter="destination",destination_service="ratings.default.svc.cluster.local"} 41\n',
    )
    for (const p of cluster.pods) cluster.stats.set(p.name, 'http.outbound_0.0.0.0_9080;.fault.delays_injected: 0\n')
    const found = await callersOf(cluster, 'default', ['ratings'])
    assert.deepEqual([...(found?.pods ?? [])].sort(), ['reviews-v2-a', 'reviews-v3-a'])
    assert.equal(found?.capped, 0)
    assert.equal(
      await callersOf(cluster, 'default', ['nowhere']),
      undefined,
      'no caller seen: the polls read every sidecar',
    )
    // A host written as name.namespace (as a fault's service may be) is the same Service.
    assert.deepEqual(
      [...((await callersOf(cluster, 'bookinfo', ['ratings.default']))?.pods ?? [])],
      [],
      "another namespace's pods are not listed",
    )
    assert.deepEqual([...((await callersOf(cluster, 'default', ['ratings.default']))?.pods ?? [])].sort(), [
      'reviews-v2-a',
      'reviews-v3-a',
    ])
    // The Envoy probes' pods are polled too: the experiment names the callers it watches.
    assert.deepEqual(
      [...((await callersOf(cluster, 'default', ['ratings'], [{app: 'productpage'}]))?.pods ?? [])].sort(),
      ['productpage-v1-a', 'reviews-v2-a', 'reviews-v3-a'],
    )
    assert.deepEqual(
      [...((await callersOf(cluster, 'default', ['nowhere'], [{app: 'productpage'}]))?.pods ?? [])],
      ['productpage-v1-a'],
    )
    const read = await readFaultCounters(cluster, 'default', found?.pods)
    assert.deepEqual([...read.byPod.keys()].sort(), ['reviews-v2-a', 'reviews-v3-a'])
  })

  it('caps the polled callers at MAX_EVIDENCE_PODS, the busiest first, and says how many were left out', async () => {
    const cluster = new FakeCluster()
    for (let i = 0; i < MAX_EVIDENCE_PODS + 5; i++) {
      const name = `reviews-${String(i).padStart(3, '0')}`
      cluster.pods.push({
        name,
        namespace: 'default',
        labels: {app: 'reviews'},
        containers: ['reviews', 'istio-proxy'],
        ready: true,
      })
      cluster.prometheusStats.set(name, sent({ratings: i + 1}))
    }
    const found = await callersOf(cluster, 'default', ['ratings.default.svc.cluster.local'])
    assert.equal(found?.pods.size, MAX_EVIDENCE_PODS)
    assert.equal(found?.capped, 5)
    assert.ok(
      !found?.pods.has('reviews-000') && found?.pods.has(`reviews-${String(MAX_EVIDENCE_PODS + 4).padStart(3, '0')}`),
      'the quietest callers are the ones left out',
    )
  })

  it("through a gateway, the gateway namespace's proxies are read too (Istio applies gateway-bound routes there), keyed namespace/name", async () => {
    const load = (entry?: Parameters<typeof gatewayNamespaces>[0]['spec']['load']['entry']) => ({
      spec: {load: entry === undefined ? {} : {entry}},
    })
    assert.deepEqual(gatewayNamespaces(load(), 'default'), [])
    assert.deepEqual(gatewayNamespaces(load({proxy: 'http://127.0.0.1:3128'}), 'default'), [])
    assert.deepEqual(gatewayNamespaces(load({gateway: {service: 'istio-ingressgateway'}}), 'default'), ['istio-system'])
    assert.deepEqual(gatewayNamespaces(load({gateway: {service: 'edge', namespace: 'ingress'}}), 'default'), [
      'ingress',
    ])
    assert.deepEqual(gatewayNamespaces(load({url: 'http://203.0.113.10'}), 'default'), ['istio-system'])
    assert.deepEqual(
      gatewayNamespaces(load({gateway: {service: 'g', namespace: 'default'}}), 'default'),
      [],
      'a gateway in the target namespace is read already',
    )
    const cluster = new FakeCluster()
    cluster.pods.push({
      name: 'reviews-v2-a',
      namespace: 'default',
      labels: {app: 'reviews'},
      containers: ['reviews', 'istio-proxy'],
      ready: true,
    })
    cluster.pods.push({
      name: 'istio-ingressgateway-a',
      namespace: 'istio-system',
      labels: {istio: 'ingressgateway'},
      containers: ['istio-proxy'],
      ready: true,
    })
    cluster.stats.set('reviews-v2-a', 'http.outbound_0.0.0.0_9080;.fault.delays_injected: 2\n')
    cluster.stats.set('istio-ingressgateway-a', 'http.outbound_0.0.0.0_8080;.fault.aborts_injected: 5\n')
    const read = await readFaultCountersWith(cluster, 'default', new Set(['reviews-v2-a']), ['istio-system'])
    assert.deepEqual(
      [read.delays, read.aborts, read.pods, [...read.byPod.keys()]],
      [2, 5, 2, ['reviews-v2-a', 'istio-system/istio-ingressgateway-a']],
    )
    assert.equal(
      (await readFaultCountersWith(cluster, 'default', undefined, [])).aborts,
      0,
      'without a gateway entry the gateway is not read',
    )
  })

  it('counts requests to a host from Istio\'s reporter="source" series only', () => {
    const fqdns = new Set(['ratings.default.svc.cluster.local'])
    assert.equal(requestsTo(sent({ratings: 3, reviews: 9}) + sent({ratings: 2}), fqdns), 5)
    assert.equal(
      requestsTo(
        'istio_requests_total{reporter="destination",destination_service="ratings.default.svc.cluster.local"} 7\n',
        fqdns,
      ),
      0,
    )
    assert.equal(
      requestsTo(
        'envoy_cluster_upstream_rq_total{cluster_name="outbound|9080||ratings.default.svc.cluster.local"} 7\n',
        fqdns,
      ),
      0,
    )
  })
})
