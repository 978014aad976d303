/**
 * The blast-radius map and the diagnosis, as the journal keeps them (`blastRadius`). The map is
 * what the mesh itself counted per edge `source_workload → destination_service` and per phase
 * (Istio's standard metrics, from Prometheus or the sidecars' own `/stats/prometheus`, plus Envoy's
 * per-cluster counters); the diagnosis is one plain sentence per rule that found its evidence in it.
 * Plain data only: the report re-renders both from an old journal.
 */
import type {PhaseName} from '../experiment/model.js'

/** The response flags the map counts (Envoy `%RESPONSE_FLAGS%`, test/reference/envoy-stats/envoy-response-flags.csv). */
export const WATCHED_FLAGS = ['DI', 'FI', 'UT', 'URX', 'UO', 'UH', 'DC', 'UF'] as const
export type WatchedFlag = (typeof WATCHED_FLAGS)[number]

/** What the flags mean, in the words the report uses. */
export const FLAG_MEANING: Record<WatchedFlag, string> = {
  DI: 'delay injected',
  FI: 'fault injected (abort)',
  UT: 'upstream request timeout',
  URX: 'retry limit exceeded',
  UO: 'upstream overflow (circuit breaker)',
  UH: 'no healthy upstream (ejected)',
  DC: 'downstream connection terminated (the caller hung up)',
  UF: 'upstream connection failure',
}

/** One response flag's requests on an edge in a phase. */
export interface FlagCount {
  count: number
  /** Mean duration of those requests, ms (from istio_request_duration_milliseconds' sum and count). */
  meanMs?: number
}

/** One edge in one phase. */
export interface EdgePhase {
  /** Requests counted (by the edge's reporter) between the phase's two reads. */
  requests: number
  /** Requests per second over the time between the reads. */
  rps: number
  /** response_code → requests (`0` when no response was received). */
  codes: Record<string, number>
  /** Requests answered outside 200–399 (or not at all), over requests; 0 without requests. */
  errorRatio: number
  /** Watched response flag → its requests (a request with several flags counts under each). */
  flags: Partial<Record<WatchedFlag, FlagCount>>
  /** Latency quantiles interpolated in istio_request_duration_milliseconds' buckets, ms. */
  p50?: number
  p99?: number
  /** Mean duration, ms. */
  meanMs?: number
  /** Mean response size, bytes (istio_response_bytes; absent when the mesh does not export it). */
  responseBytes?: number
  /** Envoy's cluster counters of the calling sidecars' outbound cluster to the service. */
  envoy?: {retries?: number; overflow?: number; ejectionsActive?: number}
}

/** An edge of the map: who called which service, as the reporter Istio labels them with saw it. */
export interface MapEdge {
  /** `source_workload→destination_service_name`. */
  id: string
  source: string
  /** The service's short name (`ratings`); the FQDN is in `destinationFqdn`. */
  destination: string
  destinationFqdn: string
  /** `source` (the caller's sidecar) when it reported, else `destination` (e.g. traffic from outside the mesh). */
  reporter: 'source' | 'destination'
  /** The workloads that served it (destination_workload), when known. */
  servedBy: string[]
  /** The load's own entry edge (the load's URL host, from the proxy's client or outside). */
  entry?: boolean
  /** A fault of the run targeted this service. */
  faulted?: boolean
  phases: Partial<Record<PhaseName, EdgePhase>>
}

/** One traffic class of the load at the entry edge in one phase (the load's own measurements). */
export interface ClassPhase {
  requests: number
  errorRatio: number
  p50: number
  p99: number
}

/** One read of every sidecar (or one Prometheus query) at a phase boundary. */
export interface MapRead {
  phase: PhaseName
  at: 'start' | 'end'
  /** Ms since the run started. */
  t: number
  /** Sidecars read (or Prometheus series' pods). */
  pods: number
  /** Sidecars that could not be read. */
  failed: string[]
}

/** The blast-radius map of one run. */
export interface BlastRadiusMap {
  /** Where the numbers come from. */
  source: 'prometheus' | 'sidecars' | 'none'
  /** The namespace read. */
  namespace: string
  /** The phases the map has both reads of. */
  phases: PhaseName[]
  /** Milliseconds between each phase's two reads. */
  phaseMs: Partial<Record<PhaseName, number>>
  edges: MapEdge[]
  /** Workload → its canonical service (source_canonical_service / destination_canonical_service). */
  workloads: Record<string, string>
  /** Targeted and control traffic at the entry edge (the load tells them apart; Istio's metrics do not). */
  classes: Record<string, {targeted: boolean; phases: Partial<Record<PhaseName, ClassPhase>>}>
  reads: MapRead[]
  /** What the map could not see: missing metrics, unreadable sidecars, counter resets, partial phases. */
  gaps: string[]
}

/** A piece of evidence behind a finding: a figure of one edge (or class) in one phase. */
export interface Evidence {
  /** The edge's id (`productpage-v1→reviews`), `class:<name>` for a traffic class, or `*` for the whole map. */
  edge: string
  phase: PhaseName
  /** What was measured, e.g. `DC 150 at 3002 ms` or `upstream_rq_pending_overflow +312`. */
  what: string
}

/** The rules, by name. */
export type RuleName =
  'deadline' | 'retries' | 'overflow' | 'ejection' | 'silent-degradation' | 'not-fired' | 'blast-radius' | 'control'

/** One rule's finding: one plain sentence with its numbers, and the evidence behind it. */
export interface Finding {
  rule: RuleName
  sentence: string
  evidence: Evidence[]
}

/** What the journal keeps: the map and the diagnosis drawn from it. */
export interface BlastRadius {
  map: BlastRadiusMap
  diagnosis: Finding[]
}
