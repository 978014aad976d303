/**
 * One Envoy outbound cluster inside one sidecar: its stats, its HTTP/1.1 connection pool with the
 * circuit breakers Istio configures (test/reference/SEMANTICS.md (d); Envoy `conn_pool_base.cc`), load balancing and
 * outlier detection. Each in-flight request holds a connection; idle connections are kept alive and
 * reused; beyond max_connections a request waits as pending, beyond max_pending_requests it overflows.
 */
import type {Pod} from '../types.js'
import type {ClusterConfig} from './config.js'
import {OutlierDetector} from './outlier.js'
import type {Stat, StatStore} from './stats.js'
import {clusterStatPrefix} from './stats.js'

/** A request waiting for (or holding) a pooled connection. */
export interface PoolWaiter {
  /** Called once a connection is assigned (synchronously when one is free). */
  attached(): void
  /** Called when the request limit (max_requests) refuses it at attach time. */
  overflowed(): void
}

/** What asking the pool for a connection did. */
export type PoolOutcome = 'attached' | 'pending' | 'overflow'

const COUNTERS = [
  'upstream_rq_total', 'upstream_rq_completed', 'upstream_rq_pending_total', 'upstream_rq_pending_overflow', 'upstream_rq_pending_failure_eject',
  'upstream_rq_cancelled', 'upstream_rq_timeout', 'upstream_rq_per_try_timeout', 'upstream_rq_retry', 'upstream_rq_retry_success',
  'upstream_rq_retry_overflow', 'upstream_rq_retry_limit_exceeded', 'upstream_rq_rx_reset', 'upstream_rq_tx_reset',
  'upstream_cx_total', 'upstream_cx_http1_total', 'upstream_cx_overflow', 'upstream_cx_connect_fail', 'upstream_cx_destroy',
  'upstream_cx_none_healthy', 'membership_change',
] as const
const GAUGES = ['upstream_rq_active', 'upstream_rq_pending_active', 'upstream_cx_active', 'membership_healthy', 'membership_total', 'membership_degraded', 'membership_excluded'] as const
const BREAKERS = ['cx_open', 'cx_pool_open', 'rq_pending_open', 'rq_open', 'rq_retry_open'] as const

type CounterName = (typeof COUNTERS)[number]
type GaugeName = (typeof GAUGES)[number]

/** The runtime state of one cluster, kept across config pushes so its stats persist. */
export class UpstreamCluster {
  readonly prefix: string
  readonly c: Record<CounterName, Stat>
  readonly g: Record<GaugeName, Stat>
  private readonly breaker: Record<(typeof BREAKERS)[number], Stat>
  private readonly codes = new Map<number, Stat>()
  private readonly classes: Stat[]
  private outlierDetector: OutlierDetector | undefined
  private open = 0
  private busy = 0
  private activeRetries = 0
  private readonly pending: PoolWaiter[] = []
  private rr = 0
  private readonly inFlightByHost = new Map<string, number>()

  constructor(public config: ClusterConfig, private readonly stats: StatStore, private readonly now: () => number, delimited = true) {
    this.prefix = clusterStatPrefix(config.name, delimited)
    this.c = Object.fromEntries(COUNTERS.map(n => [n, stats.counter(this.prefix + n)])) as Record<CounterName, Stat>
    this.g = Object.fromEntries(GAUGES.map(n => [n, stats.gauge(this.prefix + n)])) as Record<GaugeName, Stat>
    this.breaker = Object.fromEntries(BREAKERS.map(n => [n, stats.gauge(`${this.prefix}circuit_breakers.default.${n}`)])) as UpstreamCluster['breaker']
    for (const n of BREAKERS) stats.gauge(`${this.prefix}circuit_breakers.high.${n}`)
    this.classes = [1, 2, 3, 4, 5].map(k => stats.counter(`${this.prefix}upstream_rq_${k}xx`))
    this.update(config)
  }

  /** Applies a new push: endpoints, thresholds, outlier policy (a changed policy restarts the detector, as a new cluster would). */
  update(config: ClusterConfig): void {
    const before = this.config.endpoints.map(p => p.name).join(',')
    this.config = config
    if (config.endpoints.map(p => p.name).join(',') !== before) this.c.membership_change.value++
    const policy = config.outlier
    if (policy === undefined) {
      if (this.outlierDetector !== undefined) this.stats.removePrefix(`${this.prefix}outlier_detection.`)
      this.outlierDetector = undefined
    } else if (this.outlierDetector === undefined || JSON.stringify(this.outlierDetector.policy) !== JSON.stringify(policy)) {
      this.outlierDetector = new OutlierDetector(policy, this.stats, this.prefix, this.now)
    }
    this.outlierDetector?.retain(new Set(config.endpoints.map(p => p.name)))
    this.refreshGauges()
  }

  /** The outlier detector, when the DestinationRule configures outlier detection. */
  get outlier(): OutlierDetector | undefined {
    return this.outlierDetector
  }

  /** Hosts eligible for load balancing: not ejected, unless the cluster is in panic (minHealthPercent). */
  healthyHosts(): Pod[] {
    const all = this.config.endpoints
    const od = this.outlierDetector
    if (od === undefined || od.ejectedCount() === 0) return all
    const healthy = all.filter(p => !od.isEjected(p.name))
    const panic = od.policy.minHealthPercent > 0 && (100 * healthy.length) / all.length < od.policy.minHealthPercent
    return panic ? all : healthy
  }

