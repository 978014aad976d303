/**
 * One Envoy outbound cluster inside one sidecar: its stats, its HTTP/1.1 connection pool with the
 * circuit breakers Istio configures (test/reference/SEMANTICS.md (d); Envoy `conn_pool_base.cc`), load balancing and
 * outlier detection. Each in-flight request holds a connection; idle connections are kept alive and
 * reused. A request that finds no connected idle connection is pending, also while the connection
 * opened for it is still connecting (envoy `source/common/conn_pool/conn_pool_base.cc` newStreamImpl:
 * `ready_clients_` empty → pendingRequests().canCreate() else overflow → newPendingStream →
 * tryCreateNewConnections, which counts upstream_cx_overflow at max_connections); a connection closes
 * after max_requests_per_connection requests. A push that changes the cluster rebuilds it as a CDS
 * update does: new limits for new requests at once, the old pool drains.
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
  /** The connection the request holds, set by the pool before `attached()` (or before it answers 'attached'). */
  connection?: PoolConnection
}

/** One pooled HTTP/1.1 connection (one request at a time), of one build of the cluster. */
export interface PoolConnection {
  /** Requests it has carried (max_requests_per_connection closes it). */
  served: number
  /** The cluster build it belongs to; an older build's connections drain. */
  build: number
}

/**
 * How long a new upstream connection takes to become ready, in turns of the sandbox's event loop.
 * Envoy's pool sees a connection ready only after the TCP handshake to the peer pod and Istio's mTLS
 * handshake with its sidecar (ISTIO_MUTUAL: ClientHello, the server's flight, Finished), which the
 * sandbox does not perform over loopback; requests opened for it wait as pending meanwhile
 * (conn_pool_base.cc). Modelled as 1–3 turns, drawn per connection from the mesh's random source
 * (real handshakes vary with scheduling and crypto), calibrated on Istio's circuit-breaking task
 * (packages/sandbox/test/mesh/pool.test.ts: 17–35 % 503 UO here, istio.io shows 15–37 %): a fixed 1 or 2
 * turns gives 2.5 % (kinder than Istio), a fixed 3 or more 50 %.
 */
export const CONNECT_TURNS = {min: 1, max: 3}

const afterTurns = (turns: number, done: () => void): void => {
  if (turns <= 0) done()
  else setImmediate(() => afterTurns(turns - 1, done))
}

/** What asking the pool for a connection did. */
export type PoolOutcome = 'attached' | 'pending' | 'overflow'

