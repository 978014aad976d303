/**
 * Builds the blast-radius map from the reads at the phase boundaries (pure): per pod and series,
 * the counter's growth between a phase's two reads, summed per edge `source_workload →
 * destination_service` under the reporter Istio labelled it with. A pod read at one boundary but not
 * the other adds nothing (never its whole counter), and a counter that went down (a restarted
 * proxy) counts from zero; both are said in the map's gaps.
 */
import type {PhaseName} from '../experiment/model.js'
import {PHASES} from '../experiment/model.js'
import {type BlastRadiusMap, type EdgePhase, type FlagCount, type MapEdge, type MapRead, WATCHED_FLAGS, type WatchedFlag} from './model.js'
import type {Snapshot} from './snapshot.js'

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
  requests: 0, codes: new Map(), flags: new Map(), buckets: new Map(), durationSum: 0, durationCount: 0,
  bytesSum: 0, bytesCount: 0, retries: 0, overflow: 0, ejections: 0, envoySeen: new Set(),
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
  const gaps: string[] = []
  const workloads: Record<string, string> = {}
  const servedBy = new Map<string, Set<string>>()
  const fqdns = new Map<string, string>()
  /** `reporter|source|destination` → phase → tally. */
  const tallies = new Map<string, Map<PhaseName, Tally>>()
  const envoyFamilies = {retries: new Set<string>(), overflow: new Set<string>(), ejections: new Set<string>()}
  let bytesSeen = false
  let durationSeen = false
  const phases: PhaseName[] = []
  const phaseMs: Partial<Record<PhaseName, number>> = {}
  const mapReads: MapRead[] = reads.map(r => ({phase: r.phase, at: r.at, t: r.t, pods: r.pods.size, failed: [...r.failed.keys()].sort()}))
  for (const r of reads) {
    if (r.error !== undefined) gaps.push(`could not see the mesh at the ${r.phase}'s ${r.at}: ${r.error}`)
    if (r.failed.size > 0) gaps.push(`could not read ${r.failed.size} sidecar(s) at the ${r.phase}'s ${r.at}: ${[...r.failed].slice(0, 5).map(([p, why]) => `${p} (${why})`).join(', ')}${r.failed.size > 5 ? ', …' : ''}`)
  }

  for (const phase of PHASES) {
    const start = reads.find(r => r.phase === phase && r.at === 'start')
    const end = reads.find(r => r.phase === phase && r.at === 'end')
    if (start === undefined && end === undefined) continue
    if (start === undefined || end === undefined || start.error !== undefined || end.error !== undefined) {
      gaps.push(`could not see the ${phase} phase: it has no read at its ${start === undefined || start.error !== undefined ? 'start' : 'end'}`)
      continue
    }
    phases.push(phase)
    phaseMs[phase] = Math.max(1, end.t - start.t)
    const resets: string[] = []
    const missing: string[] = []
    for (const [pod, after] of end.pods) {
      const before = start.pods.get(pod)
      if (before === undefined) {
        missing.push(pod)
        continue
      }
      let reset = false
      const podWorkload = workloadOfPod(pod, after)
      for (const [key, sample] of after) {
        const prev = before.get(key)?.value ?? 0
        let delta = sample.value - prev
        if (delta < 0 && sample.metric !== 'envoy_cluster_outlier_detection_ejections_active') {
          reset = true
          delta = sample.value
        }
        const l = sample.labels
        if (sample.metric.startsWith('envoy_cluster_')) {
          const cluster = l['cluster_name'] ?? ''
          if (!cluster.startsWith('outbound|')) continue
          const fqdn = cluster.slice(cluster.lastIndexOf('|') + 1)
          const dest = shortService(fqdn)
          fqdns.set(dest, fqdn)
          const t = tally(tallies, `source|${podWorkload}|${dest}`, phase, false)
          if (sample.metric === 'envoy_cluster_upstream_rq_retry') {
            t.retries += delta
            t.envoySeen.add('retries')
            envoyFamilies.retries.add(podWorkload)
          } else if (sample.metric === 'envoy_cluster_upstream_rq_pending_overflow') {
            t.overflow += delta
            t.envoySeen.add('overflow')
            envoyFamilies.overflow.add(podWorkload)
          } else {
            t.ejections = Math.max(t.ejections, sample.value, before.get(key)?.value ?? 0)
            t.envoySeen.add('ejections')
            envoyFamilies.ejections.add(podWorkload)
          }
          continue
        }
        const reporter = l['reporter'] === 'destination' ? 'destination' : 'source'
        const source = l['source_workload'] ?? 'unknown'
        const fqdn = l['destination_service'] ?? l['destination_service_name'] ?? 'unknown'
        const dest = l['destination_service_name'] !== undefined && l['destination_service_name'] !== fqdn ? l['destination_service_name'] : shortService(fqdn)
        fqdns.set(dest, fqdn)
        if (l['source_canonical_service'] !== undefined && source !== 'unknown') workloads[source] = l['source_canonical_service']
        const dw = l['destination_workload']
        if (dw !== undefined && dw !== 'unknown' && dw !== '') {
          if (l['destination_canonical_service'] !== undefined) workloads[dw] = l['destination_canonical_service']
          let set = servedBy.get(dest)
          if (set === undefined) servedBy.set(dest, set = new Set())
          set.add(dw)
        }
        if (delta === 0 && sample.metric !== 'istio_requests_total') continue
        const t = tally(tallies, `${reporter}|${source}|${dest}`, phase, true)
        const code = l['response_code'] ?? '0'
        const flags = (l['response_flags'] ?? '-').split(',').filter((f): f is WatchedFlag => (WATCHED_FLAGS as readonly string[]).includes(f))
        switch (sample.metric) {
          case 'istio_requests_total':
            t.requests += delta
            t.codes.set(code, (t.codes.get(code) ?? 0) + delta)
            for (const f of flags) flagTally(t, f).count += delta
            break
          case 'istio_request_duration_milliseconds_bucket': {
            const le = l['le'] === '+Inf' ? Infinity : Number(l['le'])
            if (!Number.isNaN(le)) t.buckets.set(le, (t.buckets.get(le) ?? 0) + delta)
            durationSeen = true
            break
          }
          case 'istio_request_duration_milliseconds_sum':
            t.durationSum += delta
            for (const f of flags) flagTally(t, f).sum += delta
            break
          case 'istio_request_duration_milliseconds_count':
            t.durationCount += delta
            for (const f of flags) flagTally(t, f).durations += delta
            break
          case 'istio_response_bytes_sum':
            t.bytesSum += delta
            bytesSeen = true
            break
          case 'istio_response_bytes_count':
            t.bytesCount += delta
            bytesSeen = true
            break
          default: break
        }
      }
      if (reset) resets.push(pod)
    }
    if (missing.length > 0) gaps.push(`could not count the ${phase} phase on ${missing.join(', ')}: not read at its start (partial data: their requests are left out)`)
    if (resets.length > 0) gaps.push(`counter reset during the ${phase} phase on ${resets.join(', ')} (a restarted proxy?): counted from zero, so the phase's figures there are a lower bound`)
  }

  // One reporter per edge: the caller's sidecar when it reported, else the destination's.
  const edges: MapEdge[] = []
  const pairs = new Map<string, Set<'source' | 'destination'>>()
  for (const [key, byPhase] of tallies) {
    const [reporter, source, dest] = key.split('|') as ['source' | 'destination', string, string]
    if (![...byPhase.values()].some(t => t.requests > 0 || t.retries > 0 || t.overflow > 0 || t.ejections > 0)) continue
    const pair = `${source}|${dest}`
    let set = pairs.get(pair)
    if (set === undefined) pairs.set(pair, set = new Set())
    set.add(reporter)
  }
  for (const [pair, reporters] of pairs) {
    const [source, dest] = pair.split('|') as [string, string]
    const hasSourceRequests = [...(tallies.get(`source|${pair}`)?.values() ?? [])].some(t => t.requests > 0)
    const reporter = hasSourceRequests || !reporters.has('destination') ? 'source' : 'destination'
    const main = tallies.get(`${reporter}|${pair}`)
    const envoy = tallies.get(`source|${pair}`)
    const edge: MapEdge = {
      id: `${source}→${dest}`, source, destination: dest, destinationFqdn: fqdns.get(dest) ?? dest, reporter,
      servedBy: [...(servedBy.get(dest) ?? [])].sort(), phases: {},
      ...(ctx.faulted.has(dest) ? {faulted: true} : {}),
    }
    for (const phase of phases) {
      const t = main?.get(phase) ?? newTally()
      const e = envoy?.get(phase)
      edge.phases[phase] = edgePhase(t, e, (phaseMs[phase] ?? 1) / 1000)
    }
    edges.push(edge)
  }
  // The load's entry: edges into the load's service from a caller nothing else calls (the load's client, a gateway, outside).
  const called = new Set(edges.flatMap(e => e.servedBy))
  for (const e of edges) if (ctx.entryService !== undefined && e.destination === ctx.entryService && !called.has(e.source)) e.entry = true
  edges.sort((a, b) => (a.entry === b.entry ? 0 : a.entry === true ? -1 : 1) || a.id.localeCompare(b.id))

  if (phases.length > 0 && !durationSeen && edges.length > 0) gaps.push('could not see latencies: no istio_request_duration_milliseconds buckets')
  if (phases.length > 0 && !bytesSeen && edges.length > 0) gaps.push('could not see response sizes: the mesh exports no istio_response_bytes, so a shrinking answer cannot be told')
  const callers = new Set(edges.filter(e => e.reporter === 'source').map(e => e.source))
  const families: [keyof typeof envoyFamilies, string][] = [['retries', 'upstream_rq_retry'], ['overflow', 'upstream_rq_pending_overflow'], ['ejections', 'outlier_detection.ejections_active']]
  for (const [family, stat] of families) {
    const blind = [...callers].filter(w => !envoyFamilies[family].has(w)).sort()
    if (blind.length > 0 && phases.length > 0) gaps.push(`could not see Envoy's ${stat} on ${blind.join(', ')} (not in their proxies' stats inclusion list: proxy.istio.io/config proxyStatsMatcher)`)
  }
  if (edges.length === 0 && phases.length > 0) gaps.push(`could not see any request between workloads in ${ctx.namespace}: no istio_requests_total series moved`)
  return {source: phases.length === 0 ? 'none' : ctx.source, namespace: ctx.namespace, phases, phaseMs, edges, workloads, classes: {}, reads: mapReads, gaps}
}

