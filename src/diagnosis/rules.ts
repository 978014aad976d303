/**
 * The diagnosis: why the run deviated (or held), as rules over the blast-radius map and the
 * VirtualServices and DestinationRules in force when the run started. Each rule is a pure
 * function that returns plain sentences with their numbers and the evidence behind them, or
 * nothing: a rule that lacks its evidence stays silent, and never guesses (what the map could
 * not see is in the map's gaps).
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import type {Fault, PhaseName} from '../experiment/model.js'
import {fqdn, virtualServiceFor} from '@faultline/core/istio/routing.js'
import type {DestinationRule, HTTPRoute, VirtualService} from '@faultline/core/istio/types.js'
import {bytes, edgeName, list, ms, pct} from './format.js'
import type {BlastRadiusMap, EdgePhase, Evidence, Finding, MapEdge, WatchedFlag} from './model.js'

/** What the rules read. */
export interface DiagnosisInput {
  map: BlastRadiusMap
  faults: readonly Fault[]
  /** The VirtualServices and DestinationRules in force when the run started (before its faults). */
  virtualServices: readonly VirtualService[]
  destinationRules: readonly DestinationRule[]
}

/** A rule: the map in, its findings out. */
export type Rule = (input: DiagnosisInput) => Finding[]

/** Fewer requests than this are noise to every rule. */
export const MIN_COUNT = 3

const fault = (e: MapEdge) => e.phases.fault
const base = (e: MapEdge) => e.phases.baseline
const flag = (p: EdgePhase | undefined, f: WatchedFlag) => p?.flags[f]?.count ?? 0
const errors = (p: EdgePhase | undefined) => (p === undefined ? 0 : Math.round(p.errorRatio * p.requests))
const shortHost = (host: string) => host.split('.')[0] ?? host
const ev = (edge: string, phase: PhaseName, what: string): Evidence => ({edge, phase, what})

/** How a count of the baseline compares with the fault phase's, per second. */
function perSecondInBaseline(map: BlastRadiusMap, count: number): number {
  const b = map.phaseMs.baseline
  const f = map.phaseMs.fault
  return b === undefined || f === undefined ? count : count * (f / b)
}

/** The delays injected, by faulted service. */
function delays(faults: readonly Fault[]): {service: string; delayMs: number; percentage: number}[] {
  return faults.flatMap(f => {
    const delayMs = f.delay === undefined ? undefined : parseDurationMs(f.delay.fixedDelay)
    return f.delay === undefined || delayMs === undefined
      ? []
      : [{service: shortHost(f.service), delayMs, percentage: f.delay.percentage}]
  })
}

/** Services reachable from `service` along the map's edges (through the workloads that serve it). */
function downstreamOf(map: BlastRadiusMap, service: string): Set<string> {
  const seen = new Set<string>()
  const queue = [service]
  while (queue.length > 0) {
    const s = queue.shift() as string
    for (const e of map.edges) {
      const fromS = map.workloads[e.source] === s || e.source === s
      if (fromS && !seen.has(e.destination)) {
        seen.add(e.destination)
        queue.push(e.destination)
      }
    }
  }
  return seen
}

/** The edges a workload answers on: those its pods served, else those to its canonical service. */
function inboundOf(map: BlastRadiusMap, workload: string): MapEdge[] {
  return map.edges.filter(
    e => e.servedBy.includes(workload) || (e.servedBy.length === 0 && map.workloads[workload] === e.destination),
  )
}

/** The route a VirtualService gives requests to a host (the first without a fault of ours: the caller's own). */
function routeFor(
  vss: readonly VirtualService[],
  host: string,
  namespace: string,
): {vs: string; route: HTTPRoute} | undefined {
  const vs = virtualServiceFor(vss, fqdn(host, namespace), namespace)
  const route = vs?.spec.http?.find(r => r.fault === undefined)
  return vs === undefined || route === undefined ? undefined : {vs: vs.metadata.name, route}
}