const COUNTERS = [
  'upstream_rq_total',
  'upstream_rq_completed',
  'upstream_rq_pending_total',
  'upstream_rq_pending_overflow',
  'upstream_rq_pending_failure_eject',
  'upstream_rq_cancelled',
  'upstream_rq_timeout',
  'upstream_rq_per_try_timeout',
  'upstream_rq_retry',
  'upstream_rq_retry_success',
  'upstream_rq_retry_overflow',
  'upstream_rq_retry_limit_exceeded',
  'upstream_rq_rx_reset',
  'upstream_rq_tx_reset',
  'upstream_cx_total',
  'upstream_cx_http1_total',
  'upstream_cx_overflow',
  'upstream_cx_connect_fail',
  'upstream_cx_destroy',
  'upstream_cx_max_requests',
  'upstream_cx_none_healthy',
  'membership_change',
] as const
const GAUGES = [
  'upstream_rq_active',
  'upstream_rq_pending_active',
  'upstream_cx_active',
  'membership_healthy',
  'membership_total',
  'membership_degraded',
  'membership_excluded',
] as const
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
  /** Connections of the current build: connecting, idle or busy. */
  private open = 0
  private connecting = 0
  private readonly idle: PoolConnection[] = []
  /** Requests holding a connection of the current build (the new build's requests breaker starts at 0). */
  private active = 0
  /** Busy connections of older builds, closed as their requests end. */
  private draining = 0
  private build = 0
  private activeRetries = 0
  private readonly pending: PoolWaiter[] = []
  private rr = 0
  private readonly inFlightByHost = new Map<string, number>()

  constructor(
    public config: ClusterConfig,
    private readonly stats: StatStore,
    private readonly now: () => number,
    delimited = true,
    private readonly random: () => number = Math.random,
  ) {
    this.prefix = clusterStatPrefix(config.name, delimited)
    this.c = Object.fromEntries(COUNTERS.map(n => [n, stats.counter(this.prefix + n)])) as Record<CounterName, Stat>
    this.g = Object.fromEntries(GAUGES.map(n => [n, stats.gauge(this.prefix + n)])) as Record<GaugeName, Stat>
    this.breaker = Object.fromEntries(
      BREAKERS.map(n => [n, stats.gauge(`${this.prefix}circuit_breakers.default.${n}`)]),
    ) as UpstreamCluster['breaker']
    for (const n of BREAKERS) stats.gauge(`${this.prefix}circuit_breakers.high.${n}`)
    this.classes = [1, 2, 3, 4, 5].map(k => stats.counter(`${this.prefix}upstream_rq_${k}xx`))
    this.update(config)
  }

  /** Applies a new push: endpoints, thresholds, outlier policy (a changed policy restarts the detector, as a new cluster would). */
  update(config: ClusterConfig): void {
    const before = this.config.endpoints.map(p => p.name).join(',')
    if (this.config !== config && clusterShape(this.config) !== clusterShape(config)) this.rebuild()
    this.config = config
    if (config.endpoints.map(p => p.name).join(',') !== before) this.c.membership_change.value++
    const policy = config.outlier
    if (policy === undefined) {
      if (this.outlierDetector !== undefined) this.stats.removePrefix(`${this.prefix}outlier_detection.`)
      this.outlierDetector = undefined
    } else if (
      this.outlierDetector === undefined ||
      JSON.stringify(this.outlierDetector.policy) !== JSON.stringify(policy)
    ) {
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

  /** Asks the pool for a connection (Envoy newStream): attach to an idle one now, wait as pending, or overflow. */
  requestConnection(waiter: PoolWaiter): PoolOutcome {
    const idle = this.idle.pop()
    if (idle !== undefined) {
      if (this.attach(waiter, idle)) return 'attached'
      this.idle.push(idle)
      return 'overflow'
    }
    // No connected idle connection: the request is pending, also while a connection is connecting.
    if (this.pending.length >= this.config.limits.maxPendingRequests) {
      this.c.upstream_rq_pending_overflow.value++
      return 'overflow'
    }
    this.c.upstream_rq_pending_total.value++
    this.pending.push(waiter)
    this.tryCreateConnections()
    return 'pending'
  }

  /** Envoy tryCreateNewConnections: one connecting connection per pending request, up to max_connections. */
  private tryCreateConnections(): void {
    while (this.pending.length > this.connecting) {
      if (this.open >= this.config.limits.maxConnections) {
        this.c.upstream_cx_overflow.value++
        return
      }
      this.open++
      this.connecting++
      this.c.upstream_cx_total.value++
      this.c.upstream_cx_http1_total.value++
      const build = this.build
      const turns = CONNECT_TURNS.min + Math.floor(this.random() * (CONNECT_TURNS.max - CONNECT_TURNS.min + 1))
      afterTurns(turns, () => {
        if (build !== this.build) {
          // Connected after a rebuild: the old pool closes it unused.
          this.c.upstream_cx_destroy.value++
          return
        }
        this.connecting--
        this.ready({served: 0, build})
      })
    }
  }

  /** A connection is ready (connected or released): the next pending request takes it, else it idles. */
  private ready(connection: PoolConnection): void {
    while (this.pending.length > 0) {
      const next = this.pending.shift() as PoolWaiter
      if (this.attach(next, connection)) {
        next.attached()
        return
      }
      next.overflowed()
    }
    this.idle.push(connection)
  }

  /** Removes a waiter that gave up (route timeout, downstream gone) before it got a connection. */
  cancelPending(waiter: PoolWaiter): void {
    const i = this.pending.indexOf(waiter)
    if (i < 0) return
    this.pending.splice(i, 1)
    this.c.upstream_rq_cancelled.value++
  }

  private attach(waiter: PoolWaiter, connection: PoolConnection): boolean {
    if (this.active >= this.config.limits.maxRequests) {
      // Envoy attachStreamToClient: the requests breaker refuses; the connection stays idle.
      this.c.upstream_rq_pending_overflow.value++
      return false
    }
    waiter.connection = connection
    this.c.upstream_rq_total.value++
    this.g.upstream_rq_active.value++
    this.active++
    return true
  }

  /** Marks a host as carrying one more (or one fewer) request, for LEAST_REQUEST. */
  hostInFlight(host: string, delta: 1 | -1): void {
    this.inFlightByHost.set(host, (this.inFlightByHost.get(host) ?? 0) + delta)
  }

  /**
   * Ends a request's hold on its connection. A healthy connection goes to the next pending request
   * or back to idle; a failed one (connect failure, reset), one that carried max_requests_per_connection
   * requests (upstream_cx_max_requests) or one of an older build is closed.
   */
  finishRequest(connectionUsable: boolean, connection: PoolConnection | undefined): void {
    this.g.upstream_rq_active.value--
    if (connection === undefined) return
    connection.served++
    if (connection.build !== this.build) {
      this.draining--
      this.c.upstream_cx_destroy.value++
      return
    }
    this.active--
    const maxed = connection.served >= this.config.limits.maxRequestsPerConnection
    if (!connectionUsable || maxed) {
      if (connectionUsable) this.c.upstream_cx_max_requests.value++
      this.open--
      this.c.upstream_cx_destroy.value++
      this.tryCreateConnections()
      return
    }
    this.ready(connection)
  }

  /**
   * A CDS update replaced the cluster (envoy `source/common/upstream/cluster_manager_impl.cc`: the
   * replaced ClusterEntry's destructor drains its hosts' pools with DrainAndDelete — "draining an HTTP
   * pool only leads to idle connections being closed. Non-idle connections are marked as draining"):
   * the new cluster has a new resource manager and new pools; the old busy connections close once
   * their requests end. Pending requests stay queued and are served by the new pool (Envoy serves
   * them from the draining pool).
   */
  private rebuild(): void {
    this.build++
    this.c.upstream_cx_destroy.value += this.idle.length
    this.draining += this.open - this.idle.length - this.connecting
    this.idle.length = 0
    this.open = 0
    this.connecting = 0
    this.active = 0
    this.activeRetries = 0
    this.tryCreateConnections()
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
    // Retries of an older build end after a rebuild reset the count (a slight undercount, never over).
    this.activeRetries = Math.max(0, this.activeRetries - 1)
  }

  /** Charges a response code to `upstream_rq_<code>`, `upstream_rq_<N>xx`, `upstream_rq_completed`. */
  chargeCode(status: number, retried = false): void {
    if (retried) {
      // envoy `source/common/router/router.cc` chargeUpstreamCode(…, dropped = true): a response that
      // was retried is charged under the `retry.` prefix, not as the request's outcome.
      for (const name of [
        `retry.upstream_rq_${status}`,
        `retry.upstream_rq_${Math.floor(status / 100)}xx`,
        'retry.upstream_rq_completed',
      ]) {
        this.stats.counter(this.prefix + name).value++
      }
      return
    }
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
    this.g.upstream_cx_active.value = this.open + this.draining
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

/** What a CDS update replaces: everything but the endpoints (EDS updates those in place). */
function clusterShape(config: ClusterConfig): string {
  return JSON.stringify({...config, service: undefined, endpoints: undefined})
}
