/**
 * Envoy's router filter for one downstream request: connection-pool admission, per-try and route
 * timeouts, retries with back-off on other hosts, outlier reporting, and streaming the response back.
 */
import type http from 'node:http'
import type {IncomingMessage, OutgoingHttpHeaders, ServerResponse} from 'node:http'

import type {Pod} from '../types.js'
import type {PoolWaiter, UpstreamCluster} from './cluster.js'
import type {ResponseFlag} from './reply.js'
import {forwardableHeaders, localReply, NO_HEALTHY_UPSTREAM_BODY, OVERFLOW_BODY, resetBody, TIMEOUT_BODY} from './reply.js'
import {type AttemptFailure, backoffMs, isRetriable, type RetryPolicy} from './retry.js'
import {callUpstream, type UpstreamFailure} from './upstream.js'

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
  /** Reports an attempt that reached a pod, for that pod's `reporter="destination"` metrics. */
  reachedDestination(pod: Pod, status: number, grpcStatus: number | undefined, durationMs: number): void
}

/** The route's upstream settings. */
export interface RouteAction {
  timeoutMs: number | undefined
  retry: RetryPolicy
}

/** Responses up to this size (with a content-length) are buffered and written at once. */
const SMALL_BODY = 64 * 1024

function grpcStatusOf(res: IncomingMessage): number | undefined {
  const v = res.headers['grpc-status']
  return typeof v === 'string' && v !== '' ? Number(v) : undefined
}

/** Drives one request through the cluster until a response or a local reply. */
export class Forwarder {
  private retries = 0
  private readonly tried = new Set<string>()
  private waiter: PoolWaiter | undefined
  private upstream: http.ClientRequest | undefined
  private host: Pod | undefined
  private attemptStart = 0
  private holdsRetrySlot = false
  private routeTimer: NodeJS.Timeout | undefined
  private perTryTimer: NodeJS.Timeout | undefined
  private backoffTimer: NodeJS.Timeout | undefined
  private done = false

  constructor(
    private readonly ex: Exchange, private readonly cluster: UpstreamCluster, private readonly action: RouteAction,
    private readonly agent: http.Agent, private readonly random: () => number,
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
    const waiter: PoolWaiter = {attached: () => this.send(host), overflowed: () => this.overflow()}
    this.waiter = waiter
    const outcome = this.cluster.requestConnection(waiter)
    if (outcome === 'attached') this.send(host)
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

  private send(host: Pod): void {
    this.waiter = undefined
    if (this.done) {
      this.cluster.finishRequest(true)
      return
    }
    this.tried.add(host.name)
    this.host = host
    this.cluster.hostInFlight(host.name, 1)
    this.attemptStart = performance.now()
    const headers = this.ex.headers
    headers['x-envoy-attempt-count'] = String(this.retries + 1)
    const perTry = this.action.retry.perTryTimeoutMs
    if (perTry !== undefined && perTry > 0) this.perTryTimer = setTimeout(() => this.onPerTryTimeout(), perTry)
    const call: http.ClientRequest = callUpstream(
      this.agent, host.appPort, this.ex.method, this.ex.path, headers, this.ex.body,
      res => { if (this.upstream === call) this.onResponse(host, res) },
      failure => { if (this.upstream === call) this.onFailure(host, failure) },
    )
    this.upstream = call
  }

  /** Ends the current attempt's hold on its connection and host. */
  private endAttempt(usable: boolean): void {
    if (this.perTryTimer !== undefined) clearTimeout(this.perTryTimer)
    this.perTryTimer = undefined
    if (this.host !== undefined) this.cluster.hostInFlight(this.host.name, -1)
    this.host = undefined
    this.upstream = undefined
    this.cluster.finishRequest(usable)
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
    this.endAttempt(false)
    call?.destroy()
    this.cluster.outlier?.report(host.name, {kind: 'local-origin', status: 504}, this.cluster.config.endpoints.length)
    if (this.maybeRetry({kind: 'per-try-timeout'})) return
    this.ex.flags.add('UT')
    this.cluster.chargeCode(504)
    localReply(this.ex.res, 504, TIMEOUT_BODY)
    this.end(504, undefined, undefined)
  }

  private onResponse(host: Pod, upstream: IncomingMessage): void {
    const status = upstream.statusCode ?? 502
    const grpcStatus = grpcStatusOf(upstream)
    this.cluster.chargeCode(status)
    this.cluster.outlier?.report(host.name, {kind: 'response', status}, this.cluster.config.endpoints.length)
    const serviceTime = performance.now() - this.attemptStart
    if (isRetriable(this.action.retry, {kind: 'response', status, grpcStatus})) {
      const retried = this.maybeRetryAfterResponse(status, grpcStatus)
      if (retried) {
        upstream.resume()
        this.ex.reachedDestination(host, status, grpcStatus, serviceTime)
        return
      }
    }
    const res = this.ex.res
    if (res.destroyed) return
    const headers = forwardableHeaders(upstream.headers)
    headers['x-envoy-upstream-service-time'] = String(Math.round(serviceTime))
    headers['server'] = 'envoy'
    this.ex.responseHeaders(headers)
    const finished = (): void => {
      if (this.upstream !== undefined) this.endAttempt(true)
      this.ex.reachedDestination(host, status, grpcStatus, performance.now() - this.attemptStart)
      this.end(status, host, grpcStatus)
    }
    const length = Number(upstream.headers['content-length'])
    if (length <= SMALL_BODY) {
      // Small bodies: buffer and answer with one write (headers + body), skipping stream plumbing.
      const chunks: Buffer[] = []
      upstream.on('data', (c: Buffer) => chunks.push(c))
      upstream.on('end', () => {
        res.writeHead(status, headers)
        res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks))
        finished()
      })
    } else {
      res.writeHead(status, headers)
      upstream.pipe(res, {end: false})
      upstream.on('end', () => {
        res.end()
        finished()
      })
    }
    upstream.on('error', () => undefined) // the 'close' below handles it
    upstream.on('close', () => {
      if (this.done || upstream.complete) return
      if (this.upstream !== undefined) this.endAttempt(false)
      this.ex.flags.add('UC')
      res.destroy()
      this.end(status, host, grpcStatus)
    })
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
      call.destroy()
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
