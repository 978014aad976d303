/**
 * The k6-operator driver's per-second series: range queries at a 1 s step turned into Recorder
 * input. At each step, what the cumulative counters and histograms grew by since the step before
 * is charged to the second that ended there (the runners push every second, so a request lands in
 * the second it completed in, not the one it started in as with the other drivers: that is this
 * driver's resolution).
 *
 * A failed answer's reason comes from the script's `faultline_request_failed` counter (tagged
 * `reason`, src/load/k6-script.ts), which k6's remote write names `k6_faultline_request_failed_total`
 * (grafana/k6-docs, results-output/real-time/prometheus-remote-write.md: a Counter is `k6_*_total`).
 * Prometheus holds counts, not requests, so a second's reasons are paired with that second's
 * failures of the same class by status (`500 FI` labels a 500) — see `assignReasons`. Within a
 * class, second and status the Recorder tells requests apart by nothing else, so the pairing is
 * exact whenever each request's two counters land in the same step; where they do not, see
 * `REASON_CARRY_STEPS`.
 */
import {FAILED_METRIC} from './k6-script.js'
import {type ApiHistogram, bucketLatencies, DURATION, rangeSeries, REQS, selector} from './k6-operator-promql.js'
import type {Recorder} from './recorder.js'

/** The series of the script's reason counter, as k6's remote-write output names a Counter. */
export const FAILED = `k6_${FAILED_METRIC}_total`

/**
 * How many steps a reason whose failure it could not find waits for one. The script adds to the
 * reason counter right after the request's own samples, so both nearly always reach Prometheus in
 * the same push and step; when a push (or a 1 s step) falls between the two, the request was
 * already recorded under its bare status, and its reason labels the next failure of that status
 * in the class instead: the count per reason is kept, charged up to this many seconds late.
 */
export const REASON_CARRY_STEPS = 2
/**
 * Distinct reason labels one run accepts. The script only writes src/load/reasons.ts's bounded
 * labels, but the series is written by runners, not by chaos: past this many, a failure keeps its
 * bare status, so the journal cannot grow without bound.
 */
export const MAX_REASON_LABELS = 64
const MAX_LABEL_LENGTH = 120

/** Reasons the runners wrote that no failure has taken yet, oldest first. */
export interface PendingReason {
  reason: string
  n: number
  /** The step (Unix seconds) it was written at. */
  step: number
}

/**
 * The status a reason labels: the leading status of `500 FI` and `503`, the one of `proxy refused
 * 503`; undefined for labels that name no status (`port-forward lost: no ready pod`, chaos's
 * port-forward's own answer), which may label a failure of any status ≥ 400.
 */
export function reasonStatus(reason: string): number | undefined {
  const m = /^(?:proxy refused )?([1-5]\d\d)(?: |$)/.exec(reason)
  return m === null ? undefined : Number(m[1])
}

/**
 * Pairs one step's failed answers of one class (status → count, statuses ≥ 400) with the pending
 * reasons, oldest first: first each reason with the failures of its own status, then the reasons
 * naming no status with any failures left. A reason never labels more failures than there are, so
 * the rest keep their bare status; what is not used stays in `pending` (its `n` reduced).
 * Returns status → reason → count.
 */
export function assignReasons(
  failed: ReadonlyMap<number, number>,
  pending: PendingReason[],
): Map<number, Map<string, number>> {
  const open = new Map(failed)
  const out = new Map<number, Map<string, number>>()
  const take = (status: number, p: PendingReason) => {
    const n = Math.min(p.n, open.get(status) ?? 0)
    if (n <= 0) return
    open.set(status, (open.get(status) ?? 0) - n)
    p.n -= n
    let labels = out.get(status)
    if (labels === undefined) out.set(status, (labels = new Map()))
    labels.set(p.reason, (labels.get(p.reason) ?? 0) + n)
  }
  for (const p of pending) {
    const status = reasonStatus(p.reason)
    if (status !== undefined) take(status, p)
  }
  for (const p of pending) if (reasonStatus(p.reason) === undefined) for (const status of open.keys()) take(status, p)
  return out
}

/** One class's requests at one step: counts by status, the latencies, the reasons written. */
interface StepClass {
  statuses: [number, number][]
  latencies: number[]
  reasons: [string, number][]
}

/** Feeds the Recorder from one TestRun's series in Prometheus, a poll at a time. */
export class SecondFeed {
  private from: Date
  private readonly counts = new Map<string, number>()
  private readonly hist = new Map<string, ApiHistogram>()
  /** Per class, the reasons written that no failure has taken yet. */
  private readonly pending = new Map<string, PendingReason[]>()
  private readonly labels = new Set<string>()

