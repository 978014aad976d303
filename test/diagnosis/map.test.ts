import assert from 'node:assert/strict'

import {bucketQuantile, buildMap} from '../../src/diagnosis/map.js'
import {parseMapMetrics} from '../../src/diagnosis/prom-text.js'
import type {Snapshot} from '../../src/diagnosis/snapshot.js'
import {seriesKey} from '../../src/diagnosis/prom-text.js'

const L = (o: Record<string, string>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')
const istio = (
  reporter: string,
  src: string,
  dst: string,
  code: string,
  flags: string,
  extra: Record<string, string> = {},
) =>
  L({
    reporter,
    source_workload: src,
    source_canonical_service: src.replace(/-v\d+$/, ''),
    destination_workload: flags === 'UO' || flags === 'FI' ? 'unknown' : `${dst}-v1`,
    destination_canonical_service: dst,
    destination_service: `${dst}.default.svc.cluster.local`,
    destination_service_name: dst,
    response_code: code,
    response_flags: flags,
    ...extra,
  })

/** A sidecar scrape: `n` requests 200 and `uo` overflowed, a duration histogram, the overflow counter. */
function scrape(n: number, uo: number, overflow: number | undefined): string {
  const ok = istio('source', 'productpage-v1', 'reviews', '200', '-')
  const over = istio('source', 'productpage-v1', 'reviews', '503', 'UO')
  return (
    [
      '# TYPE istio_requests_total counter',
      `istio_requests_total{${ok}} ${n}`,
      `istio_requests_total{${over}} ${uo}`,
      `istio_request_duration_milliseconds_bucket{le="10",${ok}} ${n / 2}`,
      `istio_request_duration_milliseconds_bucket{le="100",${ok}} ${n}`,
      `istio_request_duration_milliseconds_bucket{le="+Inf",${ok}} ${n}`,
      `istio_request_duration_milliseconds_sum{${ok}} ${n * 20}`,
      `istio_request_duration_milliseconds_count{${ok}} ${n}`,
      `istio_request_duration_milliseconds_sum{${over}} ${uo * 0.2}`,
      `istio_request_duration_milliseconds_count{${over}} ${uo}`,
      'envoy_server_live 1',
      ...(overflow === undefined
        ? []
        : [
            '# TYPE envoy_cluster_upstream_rq_pending_overflow counter',
            `envoy_cluster_upstream_rq_pending_overflow{cluster_name="outbound|9080||reviews.default.svc.cluster.local"} ${overflow}`,
          ]),
    ].join('\n') + '\n'
  )
}

function snap(
  phase: 'baseline' | 'fault',
  at: 'start' | 'end',
  t: number,
  pods: Record<string, string>,
  failed: Record<string, string> = {},
): Snapshot {
  return {
    phase,
    at,
    t,
    pods: new Map(
      Object.entries(pods).map(([p, text]) => [
        p,
        new Map(parseMapMetrics(text).map(s => [seriesKey(s.metric, s.labels), s])),
      ]),
    ),
    failed: new Map(Object.entries(failed)),
  }
}

describe('the blast-radius map', () => {
  it('parses only the families it reads, with escaped label values', () => {
    const samples = parseMapMetrics(
      '# HELP x\nenvoy_server_live 1\nistio_requests_total{reporter="source",response_flags="-",source_workload="a\\"b",pod="x"} 3\nbad line {\n',
    )
    assert.deepEqual(samples, [
      {
        metric: 'istio_requests_total',
        labels: {reporter: 'source', response_flags: '-', source_workload: 'a"b'},
        value: 3,
      },
    ])
  })

  it('interpolates quantiles in the buckets as histogram_quantile does', () => {
    assert.equal(
      bucketQuantile(
        0.5,
        new Map([
          [10, 50],
          [100, 100],
          [Infinity, 100],
        ]),
      ),
      10,
    )
    assert.equal(
      bucketQuantile(
        0.99,
        new Map([
          [10, 50],
          [100, 100],
          [Infinity, 100],
        ]),
      ),
      98.2,
    )
    assert.equal(
      bucketQuantile(
        0.99,
        new Map([
          [10, 0],
          [Infinity, 0],
        ]),
      ),
      undefined,
    )
  })

  it('counts each phase between its two reads, per edge, with flags, codes, latency and Envoy counters', () => {
    const pod = 'productpage-v1-5b9c7f6d8c-x2kq9'
    const map = buildMap(
      [
        snap('baseline', 'start', 0, {[pod]: scrape(100, 0, 0)}),
        snap('baseline', 'end', 10_000, {[pod]: scrape(200, 0, 0)}),
        snap('fault', 'start', 10_000, {[pod]: scrape(200, 0, 0)}),
        snap('fault', 'end', 20_000, {[pod]: scrape(300, 40, 40)}),
      ],
      {namespace: 'default', source: 'sidecars', faulted: new Set(['ratings'])},
    )
    assert.deepEqual(map.phases, ['baseline', 'fault'])
    const e = map.edges.find(x => x.id === 'productpage-v1→reviews')
    assert.ok(e !== undefined, JSON.stringify(map.edges))
    assert.equal(e.reporter, 'source')
    assert.deepEqual(e.servedBy, ['reviews-v1'])
    assert.deepEqual(
      {n: e.phases.baseline?.requests, rps: e.phases.baseline?.rps, err: e.phases.baseline?.errorRatio},
      {n: 100, rps: 10, err: 0},
    )
    const f = e.phases.fault
    assert.deepEqual(
      {n: f?.requests, codes: f?.codes, uo: f?.flags.UO, envoy: f?.envoy},
      {n: 140, codes: {200: 100, 503: 40}, uo: {count: 40, meanMs: 0.2}, envoy: {overflow: 40}},
    )
    assert.equal(f?.errorRatio, Math.round((40 / 140) * 10_000) / 10_000)
    assert.equal(f?.p50 !== undefined && f.p50 > 0 && f.p50 <= 100, true)
    assert.match(map.gaps.join('\n'), /could not see response sizes/)
    assert.match(map.gaps.join('\n'), /could not see Envoy's upstream_rq_retry on productpage-v1/)
  })

  it('says what it could not see: a pod unread at the start, a counter reset, a phase without its end read', () => {
    const a = 'productpage-v1-5b9c7f6d8c-x2kq9'
    const b = 'reviews-v1-5b9c7f6d8c-abcde'
    const map = buildMap(
      [
        snap('baseline', 'start', 0, {[a]: scrape(100, 0, 0)}, {[b]: 'exec failed'}),
        snap('baseline', 'end', 10_000, {[a]: scrape(50, 0, 0), [b]: scrape(10, 0, 0)}),
        snap('fault', 'start', 10_000, {[a]: scrape(50, 0, 0)}),
      ],
      {namespace: 'default', source: 'sidecars', faulted: new Set()},
    )
    const gaps = map.gaps.join('\n')
    assert.match(
      gaps,
      /could not read 1 sidecar\(s\) at the baseline's start: reviews-v1-5b9c7f6d8c-abcde \(exec failed\)/,
    )
    assert.match(gaps, /could not count the baseline phase on reviews-v1-5b9c7f6d8c-abcde: not read at its start/)
    assert.match(gaps, /counter reset during the baseline phase on productpage-v1-5b9c7f6d8c-x2kq9/)
    assert.match(gaps, /could not see the fault phase: it has no read at its end/)
    // The reset counts from zero (50), never negative; the unread pod adds nothing.
    assert.equal(map.edges[0]?.phases.baseline?.requests, 50)
  })

  it('uses the destination reporter when no caller sidecar reported (traffic from outside the mesh)', () => {
    const text = (n: number) =>
      `istio_requests_total{${istio('destination', 'unknown', 'productpage', '200', '-')}} ${n}\n`
    const map = buildMap([snap('baseline', 'start', 0, {p: text(1)}), snap('baseline', 'end', 5000, {p: text(11)})], {
      namespace: 'default',
      source: 'sidecars',
      faulted: new Set(),
      entryService: 'productpage',
    })
    assert.deepEqual(
      map.edges.map(e => [e.id, e.reporter, e.entry]),
      [['unknown→productpage', 'destination', true]],
    )
  })

  it('no reads at all: no phases and a gap, never zeros', () => {
    const map = buildMap(
      [
        {
          phase: 'baseline',
          at: 'start',
          t: 0,
          pods: new Map(),
          failed: new Map(),
          error: 'no pod in default has an istio-proxy sidecar',
        },
        snap('baseline', 'end', 10, {}),
      ],
      {namespace: 'default', source: 'sidecars', faulted: new Set()},
    )
    assert.equal(map.source, 'none')
    assert.deepEqual(map.phases, [])
    assert.match(map.gaps.join('\n'), /no pod in default has an istio-proxy sidecar/)
  })
})
