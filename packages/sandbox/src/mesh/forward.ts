/**
 * Envoy's router filter for one downstream request: connection-pool admission, per-try and route
 * timeouts, retries with back-off on other hosts, outlier reporting, and streaming the response back.
 */
import type {IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse} from 'node:http'

import type {Pod} from '../types.js'
import type {PoolConnection, PoolWaiter, UpstreamCluster} from './cluster.js'
import type {ResponseFlag} from './reply.js'
import {
  forwardableHeaders,
  localReply,
  NO_HEALTHY_UPSTREAM_BODY,
  OVERFLOW_BODY,
  resetBody,
  TIMEOUT_BODY,
} from './reply.js'
import {type AttemptFailure, backoffMs, isRetriable, type RetryPolicy} from './retry.js'
import {UpstreamCall, type UpstreamFailure, type UpstreamListener, type UpstreamPools} from './upstream.js'

/** One downstream request as the router sees it, and how it reports its end. */
export interface Exchange {
  readonly res: ServerResponse
  readonly method: string
  readonly path: string
  readonly headers: OutgoingHttpHeaders
  readonly body: Buffer | undefined
  /** Applies the route's response header operations. */
  responseHeaders(headers: OutgoingHttpHeaders): void
  readonly flags: Set<ResponseFlag>
  /** Called once with the final status and the pod that answered (undefined for local replies). */
  finish(status: number, servedBy: Pod | undefined, grpcStatus: number | undefined): void
  /** Reports an attempt that reached a pod, for that pod's `reporter="destination"` metrics (sizes: `UpstreamCall`). */
  reachedDestination(
    pod: Pod,
    status: number,
    grpcStatus: number | undefined,
    durationMs: number,
    requestBytes: number,
    responseBytes: number,
  ): void
}

/** The route's upstream settings. */
export interface RouteAction {
  timeoutMs: number | undefined
  retry: RetryPolicy
}

/** Responses up to this size (with a content-length) are buffered and written at once. */
const SMALL_BODY = 64 * 1024

function grpcStatusOf(headers: IncomingHttpHeaders): number | undefined {
  const v = headers['grpc-status']
  return typeof v === 'string' && v !== '' ? Number(v) : undefined
}

/** The upstream response being relayed downstream. */
interface Relay {
  call: UpstreamCall
  host: Pod
  status: number
  grpcStatus: number | undefined
  headers: OutgoingHttpHeaders
  /** Buffered body chunks (small bodies), or undefined when streaming. */
  chunks: Buffer[] | undefined
}

/** Drives one request through the cluster until a response or a local reply. */
export class Forwarder implements UpstreamListener {
  private retries = 0
  private readonly tried = new Set<string>()
  private waiter: PoolWaiter | undefined
  private connection: PoolConnection | undefined
  private upstream: UpstreamCall | undefined
  private relay: Relay | undefined
  private host: Pod | undefined
  private attemptStart = 0
  private holdsRetrySlot = false
  private routeTimer: NodeJS.Timeout | undefined
  private perTryTimer: NodeJS.Timeout | undefined
  private backoffTimer: NodeJS.Timeout | undefined
  private done = false

  constructor(
    private readonly ex: Exchange,
    private readonly cluster: UpstreamCluster,
    private readonly action: RouteAction,
    private readonly pools: UpstreamPools,
    private readonly random: () => number,
  ) {}

  /** Starts the first attempt and the route timeout. */
  start(): void {
    const t = this.action.timeoutMs
    if (t !== undefined && t > 0) this.routeTimer = setTimeout(() => this.onRouteTimeout(), t)
    this.attempt()
  }

  /** The downstream went away: stop everything (Envoy flag DC). */
  cancel(): void {
    if (this.done) return
    this.ex.flags.add('DC')
    this.abandonAttempt()
    this.end(0, undefined, undefined)
  }

  private attempt(): void {
    this.backoffTimer = undefined
    const host = this.cluster.pickHost(this.random, this.tried)
    if (host === undefined) {
      this.releaseRetrySlot()
      this.cluster.c.upstream_cx_none_healthy.value++
      this.ex.flags.add('UH')
      localReply(this.ex.res, 503, NO_HEALTHY_UPSTREAM_BODY)
      this.end(503, undefined, undefined)
      return
    }
    const waiter: PoolWaiter = {attached: () => this.send(host, waiter.connection), overflowed: () => this.overflow()}
    this.waiter = waiter
    const outcome = this.cluster.requestConnection(waiter)
    if (outcome === 'attached') this.send(host, waiter.connection)
    else if (outcome === 'overflow') this.overflow()
  }

  private overflow(): void {
    this.waiter = undefined
    this.releaseRetrySlot()
    this.ex.flags.add('UO')
    this.cluster.chargeCode(503)
    localReply(this.ex.res, 503, OVERFLOW_BODY, {'x-envoy-overloaded': 'true'})
    this.end(503, undefined, undefined)
  }