/** The configured deadline of a route: its timeout, else per-try timeout × attempts. */
function configuredDeadline(route: HTTPRoute): {ms: number; text: string} | undefined {
  const attempts = (route.retries?.attempts ?? 0) + 1
  const perTry = route.retries?.perTryTimeout === undefined ? undefined : parseDurationMs(route.retries.perTryTimeout)
  if (route.timeout !== undefined) {
    const t = parseDurationMs(route.timeout)
    if (t !== undefined && t > 0)
      return {
        ms: t,
        text: `timeout ${route.timeout}${attempts > 1 ? ` for up to ${attempts} attempts${perTry === undefined ? '' : ` of ${route.retries?.perTryTimeout as string}`}` : ''}`,
      }
  }
  if (perTry !== undefined && perTry > 0)
    return {ms: perTry * attempts, text: `${route.retries?.perTryTimeout as string} per try × ${attempts} attempts`}
  return undefined
}

/**
 * A caller's deadline shorter than the injected delay: requests on an edge above (or into) the
 * delayed service that end at one fixed duration with DC (the caller hung up), UT (Envoy's route
 * timeout) or 504, absent from the baseline. Attempts per caller request come from the extra
 * calls the edge carried against its caller's own inbound requests (a retry is one more call).
 */
export const deadlineRule: Rule = ({map, faults, virtualServices}) => {
  const findings: Finding[] = []
  for (const d of delays(faults)) {
    for (const e of map.edges) {
      const f = fault(e)
      if (f === undefined || (e.destination !== d.service && !downstreamOf(map, e.destination).has(d.service))) continue
      const ended = (['DC', 'UT'] as const).map(x => ({flag: x as string, ...(f.flags[x] ?? {count: 0})}))
      const c504 = f.codes['504'] ?? 0
      const hit = [...ended].sort((a, b) => b.count - a.count)[0]
      if (hit === undefined || hit.count < MIN_COUNT || hit.meanMs === undefined) continue
      const before = flag(base(e), hit.flag as WatchedFlag)
      if (before > 0 && before >= perSecondInBaseline(map, hit.count) / 4) continue
      const deadline = hit.meanMs
      if (deadline >= d.delayMs) continue
      // Attempts: the edge carried extra calls per caller request (retries), and the caller's own
      // slowest answers sit at a whole number of deadlines (the load's targeted p99 at the entry).
      const inbound = inboundOf(map, e.source)
      const inB = inbound.reduce((n, x) => n + (base(x)?.requests ?? 0), 0)
      const inF = inbound.reduce((n, x) => n + (fault(x)?.requests ?? 0), 0)
      const b = base(e)
      const extra =
        inB > 0 && inF > 0 && b !== undefined && b.requests > 0 ? Math.round(f.requests - (b.requests / inB) * inF) : 0
      const configured = routeFor(virtualServices, e.destination, map.namespace)
      const cfg = configured === undefined ? undefined : configuredDeadline(configured.route)
      const slowest = inbound.some(x => x.entry === true)
        ? Object.entries(map.classes)
            .filter(([, c]) => c.targeted)
            .sort(([, x], [, y]) => (y.phases.fault?.p99 ?? 0) - (x.phases.fault?.p99 ?? 0))[0]
        : undefined
      const entryP99 = slowest?.[1].phases.fault?.p99 ?? 0
      const k = Math.round(entryP99 / deadline)
      let attempts = 1
      let attemptsWhy = ''
      if (extra >= MIN_COUNT && k >= 2 && Math.abs(entryP99 - k * deadline) <= 0.15 * deadline) {
        attempts = k
        attemptsWhy = `; ${extra} more calls than its own requests needed, and targeted requests took up to ${ms(entryP99)} at p99: ${k} × ${ms(deadline)}`
      } else if (configured?.route.retries?.attempts !== undefined && cfg !== undefined && cfg.ms >= deadline * 1.5) {
        attempts = Math.round(cfg.ms / deadline)
      }
      const total = deadline * attempts
      const how = hit.flag === 'DC' ? 'DC: the caller hung up' : "UT: Envoy's route timeout"
      const whose = hit.flag === 'DC' ? `${e.source}'s own client` : `the route`
      findings.push({
        rule: 'deadline',
        sentence: `${e.source} gives ${e.destination} ${ms(deadline)}${attempts > 1 ? ` per attempt and tries ${attempts} times (≈ ${ms(total)} in all${attemptsWhy})` : ''} — shorter than the ${ms(d.delayMs)} delay injected on ${d.service}: ${hit.count} of its calls to ${e.destination} in the fault phase ended at ${ms(deadline)} on average with ${how}${c504 > 0 ? ` (${c504} answered 504)` : ''}, ${before === 0 ? 'none' : before} in the baseline. The deadline is ${whose}'s${cfg === undefined ? '' : `, and the VirtualService ${configured?.vs as string} sets ${cfg.text}`}; requests that need ${d.service} fail at ${ms(total)} whatever ${d.service} does.`,
        evidence: [
          ev(e.id, 'fault', `${hit.flag} ${hit.count} at ${ms(deadline)}`),
          ev(e.id, 'baseline', `${hit.flag} ${before}`),
          ...(attempts > 1
            ? [
                ev(e.id, 'fault', `${f.requests} calls for ${inF} requests to ${e.source}`),
                ...(slowest === undefined ? [] : [ev(`class:${slowest[0]}`, 'fault', `p99 ${ms(entryP99)}`)]),
              ]
            : []),
        ],
      })
    }
  }
  return findings
}

