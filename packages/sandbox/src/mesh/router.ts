/**
 * The outbound request path of a sidecar, in Envoy's filter order: virtual host by authority →
 * first-matching route (`selectRoute`) → fault filter (delay, then abort) → router (`Forwarder`).
 */
import {randomUUID} from 'node:crypto'
import http, {type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse} from 'node:http'
import type {Socket} from 'node:net'

import {parseDurationMs} from '@faultline/core/duration.js'
import {fqdn, type RoutableRequest, selectRoute} from '@faultline/core/istio/routing.js'
import type {HTTPRoute, HTTPRouteDestination} from '@faultline/core/istio/types.js'
import type {Pod, Service} from '../types.js'
import type {UpstreamCluster} from './cluster.js'
import {answerLocally, applyRequestHeaders, applyResponseHeaders, rewrite} from './actions.js'
import {clusterName, type RoutingTable, type VirtualHost} from './config.js'
import {drawAbort, drawDelay} from './fault.js'
import {type Exchange, Forwarder} from './forward.js'
import {FAULT_ABORT_BODY, formatFlags, forwardableHeaders, localReply, resetBody, type ResponseFlag} from './reply.js'
import type {IstioProfile} from './profile.js'
import {ISTIO_122_DEFAULT_RETRY, ISTIO_DEFAULT_RETRY, retryPolicyFor} from './retry.js'
import type {Stat} from './stats.js'
import type {RequestRecord} from './telemetry.js'
import type {UpstreamPools} from './upstream.js'

/** The fault filter's stats of one outbound listener. */
export interface FaultStats {
  delays: Stat
  aborts: Stat
  active: Stat
}

/** What the request path needs from its sidecar. */
export interface OutboundContext {
  readonly pod: Pod
  table(): RoutingTable
  cluster(name: string): UpstreamCluster | undefined
  faultStats(port: number): FaultStats
  readonly upstreams: UpstreamPools
  readonly random: () => number
  /** The Istio release the sidecar behaves like (`--istio`). */
  readonly profile: IstioProfile
  /** Records a `reporter="source"` sample. */
  recordSource(r: Omit<RequestRecord, 'reporter' | 'source'>): void
  /** Records a `reporter="destination"` sample in the serving pod's sidecar. */
  recordDestination(servedBy: Pod, r: Omit<RequestRecord, 'reporter' | 'source' | 'destination'>): void
  /** meshConfig `outboundTrafficPolicy.mode` for hosts outside the registry; unset is Istio's default `ALLOW_ANY`. */
  readonly outboundTrafficPolicy?: OutboundTrafficPolicy
}

/** meshConfig outboundTrafficPolicy.mode. */
export type OutboundTrafficPolicy = 'ALLOW_ANY' | 'REGISTRY_ONLY'

/** Where an outbound request is going: from the absolute-form URL or the Host header. */
export interface OutboundTarget {
  host: string
  port: number | undefined
  authority: string
  path: string
}

/** Parses `GET http://ratings:9080/ratings/0` (absolute form) or origin form + Host. */
export function outboundTarget(req: IncomingMessage): OutboundTarget | undefined {
  const url = req.url ?? '/'
  let authority: string
  let path: string
  if (url.startsWith('http://')) {
    const slash = url.indexOf('/', 7)
    authority = slash < 0 ? url.slice(7) : url.slice(7, slash)
    path = slash < 0 ? '/' : url.slice(slash)
  } else {
    authority = req.headers.host ?? ''
    path = url
  }
  if (authority === '') return undefined
  const colon = authority.lastIndexOf(':')
  const host = (colon < 0 ? authority : authority.slice(0, colon)).toLowerCase()
  const port = colon < 0 ? undefined : Number(authority.slice(colon + 1))
  if (port !== undefined && !Number.isInteger(port)) return undefined
  return {host, port, authority, path}
}

function pickDestination(route: HTTPRoute, random: () => number): HTTPRouteDestination | undefined {
  const all = route.route ?? []
  if (all.length <= 1) return all[0]
  const candidates = all.filter(d => (d.weight ?? 0) > 0)
  const total = candidates.reduce((sum, d) => sum + (d.weight ?? 0), 0)
  if (total === 0) return all[0]
  let r = random() * total
  for (const d of candidates) {
    r -= d.weight ?? 0
    if (r < 0) return d
  }
  return candidates[candidates.length - 1]
}

/**
 * A request's routing state from the moment its virtual host is looked up, recording the caller's
 * `reporter="source"` sample once when it is answered (a sidecar's outbound listener or a gateway's).
 */
