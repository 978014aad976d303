import assert from 'node:assert/strict'

import {envoyStatName, parseExposition, parsePrometheusStats} from '../../src/cluster/prometheus-stats.js'
import {parseEnvoyStats, sumMatching} from '../../src/cluster/stats.js'
import {FAULT_STATS} from '../../src/runner/evidence.js'
import {prometheusName, TAGS_1_22, TAGS_1_30} from '@faultline/sandbox/mesh/stats.js'

/** Envoy stat names as a 1.30 proxy names them (Istio ≥ 1.23 ends generated prefixes with `;`). */
const NAMES_1_30 = [
  'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_pending_overflow',
  'cluster.outbound|9080|v1|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow',
  'cluster.outbound|9080||ratings.default.svc.cluster.local;.circuit_breakers.default.rq_pending_open',
  'cluster.outbound|9080||ratings.default.svc.cluster.local;.outlier_detection.ejections_active',
  'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_200',
  'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_5xx',
  'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_total',
  'cluster.outbound|443||www.example.com;.upstream_rq_total',
  'cluster.inbound|9080||;.upstream_rq_total',
  'http.outbound_0.0.0.0_9080;.fault.delays_injected',
  'http.outbound_0.0.0.0_9080;.fault.aborts_injected',
  'http.inbound_0.0.0.0_9080;.fault.delays_injected',
  'server.live',
  'cluster_manager.cds.update_success',
]

/** The same stats on a 1.22 proxy: no `;`. */
const NAMES_1_22 = NAMES_1_30.map(n => n.replace(';.', '.'))

/** An exposition with these stats as counters, rendered as Envoy renders them with Istio's tags (the sandbox's model of it). */
function exposition(names: readonly string[], tags: typeof TAGS_1_30): string {
  return names
    .map((n, i) => {
      const {metric, labels} = prometheusName(n, tags)
      return `# TYPE ${metric} counter\n${metric}${labels} ${i + 1}\n`
    })
    .join('')
}

describe('Envoy stats from /stats/prometheus (the pod proxy on 15090)', () => {
  it("rebuilds Istio's tagged names: the cluster and the HTTP connection manager prefix go back where their tag came from", () => {
    const stats = parsePrometheusStats(
      [
        '# TYPE envoy_cluster_upstream_rq_pending_overflow counter',
        'envoy_cluster_upstream_rq_pending_overflow{cluster_name="outbound|9080||ratings.default.svc.cluster.local"} 7',
        '# TYPE envoy_http_fault_delays_injected counter',
        'envoy_http_fault_delays_injected{http_conn_manager_prefix="outbound_0.0.0.0_9080"} 3',
        'envoy_cluster_upstream_rq{response_code="503",cluster_name="outbound|9080||ratings.default.svc.cluster.local"} 2',
      ].join('\n'),
    )
    assert.deepEqual(
      [...stats.keys()],
      [
        'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_pending_overflow',
        'http.outbound_0.0.0.0_9080;.fault_delays_injected',
        'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_503',
      ],
    )
    assert.equal(stats.prometheus, true)
  })

  for (const [profile, names, tags] of [
    ['1.30', NAMES_1_30, TAGS_1_30],
    ['1.22', NAMES_1_22, TAGS_1_22],
  ] as const) {
    it(`on a ${profile} proxy, every pattern written in Envoy's text form sums the same through the proxy as by exec`, () => {
      const text = parseEnvoyStats(names.map((n, i) => `${n}: ${i + 1}\n`).join(''))
      const proxied = parsePrometheusStats(exposition(names, tags))
      const patterns = [
        ...FAULT_STATS,
        'cluster.outbound|9080||ratings.default.svc.cluster.local.upstream_rq_pending_overflow',
        'cluster.outbound|9080|*|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow',
        'cluster.outbound|9080||ratings.default.svc.cluster.local.circuit_breakers.default.rq_pending_open',
        'cluster.outbound|*|*|ratings.default.svc.cluster.local.upstream_rq_total',
        'cluster.outbound|9080||ratings.default.svc.cluster.local.upstream_rq_200',
        'cluster.outbound|443||www.example.com.upstream_rq_total',
        'cluster.inbound|9080||.upstream_rq_total',
        'http.outbound_0.0.0.0_9080.fault.delays_injected',
        'http.inbound_*.fault.delays_injected',
        'server.live',
        'cluster.*.outlier_detection.ejections_active',
      ]
      for (const pattern of patterns) {
        const byExec = sumMatching(text, pattern)
        assert.ok(byExec.matched > 0, `${pattern} matches the text form`)
        assert.deepEqual(sumMatching(proxied, pattern), byExec, pattern)
      }
      // And a stat nobody has matches nothing either way: the stats-inclusion hint still shows.
      assert.equal(
        sumMatching(proxied, 'cluster.outbound|9080||details.default.svc.cluster.local.upstream_rq_total').matched,
        0,
      )
      assert.equal(sumMatching(proxied, 'http.*.fault.reviews.delays_injected').matched, 0)
    })
  }

  it('skips histograms and summaries, as the text form does, and keeps gauges and untyped samples', () => {
    const samples = parseExposition(
      [
        '# TYPE envoy_cluster_upstream_cx_length_ms histogram',
        'envoy_cluster_upstream_cx_length_ms_bucket{cluster_name="x",le="0.5"} 1',
        'envoy_cluster_upstream_cx_length_ms_sum{cluster_name="x"} 10',
        'envoy_cluster_upstream_cx_length_ms_count{cluster_name="x"} 1',
        '# TYPE envoy_cluster_upstream_cx_active gauge',
        'envoy_cluster_upstream_cx_active{cluster_name="x"} 4',
        'envoy_server_live 1 1700000000000',
        'not a sample',
      ].join('\n'),
    )
    assert.deepEqual(
      samples.map(s => [s.metric, s.value]),
      [
        ['envoy_cluster_upstream_cx_active', 4],
        ['envoy_server_live', 1],
      ],
    )
  })

  it("names Istio's standard metrics as Envoy does, with label values unescaped", () => {
    const [sample] = parseExposition(
      'istio_requests_total{reporter="source",destination_service="ratings.default.svc.cluster.local",note="a \\"b\\""} 5',
    )
    assert.ok(sample !== undefined)
    assert.deepEqual(sample.labels[2], ['note', 'a "b"'])
    assert.equal(
      envoyStatName({...sample, labels: sample.labels.slice(0, 2)}),
      'reporter=.=source;.;destination_service=.=ratings.default.svc.cluster.local;.;istio_requests_total',
    )
  })
})