/** Retries multiplying the load: URX and upstream_rq_retry on an edge, with the factor. */
export const retriesRule: Rule = ({map, faults}) => {
  const faulted = new Set(faults.map(f => shortHost(f.service)))
  const findings: Finding[] = []
  for (const e of map.edges) {
    const f = fault(e)
    if (f === undefined) continue
    const retries = f.envoy?.retries ?? 0
    const urx = flag(f, 'URX')
    const before = perSecondInBaseline(map, base(e)?.envoy?.retries ?? 0)
    if ((retries < MIN_COUNT || retries <= 2 * before) && urx < MIN_COUNT) continue
    const factor = f.requests > 0 ? (f.requests + retries) / f.requests : undefined
    const onFaulted = faulted.has(e.destination)
      ? ` — retries multiplying the load on the faulted service ${e.destination}`
      : ''
    const parts = [
      retries > 0
        ? `${e.source} retried its calls to ${e.destination} ${retries} times in the fault phase (upstream_rq_retry; ${base(e)?.envoy?.retries ?? 0} in the baseline)${factor === undefined ? '' : `, so ${e.destination} got ${factor.toFixed(1)}× the ${f.requests} requests ${e.source} sent`}`
        : `${e.source}'s calls to ${e.destination} ran out of retries`,
      urx > 0 ? `${urx} gave up at the retry limit (URX)` : '',
    ].filter(p => p !== '')
    findings.push({
      rule: 'retries',
      sentence: `${parts.join('; ')}${onFaulted}.`,
      evidence: [
        ...(retries > 0 ? [ev(e.id, 'fault', `upstream_rq_retry +${retries}`)] : []),
        ...(urx > 0 ? [ev(e.id, 'fault', `URX ${urx}`)] : []),
        ev(e.id, 'fault', `${f.requests} requests`),
      ],
    })
  }
  return findings
}

/** The DestinationRule for a service (by host), if any. */
function ruleFor(drs: readonly DestinationRule[], service: string, namespace: string): DestinationRule | undefined {
  const target = fqdn(service, namespace)
  return drs.find(dr => fqdn(dr.spec.host, dr.metadata.namespace ?? namespace) === target)
}

