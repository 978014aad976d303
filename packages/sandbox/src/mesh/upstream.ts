/**
 * The wire to an upstream pod: HTTP/1.1 keep-alive connections through one undici `Pool` per
 * endpoint, driven by a raw dispatch handler (no stream objects per request). Measured against
 * node's http.Agent in bench/sidecar-hop.ts. The pools admit every request (unlimited connections,
 * no pipelining, no client-side timeouts): the cluster's circuit breakers and the router's timeouts
 * above them decide. Connect failures are told apart from resets as Envoy's retry conditions need.
 */
import {type IncomingHttpHeaders, type OutgoingHttpHeaders, STATUS_CODES} from 'node:http'

import {type Dispatcher, Pool} from 'undici'

/** How an upstream attempt failed before response headers. */
export type UpstreamFailure = 'connect-failure' | 'reset'

/** What the router hears from one attempt; every callback names the call, so stale attempts can be told apart. */
export interface UpstreamListener {
  /** Final response headers (node's IncomingMessage header semantics). False pauses the body until `call.resume()`. */
  onUpstreamHeaders(call: UpstreamCall, status: number, headers: IncomingHttpHeaders): boolean
  /** A body chunk. False pauses the body until `call.resume()`. */
  onUpstreamData(call: UpstreamCall, chunk: Buffer): boolean
  /** The body is complete. */
  onUpstreamEnd(call: UpstreamCall): void
  /** The attempt failed: before headers (`headersSeen` false) with a failure kind, or mid-body. Not called after `cancel()`. */
  onUpstreamError(call: UpstreamCall, failure: UpstreamFailure): void
}

/** Upstream keep-alive pools of one sidecar, one per endpoint port on 127.0.0.1. */
export class UpstreamPools {
  private readonly pools = new Map<number, Pool>()

  /** The pool for `127.0.0.1:<port>`. */
  pool(port: number): Pool {
    let p = this.pools.get(port)
    if (p === undefined) {
      // headersTimeout/bodyTimeout 0: no client-side timeouts (node's http client has none either).
      p = new Pool(`http://127.0.0.1:${port}`, {connections: null, pipelining: 1, headersTimeout: 0, bodyTimeout: 0})
      this.pools.set(port, p)
    }
    return p
  }

  /** Closes every pooled connection. */
  async destroy(): Promise<void> {
    const all = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(all.map(p => p.destroy()))
  }
}

const CANCELLED = new Error('upstream attempt cancelled by the router')

/** Response headers node keeps only once (`IncomingMessage` matchKnownFields): the first value wins. */
const SINGLE_VALUED = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
])

/** Raw header lines → the header object node's IncomingMessage would build (lowercase names, repeats joined). */
export function incomingHeaders(raw: Buffer[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as Buffer).toString('latin1').toLowerCase()
    const value = (raw[i + 1] as Buffer).toString('latin1')
    const prev = out[name]
    if (name === 'set-cookie') {
      if (prev === undefined) out[name] = [value]
      else (prev as string[]).push(value)
    } else if (prev === undefined) {
      if (name === '__proto__')
        Object.defineProperty(out, name, {value, enumerable: true, configurable: true, writable: true})
      else out[name] = value
    } else if (!SINGLE_VALUED.has(name)) out[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`
  }
  return out
}

/** HTTP/1.1 head bytes of a request: request line, `name: value` lines, the `connection: keep-alive` undici adds, blank line. */
function requestHeadBytes(method: string, path: string, headers: OutgoingHttpHeaders): number {
  let n = method.length + path.length + 14 + 24 // ' ' + ' HTTP/1.1\r\n' + the blank line; 'connection: keep-alive\r\n'
  for (const name in headers) {
    const v = headers[name]
    if (v === undefined) continue
    if (Array.isArray(v)) for (const x of v) n += name.length + x.length + 4
    else n += name.length + String(v).length + 4
  }
  return n
}

/**
 * One attempt on the wire: an undici dispatch handler that reports to the router. It also counts the
 * attempt's bytes for the serving pod's `reporter="destination"` istio_request_bytes / istio_response_bytes:
 * the sandbox has no inbound sidecar, so the bytes exchanged with the app stand for what that sidecar's
 * downstream connection carried (head bytes from the header lines, bodies as received; chunk framing
 * is not counted).
 */
export class UpstreamCall implements Dispatcher.DispatchHandler {
  /** True once final (≥ 200) response headers arrived. */
  headersSeen = false
  /** Bytes of the request as sent: head and body. */
  requestBytes = 0
  /** Bytes of the response so far: status line, header lines, body chunks. */
  responseBytes = 0
  private cancelled = false
  private abort: ((err?: Error) => void) | undefined
  private resumeBody: (() => void) | undefined

  constructor(private readonly listener: UpstreamListener) {}

  /** Sends the request to `127.0.0.1:<port>` through the sidecar's pools. */
  send(
    pools: UpstreamPools,
    port: number,
    method: string,
    path: string,
    headers: OutgoingHttpHeaders,
    body: Buffer | undefined,
  ): void {
    if (headers['expect'] !== undefined) {
      // undici refuses Expect; Envoy answers 100-continue itself and does not forward it either.
      headers = {...headers}
      delete headers['expect']
    }
    this.requestBytes = requestHeadBytes(method, path, headers) + (body?.length ?? 0)
    pools
      .pool(port)
      .dispatch({method, path, headers: headers as Record<string, string | string[]>, body: body ?? null}, this)
  }

  /** Stops the attempt (timeout, downstream gone); its connection is closed and no callback follows. */
  cancel(): void {
    if (this.cancelled) return
    this.cancelled = true
    this.abort?.(CANCELLED)
  }

  /** Resumes a paused body. */
  resume(): void {
    this.resumeBody?.()
  }

  /** @internal undici handler */
  onConnect(abort: (err?: Error) => void): void {
    if (this.cancelled) abort(CANCELLED)
    else this.abort = abort
  }

  /** @internal undici handler */
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (this.cancelled || status < 200) return true // 1xx informational: node's client does not surface them as the response either
    this.headersSeen = true
    this.resumeBody = resume
    let head = 15 + (STATUS_CODES[status]?.length ?? 0) + 2 // 'HTTP/1.1 200 ' + reason + '\r\n', then the blank line
    for (const b of raw) head += b.length + 2 // ': ' after a name, '\r\n' after a value
    this.responseBytes = head
    return this.listener.onUpstreamHeaders(this, status, incomingHeaders(raw))
  }

  /** @internal undici handler */
  onData(chunk: Buffer): boolean {
    if (this.cancelled) return true
    this.responseBytes += chunk.length
    return this.listener.onUpstreamData(this, chunk)
  }

  /** @internal undici handler */
  onComplete(): void {
    if (!this.cancelled) this.listener.onUpstreamEnd(this)
  }

  /** @internal undici handler */
  onError(err: Error): void {
    if (this.cancelled) return
    this.cancelled = true
    this.listener.onUpstreamError(
      this,
      (err as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'connect-failure' : 'reset',
    )
  }
}
