/** Small blast-radius maps for the rule tests: edges built from a few figures per phase. */
import type {BlastRadiusMap, EdgePhase, MapEdge} from '../../src/diagnosis/model.js'

/** One phase of an edge: `n` requests over 10 s, codes, flags with their mean durations. */
export function phase(n: number, opts: Partial<EdgePhase> & {errors?: number} = {}): EdgePhase {
  const errors = opts.errors ?? 0
  return {
    requests: n,
    rps: n / 10,
    codes: opts.codes ?? {...(n - errors > 0 ? {200: n - errors} : {}), ...(errors > 0 ? {503: errors} : {})},
    errorRatio: n === 0 ? 0 : errors / n,
    flags: opts.flags ?? {},
    p50: opts.p50 ?? 5,
    p99: opts.p99 ?? 20,
    ...(opts.responseBytes === undefined ? {} : {responseBytes: opts.responseBytes}),
    ...(opts.envoy === undefined ? {} : {envoy: opts.envoy}),
  }
}

/** An edge `source→destination` with its phases. */
export function edge(
  source: string,
  destination: string,
  phases: MapEdge['phases'],
  extra: Partial<MapEdge> = {},
): MapEdge {
  return {
    id: `${source}→${destination}`,
    source,
    destination,
    destinationFqdn: `${destination}.default.svc.cluster.local`,
    reporter: 'source',
    servedBy: [`${destination}-v1`],
    phases,
    ...extra,
  }
}

/** A map of those edges, baseline and fault phases of 10 s each. */
export function mapOf(edges: MapEdge[], extra: Partial<BlastRadiusMap> = {}): BlastRadiusMap {
  const workloads: Record<string, string> = {}
  for (const e of edges) {
    for (const w of e.servedBy) workloads[w] = e.destination
  }
  return {
    source: 'sidecars',
    namespace: 'default',
    phases: ['baseline', 'fault'],
    phaseMs: {baseline: 10_000, fault: 10_000},
    edges,
    workloads,
    classes: {},
    reads: [],
    gaps: [],
    ...extra,
  }
}