/** Connection-pool overflow (UO, upstream_rq_pending_overflow) and on which caller's pool. */
export const overflowRule: Rule = ({map, destinationRules}) => {
  const findings: Finding[] = []
  for (const e of map.edges) {
    const f = fault(e)
    if (f === undefined) continue
    const uo = flag(f, 'UO')
    const counter = f.envoy?.overflow ?? 0
    const n = Math.max(uo, counter)
    const before = Math.max(flag(base(e), 'UO'), base(e)?.envoy?.overflow ?? 0)
    if (n < MIN_COUNT || n <= 2 * perSecondInBaseline(map, before)) continue
    const dr = ruleFor(destinationRules, e.destination, map.namespace)
    const pool = dr?.spec.trafficPolicy?.connectionPool
    const limits = [
      pool?.tcp?.maxConnections === undefined ? '' : `${pool.tcp.maxConnections} connections`,
      pool?.http?.http1MaxPendingRequests === undefined ? '' : `${pool.http.http1MaxPendingRequests} pending requests`,
      pool?.http?.http2MaxRequests === undefined ? '' : `${pool.http.http2MaxRequests} requests`,
    ].filter(x => x !== '')
    const evidence = [
      `${uo} answered 503 UO at once`,
      f.envoy?.overflow === undefined ? '' : `upstream_rq_pending_overflow +${counter}`,
    ].filter(x => x !== '')
    findings.push({
      rule: 'overflow',
      sentence: `${e.source}'s connection pool to ${e.destination} overflowed (the circuit breaker tripped on the caller's side): ${list(evidence)} in the fault phase, ${before === 0 ? 'none' : before} in the baseline${dr === undefined ? '' : limits.length > 0 ? `; the DestinationRule ${dr.metadata.name} allows each caller ${list(limits)}` : `; the DestinationRule ${dr.metadata.name} sets no connection-pool limit, so these are Envoy's defaults`}.`,
      evidence: [
        ...(uo > 0 ? [ev(e.id, 'fault', `UO ${uo}`)] : []),
        ...(f.envoy?.overflow === undefined ? [] : [ev(e.id, 'fault', `upstream_rq_pending_overflow +${counter}`)]),
        ev(e.id, 'baseline', `overflow ${before}`),
      ],
    })
  }
  return findings
}

/** Outlier ejection: UH and outlier_detection.ejections_active. */
export const ejectionRule: Rule = ({map, destinationRules}) => {
  const findings: Finding[] = []
  for (const e of map.edges) {
    const f = fault(e)
    if (f === undefined) continue
    const uh = flag(f, 'UH')
    const active = f.envoy?.ejectionsActive ?? 0
    if (uh < MIN_COUNT && active === 0) continue
    if ((base(e)?.envoy?.ejectionsActive ?? 0) > 0 && uh < MIN_COUNT) continue
    const od = ruleFor(destinationRules, e.destination, map.namespace)?.spec.trafficPolicy?.outlierDetection
    const why =
      od === undefined
        ? ''
        : `; outlier detection ejects a host after ${od.consecutive5xxErrors ?? od.consecutiveGatewayErrors ?? 5} consecutive errors for ${od.baseEjectionTime ?? '30s'}${od.maxEjectionPercent === undefined ? '' : `, up to ${od.maxEjectionPercent} % of the hosts`}`
    findings.push({
      rule: 'ejection',
      sentence: `${e.source}'s outlier detection ejected ${e.destination}'s hosts: ${[active > 0 ? `ejections_active reached ${active}` : '', uh > 0 ? `${uh} requests found no healthy host (503 UH)` : ''].filter(x => x !== '').join(' and ')} in the fault phase${why}.`,
      evidence: [
        ...(active > 0 ? [ev(e.id, 'fault', `ejections_active ${active}`)] : []),
        ...(uh > 0 ? [ev(e.id, 'fault', `UH ${uh}`)] : []),
      ],
    })
  }
  return findings
}

/**
 * A silent degradation: a workload that kept answering 200 while its responses shrank, or while
 * its own calls failed (errors, or calls it gave up on) — the failure absorbed, not passed on.
 */
