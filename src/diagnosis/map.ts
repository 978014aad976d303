/**
 * Builds the blast-radius map from the reads at the phase boundaries (pure): per pod and series,
 * the counter's growth between a phase's two reads, summed per edge `source_workload →
 * destination_service` under the reporter Istio labelled it with. A pod read at one boundary but not
 * the other adds nothing (never its whole counter), and a counter that went down (a restarted
 * proxy) counts from zero; both are said in the map's gaps.
 */
import type {PhaseName} from '../experiment/model.js'
import {PHASES} from '../experiment/model.js'
import {
  type BlastRadiusMap,
  type EdgePhase,
  type FlagCount,
  type MapEdge,
  type MapRead,
  WATCHED_FLAGS,
  type WatchedFlag,
} from './model.js'
import type {Sample} from './prom-text.js'
import type {PodSeries, Snapshot} from './snapshot.js'

/** One reporter's view of one edge in one phase, before it is reduced to figures. */
interface Tally {
  requests: number
  codes: Map<string, number>
  flags: Map<WatchedFlag, {count: number; sum: number; durations: number}>
  buckets: Map<number, number>
  durationSum: number
  durationCount: number
  bytesSum: number
  bytesCount: number
  retries: number
  overflow: number
  ejections: number
  envoySeen: Set<'retries' | 'overflow' | 'ejections'>
}

const newTally = (): Tally => ({
  requests: 0,
  codes: new Map(),
  flags: new Map(),
  buckets: new Map(),
  durationSum: 0,
  durationCount: 0,
  bytesSum: 0,
  bytesCount: 0,
  retries: 0,
  overflow: 0,
  ejections: 0,
  envoySeen: new Set(),
})

/** The short name of a service FQDN (`ratings.default.svc.cluster.local` → `ratings`). */
export const shortService = (fqdn: string) => fqdn.split('.')[0] ?? fqdn

/** A pod's workload from its name (`reviews-v2-7d9f8c6b5-x2k4p` → `reviews-v2`), when no series says it. */
export function workloadFromPod(pod: string): string {
  const m = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/.exec(pod)
  return m?.[1] ?? pod
}

/** Histogram quantile as PromQL's histogram_quantile computes it, from cumulative bucket counts by upper bound. */
export function bucketQuantile(q: number, buckets: ReadonlyMap<number, number>): number | undefined {
  const les = [...buckets.keys()].sort((a, b) => a - b)
  const total = buckets.get(Infinity) ?? (les.length > 0 ? buckets.get(les[les.length - 1] as number) : undefined)
  if (total === undefined || total <= 0) return undefined
  const rank = q * total
  let prevLe = 0
  let prevCum = 0
  for (const le of les) {
    const cum = buckets.get(le) ?? 0
    if (cum >= rank) {
      if (le === Infinity) return prevLe
      if (cum === prevCum) return le
      return prevLe + (le - prevLe) * ((rank - prevCum) / (cum - prevCum))
    }
    prevLe = le
    prevCum = cum
  }
  return prevLe
}

const isError = (code: string) => {
  const n = Number(code)
  return !(n >= 200 && n < 400)
}

