import assert from 'node:assert/strict'

import {inclusionMatcher, statsInclusion} from '../../src/mesh/inclusion.js'
import {STATS_ANNOTATION_VALUE} from '../../src/topology.js'

const FAULT = 'http.outbound_0.0.0.0_9080;.fault.delays_injected'
const OVERFLOW = 'cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_pending_overflow'
const TOTAL = 'cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_total'

// istio/istio 1.30.3 pkg/bootstrap/config.go getStatsOptions + tools/packaging/common/envoy_bootstrap.json stats_matcher.
describe('sandbox sidecar stats inclusion (Istio bootstrap stats_matcher)', () => {
  it("a pod without annotations exposes only Istio's default list: no fault filter, no outbound cluster stats", () => {
    const list = statsInclusion({})
    assert.deepEqual(list.prefixes, [
      'reporter=',
      'cluster_manager',
      'listener_manager',
      'server',
      'cluster.xds-grpc',
      'wasm',
      'component',
      'istio',
    ])
    assert.deepEqual(list.suffixes, ['rbac.allowed', 'rbac.denied', 'shadow_allowed', 'shadow_denied'])
    assert.deepEqual(list.regexps, ['vhost\\..*\\.route\\..*'])
    const included = inclusionMatcher(list)
    assert.deepEqual(
      [
        FAULT,
        OVERFLOW,
        TOTAL,
        'server.live',
        'cluster_manager.active_clusters',
        'cluster.xds-grpc;.upstream_cx_total',
      ].map(included),
      [false, false, false, true, true, true],
    )
  })

  it('proxy.istio.io/config proxyStatsMatcher adds to it (YAML or JSON; regexes match the whole name)', () => {
    const included = inclusionMatcher(statsInclusion({'proxy.istio.io/config': STATS_ANNOTATION_VALUE}))
    assert.deepEqual([FAULT, OVERFLOW, TOTAL].map(included), [true, true, false])
    const yaml = inclusionMatcher(
      statsInclusion({
        'proxy.istio.io/config':
          'proxyStatsMatcher:\n  inclusionPrefixes: ["http.outbound_0.0.0.0_9080.fault"]\n  inclusionRegexps: ["upstream_rq_total"]\n',
      }),
    )
    assert.equal(yaml(FAULT), false, "a prefix written without Istio ≥ 1.23's `;` misses the fault counters")
    assert.equal(yaml(TOTAL), false, 'safe_regex is a full match: `upstream_rq_total` alone matches nothing')
  })

  it("a sidecar.istio.io/statsInclusion* annotation replaces proxyStatsMatcher's list of the same kind, not merged", () => {
    const list = statsInclusion({
      'proxy.istio.io/config': STATS_ANNOTATION_VALUE,
      'sidecar.istio.io/statsInclusionRegexps': '.*upstream_rq_total',
    })
    assert.deepEqual(list.regexps, ['.*upstream_rq_total', 'vhost\\..*\\.route\\..*'])
    assert.deepEqual([FAULT, OVERFLOW, TOTAL].map(inclusionMatcher(list)), [false, false, true])
    const prefixes = inclusionMatcher(statsInclusion({'sidecar.istio.io/statsInclusionPrefixes': 'cluster.outbound'}))
    assert.deepEqual([FAULT, OVERFLOW, TOTAL].map(prefixes), [false, true, true])
  })
})