  private send(host: Pod, connection: PoolConnection | undefined): void {
    this.waiter = undefined
    if (this.done) {
      this.cluster.finishRequest(true, connection)
      return
    }
    this.connection = connection
    this.tried.add(host.name)
    this.host = host
    this.cluster.hostInFlight(host.name, 1)
    this.attemptStart = performance.now()
    const headers = this.ex.headers
    headers['x-envoy-attempt-count'] = String(this.retries + 1)
    const perTry = this.action.retry.perTryTimeoutMs
    if (perTry !== undefined && perTry > 0) this.perTryTimer = setTimeout(() => this.onPerTryTimeout(), perTry)
    const call = new UpstreamCall(this)
    // Set before sending: undici reports some failures synchronously from dispatch.
    this.upstream = call
    call.send(this.pools, host.appPort, this.ex.method, this.ex.path, headers, this.ex.body)
  }

  /** Ends the current attempt's hold on its connection and host. */
  private endAttempt(usable: boolean): void {
    if (this.perTryTimer !== undefined) clearTimeout(this.perTryTimer)
    this.perTryTimer = undefined
    if (this.host !== undefined) this.cluster.hostInFlight(this.host.name, -1)
    this.host = undefined
    this.upstream = undefined
    this.cluster.finishRequest(usable, this.connection)
    this.connection = undefined
    this.releaseRetrySlot()
  }

  private onFailure(host: Pod, failure: UpstreamFailure): void {
    this.endAttempt(false)
    if (failure === 'connect-failure') this.cluster.c.upstream_cx_connect_fail.value++
    else this.cluster.c.upstream_rq_rx_reset.value++
    this.cluster.outlier?.report(host.name, {kind: 'local-origin', status: 503}, this.cluster.config.endpoints.length)
    if (this.maybeRetry({kind: failure})) return
    this.ex.flags.add(failure === 'connect-failure' ? 'UF' : 'UC')
    this.cluster.chargeCode(503)
    localReply(this.ex.res, 503, resetBody(failure, this.retries > 0))
    this.end(503, undefined, undefined)
  }

  private onPerTryTimeout(): void {
    const host = this.host as Pod
    this.perTryTimer = undefined
    this.cluster.c.upstream_rq_per_try_timeout.value++
    const call = this.upstream
    const relay = this.relay !== undefined && this.relay.call === call ? this.relay : undefined
    this.endAttempt(false)
    call?.cancel()
    this.cluster.outlier?.report(host.name, {kind: 'local-origin', status: 504}, this.cluster.config.endpoints.length)
    if (this.maybeRetry({kind: 'per-try-timeout'})) {
      // Response headers already arrived: that response cannot be replaced, the downstream is cut (UC).
      if (relay !== undefined) this.cutMidBody(relay)
      return
    }
    this.ex.flags.add('UT')
    this.cluster.chargeCode(504)
    localReply(this.ex.res, 504, TIMEOUT_BODY)
    this.end(504, undefined, undefined)
  }

  /** @internal UpstreamListener: response headers; decides retry, then buffers (small) or streams the body. */
  onUpstreamHeaders(call: UpstreamCall, status: number, upstreamHeaders: IncomingHttpHeaders): boolean {
    const host = this.host
    if (call !== this.upstream || host === undefined) return true
    const grpcStatus = grpcStatusOf(upstreamHeaders)
    this.cluster.outlier?.report(host.name, {kind: 'response', status}, this.cluster.config.endpoints.length)
    const serviceTime = performance.now() - this.attemptStart
    if (isRetriable(this.action.retry, {kind: 'response', status, grpcStatus})) {
      const retried = this.maybeRetryAfterResponse(status, grpcStatus)
      if (retried) {
        this.cluster.chargeCode(status, true)
        // The drained body counts as sent: the pod's sidecar would have relayed it whole.
        const length = Number(upstreamHeaders['content-length'])
        this.ex.reachedDestination(
          host,
          status,
          grpcStatus,
          serviceTime,
          call.requestBytes,
          call.responseBytes + (length > 0 ? length : 0),
        )
        return true // drained: the call is no longer current, its body is ignored
      }
    }
    this.cluster.chargeCode(status)
    const res = this.ex.res
    if (res.destroyed) return true
    const headers = forwardableHeaders(upstreamHeaders)
    headers['x-envoy-upstream-service-time'] = String(Math.round(serviceTime))
    headers['server'] = 'envoy'
    this.ex.responseHeaders(headers)
    // Small bodies (with a content-length) are buffered and answered with one write (headers + body).
    const small = Number(upstreamHeaders['content-length']) <= SMALL_BODY
    this.relay = {call, host, status, grpcStatus, headers, chunks: small ? [] : undefined}
    if (!small) res.writeHead(status, headers)
    return true
  }