/** What the map builder needs beside the reads. */
export interface MapContext {
  namespace: string
  source: 'prometheus' | 'sidecars'
  /** The faulted services' short names. */
  faulted: ReadonlySet<string>
  /** The short name of the service the load's URL calls. */
  entryService?: string
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits

/** Builds the map from reads taken at each phase's start and end. */
export function buildMap(reads: readonly Snapshot[], ctx: MapContext): BlastRadiusMap {
  const b = new MapBuilder()
  b.readGaps(reads)
  for (const phase of PHASES) b.countPhase(phase, reads)
  const edges = b.edges(ctx)
  b.closingGaps(edges, ctx)
  const mapReads: MapRead[] = reads.map(r => ({
    phase: r.phase,
    at: r.at,
    t: r.t,
    pods: r.pods.size,
    failed: [...r.failed.keys()].sort(),
  }))
  const {phases, phaseMs, workloads, gaps} = b
  return {
    source: phases.length === 0 ? 'none' : ctx.source,
    namespace: ctx.namespace,
    phases,
    phaseMs,
    edges,
    workloads,
    classes: {},
    reads: mapReads,
    gaps,
  }
}

type EnvoyFamily = 'retries' | 'overflow' | 'ejections'

/** Whether any series of a kind was seen, for the closing gaps. */
interface Seen {
  bytes: boolean
  duration: boolean
}

/** One Istio sample's growth, with what its tally needs from its labels. */
interface IstioDelta {
  t: Tally
  delta: number
  labels: Record<string, string>
  code: string
  flags: WatchedFlag[]
  seen: Seen
}

/** What each Istio metric adds to its tally; a metric not named here adds nothing. */
const ISTIO_METRICS = new Map<string, (d: IstioDelta) => void>(
  Object.entries({
    istio_requests_total: ({t, delta, code, flags}) => {
      t.requests += delta
      t.codes.set(code, (t.codes.get(code) ?? 0) + delta)
      for (const f of flags) flagTally(t, f).count += delta
    },
    istio_request_duration_milliseconds_bucket: ({t, delta, labels, seen}) => {
      const le = labels['le'] === '+Inf' ? Infinity : Number(labels['le'])
      if (!Number.isNaN(le)) t.buckets.set(le, (t.buckets.get(le) ?? 0) + delta)
      seen.duration = true
    },
    istio_request_duration_milliseconds_sum: ({t, delta, flags}) => {
      t.durationSum += delta
      for (const f of flags) flagTally(t, f).sum += delta
    },
    istio_request_duration_milliseconds_count: ({t, delta, flags}) => {
      t.durationCount += delta
      for (const f of flags) flagTally(t, f).durations += delta
    },
    istio_response_bytes_sum: ({t, delta, seen}) => {
      t.bytesSum += delta
      seen.bytes = true
    },
    istio_response_bytes_count: ({t, delta, seen}) => {
      t.bytesCount += delta
      seen.bytes = true
    },
  }),
)

/** The Envoy cluster counters summed over a phase; any other `envoy_cluster_` series is the ejections gauge. */
const ENVOY_COUNTERS = new Map<string, 'retries' | 'overflow'>([
  ['envoy_cluster_upstream_rq_retry', 'retries'],
  ['envoy_cluster_upstream_rq_pending_overflow', 'overflow'],
])

/** The Envoy families and the stat each is named by in the gaps, in the order the gaps say them. */
const ENVOY_STATS: [EnvoyFamily, string][] = [
  ['retries', 'upstream_rq_retry'],
  ['overflow', 'upstream_rq_pending_overflow'],
  ['ejections', 'outlier_detection.ejections_active'],
]

/** The state of one map being built: the tallies, what was seen, and the gaps so far. */
class MapBuilder {
  readonly gaps: string[] = []
  readonly workloads: Record<string, string> = {}
  readonly phases: PhaseName[] = []
  readonly phaseMs: Partial<Record<PhaseName, number>> = {}
  private readonly servedBy = new Map<string, Set<string>>()
  private readonly fqdns = new Map<string, string>()
  /** `reporter|source|destination` → phase → tally. */
  private readonly tallies = new Map<string, Map<PhaseName, Tally>>()
  private readonly envoyFamilies: Record<EnvoyFamily, Set<string>> = {
    retries: new Set(),
    overflow: new Set(),
    ejections: new Set(),
  }
  private readonly seen: Seen = {bytes: false, duration: false}