export const silentDegradationRule: Rule = ({map}) => {
  const findings: Finding[] = []
  const callers = [...new Set(map.edges.map(e => e.source))].sort()
  for (const w of callers) {
    const inbound = inboundOf(map, w).filter(e => (fault(e)?.requests ?? 0) > 0 && (base(e)?.requests ?? 0) > 0)
    if (inbound.length === 0) continue
    const inF = inbound.reduce((n, e) => n + (fault(e)?.requests ?? 0), 0)
    const inErrF = inbound.reduce((n, e) => n + errors(fault(e)), 0)
    const inB = inbound.reduce((n, e) => n + (base(e)?.requests ?? 0), 0)
    const inErrB = inbound.reduce((n, e) => n + errors(base(e)), 0)
    if (inErrF / inF > inErrB / inB + 0.01) continue // it passed the failure on: not silent
    const failedCalls = map.edges
      .filter(e => e.source === w)
      .map(e => {
        const f = fault(e)
        const failed = errors(f)
        const failedB = perSecondInBaseline(map, errors(base(e)))
        return {e, failed, failedB, f}
      })
      .filter(x => x.failed >= MIN_COUNT && x.failed > 2 * x.failedB + 1)
    const sizeB = weightedBytes(inbound, 'baseline')
    const sizeF = weightedBytes(inbound, 'fault')
    const shrank =
      sizeB !== undefined && sizeF !== undefined && sizeF < sizeB * 0.9 ? {from: sizeB, to: sizeF} : undefined
    if (failedCalls.length === 0 && shrank === undefined) continue
    const callersOfW = [...new Set(inbound.map(e => e.source))]
    const how = failedCalls.map(
      x => `${x.failed} of its ${x.f?.requests ?? 0} calls to ${x.e.destination} failed (${failureText(x.f)})`,
    )
    findings.push({
      rule: 'silent-degradation',
      sentence: `${w} kept answering ${list(callersOfW)} with success (errors ${pct(inErrB / inB)} in the baseline, ${pct(inErrF / inF)} in the fault phase) while ${[...how, ...(shrank === undefined ? [] : [`its responses shrank from ${bytes(shrank.from)} to ${bytes(shrank.to)}`])].join(', and ')}: a silent, graceful degradation — the failure is absorbed and hidden in a 200, so status codes alone will not show it.`,
      evidence: [
        ...inbound.map(e =>
          ev(
            e.id,
            'fault',
            `errors ${pct(fault(e)?.errorRatio ?? 0)}${fault(e)?.responseBytes === undefined ? '' : `, ${bytes(fault(e)?.responseBytes)}`}`,
          ),
        ),
        ...failedCalls.map(x => ev(x.e.id, 'fault', `${x.failed} failed: ${failureText(x.f)}`)),
      ],
    })
  }
  return findings
}

function weightedBytes(edges: readonly MapEdge[], phase: PhaseName): number | undefined {
  let n = 0
  let sum = 0
  for (const e of edges) {
    const p = e.phases[phase]
    if (p?.responseBytes === undefined) continue
    n += p.requests
    sum += p.responseBytes * p.requests
  }
  return n === 0 ? undefined : sum / n
}

/** `503 FI × 40, DC × 12`: the failed requests' codes and flags. */
function failureText(p: EdgePhase | undefined): string {
  if (p === undefined) return ''
  const codes = Object.entries(p.codes)
    .filter(
      ([c]) =>
        !(Number(c) >= 200 && Number(c) < 400) &&
        !(c === '0' && (p.flags.DC !== undefined || p.flags.UT !== undefined)),
    )
    .map(([c, n]) => `${c === '0' ? 'no response' : c} × ${n}`)
  const flags = (Object.entries(p.flags) as [WatchedFlag, {count: number; meanMs?: number}][])
    .filter(([f]) => f !== 'DI')
    .map(([f, x]) => `${f} × ${x.count}${x.meanMs === undefined ? '' : ` at ${ms(x.meanMs)}`}`)
  return [...codes, ...flags].join(', ')
}

