import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {normaliseStatName, parseEnvoyStats, statMatcher, sumMatching} from '../../src/cluster/stats.js'
import {FAULT_STATS} from '../../src/runner/evidence.js'

const samples = readFileSync(
  new URL('../reference/envoy-stats/pilot-agent-stats-circuit-breaking-samples.txt', import.meta.url),
  'utf8',
)
const section = (letter: string) => samples.split('# ---- Sample ')[' ABCD'.indexOf(letter)] ?? ''

describe('Envoy stats text', () => {
  it('parses both cluster stat-name forms from real pilot-agent output to the same names', () => {
    const before123 = parseEnvoyStats(section('A'))
    const after123 = parseEnvoyStats(section('B'))
    assert.deepEqual([...before123], [...after123])
    assert.equal(
      after123.get('cluster.outbound|8000||httpbin.default.svc.cluster.local;.upstream_rq_pending_overflow'),
      21,
    )
    assert.equal(after123.size, 7)
  })

  it('skips text readouts and histograms', () => {
    const stats = parseEnvoyStats(section('D'))
    assert.deepEqual(
      [...stats],
      [
        ['c1', 10],
        ['c2', 20],
      ],
    )
  })

  // Istio ≥ 1.23 ends cluster and HTTP connection manager stat prefixes with `;` (docs/real-cluster.md).
  const normalised: Array<[string, string]> = [
    [
      'cluster.outbound|9080|v1|ratings.default.svc.cluster.local.outlier_detection.ejections_active',
      'cluster.outbound|9080|v1|ratings.default.svc.cluster.local;.outlier_detection.ejections_active',
    ],
    [
      'cluster.outbound|9080|v1|ratings.default.svc.cluster.local;.outlier_detection.ejections_active',
      'cluster.outbound|9080|v1|ratings.default.svc.cluster.local;.outlier_detection.ejections_active',
    ],
    ['cluster.inbound|9080||.upstream_rq_total', 'cluster.inbound|9080||;.upstream_rq_total'],
    ['http.outbound_0.0.0.0_9080.fault.delays_injected', 'http.outbound_0.0.0.0_9080;.fault.delays_injected'],
    ['http.outbound_0.0.0.0_9080;.fault.delays_injected', 'http.outbound_0.0.0.0_9080;.fault.delays_injected'],
    [
      'http.outbound_0.0.0.0_9080.fault.reviews.delays_injected',
      'http.outbound_0.0.0.0_9080;.fault.reviews.delays_injected',
    ],
    ['http.inbound_0.0.0.0_9080.downstream_rq_2xx', 'http.inbound_0.0.0.0_9080;.downstream_rq_2xx'],
    ['http.inbound_10.244.0.12_9080.downstream_rq_total', 'http.inbound_10.244.0.12_9080;.downstream_rq_total'],
    ['http.outbound_[::]_9080.downstream_rq_total', 'http.outbound_[::]_9080;.downstream_rq_total'],
    ['http.outbound_10.96.12.7_15010.rq_total', 'http.outbound_10.96.12.7_15010;.rq_total'],
    ['http.InboundPassthroughCluster.downstream_rq_total', 'http.InboundPassthroughCluster;.downstream_rq_total'],
    // Prefixes we cannot tell apart from the stat (the bootstrap's, Envoy's own) stay as they are; matching still takes both forms.
    ['http.agent.downstream_rq_total', 'http.agent.downstream_rq_total'],
    ['http.admin.downstream_rq_total', 'http.admin.downstream_rq_total'],
    ['cluster.xds-grpc.upstream_cx_active', 'cluster.xds-grpc.upstream_cx_active'],
    ['listener.0.0.0.0_9080.downstream_cx_total', 'listener.0.0.0.0_9080.downstream_cx_total'],
    ['server.live', 'server.live'],
  ]
  for (const [name, expected] of normalised) {
    it(`normalises ${name}`, () => assert.equal(normaliseStatName(name), expected))
  }

  // [pattern, name, matches]: a pattern written in either form matches a name in either form.
  const matching: Array<[string, string, boolean]> = [
    ['http.outbound_0.0.0.0_9080.fault.delays_injected', 'http.outbound_0.0.0.0_9080;.fault.delays_injected', true],
    ['http.outbound_0.0.0.0_9080.fault.delays_injected', 'http.outbound_0.0.0.0_9080.fault.delays_injected', true],
    ['http.outbound_0.0.0.0_9080;.fault.delays_injected', 'http.outbound_0.0.0.0_9080.fault.delays_injected', true],
    ['http.outbound_0.0.0.0_9080;.fault.delays_injected', 'http.outbound_0.0.0.0_9080;.fault.delays_injected', true],
    ['http.outbound_0.0.0.0_9080.fault.delays_injected', 'http.outbound_0.0.0.0_9081;.fault.delays_injected', false],
    [
      'http.outbound_0.0.0.0_9080.fault.delays_injected',
      'http.outbound_0.0.0.0_9080;.fault.reviews.delays_injected',
      false,
    ],
    ['http.outbound_*_9080.fault.delays_injected', 'http.outbound_0.0.0.0_9080;.fault.delays_injected', true],
    ['http.*.fault.aborts_injected', 'http.outbound_0.0.0.0_9080;.fault.aborts_injected', true],
    ['http.*;.fault.aborts_injected', 'http.outbound_0.0.0.0_9080.fault.aborts_injected', true],
    [
      'cluster.outbound|9080|*|reviews.default.svc.cluster.local.upstream_rq_pending_overflow',
      'cluster.outbound|9080|v2|reviews.default.svc.cluster.local;.upstream_rq_pending_overflow',
      true,
    ],
    [
      'cluster.outbound|9080|*|reviews.default.svc.cluster.local;.upstream_rq_pending_overflow',
      'cluster.outbound|9080|v2|reviews.default.svc.cluster.local.upstream_rq_pending_overflow',
      true,
    ],
    [
      'cluster.outbound|9080|*|reviews.default.svc.cluster.local.upstream_rq_pending_overflow',
      'cluster.outbound|9080|v2|reviews.staging.svc.cluster.local;.upstream_rq_pending_overflow',
      false,
    ],
    [
      'cluster.outbound|9080||ratings.default.svc.cluster.local.*',
      'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_cx_total',
      true,
    ],
    ['cluster.BlackHoleCluster.upstream_cx_total', 'cluster.BlackHoleCluster;.upstream_cx_total', true],
    ['cluster.xds-grpc.upstream_cx_active', 'cluster.xds-grpc;.upstream_cx_active', true],
    ['http.agent.downstream_rq_total', 'http.agent.downstream_rq_total', true],
    ['cluster.ratings_9080.upstream_rq_total', 'cluster.ratings_9080;.upstream_rq_total', true],
    [
      '*upstream_rq_pending_overflow',
      'cluster.outbound|9080||reviews.default.svc.cluster.local;.upstream_rq_pending_overflow',
      true,
    ],
    ['a.b', 'aXb', false],
    ['a;b', 'a;b', true],
    ['a;b', 'ab', false],
  ]
  for (const [pattern, name, expected] of matching) {
    it(`${expected ? 'matches' : 'does not match'} ${name} with ${pattern}`, () => {
      assert.equal(statMatcher(pattern)(name), expected)
      // The same through parsing, which normalises names.
      assert.equal(sumMatching(parseEnvoyStats(`${name}: 1`), pattern).matched, expected ? 1 : 0)
    })
  }

  it('reads the fault counters the runner proves a fault with in both forms, and not the per-caller copies', () => {
    const stats = parseEnvoyStats(
      [
        'http.outbound_0.0.0.0_9080;.fault.delays_injected: 3',
        'http.outbound_0.0.0.0_9080;.fault.productpage.delays_injected: 3',
        'http.outbound_0.0.0.0_9081.fault.delays_injected: 2',
        'http.outbound_0.0.0.0_9080;.fault.aborts_injected: 5',
        'http.inbound_0.0.0.0_9080.fault.aborts_injected: 1',
      ].join('\n'),
    )
    assert.deepEqual(sumMatching(stats, FAULT_STATS[0]), {value: 5, matched: 2})
    assert.deepEqual(sumMatching(stats, FAULT_STATS[1]), {value: 6, matched: 2})
  })

  it('matches patterns with * in either form and sums across subsets', () => {
    const stats = parseEnvoyStats(
      [
        'cluster.outbound|9080|v1|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow: 3',
        'cluster.outbound|9080|v2|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow: 4',
        'cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_pending_overflow: 100',
      ].join('\n'),
    )
    assert.deepEqual(
      sumMatching(stats, 'cluster.outbound|9080|*|ratings.default.svc.cluster.local.upstream_rq_pending_overflow'),
      {value: 7, matched: 2},
    )
    assert.deepEqual(
      sumMatching(stats, 'cluster.outbound|9080|*|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow'),
      {value: 7, matched: 2},
    )
    assert.deepEqual(sumMatching(stats, '*upstream_rq_pending_overflow'), {value: 107, matched: 3})
    assert.deepEqual(sumMatching(stats, 'cluster.outbound|9080||details.default.svc.cluster.local.upstream_rq_total'), {
      value: 0,
      matched: 0,
    })
    assert.equal(statMatcher('a.b')('aXb'), false, 'dots are literal')
  })
})