  /** The reads that failed, whole or for some pods. */
  readGaps(reads: readonly Snapshot[]): void {
    for (const r of reads) {
      if (r.error !== undefined) this.gaps.push(`could not see the mesh at the ${r.phase}'s ${r.at}: ${r.error}`)
      if (r.failed.size > 0)
        this.gaps.push(
          `could not read ${r.failed.size} sidecar(s) at the ${r.phase}'s ${r.at}: ${[...r.failed]
            .slice(0, 5)
            .map(([p, why]) => `${p} (${why})`)
            .join(', ')}${r.failed.size > 5 ? ', …' : ''}`,
        )
    }
  }

  /** Counts one phase from its start and end reads, or says why it cannot. */
  countPhase(phase: PhaseName, reads: readonly Snapshot[]): void {
    const start = reads.find(r => r.phase === phase && r.at === 'start')
    const end = reads.find(r => r.phase === phase && r.at === 'end')
    if (start === undefined && end === undefined) return
    if (start === undefined || end === undefined || start.error !== undefined || end.error !== undefined) {
      this.gaps.push(
        `could not see the ${phase} phase: it has no read at its ${start === undefined || start.error !== undefined ? 'start' : 'end'}`,
      )
      return
    }
    this.phases.push(phase)
    this.phaseMs[phase] = Math.max(1, end.t - start.t)
    const resets: string[] = []
    const missing: string[] = []
    for (const [pod, after] of end.pods) {
      const before = start.pods.get(pod)
      if (before === undefined) missing.push(pod)
      else if (this.countPod(phase, pod, before, after)) resets.push(pod)
    }
    if (missing.length > 0)
      this.gaps.push(
        `could not count the ${phase} phase on ${missing.join(', ')}: not read at its start (partial data: their requests are left out)`,
      )
    if (resets.length > 0)
      this.gaps.push(
        `counter reset during the ${phase} phase on ${resets.join(', ')} (a restarted proxy?): counted from zero, so the phase's figures there are a lower bound`,
      )
  }

  /** Counts one pod's growth over a phase; true when one of its counters went down. */
  private countPod(phase: PhaseName, pod: string, before: PodSeries, after: PodSeries): boolean {
    let reset = false
    const podWorkload = workloadOfPod(pod, after)
    for (const [key, sample] of after) {
      const prev = before.get(key)?.value ?? 0
      let delta = sample.value - prev
      if (delta < 0 && sample.metric !== 'envoy_cluster_outlier_detection_ejections_active') {
        reset = true
        delta = sample.value
      }
      if (sample.metric.startsWith('envoy_cluster_'))
        this.countEnvoy(phase, podWorkload, sample, delta, before.get(key)?.value ?? 0)
      else this.countIstio(phase, sample, delta)
    }
    return reset
  }

  /** One Envoy cluster series into the calling workload's tally for the cluster's service. */
  private countEnvoy(phase: PhaseName, podWorkload: string, sample: Sample, delta: number, prev: number): void {
    const cluster = sample.labels['cluster_name'] ?? ''
    if (!cluster.startsWith('outbound|')) return
    const fqdn = cluster.slice(cluster.lastIndexOf('|') + 1)
    const dest = shortService(fqdn)
    this.fqdns.set(dest, fqdn)
    const t = tally(this.tallies, `source|${podWorkload}|${dest}`, phase, false)
    const counter = ENVOY_COUNTERS.get(sample.metric)
    if (counter === undefined) {
      t.ejections = Math.max(t.ejections, sample.value, prev)
      t.envoySeen.add('ejections')
      this.envoyFamilies.ejections.add(podWorkload)
      return
    }
    t[counter] += delta
    t.envoySeen.add(counter)
    this.envoyFamilies[counter].add(podWorkload)
  }

