/**
 * Istio standard metrics of one sidecar (SEMANTICS (f)): `istio_requests_total` and
 * `istio_request_duration_milliseconds`, with exactly the label set istio/proxy's
 * `client_request_total.yaml.tmpl` asserts, in a prom-client Registry of its own.
 */
import {Counter, Histogram, Registry} from 'prom-client'

import type {Pod, Service} from '../types.js'

/** Istio's default buckets for istio_request_duration_milliseconds. */
export const ISTIO_DURATION_BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]

/** Label names, in the order of Istio's testdata. */
export const ISTIO_LABELS = [
  'reporter', 'source_workload', 'source_canonical_service', 'source_canonical_revision', 'source_workload_namespace',
  'source_principal', 'source_app', 'source_version', 'source_cluster', 'destination_workload',
  'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_service', 'destination_canonical_service', 'destination_canonical_revision', 'destination_service_name',
  'destination_service_namespace', 'destination_cluster', 'request_protocol', 'response_code', 'grpc_response_status',
  'response_flags', 'connection_security_policy',
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
}

/** The workload (Deployment) name of a pod: `reviews-v1-5b9c7f6d8c-x2kq9` → `reviews-v1`. */
export function workloadOf(pod: Pod): string {
  const m = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/.exec(pod.name)
  return m !== null ? (m[1] as string) : pod.name
}

function canonicalService(pod: Pod): string {
  return pod.labels['service.istio.io/canonical-name'] ?? pod.labels['app.kubernetes.io/name'] ?? pod.labels['app'] ?? workloadOf(pod)
}

function canonicalRevision(pod: Pod): string {
  return pod.labels['service.istio.io/canonical-revision'] ?? pod.labels['app.kubernetes.io/version'] ?? pod.labels['version'] ?? 'latest'
}

function labelValues(r: RequestRecord): string[] {
  const s = r.source
  const d = r.destination
  return [
    r.reporter, workloadOf(s), canonicalService(s), canonicalRevision(s), s.namespace,
    UNKNOWN, s.labels['app'] ?? UNKNOWN, s.labels['version'] ?? UNKNOWN, CLUSTER_ID,
    d === undefined ? UNKNOWN : workloadOf(d), d?.namespace ?? UNKNOWN, UNKNOWN, d?.labels['app'] ?? UNKNOWN, d?.labels['version'] ?? UNKNOWN,
    r.serviceFqdn, d === undefined ? (r.service?.name ?? UNKNOWN) : canonicalService(d), d === undefined ? UNKNOWN : canonicalRevision(d),
    r.service?.name ?? r.serviceFqdn, r.service?.namespace ?? UNKNOWN, d === undefined ? UNKNOWN : CLUSTER_ID,
    r.protocol, String(r.status), r.grpcStatus === undefined ? '' : String(r.grpcStatus), r.flags,
    r.reporter === 'source' ? UNKNOWN : 'none',
  ]
}

/** A sidecar's Istio metrics. */
export class IstioTelemetry {
  /** The sidecar's own registry (never the global one). */
  readonly registry = new Registry()
  private readonly requests: Counter<(typeof ISTIO_LABELS)[number]>
  private readonly duration: Histogram<(typeof ISTIO_LABELS)[number]>
  private readonly children = new Map<string, {count: {inc(): void}; duration: {observe(v: number): void}}>()

  constructor() {
    this.requests = new Counter({name: 'istio_requests_total', help: 'Total requests.', labelNames: ISTIO_LABELS, registers: [this.registry]})
    this.duration = new Histogram({
      name: 'istio_request_duration_milliseconds', help: 'Request duration in milliseconds.',
      labelNames: ISTIO_LABELS, buckets: ISTIO_DURATION_BUCKETS, registers: [this.registry],
    })
  }

  /** Counts one request and observes its duration. */
  record(r: RequestRecord): void {
    const values = labelValues(r)
    const key = values.join('\u0000')
    let child = this.children.get(key)
    if (child === undefined) {
      const labels = Object.fromEntries(ISTIO_LABELS.map((n, i) => [n, values[i] as string])) as Record<(typeof ISTIO_LABELS)[number], string>
      child = {count: this.requests.labels(labels), duration: this.duration.labels(labels)}
      this.children.set(key, child)
    }
    child.count.inc()
    child.duration.observe(r.durationMs)
  }

  /** Prometheus text exposition of the Istio metrics. */
  text(): Promise<string> {
    return this.registry.metrics()
  }
}
