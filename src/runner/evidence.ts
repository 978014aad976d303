/**
 * Proof that the fault fired and that control traffic was untouched. Faults run in the *calling*
 * sidecar, so we watch the fault filter's counters on the sidecars that call the faulted hosts
 * (every sidecar in the namespace until those are known): the first increase after our write is
 * the time to effect; the last increase after the revert, the time to recovery. A fault that never
 * fired (usually: the header is not propagated to the caller of the faulted service) is reported
 * loudly. Stats are read through the pod proxy or by exec (src/cluster/sidecar-stats.ts).
 */
import {type Cluster, hasProxy, labelSelector} from '../cluster/cluster.js'
import {parseExposition} from '../cluster/prometheus-stats.js'
import {sidecarStats} from '../cluster/sidecar-stats.js'
import {sumMatching} from '../cluster/stats.js'
import {fqdn} from '@faultline/core/istio/routing.js'
import type {LoadEntry} from '../experiment/model.js'
import {DEFAULT_GATEWAY} from '../faults/entry-gateways.js'
import type {WindowSummary} from '../load/recorder.js'
import {formatNumber} from '../probes/prometheus.js'

/**
 * Envoy's fault filter counts under its HTTP connection manager's prefix, `http.<stat_prefix>.fault.`
 * (envoy `source/extensions/filters/http/fault/fault_filter.cc` generateStats); Istio ≥ 1.23 ends
 * that prefix with `;` (`http.outbound_0.0.0.0_9080;.fault.delays_injected`), older proxies do not:
 * the patterns match both (src/cluster/stats.ts). The per-downstream-cluster copies
 * (`….fault.<cluster>.delays_injected`) do not match, so nothing is counted twice.
 */
export const FAULT_STATS = ['http.*.fault.delays_injected', 'http.*.fault.aborts_injected'] as const

/** One sidecar's fault-filter counters. */
export interface PodFaultCounters {
  delays: number
  aborts: number
}

/** Fault-filter counters of the sidecars read, by pod (a pod that could not be read is absent). */
export interface FaultCounters {
  delays: number
  aborts: number
  /** Sidecars read. */
  pods: number
  byPod: Map<string, PodFaultCounters>
}

/** How many sidecars the evidence polls read at most; beyond it the busiest callers are kept, with a warning. */
export const MAX_EVIDENCE_PODS = 50

/**
 * Reads the fault counters of the meshed pods in the namespace (`only`: of those pods; unreadable
 * pods are left out, never counted as zero).
 */
export async function readFaultCounters(
  cluster: Cluster,
  namespace: string,
  only?: ReadonlySet<string>,
): Promise<FaultCounters> {
  const pods = (await cluster.listPods(namespace, '')).filter(
    p => hasProxy(p) && (only === undefined || only.has(p.name)),
  )
  const totals: FaultCounters = {delays: 0, aborts: 0, pods: 0, byPod: new Map()}
  await Promise.all(
    pods.map(async p => {
      try {
        const stats = await sidecarStats(cluster).envoy(namespace, p.name)
        const pod = {delays: sumMatching(stats, FAULT_STATS[0]).value, aborts: sumMatching(stats, FAULT_STATS[1]).value}
        totals.byPod.set(p.name, pod)
        totals.delays += pod.delays
        totals.aborts += pod.aborts
        totals.pods++
      } catch {
        // A pod that cannot be read adds nothing; the other pods still prove or disprove the fault.
      }
    }),
  )
  return totals
}

/**
 * The namespaces besides the target's whose proxies can apply the faults: with a gateway entry, the
 * gateway's — Istio applies the routes of gateway-bound VirtualServices, where the compiler writes a
 * fault on a host the gateway routes to (src/faults/compile.ts `gateways`), in the gateway. A gateway
 * given by URL is looked for in Istio's default namespace.
 */
export function gatewayNamespaces(experiment: {spec: {load: {entry?: LoadEntry}}}, namespace: string): string[] {
  const entry = experiment.spec.load.entry
  const gateway =
    entry === undefined
      ? undefined
      : 'gateway' in entry
        ? (entry.gateway.namespace ?? DEFAULT_GATEWAY.namespace)
        : 'url' in entry
          ? DEFAULT_GATEWAY.namespace
          : undefined
  return gateway === undefined || gateway === namespace ? [] : [gateway]
}

