/**
 * Envoy's local replies, response flags and header hygiene, shared by the sidecar's request path.
 */
import type {IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse} from 'node:http'

/** Response flags the sandbox sets, in the order Envoy prints them (`ResponseFlagUtils`), comma-joined. */
const FLAG_ORDER = ['UH', 'UT', 'UF', 'UC', 'UO', 'NR', 'DI', 'FI', 'DC', 'URX', 'NC'] as const

/** One response flag short name. */
export type ResponseFlag = (typeof FLAG_ORDER)[number]

/** Renders a flag set as `%RESPONSE_FLAGS%` does: comma-joined in Envoy's order, `-` when none. */
export function formatFlags(flags: ReadonlySet<ResponseFlag>): string {
  if (flags.size === 0) return '-'
  let out = ''
  for (const f of FLAG_ORDER) if (flags.has(f)) out = out === '' ? f : `${out},${f}`
  return out
}

/** Envoy's body for a request the connection-pool circuit breaker refused. */
export const OVERFLOW_BODY = 'upstream connect error or disconnect/reset before headers. reset reason: overflow'
/** Envoy's body for a route (or per-try) timeout. */
export const TIMEOUT_BODY = 'upstream request timeout'
/** Envoy's body for an injected abort. */
export const FAULT_ABORT_BODY = 'fault filter abort'
/** Envoy's body when every host is ejected or the cluster has none. */
export const NO_HEALTHY_UPSTREAM_BODY = 'no healthy upstream'

/** Envoy's body for a failed upstream connection or a reset before response headers. */
export function resetBody(reason: 'connect-failure' | 'reset', retried: boolean): string {
  const what =
    reason === 'connect-failure'
      ? 'remote connection failure, transport failure reason: delayed connect error: 111'
      : 'connection termination'
  return `upstream connect error or disconnect/reset before headers. ${retried ? 'retried and the latest reset reason' : 'reset reason'}: ${what}`
}

/** Sends an Envoy local reply (text body, `server: envoy`). Extra headers win. */
export function localReply(res: ServerResponse, status: number, body: string, extra?: OutgoingHttpHeaders): void {
  if (res.headersSent || res.destroyed) {
    res.destroy()
    return
  }
  const headers: OutgoingHttpHeaders = {'content-length': Buffer.byteLength(body), server: 'envoy'}
  if (body !== '') headers['content-type'] = 'text/plain'
  if (extra !== undefined) Object.assign(headers, extra)
  res.writeHead(status, headers)
  res.end(body)
}

/** Hop-by-hop headers Envoy never forwards (RFC 7230 §6.1 plus proxy-connection and keep-alive). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
])

/** Copies headers without hop-by-hop ones (also those named in `Connection:`). */
export function forwardableHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  const named = headers['connection']
  const listed =
    named === undefined
      ? undefined
      : new Set(
          named
            .toLowerCase()
            .split(',')
            .map(s => s.trim()),
        )
  for (const name in headers) {
    if (HOP_BY_HOP.has(name) || (listed !== undefined && listed.has(name))) continue
    const value = headers[name]
    if (value !== undefined) out[name] = value
  }
  return out
}
