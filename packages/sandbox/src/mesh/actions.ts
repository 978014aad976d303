/**
 * Route actions besides forwarding, as Istio translates them (route.go): header operations on the
 * request and response, `rewrite` (prefix/path and authority), `redirect` and `directResponse`.
 */
import type {OutgoingHttpHeaders, ServerResponse} from 'node:http'

import type {HTTPMatchRequest, HTTPRoute, HTTPRouteDestination} from '@faultline/core/istio/types.js'
import {localReply} from './reply.js'

/** Istio Headers.HeaderOperations. */
interface HeaderOperations {
  set?: Record<string, string>
  add?: Record<string, string>
  remove?: string[]
}

type WithHeaders = {headers?: {request?: HeaderOperations; response?: HeaderOperations}}

function apply(headers: OutgoingHttpHeaders, ops: HeaderOperations | undefined): void {
  if (ops === undefined) return
  for (const name of ops.remove ?? []) delete headers[name.toLowerCase()]
  for (const [name, value] of Object.entries(ops.set ?? {})) headers[name.toLowerCase()] = value
  for (const [name, value] of Object.entries(ops.add ?? {})) {
    const key = name.toLowerCase()
    const prev = headers[key]
    headers[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [String(prev), value]
  }
}

/** Applies the route's and the destination's request header operations (route first, destination after). */
export function applyRequestHeaders(
  headers: OutgoingHttpHeaders,
  route: HTTPRoute | undefined,
  destination: HTTPRouteDestination | undefined,
): void {
  apply(headers, (route as WithHeaders | undefined)?.headers?.request)
  apply(headers, (destination as WithHeaders | undefined)?.headers?.request)
}

/** Applies response header operations (destination first, then route, as Envoy nests them). */
export function applyResponseHeaders(
  headers: OutgoingHttpHeaders,
  route: HTTPRoute | undefined,
  destination: HTTPRouteDestination | undefined,
): void {
  apply(headers, (destination as WithHeaders | undefined)?.headers?.response)
  apply(headers, (route as WithHeaders | undefined)?.headers?.response)
}

/** The upstream path and authority after `rewrite`: a uri prefix match has its prefix replaced, otherwise the path is. */
export function rewrite(
  route: HTTPRoute | undefined,
  matchIndex: number,
  path: string,
  authority: string,
): {path: string; authority: string} {
  const rw = route?.['rewrite'] as {uri?: string; authority?: string} | undefined
  if (rw === undefined) return {path, authority}
  let newPath = path
  if (rw.uri !== undefined && rw.uri !== '') {
    const block: HTTPMatchRequest | undefined = matchIndex >= 0 ? route?.match?.[matchIndex] : undefined
    const q = path.indexOf('?')
    const pathOnly = q < 0 ? path : path.slice(0, q)
    const query = q < 0 ? '' : path.slice(q)
    const prefix = block?.uri?.prefix ?? (block?.uri?.exact !== undefined ? pathOnly : '/')
    newPath = rw.uri + pathOnly.slice(prefix.length) + query
  }
  return {path: newPath, authority: rw.authority ?? authority}
}

/** Answers `redirect` and `directResponse` routes locally; false when the route forwards. */
export function answerLocally(
  res: ServerResponse,
  route: HTTPRoute,
  path: string,
  authority: string,
): number | undefined {
  if (route.directResponse !== undefined) {
    const dr = route.directResponse as {status?: number; body?: {string?: string; bytes?: string}}
    const status = dr.status ?? 200
    const body =
      dr.body?.string ?? (dr.body?.bytes === undefined ? '' : Buffer.from(dr.body.bytes, 'base64').toString())
    localReply(res, status, body)
    return status
  }
  if (route.redirect !== undefined) {
    const rd = route.redirect as {
      uri?: string
      authority?: string
      scheme?: string
      port?: number
      redirectCode?: number
    }
    const host = rd.authority ?? authority.replace(/:\d+$/, '')
    const port =
      rd.port !== undefined
        ? `:${rd.port}`
        : rd.authority === undefined && /:\d+$/.test(authority)
          ? authority.slice(authority.lastIndexOf(':'))
          : ''
    const status = rd.redirectCode ?? 301
    localReply(res, status, '', {location: `${rd.scheme ?? 'http'}://${host}${port}${rd.uri ?? path}`})
    return status
  }
  return undefined
}