export function startRouted(
  ctx: OutboundContext,
  req: IncomingMessage,
  res: ServerResponse,
  vhost: VirtualHost | undefined,
  target: OutboundTarget | undefined,
  serviceFqdn: string,
): Routed {
  const started = performance.now()
  const grpc = (req.headers['content-type'] ?? '').startsWith('application/grpc')
  const r: Routed = {
    req,
    res,
    vhost: vhost as VirtualHost,
    route: undefined,
    matchIndex: -1,
    target: target as OutboundTarget,
    flags: new Set(),
    service: vhost?.service,
    serviceFqdn,
    served: false,
    finish(status, servedBy, grpcStatus) {
      if (r.served) return
      r.served = true
      const wire = downstreamBytes(req.socket)
      ctx.recordSource({
        destination: servedBy,
        service: r.service,
        serviceFqdn: r.serviceFqdn,
        status,
        grpcStatus,
        protocol: grpc ? 'grpc' : 'http',
        flags: formatFlags(r.flags),
        durationMs: performance.now() - started,
        requestBytes: wire.received,
        responseBytes: wire.sent,
      })
    },
  }
  return r
}

/** Envoy's answer when no route matches: 404 with flag `NR` and no body (`route_not_found`). */
export function noRoute(r: Routed): void {
  r.req.resume()
  r.flags.add('NR')
  localReply(r.res, 404, '')
  r.finish(404, undefined, undefined)
}

/** Handles one request arriving on the sidecar's outbound listener. */
export function handleOutbound(ctx: OutboundContext, req: IncomingMessage, res: ServerResponse): void {
  const target = outboundTarget(req)
  const table = ctx.table()
  const vhost =
    target === undefined
      ? undefined
      : table.virtualHosts.get(target.port === undefined ? target.host : `${target.host}:${target.port}`)
  const r = startRouted(ctx, req, res, vhost, target, vhost?.fqdn ?? target?.host ?? 'unknown')
  if (target === undefined || vhost === undefined) {
    // Hosts outside the registry take the catch-all virtual host (istio 1.30.3
    // pilot/pkg/networking/core/httproute.go buildCatchAllVirtualHost): ALLOW_ANY (the default)
    // `allow_any` routes to PassthroughCluster, the original destination, with no timeout and no
    // retries; REGISTRY_ONLY `block_all` is a direct response 502 with no body (no response flag).
    if (target !== undefined && ctx.outboundTrafficPolicy !== 'REGISTRY_ONLY') {
      passthrough(r, target)
      return
    }
    req.resume()
    localReply(res, 502, '')
    r.finish(502, undefined, undefined)
    return
  }
  const selection =
    vhost.routes === undefined ? undefined : selectRoute(vhost.routes, routableRequest(req, target, vhost.port))
  if (vhost.routes !== undefined && selection === undefined) {
    noRoute(r) // Envoy: no route matched → 404 route_not_found
    return
  }
  r.route = selection?.route
  r.matchIndex = selection?.matchIndex ?? -1
  routeRequest(ctx, r)
}

/** Per downstream connection, its byte counts when its previous request was recorded. */
const counted = new WeakMap<Socket, {read: number; written: number}>()

/**
 * The downstream wire bytes of the request being recorded, as Envoy's downstream bytes meter gives them
 * to the stats filter (istio/proxy `istio_stats.cc` wireBytesReceived / wireBytesSent: request and
 * status lines, headers, body and chunk framing): what the app's connection carried since the previous
 * request on it was recorded. Recorded right after the response's last write (or its reset); HTTP/1.1
 * requests on one connection follow each other, so the delta is this request's, read from two socket
 * getters and a WeakMap entry, with no per-request wrapping of writes.
 */
function downstreamBytes(socket: Socket | null | undefined): {received: number; sent: number} {
  if (socket === null || socket === undefined) return {received: 0, sent: 0}
  const read = socket.bytesRead
  const written = socket.bytesWritten ?? 0
  const before = counted.get(socket)
  if (before === undefined) {
    counted.set(socket, {read, written})
    return {received: read, sent: written}
  }
  const out = {received: Math.max(0, read - before.read), sent: Math.max(0, written - before.written)}
  before.read = read
  before.written = written
  return out
}

/** What route matching sees of a request on a listener port. */
export function routableRequest(req: IncomingMessage, target: OutboundTarget, port: number): RoutableRequest {
  return {
    method: req.method ?? 'GET',
    path: target.path,
    headers: req.headers as Record<string, string | undefined>,
    authority: target.authority,
    port,
  }
}