  /** One Istio series: the names it teaches (workloads, FQDNs, who serves a service), then its growth into its reporter's tally. */
  private countIstio(phase: PhaseName, sample: Sample, delta: number): void {
    const l = sample.labels
    const reporter = l['reporter'] === 'destination' ? 'destination' : 'source'
    const source = l['source_workload'] ?? 'unknown'
    const fqdn = l['destination_service'] ?? l['destination_service_name'] ?? 'unknown'
    const dest =
      l['destination_service_name'] !== undefined && l['destination_service_name'] !== fqdn
        ? l['destination_service_name']
        : shortService(fqdn)
    this.fqdns.set(dest, fqdn)
    if (l['source_canonical_service'] !== undefined && source !== 'unknown')
      this.workloads[source] = l['source_canonical_service']
    const dw = l['destination_workload']
    if (dw !== undefined && dw !== 'unknown' && dw !== '') {
      if (l['destination_canonical_service'] !== undefined) this.workloads[dw] = l['destination_canonical_service']
      let set = this.servedBy.get(dest)
      if (set === undefined) this.servedBy.set(dest, (set = new Set()))
      set.add(dw)
    }
    if (delta === 0 && sample.metric !== 'istio_requests_total') return
    const t = tally(this.tallies, `${reporter}|${source}|${dest}`, phase, true)
    const code = l['response_code'] ?? '0'
    const flags = (l['response_flags'] ?? '-')
      .split(',')
      .filter((f): f is WatchedFlag => (WATCHED_FLAGS as readonly string[]).includes(f))
    ISTIO_METRICS.get(sample.metric)?.({t, delta, labels: l, code, flags, seen: this.seen})
  }

  /** The edges, each under one reporter, with the load's entry first. */
  edges(ctx: MapContext): MapEdge[] {
    const edges = [...this.reportersByPair()].map(([pair, reporters]) => this.edge(pair, reporters, ctx))
    // The load's entry: edges into the load's service from a caller nothing else calls (the load's client, a gateway, outside).
    const called = new Set(edges.flatMap(e => e.servedBy))
    for (const e of edges)
      if (ctx.entryService !== undefined && e.destination === ctx.entryService && !called.has(e.source)) e.entry = true
    edges.sort((a, b) => (a.entry === b.entry ? 0 : a.entry === true ? -1 : 1) || a.id.localeCompare(b.id))
    return edges
  }

  /** `source|destination` → the reporters that counted something on it. */
  private reportersByPair(): Map<string, Set<'source' | 'destination'>> {
    const pairs = new Map<string, Set<'source' | 'destination'>>()
    for (const [key, byPhase] of this.tallies) {
      const [reporter, source, dest] = key.split('|') as ['source' | 'destination', string, string]
      if (![...byPhase.values()].some(t => t.requests > 0 || t.retries > 0 || t.overflow > 0 || t.ejections > 0))
        continue
      const pair = `${source}|${dest}`
      let set = pairs.get(pair)
      if (set === undefined) pairs.set(pair, (set = new Set()))
      set.add(reporter)
    }
    return pairs
  }

  private edge(pair: string, reporters: ReadonlySet<'source' | 'destination'>, ctx: MapContext): MapEdge {
    const [source, dest] = pair.split('|') as [string, string]
    // One reporter per edge: the caller's sidecar when it reported, else the destination's.
    const hasSourceRequests = [...(this.tallies.get(`source|${pair}`)?.values() ?? [])].some(t => t.requests > 0)
    const reporter = hasSourceRequests || !reporters.has('destination') ? 'source' : 'destination'
    const main = this.tallies.get(`${reporter}|${pair}`)
    const envoy = this.tallies.get(`source|${pair}`)
    const edge: MapEdge = {
      id: `${source}→${dest}`,
      source,
      destination: dest,
      destinationFqdn: this.fqdns.get(dest) ?? dest,
      reporter,
      servedBy: [...(this.servedBy.get(dest) ?? [])].sort(),
      phases: {},
      ...(ctx.faulted.has(dest) ? {faulted: true} : {}),
    }
    for (const phase of this.phases) {
      const t = main?.get(phase) ?? newTally()
      const e = envoy?.get(phase)
      edge.phases[phase] = edgePhase(t, e, (this.phaseMs[phase] ?? 1) / 1000)
    }
    return edge
  }

