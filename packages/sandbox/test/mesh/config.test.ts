import assert from 'node:assert/strict'

import {
  clusterName,
  destinationRuleFor,
  effectivePolicy,
  ENVOY_UNLIMITED,
  exportedTo,
  limitsFrom,
  outlierFrom,
  routesForSidecar,
} from '../../src/mesh/config.js'
import {
  backoffMs,
  isRetriable,
  ISTIO_122_DEFAULT_RETRY,
  ISTIO_DEFAULT_RETRY,
  retryPolicyFor,
} from '../../src/mesh/retry.js'
import type {Pod} from '../../src/types.js'
import {destinationRule, virtualService} from './harness.js'

const pod: Pod = {
  name: 'reviews-v2-abcdef1234-xyz12',
  namespace: 'default',
  labels: {app: 'reviews', version: 'v2'},
  serviceAccount: 'default',
  containers: ['reviews', 'istio-proxy'],
  appPort: 1,
}

describe('sandbox mesh: what istiod compiles (pure)', () => {
  it('cluster names are outbound|<port>|<subset>|<fqdn>', () => {
    assert.equal(
      clusterName(9080, 'v1', 'ratings.default.svc.cluster.local'),
      'outbound|9080|v1|ratings.default.svc.cluster.local',
    )
    assert.equal(
      clusterName(9080, '', 'ratings.default.svc.cluster.local'),
      'outbound|9080||ratings.default.svc.cluster.local',
    )
  })

  it('exportTo: unset and * are public, . is the own namespace, names list namespaces', () => {
    assert.equal(exportedTo(undefined, 'a', 'b'), true)
    assert.equal(exportedTo(['*'], 'a', 'b'), true)
    assert.equal(exportedTo(['.'], 'a', 'b'), false)
    assert.equal(exportedTo(['.'], 'a', 'a'), true)
    assert.equal(exportedTo(['b'], 'a', 'b'), true)
  })

  it("connection pool: a 0 or unset threshold is Envoy's 4294967295 (Istio cannot express 0)", () => {
    assert.deepEqual(
      limitsFrom({connectionPool: {tcp: {maxConnections: 0}, http: {http1MaxPendingRequests: 1, maxRetries: 0}}}),
      {
        maxConnections: ENVOY_UNLIMITED,
        maxPendingRequests: 1,
        maxRequests: ENVOY_UNLIMITED,
        maxRetries: ENVOY_UNLIMITED,
        maxRequestsPerConnection: ENVOY_UNLIMITED,
      },
    )
  })

  it('outlier detection defaults: 5 consecutive 5xx enforced, gateway failures detected but not enforced, 10s / 30s / 10%', () => {
    const od = outlierFrom({outlierDetection: {}})
    assert.deepEqual(
      od && [
        od.consecutive5xx,
        od.enforcing5xx,
        od.enforcingGateway,
        od.intervalMs,
        od.baseEjectionMs,
        od.maxEjectionPercent,
      ],
      [5, true, false, 10_000, 30_000, 10],
    )
    assert.equal(outlierFrom({outlierDetection: {consecutive5xxErrors: 0}})?.enforcing5xx, false)
    assert.equal(outlierFrom({}), undefined)
  })

  it('subset traffic policy replaces top-level fields whole; port-level settings apply to their port', () => {
    const dr = destinationRule('r', {
      host: 'ratings',
      trafficPolicy: {
        connectionPool: {tcp: {maxConnections: 10}},
        outlierDetection: {consecutive5xxErrors: 7},
        portLevelSettings: [{port: {number: 9080}, connectionPool: {tcp: {maxConnections: 3}}}],
      },
      subsets: [
        {name: 'v1', labels: {version: 'v1'}, trafficPolicy: {connectionPool: {http: {http1MaxPendingRequests: 2}}}},
      ],
    })
    assert.deepEqual(effectivePolicy(dr, '', 9080).connectionPool, {tcp: {maxConnections: 3}})
    assert.deepEqual(effectivePolicy(dr, '', 8080).connectionPool, {tcp: {maxConnections: 10}})
    const v1 = effectivePolicy(dr, 'v1', 9080)
    assert.deepEqual(v1.connectionPool, {http: {http1MaxPendingRequests: 2}})
    assert.deepEqual(v1.outlierDetection, {consecutive5xxErrors: 7})
  })

  it("DestinationRule lookup: client namespace first, then the service's, exact host before wildcard", () => {
    const fq = 'ratings.default.svc.cluster.local'
    const inService = destinationRule('svc', {host: 'ratings'})
    const wildcard = destinationRule('wild', {host: '*.default.svc.cluster.local'})
    const inClient = destinationRule('client', {host: fq}, 'frontend')
    assert.equal(destinationRuleFor([wildcard, inService], fq, 'default', 'default')?.metadata.name, 'svc')
    assert.equal(
      destinationRuleFor([wildcard, inService, inClient], fq, 'default', 'frontend')?.metadata.name,
      'client',
    )
    assert.equal(
      destinationRuleFor([inClient], fq, 'default', 'default')?.metadata.name,
      'client',
      'exported to * by default',
    )
  })

  it('routes are generated per sidecar: sourceLabels, gateways and port select; translation stops at a catch-all', () => {
    const vs = virtualService('r', {
      hosts: ['ratings'],
      http: [
        {
          name: 'other-source',
          match: [{sourceLabels: {app: 'productpage'}}],
          route: [{destination: {host: 'ratings'}}],
        },
        {
          name: 'mine',
          match: [{sourceLabels: {app: 'reviews'}}, {port: 8080}],
          route: [{destination: {host: 'ratings'}}],
        },
        {name: 'gateway-only', match: [{gateways: ['gw']}], route: [{destination: {host: 'ratings'}}]},
        {name: 'all', route: [{destination: {host: 'ratings'}}]},
        {name: 'dropped', route: [{destination: {host: 'ratings'}}]},
      ],
    })
    const routes = routesForSidecar(vs, pod, 9080)
    assert.deepEqual(
      routes.map(r => r.name),
      ['mine', 'all'],
    )
    assert.equal(routes[0]?.match?.length, 1, 'the port-8080 block is not generated on the 9080 listener')
  })

  it('retries: absent → Istio default; attempts 0 → none; numeric retryOn → retriable status codes', () => {
    assert.equal(retryPolicyFor(undefined), ISTIO_DEFAULT_RETRY)
    assert.equal(retryPolicyFor({attempts: 0}).numRetries, 0)
    const p = retryPolicyFor({attempts: 3, retryOn: 'gateway-error,429', perTryTimeout: '2s'})
    assert.deepEqual([p.numRetries, p.perTryTimeoutMs, [...p.retriableStatusCodes]], [3, 2000, [429]])
    assert.equal(isRetriable(p, {kind: 'response', status: 429, grpcStatus: undefined}), true)
    assert.equal(isRetriable(p, {kind: 'response', status: 500, grpcStatus: undefined}), false)
    assert.equal(isRetriable(p, {kind: 'per-try-timeout'}), true)
    assert.equal(isRetriable(ISTIO_DEFAULT_RETRY, {kind: 'response', status: 200, grpcStatus: 14}), true, 'unavailable')
    assert.equal(isRetriable(ISTIO_DEFAULT_RETRY, {kind: 'reset'}), false)
    assert.equal(isRetriable(ISTIO_DEFAULT_RETRY, {kind: 'connect-failure'}), true)
  })

  // istio 1.30.3 pilot/pkg/networking/core/route/retry/retry.go (ConvertPolicy, parseRetryOn); 1.22.8's DefaultPolicy had [503].
  it('retries as retry.go compiles them: no status codes by default (503 not retried), none for attempts without retryOn, 1.22 kept 503', () => {
    assert.deepEqual(
      [...ISTIO_DEFAULT_RETRY.retryOn],
      ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
    )
    assert.deepEqual([...ISTIO_DEFAULT_RETRY.retriableStatusCodes], [])
    assert.equal(isRetriable(ISTIO_DEFAULT_RETRY, {kind: 'response', status: 503, grpcStatus: undefined}), false)
    const bare = retryPolicyFor({attempts: 3})
    assert.deepEqual(
      [bare.numRetries, [...bare.retryOn].join(','), [...bare.retriableStatusCodes]],
      [3, 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', []],
    )
    assert.deepEqual([...retryPolicyFor({attempts: 3}, ISTIO_122_DEFAULT_RETRY).retriableStatusCodes], [503])
    assert.equal(retryPolicyFor(undefined, ISTIO_122_DEFAULT_RETRY), ISTIO_122_DEFAULT_RETRY)
    const odd = retryPolicyFor({attempts: 1, retryOn: '599,503, reset'})
    assert.deepEqual(
      [[...odd.retryOn], [...odd.retriableStatusCodes]],
      [['599', 'reset', 'retriable-status-codes'], [503]],
      'only numbers Go knows a status text for become codes',
    )
    assert.equal(
      retryPolicyFor({attempts: 2, retryOn: ' '}).retryOn.size,
      0,
      'a non-empty retryOn replaces retry_on, even with nothing in it',
    )
  })

  it('back-off is jittered exponential from 25 ms: retry n waits in [0, 25 × (2^n − 1))', () => {
    assert.equal(
      backoffMs(ISTIO_DEFAULT_RETRY, 1, () => 0.999),
      24,
    )
    assert.equal(
      backoffMs(ISTIO_DEFAULT_RETRY, 2, () => 0.999),
      74,
    )
    assert.equal(
      backoffMs(ISTIO_DEFAULT_RETRY, 9, () => 0.999),
      249,
      'capped at 10 × base',
    )
  })
})