  constructor(
    private readonly recorder: Recorder,
    private readonly t0Wall: number,
    private readonly testRun: string,
    private readonly prometheus: string,
  ) {
    this.from = new Date(Math.floor(t0Wall / 1000) * 1000)
  }

  async poll(to: Date): Promise<void> {
    const end = new Date(Math.floor(to.getTime() / 1000) * 1000)
    if (end.getTime() <= this.from.getTime()) return
    const range = (query: string) => rangeSeries(this.prometheus, query, this.from, end, 1)
    const run = selector(this.testRun)
    const [reqs, hists, reasons] = await Promise.all([
      range(`sum by (traffic, status, expected_response) (${REQS}${run})`),
      range(`sum by (traffic) (${DURATION}${run})`),
      range(`sum by (traffic, reason) (${FAILED}${run})`),
    ])
    const byStep = new Map<number, Map<string, StepClass>>()
    const at = (t: number, traffic: string) => {
      let m = byStep.get(t)
      if (m === undefined) byStep.set(t, (m = new Map()))
      let c = m.get(traffic)
      if (c === undefined) m.set(traffic, (c = {statuses: [], latencies: [], reasons: []}))
      return c
    }
    for (const s of reqs) {
      const status = Number(s.metric['status'] ?? 0)
      for (const [t, n] of this.deltas(`reqs ${JSON.stringify(s.metric)}`, s.values))
        at(t, s.metric['traffic'] ?? '').statuses.push([status, n])
    }
    for (const s of reasons) {
      const reason = s.metric['reason'] ?? ''
      for (const [t, n] of this.deltas(`failed ${JSON.stringify(s.metric)}`, s.values))
        if (this.accepts(reason)) at(t, s.metric['traffic'] ?? '').reasons.push([reason, n])
    }
    for (const s of hists) {
      const traffic = s.metric['traffic'] ?? ''
      for (const [t, h] of s.histograms ?? []) {
        const before = this.hist.get(traffic)
        if (before?.count !== h.count) at(t, traffic).latencies.push(...bucketLatencies(h, before))
        this.hist.set(traffic, h)
      }
    }
    for (const [t, classes] of [...byStep].sort(([a], [b]) => a - b)) {
      // The step at t covers the second that ended at t.
      const second = Math.floor((t * 1000 - 1000 - this.t0Wall) / 1000)
      if (second < 0) continue
      for (const [traffic, c] of classes) {
        if (!this.recorder.classes.includes(traffic)) continue
        this.record(traffic, second, t, c)
      }
    }
    // Steps are inclusive at both ends: the next query starts after this one's last.
    this.from = new Date(end.getTime() + 1000)
  }

  /** A cumulative series' growth at each step since the step before, rounded, where it grew. */
  private deltas(key: string, values: [number, string][] | undefined): [number, number][] {
    const out: [number, number][] = []
    for (const [t, v] of values ?? []) {
      const value = Number(v)
      const delta = value - (this.counts.get(key) ?? 0)
      this.counts.set(key, value)
      if (Math.round(delta) > 0) out.push([t, Math.round(delta)])
    }
    return out
  }

  /** A short label, and one of the first `MAX_REASON_LABELS` distinct ones of the run. */
  private accepts(reason: string): boolean {
    if (reason === '' || reason.length > MAX_LABEL_LENGTH) return false
    if (this.labels.has(reason)) return true
    if (this.labels.size >= MAX_REASON_LABELS) return false
    this.labels.add(reason)
    return true
  }

  /** One class's step into the Recorder: a request per count, spread over its second. */
  private record(traffic: string, second: number, step: number, c: StepClass): void {
    const pending = (this.pending.get(traffic) ?? []).filter(p => p.n > 0 && step - p.step <= REASON_CARRY_STEPS)
    pending.push(...c.reasons.map(([reason, n]) => ({reason, n, step})))
    const failed = new Map<number, number>()
    for (const [status, n] of c.statuses) if (status >= 400) failed.set(status, (failed.get(status) ?? 0) + n)
    const labels = assignReasons(failed, pending)
    this.pending.set(traffic, pending)
    const named = new Map(
      [...labels].map(([status, reasons]) => [
        status,
        [...reasons].flatMap(([reason, k]) => Array<string>(k).fill(reason)),
      ]),
    )
    const requests: [number, string | undefined][] = []
    for (const [status, n] of c.statuses) for (let i = 0; i < n; i++) requests.push([status, named.get(status)?.pop()])
    const fallback = c.latencies.length === 0 ? 0 : (c.latencies[Math.floor(c.latencies.length / 2)] ?? 0)
    requests.forEach(([status, reason], i) => {
      const when = second * 1000 + (i * 1000) / requests.length
      this.recorder.completed(traffic, when, c.latencies[i] ?? fallback, status, reason)
    })
  }
}