/** One request's routing state, from virtual host to final status. */
export interface Routed {
  req: IncomingMessage
  res: ServerResponse
  vhost: VirtualHost
  route: HTTPRoute | undefined
  matchIndex: number
  target: OutboundTarget
  flags: Set<ResponseFlag>
  /** The destination service (the routed cluster's, once known) for `destination_service`. */
  service: Service | undefined
  serviceFqdn: string
  destination?: HTTPRouteDestination | undefined
  served: boolean
  finish(status: number, servedBy: Pod | undefined, grpcStatus: number | undefined): void
}

/** From the selected route on: direct answers, the destination and its cluster, the fault filter, the router. */
export function routeRequest(ctx: OutboundContext, r: Routed): void {
  const {req, res, vhost, route} = r
  if (route !== undefined) {
    const status = answerLocally(res, route, r.target.path, r.target.authority)
    if (status !== undefined) {
      req.resume()
      r.finish(status, undefined, undefined)
      return
    }
  }
  // The default route (no VirtualService) has no destination object: no subset, port or header operations.
  const destination = route === undefined ? undefined : pickDestination(route, ctx.random)
  // The default route already names the service by FQDN; route destinations resolve in the VS's namespace.
  const destFqdn =
    route === undefined
      ? vhost.fqdn
      : destination === undefined
        ? undefined
        : fqdn(destination.destination.host, vhost.routeNamespace)
  const service =
    route === undefined ? vhost.service : destFqdn === undefined ? undefined : ctx.table().services.get(destFqdn)
  const port = destination?.destination.port?.number ?? service?.port ?? vhost.port
  const cluster =
    destFqdn === undefined ? undefined : ctx.cluster(clusterName(port, destination?.destination.subset ?? '', destFqdn))
  r.destination = destination
  if (cluster !== undefined) {
    r.service = cluster.config.service
    r.serviceFqdn = cluster.config.fqdn
  }
  // The fault filter runs before the router looks the cluster up (istio 1.30.3
  // pilot/pkg/networking/core/listener_builder.go appends xdsfilters.Fault before the router filter):
  // a route whose cluster is missing still
  // answers its abort fault, and NC only reaches requests the fault lets through.
  const fault = route?.fault
  const delayMs = drawDelay(fault, ctx.random)
  if (delayMs === undefined) {
    afterDelay(ctx, r, cluster)
    return
  }
  const stats = ctx.faultStats(vhost.port)
  stats.delays.value++
  stats.active.value++
  r.flags.add('DI')
  let delaying = true
  const cancel = holdFor(delayMs, () => {
    delaying = false
    stats.active.value--
    if (!res.destroyed) afterDelay(ctx, r, cluster)
  })
  res.once('close', () => {
    if (!delaying) return // after the delay the router owns the request
    delaying = false
    cancel()
    stats.active.value--
    r.flags.add('DC')
    r.finish(0, undefined, undefined)
  })
}

/**
 * Calls `fn` once `ms` have passed on the high-resolution clock, never before. A Node timer counts
 * from the event loop's millisecond clock, truncated, so `setTimeout(fn, 100)` can fire up to 1 ms
 * early (a client saw 99.8 ms answers to a 100 ms delay); Envoy's delay is never short. Returns a cancel.
 */
export function holdFor(ms: number, fn: () => void): () => void {
  const until = performance.now() + ms
  let timer: NodeJS.Timeout
  const check = () => {
    const left = until - performance.now()
    if (left <= 0) fn()
    else timer = setTimeout(check, Math.max(1, Math.ceil(left)))
  }
  timer = setTimeout(check, ms)
  return () => clearTimeout(timer)
}

function afterDelay(ctx: OutboundContext, r: Routed, cluster: UpstreamCluster | undefined): void {
  const abort = drawAbort(r.route?.fault, ctx.random)
  if (abort !== undefined) {
    r.req.resume()
    ctx.faultStats(r.vhost.port).aborts.value++
    r.flags.add('FI')
    localReply(
      r.res,
      abort.status,
      FAULT_ABORT_BODY,
      abort.grpcStatus === undefined
        ? undefined
        : {'grpc-status': String(abort.grpcStatus), 'content-type': 'application/grpc'},
    )
    r.finish(abort.status, undefined, abort.grpcStatus)
    return
  }
  if (cluster === undefined) {
    // Envoy: the route names a cluster istiod did not push (unknown host, or a subset no
    // DestinationRule defines) → 503 with flag NC (router cluster_not_found), empty body.
    r.req.resume()
    r.flags.add('NC')
    localReply(r.res, 503, '')
    r.finish(503, undefined, undefined)
    return
  }
  readBody(r.req, body => forward(ctx, r, cluster, body))
}