  /** @internal UpstreamListener: a body chunk; streaming honours the downstream's back-pressure. */
  onUpstreamData(call: UpstreamCall, chunk: Buffer): boolean {
    const relay = this.relay
    if (relay === undefined || relay.call !== call) return true
    if (relay.chunks !== undefined) {
      relay.chunks.push(chunk)
      return true
    }
    const res = this.ex.res
    if (res.write(chunk)) return true
    res.once('drain', () => call.resume())
    return false
  }

  /** @internal UpstreamListener: the body is complete; answer (buffered) or end the stream. */
  onUpstreamEnd(call: UpstreamCall): void {
    const relay = this.relay
    if (relay === undefined || relay.call !== call || this.done) return
    const res = this.ex.res
    const chunks = relay.chunks
    if (chunks !== undefined) {
      res.writeHead(relay.status, relay.headers)
      res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
    } else res.end()
    if (this.upstream === call) this.endAttempt(true)
    this.ex.reachedDestination(
      relay.host,
      relay.status,
      relay.grpcStatus,
      performance.now() - this.attemptStart,
      call.requestBytes,
      call.responseBytes,
    )
    this.end(relay.status, relay.host, relay.grpcStatus)
  }

  /** @internal UpstreamListener: failure before headers (retry or local reply) or a reset mid-body (UC). */
  onUpstreamError(call: UpstreamCall, failure: UpstreamFailure): void {
    if (!call.headersSeen) {
      if (call === this.upstream && this.host !== undefined) this.onFailure(this.host, failure)
      return
    }
    const relay = this.relay
    if (relay === undefined || relay.call !== call || this.done) return
    this.cutMidBody(relay)
  }

  /** The upstream response broke off after its headers: reset the downstream (Envoy flag UC). */
  private cutMidBody(relay: Relay): void {
    this.abandonAttempt()
    this.ex.flags.add('UC')
    this.ex.res.destroy()
    this.end(relay.status, relay.host, relay.grpcStatus)
  }

  /** A retriable response: drain it, give the connection back, and retry if the policy and breaker allow. */
  private maybeRetryAfterResponse(status: number, grpcStatus: number | undefined): boolean {
    const failure: AttemptFailure = {kind: 'response', status, grpcStatus}
    if (this.retries >= this.action.retry.numRetries) return this.maybeRetry(failure)
    this.endAttempt(true)
    return this.maybeRetry(failure)
  }

  /** Schedules a retry when retriable; records URX (limit) or UO (retry breaker) when it cannot. */
  private maybeRetry(failure: AttemptFailure): boolean {
    if (this.done || !isRetriable(this.action.retry, failure)) return false
    if (this.retries >= this.action.retry.numRetries) {
      if (this.action.retry.numRetries > 0) {
        this.ex.flags.add('URX')
        this.cluster.c.upstream_rq_retry_limit_exceeded.value++
      }
      return false
    }
    if (!this.cluster.tryStartRetry()) {
      this.ex.flags.add('UO')
      return false
    }
    this.holdsRetrySlot = true
    this.retries++
    this.backoffTimer = setTimeout(() => this.attempt(), backoffMs(this.action.retry, this.retries, this.random))
    return true
  }

  private releaseRetrySlot(): void {
    if (!this.holdsRetrySlot) return
    this.holdsRetrySlot = false
    this.cluster.endRetry()
  }

  private onRouteTimeout(): void {
    this.routeTimer = undefined
    if (this.done) return
    this.cluster.c.upstream_rq_timeout.value++
    this.ex.flags.add('UT')
    // envoy source/common/router/router.cc onResponseTimeout: an attempt still awaiting headers is
    // reported to outlier detection as LocalOriginTimeout with the timeout's 504, so a slow host can be ejected.
    if (this.upstream !== undefined && !this.upstream.headersSeen && this.host !== undefined) {
      this.cluster.outlier?.report(
        this.host.name,
        {kind: 'local-origin', status: 504},
        this.cluster.config.endpoints.length,
      )
    }
    const headersSent = this.ex.res.headersSent
    this.abandonAttempt()
    if (!headersSent) {
      this.cluster.chargeCode(504)
      localReply(this.ex.res, 504, TIMEOUT_BODY)
    } else this.ex.res.destroy()
    this.end(504, undefined, undefined)
  }

  /** Drops whatever is in progress: a pending pool slot, an in-flight attempt, a back-off timer. */
  private abandonAttempt(): void {
    if (this.waiter !== undefined) {
      this.cluster.cancelPending(this.waiter)
      this.waiter = undefined
    }
    if (this.backoffTimer !== undefined) {
      clearTimeout(this.backoffTimer)
      this.backoffTimer = undefined
    }
    const call = this.upstream
    if (call !== undefined) {
      this.endAttempt(false)
      call.cancel()
    }
    this.releaseRetrySlot()
  }

  private end(status: number, servedBy: Pod | undefined, grpcStatus: number | undefined): void {
    if (this.done) return
    this.done = true
    if (this.routeTimer !== undefined) clearTimeout(this.routeTimer)
    this.ex.finish(status, servedBy, grpcStatus)
  }
}
