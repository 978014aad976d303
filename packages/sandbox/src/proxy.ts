/**
 * The sandbox's HTTP forward proxy: how clients outside the mesh (curl, k6, the builtin driver)
 * reach `http://productpage:9080/…`. Every request is sent as if from the client pod, through that
 * pod's sidecar, so VirtualService routing and faults apply exactly as for in-mesh callers.
 *
 * Absolute-form requests (`HTTP_PROXY`, `curl -x`, undici `ProxyAgent` with `proxyTunnel: false`)
 * are handled directly; a CONNECT tunnel to a service's HTTP port (undici's default, `curl -p`)
 * carries plain HTTP and is served the same way. HTTPS is refused: sandbox services speak HTTP.
 */
import http, {type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo, Socket} from 'node:net'

import type {Service, Sidecar} from './types.js'

/** What the proxy needs: where requests leave from, and how a host name resolves to a service. */
export interface ForwardProxyOptions {
  /** The client pod's sidecar. */
  sidecar: Pick<Sidecar, 'handleOutbound'>
  /** Cluster DNS: the service a host names, if any. */
  resolve: (host: string) => Service | undefined
  /** Service names to mention when a host does not resolve. */
  knownServices: () => string[]
  /** Port to listen on (default: any free port). */
  port?: number
}

/** A running forward proxy. */
export interface ForwardProxy {
  /** `http://127.0.0.1:<port>`, the value for `HTTP_PROXY`. */
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** A request the proxy will not forward: its status and the message the client sees. */
export interface Refusal {
  status: number
  message: string
}

// Hop-by-hop headers meant for this proxy, not for the service (RFC 9110 §7.6.1).
const PROXY_HEADERS = ['proxy-connection', 'proxy-authorization', 'proxy-authenticate']

/**
 * Decides where an absolute-form target goes: a refusal, or the normalised URL to send on.
 * Pure, so every refusal message is tested without sockets.
 */
export function routeTarget(
  target: string,
  opts: Pick<ForwardProxyOptions, 'resolve' | 'knownServices'>,
  proxyPort: number,
): Refusal | {url: URL} {
  if (target.startsWith('/')) {
    return {
      status: 400,
      message:
        `this is the Faultline sandbox's HTTP forward proxy; send requests through it rather than to it, e.g.\n` +
        `  curl -x http://127.0.0.1:${proxyPort} http://productpage:9080/productpage\n` +
        `  HTTP_PROXY=http://127.0.0.1:${proxyPort} k6 run script.js`,
    }
  }
  let url: URL
  try {
    url = new URL(target)
  } catch {
    return {status: 400, message: `cannot parse request target ${JSON.stringify(target)}`}
  }
  if (url.protocol !== 'http:') {
    return {
      status: 501,
      message: `${url.protocol.replace(':', '')} is not supported: sandbox services speak plain HTTP (use http://${url.hostname}:9080/…)`,
    }
  }
  return checkAuthority(url.hostname, url.port === '' ? 80 : Number(url.port), opts) ?? {url}
}

/** Refuses a host that is no sandbox service, or a port the service does not expose. */
export function checkAuthority(
  host: string,
  port: number,
  opts: Pick<ForwardProxyOptions, 'resolve' | 'knownServices'>,
): Refusal | undefined {
  const service = opts.resolve(host)
  if (service === undefined) {
    return {
      status: 502,
      message:
        `no service named ${JSON.stringify(host)} in the sandbox; it runs ${opts.knownServices().join(', ')} ` +
        `(reachable as <name>, <name>.default or <name>.default.svc.cluster.local on port 9080)`,
    }
  }
  if (port !== service.port) {
    return {
      status: 502,
      message: `service ${service.name}.${service.namespace} has no port ${port}; it listens on ${service.port}`,
    }
  }
  return undefined
}

function refuse(res: ServerResponse, refusal: Refusal): void {
  const body = refusal.message + '\n'
  res.writeHead(refusal.status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'x-faultline-proxy': 'refused',
  })
  res.end(body)
}

/** Sends one absolute-form request on through the client pod's sidecar. */
function forward(opts: ForwardProxyOptions, proxyPort: () => number, req: IncomingMessage, res: ServerResponse): void {
  const decision = routeTarget(req.url ?? '/', opts, proxyPort())
  if ('status' in decision) return refuse(res, decision)
  for (const name of PROXY_HEADERS) delete req.headers[name]
  req.url = decision.url.href
  req.headers.host = decision.url.host
  opts.sidecar.handleOutbound(req, res)
}

/** Answers a CONNECT: a tunnel to a service's HTTP port becomes an HTTP connection served as above. */
function tunnel(
  opts: ForwardProxyOptions,
  inner: http.Server,
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
): void {
  // A client hanging up mid-tunnel is routine; without a listener its ECONNRESET would crash the process.
  socket.on('error', () => socket.destroy())
  const authority = req.url ?? ''
  const sep = authority.lastIndexOf(':')
  const host = sep === -1 ? authority : authority.slice(0, sep)
  const port = sep === -1 ? 443 : Number(authority.slice(sep + 1))
  const refusal: Refusal | undefined =
    port === 443
      ? {
          status: 501,
          message: `HTTPS (CONNECT ${authority}) is not supported: sandbox services speak plain HTTP; use http://${host}:9080/…`,
        }
      : checkAuthority(host, port, opts)
  if (refusal !== undefined) {
    const body = refusal.message + '\n'
    socket.end(
      `HTTP/1.1 ${refusal.status} ${http.STATUS_CODES[refusal.status]}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    )
    return
  }
  socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
  tunnelAuthority.set(socket, authority)
  if (head.length > 0) socket.unshift(head)
  inner.emit('connection', socket)
}

// The CONNECT target of each tunnelled socket: origin-form requests in it are for that authority.
const tunnelAuthority = new WeakMap<Socket, string>()

/** Starts the forward proxy on 127.0.0.1. */
export async function startForwardProxy(opts: ForwardProxyOptions): Promise<ForwardProxy> {
  let port = 0
  const server = http.createServer({keepAliveTimeout: 30_000}, (req, res) => forward(opts, () => port, req, res))
  const inner = http.createServer({keepAliveTimeout: 30_000}, (req, res) => {
    const authority = tunnelAuthority.get(req.socket)
    if (authority !== undefined && (req.url ?? '/').startsWith('/')) req.url = `http://${authority}${req.url ?? '/'}`
    forward(opts, () => port, req, res)
  })
  // A TLS ClientHello (0x16) inside a tunnel is an HTTPS client; there is no HTTP answer it could read.
  inner.on('clientError', (err: Error & {rawPacket?: Buffer}, socket: Socket) => {
    if (err.rawPacket?.[0] === 0x16 || !socket.writable) return void socket.destroy()
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
  })
  server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => tunnel(opts, inner, req, socket, head))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  port = (server.address() as AddressInfo).port
  const tunnels = new Set<Socket>()
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    tunnels.add(socket)
    socket.on('close', () => tunnels.delete(socket))
  })
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: async () => {
      const closed = new Promise<void>(resolve => server.close(() => resolve()))
      server.closeAllConnections()
      inner.closeAllConnections()
      for (const socket of tunnels) socket.destroy()
      await closed
    },
  }
}