/**
 * `readFaultCounters` of the target namespace (`only`: those pods), plus every proxy's in the `more`
 * namespaces (a gateway's), keyed `namespace/name`; a namespace that cannot be read adds nothing.
 */
export async function readFaultCountersWith(
  cluster: Cluster,
  namespace: string,
  only: ReadonlySet<string> | undefined,
  more: readonly string[],
): Promise<FaultCounters> {
  const [totals, ...others] = await Promise.all([
    readFaultCounters(cluster, namespace, only),
    ...more.map(ns => readFaultCounters(cluster, ns).catch(() => undefined)),
  ])
  for (const [i, read] of others.entries()) {
    if (read === undefined) continue
    totals.delays += read.delays
    totals.aborts += read.aborts
    totals.pods += read.pods
    for (const [pod, c] of read.byPod) totals.byPod.set(`${more[i] ?? ''}/${pod}`, c)
  }
  return totals
}

/**
 * How much the counters grew from `a` to `b`, pod by pod. A pod counts only between two good reads:
 * one that could not be read at `a` would otherwise count its whole counter, from before the fault,
 * as faulted requests. A pod whose counter went down restarted: it counts from zero.
 */
export function injectedBetween(a: FaultCounters, b: FaultCounters): number {
  let n = 0
  for (const [pod, after] of b.byPod) {
    const before = a.byPod.get(pod)
    if (before === undefined) continue
    n += after.delays >= before.delays ? after.delays - before.delays : after.delays
    n += after.aborts >= before.aborts ? after.aborts - before.aborts : after.aborts
  }
  return n
}

/**
 * `start` with the pods it lacks taken from `now`, their first good read: from then on they count
 * too (between that read and a later one), where they would otherwise be left out for the whole
 * phase because one read before the write failed. What they counted before their first read is not
 * known, and not counted.
 */
export function adoptNewPods(start: FaultCounters, now: FaultCounters): FaultCounters {
  const added = [...now.byPod].filter(([pod]) => !start.byPod.has(pod))
  if (added.length === 0) return start
  const byPod = new Map([...start.byPod, ...added])
  const sum = (k: 'delays' | 'aborts') => added.reduce((n, [, c]) => n + c[k], start[k])
  return {delays: sum('delays'), aborts: sum('aborts'), pods: byPod.size, byPod}
}

/**
 * Requests a sidecar sent to each of `fqdns` as Istio's standard metrics count them:
 * `istio_requests_total{reporter="source", destination_service=<fqdn>}`. Those are in Istio's default
 * stats inclusion (the bootstrap's `reporter=` prefix, istio 1.30.3 `tools/packaging/common/
 * envoy_bootstrap.json` stats_matcher), unlike the outbound clusters' `upstream_rq_total`, which a
 * real proxy shows only with a proxyStatsMatcher annotation.
 */
export function requestsTo(prometheusText: string, fqdns: ReadonlySet<string>): number {
  let sent = 0
  for (const s of parseExposition(prometheusText)) {
    if (s.metric !== 'istio_requests_total') continue
    const labels = new Map(s.labels)
    if (labels.get('reporter') === 'source' && fqdns.has(labels.get('destination_service') ?? '')) sent += s.value
  }
  return sent
}

/** What `callersOf` found: the pods to poll, and how many callers were left out by the cap. */
export interface Callers {
  pods: Set<string>
  capped: number
}

/**
 * The pods whose sidecars call any of `hosts` (their `reporter="source"` requests to it, from the
 * baseline's traffic), and the pods the experiment's Envoy probes select (`selectors`, which name the
 * callers it watches): the only sidecars a fault on those hosts runs in. Read once from every sidecar
 * after the baseline, so the polls during the fault read a few pods, not the namespace; at most
 * MAX_EVIDENCE_PODS, the busiest callers first. Undefined when none is found (the polls then read
 * every sidecar).
 */
