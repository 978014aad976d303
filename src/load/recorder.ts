/**
 * Per-second, per-traffic-class aggregation of request results, keyed by when each request was
 * meant to start (so a slow response is charged to the second, and phase, that sent it). A second
 * is sealed once it has passed and its last request has completed; sealed seconds are kept encoded.
 */
import type {InFlight, SecondStats} from '../journal/model.js'
import {
  encodeHistogram,
  type Histogram,
  mergeEncoded,
  newHistogram,
  recordMs,
  trendOf,
  type TrendSummary,
} from './histogram.js'

/** One sealed second of one traffic class, as the journal keeps it (its TypeBox model is the source). */
export type {SecondStats}

interface LiveSecond {
  requests: number
  failed: number
  dropped: number
  cancelled: number
  inFlight: number
  statuses: Record<string, number>
  reasons: Record<string, number>
  histogram: Histogram
}

/** Aggregated figures for one class over a time window. */
export interface WindowSummary {
  requests: number
  failed: number
  dropped: number
  /** Requests the runner cancelled: in none of the other counts. */
  cancelled: number
  /** Requests per second over the window. */
  rate: number
  failedRate: number
  duration: TrendSummary
}

/** Requests of one class in flight at a moment, as the journal keeps them. */
export type {InFlight}

/** One class's seconds: live ones by second number, the sealed ones, and the last one touched. */
interface ClassSeconds {
  live: Map<number, LiveSecond>
  /** Intended start → requests in flight that were meant to start then (for the oldest one's age). */
  open: Map<number, number>
  sealed: SecondStats[]
  /** Most calls land in the same second as the one before: skip the Map lookup for them. */
  current: LiveSecond | undefined
  currentSecond: number
}

/** Receives request results from a driver and seals them into per-second stats. */
export class Recorder {
  private readonly byClass = new Map<string, ClassSeconds>()
  private readonly listeners: ((s: SecondStats) => void)[] = []

  /** `classes`: the traffic class names, in plan order. */
  constructor(readonly classes: readonly string[]) {
    for (const c of classes)
      this.byClass.set(c, {live: new Map(), open: new Map(), sealed: [], current: undefined, currentSecond: -1})
  }

  /** Called with every second as it is sealed. */
  onSecond(listener: (s: SecondStats) => void): void {
    this.listeners.push(listener)
  }

  private second(traffic: string, at: number): LiveSecond {
    const c = this.byClass.get(traffic)
    if (c === undefined) throw new Error(`unknown traffic class ${traffic}`)
    const s = at < 1000 ? 0 : Math.floor(at / 1000)
    if (s === c.currentSecond && c.current !== undefined) return c.current
    let live = c.live.get(s)
    if (live === undefined) {
      live = {
        requests: 0,
        failed: 0,
        dropped: 0,
        cancelled: 0,
        inFlight: 0,
        statuses: {},
        reasons: {},
        histogram: newHistogram(),
      }
      c.live.set(s, live)
    }
    c.current = live
    c.currentSecond = s
    return live
  }

  /** A request meant to start at `at` ms (since load start) was sent. */
  started(traffic: string, at: number): void {
    this.second(traffic, at).inFlight++
    const open = (this.byClass.get(traffic) as ClassSeconds).open
    open.set(at, (open.get(at) ?? 0) + 1)
  }

  /** One request meant to start at `at` is no longer in flight; returns its second. */
  private ended(traffic: string, at: number): LiveSecond {
    const live = this.second(traffic, at)
    if (live.inFlight > 0) live.inFlight--
    const open = (this.byClass.get(traffic) as ClassSeconds).open
    const n = open.get(at)
    if (n !== undefined) {
      if (n > 1) open.set(at, n - 1)
      else open.delete(at)
    }
    return live
  }

  /**
   * The request meant to start at `at` completed: status 0 for a network error or timeout. A failed
   * one is counted under `reason` (src/load/reasons.ts), else under its status (`error` for 0).
   */
  completed(traffic: string, at: number, durationMs: number, status: number, reason?: string): void {
    const live = this.ended(traffic, at)
    live.requests++
    if (status < 200 || status >= 400) {
      live.failed++
      const why = reason ?? (status === 0 ? 'error' : String(status))
      live.reasons[why] = (live.reasons[why] ?? 0) + 1
    }
    const key = status === 0 ? 'error' : status
    live.statuses[key] = (live.statuses[key] ?? 0) + 1
    recordMs(live.histogram, durationMs)
  }

  /**
   * The runner cancelled the request meant to start at `at` (a hard stop: Ctrl-C, a guardrail, the
   * time limit). It neither passed nor failed: it is counted apart, never as a failure.
   */
  cancelled(traffic: string, at: number): void {
    this.ended(traffic, at).cancelled++
  }

  /** Requests in flight now (`nowMs` on the load clock), per class, with the oldest one's age. */
  inFlight(nowMs: number): InFlight[] {
    return [...this.byClass].map(([traffic, c]) => {
      let count = 0
      let oldest = Infinity
      for (const [at, n] of c.open) {
        count += n
        if (at < oldest) oldest = at
      }
      return {traffic, count, oldestMs: count === 0 ? 0 : Math.max(0, nowMs - oldest)}
    })
  }

