/**
 * Envoy's outlier detector for one cluster (test/reference/SEMANTICS.md (d), Envoy outlier.rst and
 * `outlier_detection_impl.cc`): consecutive 5xx and consecutive gateway failures are detected inline,
 * ejection is bounded by max_ejection_percent, lasts base_ejection_time × the host's ejection
 * multiplier, and hosts return to service on the interval sweep. Time comes from an injectable clock
 * and sweeps are evaluated lazily, so tests need no sleeps.
 */
import type {OutlierPolicy} from './config.js'
import type {Stat, StatStore} from './stats.js'

/** What an upstream attempt came back with, as the detector sees it. */
export type HostResult = {kind: 'response'; status: number} | {kind: 'local-origin'; status: 503 | 504}

interface HostState {
  consecutive5xx: number
  consecutiveGateway: number
  ejected: boolean
  ejectedAt: number
  /** Envoy's ejection-time multiplier: +1 per ejection, −1 per healthy sweep after base time. */
  multiplier: number
  unejectedAt: number | undefined
}

const OUTLIER_STATS = [
  'ejections_enforced_total',
  'ejections_overflow',
  'ejections_enforced_consecutive_5xx',
  'ejections_detected_consecutive_5xx',
  'ejections_enforced_consecutive_gateway_failure',
  'ejections_detected_consecutive_gateway_failure',
  'ejections_enforced_success_rate',
  'ejections_detected_success_rate',
  'ejections_enforced_consecutive_local_origin_failure',
  'ejections_detected_consecutive_local_origin_failure',
  'ejections_enforced_local_origin_success_rate',
  'ejections_detected_local_origin_success_rate',
  'ejections_enforced_failure_percentage',
  'ejections_detected_failure_percentage',
  'ejections_enforced_failure_percentage_local_origin',
  'ejections_detected_failure_percentage_local_origin',
] as const

/** Passive health checking of one cluster's hosts, keyed by pod name. */
export class OutlierDetector {
  private readonly hosts = new Map<string, HostState>()
  private readonly counters: Record<(typeof OUTLIER_STATS)[number], Stat>
  private readonly active: Stat
  private lastSweep: number

  constructor(
    readonly policy: OutlierPolicy,
    stats: StatStore,
    prefix: string,
    private readonly now: () => number,
  ) {
    const p = `${prefix}outlier_detection.`
    this.active = stats.gauge(`${p}ejections_active`)
    this.counters = Object.fromEntries(OUTLIER_STATS.map(n => [n, stats.counter(p + n)])) as OutlierDetector['counters']
    this.lastSweep = now()
  }

  private state(host: string): HostState {
    let s = this.hosts.get(host)
    if (s === undefined) {
      s = {
        consecutive5xx: 0,
        consecutiveGateway: 0,
        ejected: false,
        ejectedAt: 0,
        multiplier: 0,
        unejectedAt: undefined,
      }
      this.hosts.set(host, s)
    }
    return s
  }

  /** Whether the host is currently ejected (runs any interval sweeps that are due first). */
  isEjected(host: string): boolean {
    this.sweep()
    return this.hosts.get(host)?.ejected === true
  }

  /** Number of currently ejected hosts. */
  ejectedCount(): number {
    this.sweep()
    return this.active.value
  }

  /** Forgets hosts that left the cluster (EDS update). */
  retain(hostNames: ReadonlySet<string>): void {
    for (const [name, s] of this.hosts) {
      if (hostNames.has(name)) continue
      if (s.ejected) this.active.value--
      this.hosts.delete(name)
    }
  }

  /** Records one upstream result for a host; may eject it. `totalHosts` is the cluster's host count. */
  report(host: string, result: HostResult, totalHosts: number): void {
    this.sweep()
    const s = this.state(host)
    const status = result.status
    if (status < 500) {
      s.consecutive5xx = 0
      s.consecutiveGateway = 0
      return
    }
    // Envoy checks the gateway-failure detector before the 5xx one (putHttpResponseCode).
    if (status >= 502 && status <= 504) {
      s.consecutiveGateway++
      if (s.consecutiveGateway === this.policy.consecutiveGateway) {
        this.counters.ejections_detected_consecutive_gateway_failure.value++
        if (this.policy.enforcingGateway) this.eject(s, 'ejections_enforced_consecutive_gateway_failure', totalHosts)
      }
    } else {
      // envoy source/common/upstream/outlier_detection_impl.cc putHttpResponseCode: a 5xx that is not a
      // gateway error resets the consecutive gateway-failure count.
      s.consecutiveGateway = 0
    }
    s.consecutive5xx++
    if (this.policy.consecutive5xx > 0 && s.consecutive5xx === this.policy.consecutive5xx) {
      this.counters.ejections_detected_consecutive_5xx.value++
      if (this.policy.enforcing5xx) this.eject(s, 'ejections_enforced_consecutive_5xx', totalHosts)
    }
  }

  private eject(
    s: HostState,
    reason: 'ejections_enforced_consecutive_5xx' | 'ejections_enforced_consecutive_gateway_failure',
    totalHosts: number,
  ): void {
    s.consecutive5xx = 0
    s.consecutiveGateway = 0
    if (s.ejected) return
    // Envoy ≥ 1.31 (ejectHost): eject only if (ejected + 1) / hosts ≤ max_ejection_percent; Istio
    // never sets always_eject_one_host, so with few hosts and the 10 % default nothing is ejected.
    const ejectedPercent = (100 * (this.active.value + 1)) / totalHosts
    if (ejectedPercent > this.policy.maxEjectionPercent) {
      this.counters.ejections_overflow.value++
      return
    }
    const cap = Math.max(1, Math.ceil(this.policy.maxEjectionMs / this.policy.baseEjectionMs))
    s.multiplier = Math.min(s.multiplier + 1, cap)
    s.ejected = true
    s.ejectedAt = this.now()
    this.active.value++
    this.counters.ejections_enforced_total.value++
    this.counters[reason].value++
  }

  /** Runs the interval timer's sweeps that fell due since the last one (checkHostForUneject). */
  private sweep(): void {
    const interval = this.policy.intervalMs
    const now = this.now()
    if (now - this.lastSweep < interval) return
    const ticks = Math.floor((now - this.lastSweep) / interval)
    // Only the ticks that can change something matter; cap the work for long idle gaps.
    const first = ticks > 1000 ? ticks - 1000 : 1
    for (let i = first; i <= ticks; i++) this.sweepAt(this.lastSweep + i * interval)
    this.lastSweep += ticks * interval
  }

  private sweepAt(t: number): void {
    const base = this.policy.baseEjectionMs
    for (const s of this.hosts.values()) {
      if (!s.ejected) {
        if (s.multiplier > 0 && s.unejectedAt !== undefined && t - s.unejectedAt >= base) s.multiplier--
        continue
      }
      const ejectFor = Math.min(base * s.multiplier, Math.max(this.policy.maxEjectionMs, base))
      if (t - s.ejectedAt >= ejectFor) {
        s.ejected = false
        s.unejectedAt = t
        this.active.value--
      }
    }
  }
}