export async function callersOf(
  cluster: Cluster,
  namespace: string,
  hosts: readonly string[],
  selectors: ReadonlyArray<Record<string, string>> = [],
): Promise<Callers | undefined> {
  const fqdns = new Set(hosts.map(h => fqdn(h, namespace)))
  const pods = (await cluster.listPods(namespace, '')).filter(hasProxy)
  const calls = new Map<string, number>()
  await Promise.all(
    pods.map(async p => {
      try {
        const sent = requestsTo(await sidecarStats(cluster).prometheus(namespace, p.name), fqdns)
        if (sent > 0) calls.set(p.name, sent)
      } catch {
        // Unreadable now: it may still be a caller, so it is polled (below) unless others are found.
      }
    }),
  )
  const selected = new Set<string>()
  for (const selector of selectors) {
    for (const p of await cluster.listPods(namespace, labelSelector(selector)).catch(() => []))
      if (hasProxy(p)) selected.add(p.name)
  }
  if (calls.size === 0 && selected.size === 0) return undefined
  const busiest = [...calls].sort((x, y) => y[1] - x[1]).map(([name]) => name)
  const all = [...new Set([...busiest, ...selected])]
  return {pods: new Set(all.slice(0, MAX_EVIDENCE_PODS)), capped: Math.max(0, all.length - MAX_EVIDENCE_PODS)}
}

/** Whether targeted traffic in the fault phase looks affected compared with the baseline. */
export function targetedEffect(baseline: WindowSummary, fault: WindowSummary): {affected: boolean; message: string} {
  if (fault.requests === 0) return {affected: false, message: 'no targeted request completed during the fault phase'}
  const p50 = {before: baseline.duration.med, after: fault.duration.med}
  const errors = {before: baseline.failedRate, after: fault.failedRate}
  const slower = p50.after > Math.max(p50.before * 1.5, p50.before + 50)
  const failing = errors.after > errors.before + 0.01
  const message = `targeted p50 ${formatNumber(p50.before)}ms → ${formatNumber(p50.after)}ms, errors ${formatNumber(errors.before * 100)}% → ${formatNumber(errors.after * 100)}%`
  return {affected: slower || failing, message}
}

/**
 * Latency moves this much on a busy machine or node without any fault: a p99 over a few dozen
 * requests is nearly their maximum, so one scheduling hiccup moves it by hundreds of ms.
 */
const P99_NOISE_MS = 250

/**
 * Whether control traffic in the fault phase stayed as it was in the baseline. A fault leaking to
 * control traffic shows as errors (aborts), as a shifted median (a delay hitting most requests) or
 * as a tail well beyond noise (a delay hitting some); a slower p99 alone within noise is not it.
 */
export function controlUntouched(baseline: WindowSummary, fault: WindowSummary): {untouched: boolean; message: string} {
  if (fault.requests === 0) return {untouched: false, message: 'no control request completed during the fault phase'}
  const p50 = {before: baseline.duration.med, after: fault.duration.med}
  const p99 = {before: baseline.duration.p(99), after: fault.duration.p(99)}
  const errors = {before: baseline.failedRate, after: fault.failedRate}
  const untouched =
    errors.after <= errors.before + 0.01 &&
    p50.after <= Math.max(p50.before * 1.5, p50.before + 50) &&
    p99.after <= Math.max(p99.before * 2, p99.before + P99_NOISE_MS)
  return {
    untouched,
    message: `control p50 ${formatNumber(p50.before)}ms → ${formatNumber(p50.after)}ms, p99 ${formatNumber(p99.before)}ms → ${formatNumber(p99.after)}ms, errors ${formatNumber(errors.before * 100)}% → ${formatNumber(errors.after * 100)}%`,
  }
}

/** The headers real bookinfo's apps forward on every call (istio/istio samples/bookinfo/src, 1.30: productpage.py getForwardHeaders, reviews' LibertyRestEndpoint.java). */
export const BOOKINFO_FORWARDED =
  'x-request-id, traceparent, tracestate, b3 and x-b3-*, x-ot-span-context, x-datadog-*, x-cloud-trace-context, grpc-trace-bin, sw8, user-agent, cookie, authorization, jwt (and end-user from reviews on, set by productpage from its login session)'

/** The advice for a fault that never fired. */
export const NOT_FIRED_HINT =
  'Faults run in the calling sidecar and match on request headers: check that the load sends the header, ' +
  `that every service between the entry point and the faulted service propagates it (real bookinfo forwards only ${BOOKINFO_FORWARDED}), ` +
  'and that the load enters the mesh through a sidecar (on a cluster: from a meshed pod or through the ingress gateway).'
