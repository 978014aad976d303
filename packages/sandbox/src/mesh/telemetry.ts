/**
 * Istio standard metrics of one sidecar (test/reference/SEMANTICS.md (f)): `istio_requests_total`,
 * `istio_request_duration_milliseconds`, `istio_request_bytes` and `istio_response_bytes`, with
 * exactly the label set istio/proxy's `client_request_total.yaml.tmpl` asserts, in a prom-client
 * Registry of its own.
 *
 * istio/proxy `source/extensions/filters/http/istio_stats/istio_stats.cc` (commit
 * 00aaa6e7900560d32b2923cddb04ebcfa02c822b), IstioStatsFilter::log: once per request, with the same
 * tags as `istio_requests_total`, histograms `istio_request_bytes` (Unit::Bytes, the downstream bytes
 * meter's wireBytesReceived) and `istio_response_bytes` (wireBytesSent): wire bytes of the downstream
 * connection, headers included. Their buckets are Envoy's defaults, as for the duration (see
 * `ISTIO_BYTES_BUCKETS`). Transcribed in test/reference/envoy-stats/istio-stats-http-metrics.csv.
 */
import {Counter, Histogram, Registry} from 'prom-client'

import type {Pod, Service} from '../types.js'

/** Istio's default buckets for istio_request_duration_milliseconds. */
export const ISTIO_DURATION_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]

/**
 * Buckets of istio_request_bytes and istio_response_bytes: the same list. Istio's bootstrap sets no
 * `histogram_bucket_settings` unless a pod has `sidecar.istio.io/statsHistogramBuckets` (istio
 * `pkg/bootstrap/config.go`, `tools/packaging/common/envoy_bootstrap.json`), so every histogram gets
 * envoy `source/common/stats/histogram_impl.cc` HistogramSettingsImpl::defaultBuckets (commit
 * 35db8c4732b26208ccab8ac8b9ebeda58b571f93), whatever its unit: a byte count past 3600000 lands in +Inf only.
 */
export const ISTIO_BYTES_BUCKETS = ISTIO_DURATION_BUCKETS

/** Label names, in the order of Istio's testdata. */
export const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const

/** Istio's default cluster ID (`CLUSTER_ID` / `values.global.multiCluster.clusterName`). */
const CLUSTER_ID = 'Kubernetes'
const UNKNOWN = 'unknown'

/** One request as a sidecar reports it. */
export interface RequestRecord {
  reporter: 'source' | 'destination'
  source: Pod
  /** The pod that served it; undefined when the request never reached one (abort, overflow, no route). */
  destination: Pod | undefined
  service: Service | undefined
  serviceFqdn: string
  status: number
  grpcStatus: number | undefined
  protocol: 'http' | 'grpc'
  flags: string
  durationMs: number
  /** Wire bytes the reporting proxy received from its downstream for this request (headers and body). */
  requestBytes: number
  /** Wire bytes it sent back downstream (status line, headers and body). */
  responseBytes: number
}

/** The workload (Deployment) name of a pod: `reviews-v1-5b9c7f6d8c-x2kq9` → `reviews-v1`. */
export function workloadOf(pod: Pod): string {
  const m = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/.exec(pod.name)
  return m !== null ? (m[1] as string) : pod.name
}

function canonicalService(pod: Pod): string {
  return (
    pod.labels['service.istio.io/canonical-name'] ??
    pod.labels['app.kubernetes.io/name'] ??
    pod.labels['app'] ??
    workloadOf(pod)
  )
}

function canonicalRevision(pod: Pod): string {
  return (
    pod.labels['service.istio.io/canonical-revision'] ??
    pod.labels['app.kubernetes.io/version'] ??
    pod.labels['version'] ??
    'latest'
  )
}

function labelValues(r: RequestRecord): string[] {
  const s = r.source
  const d = r.destination
  return [
    r.reporter,
    workloadOf(s),
    canonicalService(s),
    canonicalRevision(s),
    s.namespace,
    UNKNOWN,
    s.labels['app'] ?? UNKNOWN,
    s.labels['version'] ?? UNKNOWN,
    CLUSTER_ID,
    d === undefined ? UNKNOWN : workloadOf(d),
    d?.namespace ?? UNKNOWN,
    UNKNOWN,
    d?.labels['app'] ?? UNKNOWN,
    d?.labels['version'] ?? UNKNOWN,
    r.serviceFqdn,
    d === undefined ? (r.service?.name ?? UNKNOWN) : canonicalService(d),
    d === undefined ? UNKNOWN : canonicalRevision(d),
    r.service?.name ?? r.serviceFqdn,
    r.service?.namespace ?? UNKNOWN,
    d === undefined ? UNKNOWN : CLUSTER_ID,
    r.protocol,
    String(r.status),
    r.grpcStatus === undefined ? '' : String(r.grpcStatus),
    r.flags,
    r.reporter === 'source' ? UNKNOWN : 'none',
  ]
}

type LabelName = (typeof ISTIO_LABELS)[number]
type Labels = Record<LabelName, string>

/** One histogram of one series: sum and per-bucket (not cumulative) counts; its count is the series'. */
interface Observed {
  sum: number
  buckets: Float64Array
}

/** One label set's aggregates: the request count and its three histograms (every request observes each). */
interface Series {
  labels: Labels
  count: number
  duration: Observed
  requestBytes: Observed
  responseBytes: Observed
}

const observed = (): Observed => ({sum: 0, buckets: new Float64Array(ISTIO_DURATION_BUCKETS.length)})