/** The fault never fired: no DI/FI on the edges into the faulted service, and the likely cause. */
export const notFiredRule: Rule = ({map, faults}) => {
  const findings: Finding[] = []
  if (!map.phases.includes('fault')) return findings
  for (const f of faults) {
    const service = shortHost(f.service)
    const into = map.edges.filter(e => e.destination === service)
    const seenBySource = into.filter(e => e.reporter === 'source')
    const fired = into.reduce((n, e) => n + flag(fault(e), 'DI') + flag(fault(e), 'FI'), 0)
    if (fired > 0) continue
    const requests = seenBySource.reduce((n, e) => n + (fault(e)?.requests ?? 0), 0)
    const pctg = Math.min(f.delay?.percentage ?? 100, f.abort?.percentage ?? 100)
    const evidence = into.map(e => ev(e.id, 'fault', `${fault(e)?.requests ?? 0} requests, DI 0, FI 0`))
    if (into.length === 0 || into.every(e => (fault(e)?.requests ?? 0) === 0)) {
      findings.push({
        rule: 'not-fired',
        sentence: `The fault on ${service} never fired: nothing called ${service} in the fault phase (no request on any edge into it) — the load does not reach it, or its callers are outside ${map.namespace}.`,
        evidence:
          evidence.length > 0
            ? evidence
            : [ev('*', 'fault', `no edge into ${service} among the ${map.edges.length} edge(s) seen`)],
      })
    } else if (seenBySource.length === 0) {
      continue // only the destination's view: a fault the caller's sidecar injects cannot be seen there
    } else if (requests * (pctg / 100) < 1) {
      findings.push({
        rule: 'not-fired',
        sentence: `The fault on ${service} never fired: its callers sent ${requests} request(s) in the fault phase and at ${pctg} % fewer than one was expected to be faulted — send more targeted traffic or raise the percentage.`,
        evidence,
      })
    } else {
      const callers = [...new Set(seenBySource.map(e => e.source))]
      findings.push({
        rule: 'not-fired',
        sentence: `The fault on ${service} never fired: ${list(callers)} sent ${requests} request(s) to ${service} in the fault phase and none carried DI or FI — the fault's match (${matchText(f)}) did not hold in the caller's sidecar, where Istio injects it: most often the caller does not forward the header the targeted traffic carries.`,
        evidence,
      })
    }
  }
  return findings
}

function matchText(f: Fault): string {
  const headers = Object.entries(f.match?.headers ?? {}).map(
    ([k, m]) =>
      `${k} ${Object.entries(m)
        .map(([op, v]) => `${op} ${String(v)}`)
        .join(' ')}`,
  )
  return headers.length === 0 ? 'no header' : headers.join(', ')
}

/** What changed on an edge between the baseline and the fault phase, in words; empty when nothing did. */
export function edgeChange(e: MapEdge): string[] {
  const b = base(e)
  const f = fault(e)
  if (f === undefined) return []
  const out: string[] = []
  if ((b === undefined || b.requests === 0) && f.requests >= MIN_COUNT) return [`new: ${f.requests} requests`]
  if (b === undefined) return []
  if (f.requests === 0 && b.requests >= MIN_COUNT) return ['no requests any more']
  const errB = b.errorRatio
  const errF = f.errorRatio
  if (errF - errB >= 0.02 && errors(f) >= MIN_COUNT) out.push(`errors ${pct(errB)} → ${pct(errF)}`)
  if (b.p99 !== undefined && f.p99 !== undefined && f.p99 >= Math.max(2 * b.p99, b.p99 + 100))
    out.push(`p99 ${ms(b.p99)} → ${ms(f.p99)}`)
  for (const x of ['UT', 'URX', 'UO', 'UH', 'DC', 'UF'] as const) {
    if (flag(f, x) >= MIN_COUNT && flag(f, x) > 2 * perSecondInBaselineOf(e, flag(b, x)))
      out.push(`${x} × ${flag(f, x)}`)
  }
  if (b.rps >= 1 && (f.rps >= b.rps * 1.5 || f.rps <= b.rps / 1.5) && Math.abs(f.rps - b.rps) >= 1)
    out.push(`${Number(b.rps.toFixed(1))}/s → ${Number(f.rps.toFixed(1))}/s`)
  if (
    b.responseBytes !== undefined &&
    f.responseBytes !== undefined &&
    Math.abs(f.responseBytes - b.responseBytes) >= b.responseBytes * 0.1
  )
    out.push(`responses ${bytes(b.responseBytes)} → ${bytes(f.responseBytes)}`)
  return out
}