  /**
   * Picks an upstream host (Envoy's LB over healthy hosts), avoiding `tried` hosts when another is
   * available — Istio's retry policy carries the previous_hosts predicate. Undefined: no healthy upstream.
   */
  pickHost(random: () => number, tried?: ReadonlySet<string>): Pod | undefined {
    let hosts = this.healthyHosts()
    if (hosts.length === 0) return undefined
    if (tried !== undefined && tried.size > 0) {
      const fresh = hosts.filter(h => !tried.has(h.name))
      if (fresh.length > 0) hosts = fresh
    }
    if (hosts.length === 1) return hosts[0]
    switch (this.config.lb) {
      case 'ROUND_ROBIN':
        return hosts[this.rr++ % hosts.length]
      case 'RANDOM':
        return hosts[Math.floor(random() * hosts.length)]
      default: {
        // LEAST_REQUEST with equal weights: power of two random choices, fewer active requests wins.
        const a = hosts[Math.floor(random() * hosts.length)] as Pod
        const b = hosts[Math.floor(random() * hosts.length)] as Pod
        return (this.inFlightByHost.get(b.name) ?? 0) < (this.inFlightByHost.get(a.name) ?? 0) ? b : a
      }
    }
  }

  /** Asks the pool for a connection (Envoy newStream): attach now, wait as pending, or overflow. */
  requestConnection(waiter: PoolWaiter): PoolOutcome {
    const limits = this.config.limits
    if (this.open > this.busy) {
      this.busy++
      return this.attach(waiter) ? 'attached' : 'overflow'
    }
    if (this.pending.length >= limits.maxPendingRequests) {
      this.c.upstream_rq_pending_overflow.value++
      return 'overflow'
    }
    this.c.upstream_rq_pending_total.value++
    if (this.open < limits.maxConnections) {
      this.open++
      this.busy++
      this.c.upstream_cx_total.value++
      this.c.upstream_cx_http1_total.value++
      return this.attach(waiter) ? 'attached' : 'overflow'
    }
    this.c.upstream_cx_overflow.value++
    this.pending.push(waiter)
    return 'pending'
  }

  /** Removes a waiter that gave up (route timeout, downstream gone) before it got a connection. */
  cancelPending(waiter: PoolWaiter): void {
    const i = this.pending.indexOf(waiter)
    if (i < 0) return
    this.pending.splice(i, 1)
    this.c.upstream_rq_cancelled.value++
  }

  private attach(_waiter: PoolWaiter): boolean {
    if (this.g.upstream_rq_active.value >= this.config.limits.maxRequests) {
      // Envoy attachStreamToClient: the requests breaker refuses; the connection stays idle.
      this.c.upstream_rq_pending_overflow.value++
      this.busy--
      return false
    }
    this.c.upstream_rq_total.value++
    this.g.upstream_rq_active.value++
    return true
  }

  /** Marks a host as carrying one more (or one fewer) request, for LEAST_REQUEST. */
  hostInFlight(host: string, delta: 1 | -1): void {
    this.inFlightByHost.set(host, (this.inFlightByHost.get(host) ?? 0) + delta)
  }

  /**
   * Ends a request's hold on its connection. A healthy connection goes to the next pending request
   * or back to idle; a failed one (connect failure, reset) is closed.
   */
  finishRequest(connectionUsable: boolean): void {
    this.g.upstream_rq_active.value--
    this.releaseConnection(connectionUsable)
  }

  private releaseConnection(connectionUsable: boolean): void {
    this.busy--
    if (!connectionUsable) {
      this.open--
      this.c.upstream_cx_destroy.value++
    }
    while (this.pending.length > 0) {
      if (this.open <= this.busy) {
        if (this.open >= this.config.limits.maxConnections) break
        this.open++
        this.c.upstream_cx_total.value++
        this.c.upstream_cx_http1_total.value++
      }
      const next = this.pending.shift() as PoolWaiter
      this.busy++
      if (this.attach(next)) {
        next.attached()
        return
      }
      next.overflowed()
    }
  }

  /** Asks the retry circuit breaker for one more concurrent retry (max_retries). */
  tryStartRetry(): boolean {
    if (this.activeRetries >= this.config.limits.maxRetries) {
      this.c.upstream_rq_retry_overflow.value++
      return false
    }
    this.activeRetries++
    this.c.upstream_rq_retry.value++
    return true
  }

  /** Releases a retry slot once the retried attempt finished. */
  endRetry(): void {
    this.activeRetries--
  }

  /** Charges a response code to `upstream_rq_<code>`, `upstream_rq_<N>xx`, `upstream_rq_completed`. */
  chargeCode(status: number): void {
    let s = this.codes.get(status)
    if (s === undefined) {
      s = this.stats.counter(`${this.prefix}upstream_rq_${status}`)
      this.codes.set(status, s)
    }
    s.value++
    const cls = this.classes[Math.floor(status / 100) - 1]
    if (cls !== undefined) cls.value++
    this.c.upstream_rq_completed.value++
  }

  /**
   * Recomputes gauges derived from the pool and breaker state. Not on the request path: the sidecar
   * calls it before every stats read (text, json, Prometheus), so readers always see current values.
   */
  refreshGauges(): void {
    const l = this.config.limits
    this.g.upstream_cx_active.value = this.open
    this.g.upstream_rq_pending_active.value = this.pending.length
    this.breaker.cx_open.value = this.open >= l.maxConnections ? 1 : 0
    this.breaker.rq_pending_open.value = this.pending.length >= l.maxPendingRequests ? 1 : 0
    this.breaker.rq_open.value = this.g.upstream_rq_active.value >= l.maxRequests ? 1 : 0
    this.breaker.rq_retry_open.value = this.activeRetries >= l.maxRetries ? 1 : 0
    const total = this.config.endpoints.length
    this.g.membership_total.value = total
    this.g.membership_healthy.value = total - (this.outlierDetector?.ejectedCount() ?? 0)
  }

  /** Drops this cluster's stats (the cluster was removed from the push). */
  remove(): void {
    this.stats.removePrefix(this.prefix)
  }
}