  /** A request for `at` was not sent (the driver's in-flight limit was reached). */
  dropped(traffic: string, at: number): void {
    this.second(traffic, at).dropped++
  }

  /**
   * Seals every second before `nowMs` whose requests have all completed; `final` seals everything,
   * and a request still in flight then never got an answer the run waited for: it is cancelled.
   */
  flush(nowMs: number, final = false): void {
    for (const [traffic, c] of this.byClass) {
      if (final) c.open.clear()
      for (const s of [...c.live.keys()].sort((a, b) => a - b)) {
        const live = c.live.get(s) as LiveSecond
        if (!final && ((s + 1) * 1000 > nowMs || live.inFlight > 0)) continue
        if (final) {
          live.cancelled += live.inFlight
          live.inFlight = 0
        }
        c.live.delete(s)
        if (c.current === live) c.current = undefined
        const stats = this.seal(traffic, s, live)
        c.sealed.push(stats)
        for (const l of this.listeners) l(stats)
      }
    }
  }

  private seal(traffic: string, second: number, live: LiveSecond): SecondStats {
    const t = trendOf(live.histogram)
    return {
      traffic,
      second,
      requests: live.requests,
      failed: live.failed,
      dropped: live.dropped,
      cancelled: live.cancelled,
      statuses: live.statuses,
      reasons: live.reasons,
      p50: t.med,
      p95: t.p(95),
      p99: t.p(99),
      max: t.max,
      histogram: encodeHistogram(live.histogram),
    }
  }

  /** Requests still in flight that were meant to start before `ms` (a window is final when this is 0). */
  inFlightBefore(ms: number): number {
    let n = 0
    for (const c of this.byClass.values()) for (const [s, live] of c.live) if (s * 1000 < ms) n += live.inFlight
    return n
  }

  /** Every sealed second of a class, in time order. */
  seconds(traffic: string): SecondStats[] {
    return [...(this.byClass.get(traffic)?.sealed ?? [])].sort((a, b) => a.second - b.second)
  }

  /**
   * Aggregates a class (or all classes) over the sealed seconds whose middle lies in [fromMs, toMs),
   * so a second that straddles a phase boundary is charged to the phase holding most of it.
   */
  summarise(traffic: string | undefined, fromMs: number, toMs: number): WindowSummary {
    const classes = traffic === undefined ? this.classes : [traffic]
    return summariseSeconds(
      classes.flatMap(c => this.seconds(c)),
      fromMs,
      toMs,
    )
  }

  /**
   * Like `summarise`, but seconds not sealed yet count too, with the requests they have completed
   * so far, up to the second in progress: a guardrail must see a failure in the second it happens,
   * not once that second is sealed (up to 1.25 s later, on top of the wait for its next check).
   * As in k6's own threshold checks, only completed requests count, so in those last seconds fast
   * answers weigh more than slow ones still in flight (fast 503s inflate the failure rate a little).
   */
  summariseLatest(traffic: string | undefined, fromMs: number, toMs: number): WindowSummary {
    const classes = traffic === undefined ? this.classes : [traffic]
    const sealed = classes.flatMap(c => secondsInWindow(this.seconds(c), fromMs, toMs))
    const live = classes
      .flatMap(c => [...(this.byClass.get(c)?.live ?? [])])
      .filter(([s]) => s * 1000 + 500 >= fromMs && s * 1000 < toMs)
      .map(([, l]) => l)
    const histogram = mergeEncoded(sealed.map(s => s.histogram))
    for (const l of live) histogram.add(l.histogram)
    return windowSummary([...sealed, ...live], histogram, fromMs, toMs)
  }
}

/**
 * Aggregates sealed seconds over [fromMs, toMs) by each second's middle (see `Recorder.summarise`);
 * pure, so a report computes a phase's figures from a journal exactly as the run's probes did.
 */
export function summariseSeconds(seconds: readonly SecondStats[], fromMs: number, toMs: number): WindowSummary {
  const picked = secondsInWindow(seconds, fromMs, toMs)
  return windowSummary(picked, mergeEncoded(picked.map(s => s.histogram)), fromMs, toMs)
}

function windowSummary(
  picked: readonly {requests: number; failed: number; dropped: number; cancelled?: number}[],
  histogram: Histogram,
  fromMs: number,
  toMs: number,
): WindowSummary {
  const requests = picked.reduce((n, s) => n + s.requests, 0)
  const failed = picked.reduce((n, s) => n + s.failed, 0)
  const dropped = picked.reduce((n, s) => n + s.dropped, 0)
  // Journals from before cancelled requests were counted apart have no such field.
  const cancelled = picked.reduce((n, s) => n + (s.cancelled ?? 0), 0)
  const windowS = Math.max(0.001, (toMs - fromMs) / 1000)
  return {
    requests,
    failed,
    dropped,
    cancelled,
    rate: requests / windowS,
    failedRate: requests === 0 ? 0 : failed / requests,
    duration: trendOf(histogram),
  }
}

/** The seconds charged to [fromMs, toMs): those whose middle lies inside it. */
export function secondsInWindow(seconds: readonly SecondStats[], fromMs: number, toMs: number): SecondStats[] {
  return seconds.filter(s => s.second * 1000 + 500 >= fromMs && s.second * 1000 + 500 < toMs)
}