  /** What the counted phases could not see: latencies, sizes, Envoy's stats on callers, any request at all. */
  closingGaps(edges: readonly MapEdge[], ctx: MapContext): void {
    if (this.phases.length === 0) return
    if (!this.seen.duration && edges.length > 0)
      this.gaps.push('could not see latencies: no istio_request_duration_milliseconds buckets')
    if (!this.seen.bytes && edges.length > 0)
      this.gaps.push(
        'could not see response sizes: the mesh exports no istio_response_bytes, so a shrinking answer cannot be told',
      )
    const callers = new Set(edges.filter(e => e.reporter === 'source').map(e => e.source))
    for (const [family, stat] of ENVOY_STATS) {
      const blind = [...callers].filter(w => !this.envoyFamilies[family].has(w)).sort()
      if (blind.length > 0)
        this.gaps.push(
          `could not see Envoy's ${stat} on ${blind.join(', ')} (not in their proxies' stats inclusion list: proxy.istio.io/config proxyStatsMatcher)`,
        )
    }
    if (edges.length === 0)
      this.gaps.push(
        `could not see any request between workloads in ${ctx.namespace}: no istio_requests_total series moved`,
      )
  }
}

function tally(tallies: Map<string, Map<PhaseName, Tally>>, key: string, phase: PhaseName, _istio: boolean): Tally {
  let byPhase = tallies.get(key)
  if (byPhase === undefined) tallies.set(key, (byPhase = new Map()))
  let t = byPhase.get(phase)
  if (t === undefined) byPhase.set(phase, (t = newTally()))
  return t
}

function flagTally(t: Tally, f: WatchedFlag): {count: number; sum: number; durations: number} {
  let x = t.flags.get(f)
  if (x === undefined) t.flags.set(f, (x = {count: 0, sum: 0, durations: 0}))
  return x
}

/** The pod's workload as its own series name it, else from its name. */
function workloadOfPod(pod: string, series: ReadonlyMap<string, {labels: Record<string, string>}>): string {
  for (const s of series.values()) {
    if (s.labels['reporter'] === 'source' && s.labels['source_workload'] !== undefined)
      return s.labels['source_workload']
  }
  return workloadFromPod(pod)
}

function edgePhase(t: Tally, envoy: Tally | undefined, seconds: number): EdgePhase {
  const errors = [...t.codes].filter(([c]) => isError(c)).reduce((n, [, v]) => n + v, 0)
  const flags: Partial<Record<WatchedFlag, FlagCount>> = {}
  for (const [f, x] of t.flags)
    if (x.count > 0) flags[f] = {count: x.count, ...(x.durations > 0 ? {meanMs: round(x.sum / x.durations)} : {})}
  const p50 = bucketQuantile(0.5, t.buckets)
  const p99 = bucketQuantile(0.99, t.buckets)
  const e: EdgePhase['envoy'] = {}
  if (envoy?.envoySeen.has('retries') === true) e.retries = envoy.retries
  if (envoy?.envoySeen.has('overflow') === true) e.overflow = envoy.overflow
  if (envoy?.envoySeen.has('ejections') === true) e.ejectionsActive = envoy.ejections
  return {
    requests: t.requests,
    rps: round(t.requests / Math.max(0.001, seconds), 2),
    codes: Object.fromEntries([...t.codes].filter(([, v]) => v > 0).sort(([a], [b]) => a.localeCompare(b))),
    errorRatio: t.requests === 0 ? 0 : round(errors / t.requests, 4),
    flags,
    ...(p50 === undefined ? {} : {p50: round(p50)}),
    ...(p99 === undefined ? {} : {p99: round(p99)}),
    ...(t.durationCount > 0 ? {meanMs: round(t.durationSum / t.durationCount)} : {}),
    ...(t.bytesCount > 0 ? {responseBytes: Math.round(t.bytesSum / t.bytesCount)} : {}),
    ...(Object.keys(e).length > 0 ? {envoy: e} : {}),
  }
}