function readBody(req: IncomingMessage, then: (body: Buffer | undefined) => void): void {
  const length = req.headers['content-length']
  if (req.complete || ((length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined)) {
    req.resume()
    then(undefined)
    return
  }
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => then(Buffer.concat(chunks)))
}

function upstreamHeaders(
  r: Routed,
  authority: string,
  body: Buffer | undefined,
  timeoutMs: number | undefined,
): OutgoingHttpHeaders {
  const headers = forwardableHeaders(r.req.headers)
  headers['host'] = authority
  if (headers['x-request-id'] === undefined) headers['x-request-id'] = randomUUID()
  if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http'
  if (timeoutMs !== undefined) headers['x-envoy-expected-rq-timeout-ms'] = String(timeoutMs)
  if (body !== undefined) headers['content-length'] = body.length
  applyRequestHeaders(headers, r.route, r.destination)
  return headers
}

function forward(ctx: OutboundContext, r: Routed, cluster: UpstreamCluster, body: Buffer | undefined): void {
  if (r.res.destroyed) return
  const timeout = r.route?.timeout === undefined ? undefined : parseDurationMs(r.route.timeout)
  const timeoutMs = timeout !== undefined && timeout > 0 ? timeout : undefined
  const retry = retryPolicyFor(
    r.route?.retries,
    ctx.profile.retry503ByDefault ? ISTIO_122_DEFAULT_RETRY : ISTIO_DEFAULT_RETRY,
  )
  const expected =
    retry.perTryTimeoutMs !== undefined && (timeoutMs === undefined || retry.perTryTimeoutMs < timeoutMs)
      ? retry.perTryTimeoutMs
      : timeoutMs
  const {path, authority} = rewrite(r.route, r.matchIndex, r.target.path, r.target.authority)
  const exchange: Exchange = {
    res: r.res,
    method: r.req.method ?? 'GET',
    path,
    headers: upstreamHeaders(r, authority, body, expected),
    responseHeaders: headers => applyResponseHeaders(headers, r.route, r.destination),
    body,
    flags: r.flags,
    finish: r.finish,
    reachedDestination: (pod, status, grpcStatus, durationMs, requestBytes, responseBytes) =>
      ctx.recordDestination(pod, {
        service: cluster.config.service,
        serviceFqdn: cluster.config.fqdn,
        status,
        grpcStatus,
        protocol: 'http',
        flags: '-',
        durationMs,
        requestBytes,
        responseBytes,
      }),
  }
  const forwarder = new Forwarder(exchange, cluster, {timeoutMs, retry}, ctx.upstreams, ctx.random)
  r.res.once('close', () => {
    if (!r.res.writableFinished) forwarder.cancel()
  })
  forwarder.start()
}

/**
 * Connections to original destinations (PassthroughCluster: ORIGINAL_DST, no circuit breakers Istio
 * sets). Not kept alive, so no socket outlives the sidecar (Envoy would pool them).
 */
const passthroughAgent = new http.Agent({keepAlive: false})

/**
 * The `allow_any` route: the request goes to the host and port it named (port 80 when none), as
 * Envoy's PassthroughCluster connects to the original destination. A connection failure is 503 `UF`.
 */
function passthrough(r: Routed, target: OutboundTarget): void {
  const {req, res} = r
  readBody(req, body => {
    if (res.destroyed) return
    const headers = forwardableHeaders(req.headers)
    headers['host'] = target.authority
    if (headers['x-request-id'] === undefined) headers['x-request-id'] = randomUUID()
    if (headers['x-forwarded-proto'] === undefined) headers['x-forwarded-proto'] = 'http'
    if (body !== undefined) headers['content-length'] = body.length
    const sent = performance.now()
    const up = http.request(
      {
        host: target.host,
        port: target.port ?? 80,
        method: req.method ?? 'GET',
        path: target.path,
        headers,
        agent: passthroughAgent,
      },
      upRes => {
        const status = upRes.statusCode ?? 502
        const out = forwardableHeaders(upRes.headers)
        out['x-envoy-upstream-service-time'] = String(Math.round(performance.now() - sent))
        out['server'] = 'envoy'
        res.writeHead(status, out)
        upRes.pipe(res)
        upRes.on('end', () => r.finish(status, undefined, undefined))
        upRes.on('error', () => {
          r.flags.add('UC')
          res.destroy()
          r.finish(status, undefined, undefined)
        })
      },
    )
    up.on('error', () => {
      if (res.headersSent) return
      r.flags.add('UF')
      localReply(res, 503, resetBody('connect-failure', false))
      r.finish(503, undefined, undefined)
    })
    res.once('close', () => {
      if (!res.writableFinished) up.destroy()
    })
    up.end(body)
  })
}