function tally(tallies: Map<string, Map<PhaseName, Tally>>, key: string, phase: PhaseName, _istio: boolean): Tally {
  let byPhase = tallies.get(key)
  if (byPhase === undefined) tallies.set(key, byPhase = new Map())
  let t = byPhase.get(phase)
  if (t === undefined) byPhase.set(phase, t = newTally())
  return t
}

function flagTally(t: Tally, f: WatchedFlag): {count: number; sum: number; durations: number} {
  let x = t.flags.get(f)
  if (x === undefined) t.flags.set(f, x = {count: 0, sum: 0, durations: 0})
  return x
}

/** The pod's workload as its own series name it, else from its name. */
function workloadOfPod(pod: string, series: ReadonlyMap<string, {labels: Record<string, string>}>): string {
  for (const s of series.values()) {
    if (s.labels['reporter'] === 'source' && s.labels['source_workload'] !== undefined) return s.labels['source_workload']
  }
  return workloadFromPod(pod)
}

function edgePhase(t: Tally, envoy: Tally | undefined, seconds: number): EdgePhase {
  const errors = [...t.codes].filter(([c]) => isError(c)).reduce((n, [, v]) => n + v, 0)
  const flags: Partial<Record<WatchedFlag, FlagCount>> = {}
  for (const [f, x] of t.flags) if (x.count > 0) flags[f] = {count: x.count, ...(x.durations > 0 ? {meanMs: round(x.sum / x.durations)} : {})}
  const p50 = bucketQuantile(0.5, t.buckets)
  const p99 = bucketQuantile(0.99, t.buckets)
  const e: EdgePhase['envoy'] = {}
  if (envoy?.envoySeen.has('retries') === true) e.retries = envoy.retries
  if (envoy?.envoySeen.has('overflow') === true) e.overflow = envoy.overflow
  if (envoy?.envoySeen.has('ejections') === true) e.ejectionsActive = envoy.ejections
  return {
    requests: t.requests, rps: round(t.requests / Math.max(0.001, seconds), 2),
    codes: Object.fromEntries([...t.codes].filter(([, v]) => v > 0).sort(([a], [b]) => a.localeCompare(b))),
    errorRatio: t.requests === 0 ? 0 : round(errors / t.requests, 4), flags,
    ...(p50 === undefined ? {} : {p50: round(p50)}), ...(p99 === undefined ? {} : {p99: round(p99)}),
    ...(t.durationCount > 0 ? {meanMs: round(t.durationSum / t.durationCount)} : {}),
    ...(t.bytesCount > 0 ? {responseBytes: Math.round(t.bytesSum / t.bytesCount)} : {}),
    ...(Object.keys(e).length > 0 ? {envoy: e} : {}),
  }
}