/**
 * One of the series' histograms as a metric object prom-client's Registry renders (it duck-types
 * metrics by `name`, `help`, `type`, `get`/`getForPromString`). prom-client's own Histogram rehashes
 * all 25 labels on every observe (~20 µs); this keeps a direct reference per series.
 */
class SeriesHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly les: readonly number[],
    private readonly pick: (s: Series) => Observed,
    private readonly series: () => Iterable<Series>,
  ) {}

  async get(): Promise<{
    name: string
    help: string
    type: string
    aggregator: string
    values: {labels: Record<string, string | number>; value: number; metricName: string}[]
  }> {
    return this.getForPromString()
  }

  async getForPromString(): Promise<{
    name: string
    help: string
    type: string
    aggregator: string
    values: {labels: Record<string, string | number>; value: number; metricName: string}[]
  }> {
    const values: {labels: Record<string, string | number>; value: number; metricName: string}[] = []
    for (const s of this.series()) {
      const h = this.pick(s)
      let cumulative = 0
      for (const [i, le] of this.les.entries()) {
        cumulative += h.buckets[i] as number
        values.push({labels: {le, ...s.labels}, value: cumulative, metricName: `${this.name}_bucket`})
      }
      values.push({labels: {le: '+Inf', ...s.labels}, value: s.count, metricName: `${this.name}_bucket`})
      values.push({labels: s.labels, value: h.sum, metricName: `${this.name}_sum`})
      values.push({labels: s.labels, value: s.count, metricName: `${this.name}_count`})
    }
    return {name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values}
  }
}

function bucketIndex(v: number, les: readonly number[]): number {
  for (let i = 0; i < les.length; i++) if (v <= (les[i] as number)) return i
  return -1
}

function observe(h: Observed, v: number, les: readonly number[]): void {
  h.sum += v
  const i = bucketIndex(v, les)
  if (i >= 0) h.buckets[i] = (h.buckets[i] as number) + 1
}

/** Series by label-determining field, one Map level per field (see `record`). */
type SeriesIndex = Map<string | number, SeriesIndex | Series>

/** A sidecar's Istio metrics. */
export class IstioTelemetry {
  /** The sidecar's own registry (never the global one). */
  readonly registry = new Registry()
  private readonly series: Series[] = []
  private readonly index: SeriesIndex = new Map()
  private readonly flushed = new Map<Series, number>()

  constructor() {
    const requests = new Counter<LabelName>({
      name: 'istio_requests_total',
      help: 'Total requests.',
      labelNames: ISTIO_LABELS,
      registers: [this.registry],
      // Counts are kept per series on the hot path and handed to prom-client when scraped.
      collect: () => {
        for (const s of this.series) {
          const delta = s.count - (this.flushed.get(s) ?? 0)
          if (delta > 0 || !this.flushed.has(s)) requests.inc(s.labels, delta)
          this.flushed.set(s, s.count)
        }
      },
    })
    const series = () => this.series.values()
    // Registered in istio_stats.cc's recording order; Envoy's names and units (help texts are prom-client's, Envoy prints none).
    this.registry.registerMetric(
      new SeriesHistogram(
        'istio_request_duration_milliseconds',
        'Request duration in milliseconds.',
        ISTIO_DURATION_BUCKETS,
        s => s.duration,
        series,
      ) as unknown as Histogram,
    )
    this.registry.registerMetric(
      new SeriesHistogram(
        'istio_request_bytes',
        'Request size in bytes (downstream wire bytes received).',
        ISTIO_BYTES_BUCKETS,
        s => s.requestBytes,
        series,
      ) as unknown as Histogram,
    )
    this.registry.registerMetric(
      new SeriesHistogram(
        'istio_response_bytes',
        'Response size in bytes (downstream wire bytes sent).',
        ISTIO_BYTES_BUCKETS,
        s => s.responseBytes,
        series,
      ) as unknown as Histogram,
    )
  }

  /**
   * Counts one request and observes its duration and sizes. The series is found through one Map level per
   * field that determines its labels: those strings are long-lived (pod names, FQDNs, flag strings), so
   * their hashes are cached, where a concatenated key measured ~1 µs per lookup to build and hash.
   */
  record(r: RequestRecord): void {
    const keys = [
      r.reporter,
      r.source.name,
      r.destination?.name ?? '',
      r.serviceFqdn,
      r.status,
      r.grpcStatus ?? -1,
      r.flags,
      r.protocol,
    ]
    let node = this.index
    const last = keys.length - 1
    for (let i = 0; i < last; i++) {
      let next = node.get(keys[i] as string | number) as SeriesIndex | undefined
      if (next === undefined) {
        next = new Map()
        node.set(keys[i] as string | number, next)
      }
      node = next
    }
    let s = node.get(keys[last] as string) as Series | undefined
    if (s === undefined) {
      const values = labelValues(r)
      s = {
        labels: Object.fromEntries(ISTIO_LABELS.map((n, i) => [n, values[i] as string])) as Labels,
        count: 0,
        duration: observed(),
        requestBytes: observed(),
        responseBytes: observed(),
      }
      node.set(keys[last] as string, s)
      this.series.push(s)
    }
    s.count++
    observe(s.duration, r.durationMs, ISTIO_DURATION_BUCKETS)
    observe(s.requestBytes, r.requestBytes, ISTIO_BYTES_BUCKETS)
    observe(s.responseBytes, r.responseBytes, ISTIO_BYTES_BUCKETS)
  }

  /** Prometheus text exposition of the Istio metrics. */
  text(): Promise<string> {
    return this.registry.metrics()
  }
}