/** Baseline counts are over the baseline's length; flags are compared as counts, so scale by requests instead. */
function perSecondInBaselineOf(e: MapEdge, count: number): number {
  const b = base(e)
  const f = fault(e)
  if (b === undefined || f === undefined || b.requests === 0) return count
  return count * (f.requests / b.requests)
}

/** The blast radius: edges that changed although no fault was on them. */
export const blastRadiusRule: Rule = ({map, faults}) => {
  const faulted = new Set(faults.map(f => shortHost(f.service)))
  const changed = map.edges
    .filter(e => !faulted.has(e.destination))
    .map(e => ({e, change: edgeChange(e)}))
    .filter(x => x.change.length > 0)
  if (changed.length === 0) return []
  const shown = changed.slice(0, 4).map(x => `${edgeName(x.e.id)} (${x.change.join(', ')})`)
  return [
    {
      rule: 'blast-radius',
      sentence: `The fault on ${list([...faulted])} reached beyond it: ${changed.length} edge(s) changed in the fault phase although no fault was on them — ${shown.join('; ')}${changed.length > 4 ? `; and ${changed.length - 4} more` : ''}.`,
      evidence: changed.map(x => ev(x.e.id, 'fault', x.change.join(', '))),
    },
  ]
}

/** Control traffic that changed: the load's own control classes at the entry edge (Istio's metrics do not tell the classes apart inside the mesh). */
export const controlRule: Rule = ({map}) => {
  const findings: Finding[] = []
  const entry = map.edges.find(e => e.entry === true)
  for (const [name, c] of Object.entries(map.classes)) {
    if (c.targeted) continue
    const b = c.phases.baseline
    const f = c.phases.fault
    if (b === undefined || f === undefined || f.requests < MIN_COUNT) continue
    const out: string[] = []
    if (f.errorRatio - b.errorRatio >= 0.01) out.push(`errors ${pct(b.errorRatio)} → ${pct(f.errorRatio)}`)
    if (f.p99 >= Math.max(2 * b.p99, b.p99 + 100)) out.push(`p99 ${ms(b.p99)} → ${ms(f.p99)}`)
    if (out.length === 0) continue
    findings.push({
      rule: 'control',
      sentence: `Control traffic changed although no fault targeted it: ${name} ${out.join(', ')}${entry === undefined ? '' : ` at the entry ${edgeName(entry.id)}`} — it shares the path (and its pools) with the targeted requests.`,
      evidence: [
        ev(`class:${name}`, 'baseline', `p99 ${ms(b.p99)}, errors ${pct(b.errorRatio)}`),
        ev(`class:${name}`, 'fault', `p99 ${ms(f.p99)}, errors ${pct(f.errorRatio)}`),
      ],
    })
  }
  return findings
}

/** Every rule, in the order the diagnosis lists their findings. */
export const RULES: readonly Rule[] = [
  notFiredRule,
  deadlineRule,
  overflowRule,
  retriesRule,
  ejectionRule,
  silentDegradationRule,
  blastRadiusRule,
  controlRule,
]

/** The diagnosis of a map: every rule's findings, in order. A rule that throws is skipped, never fatal. */
export function diagnose(input: DiagnosisInput): Finding[] {
  if (input.map.phases.length === 0) return []
  return RULES.flatMap(rule => {
    try {
      return rule(input)
    } catch {
      return []
    }
  })
}
