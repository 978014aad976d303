/**
 * What bookinfo's apps share: a loopback HTTP server each, JSON answers, the header propagation the
 * real apps do, and an HTTP client that sends every call through the pod's own sidecar.
 */
import http, {type IncomingHttpHeaders, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

/** A running app server. */
export interface AppServer {
  readonly port: number
  close(): Promise<void>
}

/** Starts an HTTP server for a request handler on 127.0.0.1 (an OS-assigned port). */
export async function listenOnLoopback(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<AppServer> {
  const server = http.createServer({keepAliveTimeout: 30_000}, handler)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** Answers with a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}

/** Answers with a text or HTML body. */
export function sendText(
  res: ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, {'content-type': contentType, 'content-length': Buffer.byteLength(body)})
  res.end(body)
}

/**
 * The headers productpage.py's `getForwardHeaders` copies from the incoming request (istio/istio
 * 1.30.3 `samples/bookinfo/src/productpage/productpage.py`, `incoming_headers`), in its order.
 * Not `end-user` (set from the session only), not the `x-b3-*` headers (re-injected by its B3
 * propagator, see `b3Headers`), not `b3`, not `baggage`, nothing else.
 */
export const PRODUCTPAGE_HEADERS = [
  'x-request-id',
  'x-ot-span-context',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'traceparent',
  'tracestate',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'sw8',
  'user-agent',
  'cookie',
  'authorization',
  'jwt',
] as const

/**
 * reviews' `headers_to_propagate` (istio/istio 1.30.3 `samples/bookinfo/src/reviews/reviews-application/
 * src/main/java/application/rest/LibertyRestEndpoint.java`), copied onto its ratings call, in its order.
 */
export const REVIEWS_HEADERS = [
  'x-request-id',
  'x-ot-span-context',
  'x-datadog-trace-id',
  'x-datadog-parent-id',
  'x-datadog-sampling-priority',
  'traceparent',
  'tracestate',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'sw8',
  'end-user',
  'user-agent',
  'cookie',
  'authorization',
  'jwt',
] as const

/**
 * Extra propagation the sandbox can model (`chaos sandbox up --propagate baggage`): apps instrumented
 * with OpenTelemetry, whose default propagators are `tracecontext,baggage` (OTEL_PROPAGATORS), also
 * forward W3C `baggage` at every hop. The real bookinfo apps do not.
 */
export type Propagation = 'baggage'

/** Every `--propagate` value. */
export const PROPAGATIONS: readonly Propagation[] = ['baggage']

/** The headers an app copies from its incoming request onto its outgoing calls: exactly the named ones. */
export function forwardHeaders(incoming: IncomingHttpHeaders, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of names) {
    const value = incoming[name]
    if (value === undefined) continue
    out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

/** The names an app forwards, with the modelled extra propagation. */
export function withPropagation(names: readonly string[], propagate: readonly Propagation[]): readonly string[] {
  return propagate.includes('baggage') ? [...names, 'baggage'] : names
}

/** An upstream's answer; `undefined` from `get` means no answer (refused, reset or timed out). */
export interface UpstreamResponse {
  status: number
  body: string
}

/**
 * An app's outbound HTTP client. Like an app in an Istio pod, it talks plain HTTP to service names;
 * the sandbox has no iptables redirect, so it sends each request in absolute form to the pod's
 * sidecar outbound listener (set once the sidecar exists), over kept-alive connections.
 */
export class OutboundClient {
  private sidecarPort: number | undefined
  private readonly agent = new http.Agent({keepAlive: true, maxSockets: 256})

  /** Points the client at its pod's sidecar. */
  useSidecar(outboundPort: number): void {
    this.sidecarPort = outboundPort
  }

  /**
   * GET `url` with `headers`; gives up after `timeoutMs` without a complete answer, as the real
   * apps' HTTP clients do (python-requests `timeout=3.0`, the JAX-RS client's receive timeout).
   */
  get(url: string, headers: Record<string, string>, timeoutMs: number): Promise<UpstreamResponse | undefined> {
    const port = this.sidecarPort
    if (port === undefined) return Promise.resolve(undefined)
    const target = new URL(url)
    return new Promise(resolve => {
      const req = http.request({
        host: '127.0.0.1',
        port,
        method: 'GET',
        path: target.href,
        agent: this.agent,
        headers: {...headers, host: target.host},
      })
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs}ms`)), timeoutMs)
      const done = (answer: UpstreamResponse | undefined): void => {
        clearTimeout(timer)
        resolve(answer)
      }
      req.on('error', () => done(undefined))
      req.on('response', res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => done({status: res.statusCode ?? 500, body: Buffer.concat(chunks).toString('utf8')}))
        res.on('error', () => done(undefined))
      })
      req.end()
    })
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy()
  }
}

/** Parses a JSON body, `undefined` when it is not JSON. */
export function parseJson(body: string): unknown {
  try {
    return JSON.parse(body) as unknown
  } catch {
    return undefined
  }
}

/** The path of a request without its query string. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}
