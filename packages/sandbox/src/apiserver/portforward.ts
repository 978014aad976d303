/**
 * `pods/portforward`, as kubelet serves it behind a real API server, in the three ways clients ask:
 *
 * - kubectl 1.31+: a WebSocket upgrade offering `SPDY/3.1+portforward.k8s.io`, whose binary messages
 *   carry a SPDY/3.1 byte stream (client-go `tunneling_dialer.go`);
 * - kubectl's fallback (and older kubectl): a plain `Upgrade: SPDY/3.1` with
 *   `X-Stream-Protocol-Version: portforward.k8s.io`.
 *   In both, each forwarded connection is a pair of SPDY streams (headers `streamtype: error|data`,
 *   `port`, `requestid`); the server replies to each, copies the data stream to the pod's port and
 *   writes a failure as text on the error stream (kubelet `portforward/httpstream.go`).
 * - client-node's `PortForward`: a WebSocket in the channel protocol (`v4.channel.k8s.io`, `?ports=`):
 *   per port a data channel 2i and an error channel 2i+1, each opened by a frame carrying the port
 *   as two little-endian bytes (kubelet `portforward/websocket.go`).
 *
 * SPDY framing, header compression and flow control are spdy-transport's. That library speaks SPDY as
 * HTTP transport and refuses a SYN_STREAM without `:method`/`:path`, which Kubernetes' streams never
 * carry; `acceptPlainStreams` fills those two in before its check, nothing else is changed.
 */
import type {IncomingMessage} from 'node:http'
import {connect, type Socket} from 'node:net'
import type {Duplex} from 'node:stream'

import spdy, {type SpdyConnection, type SpdyStream} from 'spdy-transport'
import {createWebSocketStream, WebSocketServer, type WebSocket} from 'ws'

import {BOOKINFO_PORT} from '../topology.js'
import type {Pod} from '../types.js'
import {badRequest} from './status.js'

export const SPDY_TUNNEL_PROTOCOL = 'SPDY/3.1+portforward.k8s.io'
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io'
const CHANNEL_PROTOCOLS = ['v4.channel.k8s.io', 'channel.k8s.io'] as const

/**
 * The loopback port a pod port is reached on: the application's port (9080 in Kubernetes, the pod's
 * `appPort` here); undefined for a port nothing in the pod listens on.
 */
export function loopbackPort(pod: Pod, port: number): number | undefined {
  return port === (pod.containerPort ?? BOOKINFO_PORT) || port === pod.appPort ? pod.appPort : undefined
}

/** The ports of a channel-protocol request (`?ports=9080&ports=15000` or `?ports=9080,15000`), checked as kubelet does. */
export function requestedPorts(query: URLSearchParams): number[] {
  const raw = query
    .getAll('ports')
    .flatMap(p => p.split(','))
    .map(p => p.trim())
    .filter(p => p !== '')
  if (raw.length === 0) throw badRequest('query parameter "port" is required')
  return raw.map(p => {
    const n = Number(p)
    if (!/^\d+$/.test(p) || n < 1 || n > 65535)
      throw badRequest(`unable to parse "${p}" as a port: port must be in the range 1-65535`)
    return n
  })
}

function forwardError(pod: Pod, port: number, why: string): string {
  return `error forwarding port ${port} to pod ${pod.name}, uid : failed to connect to localhost:${port} inside namespace of pod ${pod.namespace}/${pod.name}: ${why}`
}

/** Opens the TCP connection a forwarded port leads to, or says why it cannot. */
function dial(pod: Pod, port: number, onError: (message: string) => void): Socket | undefined {
  const target = loopbackPort(pod, port)
  if (target === undefined) {
    onError(forwardError(pod, port, 'connection refused (the sandbox pod listens only on its application port 9080)'))
    return undefined
  }
  const socket = connect({host: '127.0.0.1', port: target})
  socket.on('error', err => onError(forwardError(pod, port, err.message)))
  return socket
}

/** Lets spdy-transport accept SYN_STREAMs that carry no HTTP pseudo-headers (see the file comment). */
function acceptPlainStreams(conn: SpdyConnection): void {
  const parser = conn._spdyState.parser
  const parseKVs = parser.parseKVs.bind(parser)
  parser.parseKVs = (body: unknown, callback: (err: Error | null, headers?: Record<string, string>) => void) =>
    parseKVs(body, (err: Error | null, headers?: Record<string, string>) => {
      if (err === null && headers !== undefined && headers[':status'] === undefined) {
        headers[':method'] ??= 'POST'
        headers[':path'] ??= '/'
      }
      callback(err, headers)
    })
}

/** Serves one SPDY port-forward session on `socket` (a raw upgraded socket or a tunnelling WebSocket). */
function serveSpdy(socket: Duplex, pod: Pod, sessions: Set<() => void>): void {
  const conn = spdy.connection.create(socket, {protocol: 'spdy', isServer: true})
  acceptPlainStreams(conn)
  const pairs = new Map<string, {data?: SpdyStream; error?: SpdyStream}>()
  const open = new Set<Socket>()
  const stop = () => {
    for (const s of open) s.destroy()
    socket.destroy()
  }
  sessions.add(stop)
  socket.on('close', () => {
    sessions.delete(stop)
    for (const s of open) s.destroy()
  })
  socket.on('error', () => socket.destroy())
  conn.on('error', () => socket.destroy())
  conn.on('stream', stream => {
    stream.on('error', () => {})
    stream.respond(200, {})
    const type = stream.headers['streamtype']
    const id = stream.headers['requestid'] ?? String(stream.id)
    const port = Number(stream.headers['port'])
    if (type !== 'data' && type !== 'error') {
      stream.abort()
      return
    }
    const pair = pairs.get(id) ?? {}
    pair[type] = stream
    pairs.set(id, pair)
    if (type === 'error') stream.resume()
    if (pair.data === undefined || pair.error === undefined) return
    pairs.delete(id)
    const {data, error} = pair
    let failed = false
    const target = dial(pod, port, message => {
      if (failed) return
      failed = true
      error.end(message)
      data.end()
    })
    if (target === undefined) return
    open.add(target)
    target.on('close', () => {
      open.delete(target)
      if (!failed) error.end()
    })
    data.pipe(target)
    target.pipe(data)
  })
  conn.start(3.1)
}

function channelFrame(channel: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([channel]), body])
}

/** Serves one channel-protocol port-forward session (client-node). */
function serveChannels(ws: WebSocket, pod: Pod, ports: number[]): void {
  const targets: (Socket | undefined)[] = []
  const portBytes = (p: number) => {
    const b = Buffer.alloc(2)
    b.writeUInt16LE(p)
    return b
  }
  ports.forEach((port, i) => {
    ws.send(channelFrame(2 * i, portBytes(port)))
    ws.send(channelFrame(2 * i + 1, portBytes(port)))
    const target = dial(pod, port, message => {
      if (ws.readyState === ws.OPEN) ws.send(channelFrame(2 * i + 1, Buffer.from(message)))
      ws.close(1000)
    })
    targets[i] = target
    target?.on('data', (chunk: Buffer) => ws.send(channelFrame(2 * i, chunk)))
    target?.on('end', () => ws.close(1000))
  })
  ws.on('message', (msg: Buffer, isBinary: boolean) => {
    const raw = isBinary ? msg : Buffer.from(msg.toString(), 'base64')
    if (raw.length === 0) return
    const channel = raw[0] ?? 0
    if (channel % 2 === 0) targets[channel / 2]?.write(raw.subarray(1))
  })
  ws.on('close', () => targets.forEach(t => t?.destroy()))
}

/** Accepts pods/portforward upgrades and forwards their connections to the pod's loopback port. */
export class PortForwardGateway {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: offered => [SPDY_TUNNEL_PROTOCOL, ...CHANNEL_PROTOCOLS].find(p => offered.has(p)) ?? false,
  })
  private readonly sessions = new Set<() => void>()

  /** Completes the upgrade for `pod`: WebSocket (tunnelled SPDY or channels) or a plain SPDY/3.1 upgrade. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, query: URLSearchParams): void {
    const upgrade = (req.headers.upgrade ?? '').toLowerCase()
    if (upgrade === 'spdy/3.1') {
      const versions = String(req.headers['x-stream-protocol-version'] ?? '')
        .split(',')
        .map(s => s.trim())
      if (!versions.includes(PORT_FORWARD_PROTOCOL))
        throw badRequest(
          `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(versions)}, server supports ["${PORT_FORWARD_PROTOCOL}"]`,
        )
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${PORT_FORWARD_PROTOCOL}\r\n\r\n`,
      )
      if (head.length > 0) socket.unshift(head)
      serveSpdy(socket, pod, this.sessions)
      return
    }
    if (upgrade !== 'websocket') throw badRequest('unable to upgrade: missing upgrade headers in request')
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map(s => s.trim())
      .filter(s => s !== '')
    const spdyTunnel = offered.includes(SPDY_TUNNEL_PROTOCOL)
    const ports = spdyTunnel ? [] : requestedPorts(query)
    if (!spdyTunnel && offered.length > 0 && !offered.some(p => (CHANNEL_PROTOCOLS as readonly string[]).includes(p))) {
      throw badRequest(
        `unable to upgrade: none of the requested subprotocols [${offered.join(', ')}] is supported; supported: ${[SPDY_TUNNEL_PROTOCOL, ...CHANNEL_PROTOCOLS].join(', ')}`,
      )
    }
    this.wss.handleUpgrade(req, socket, head, ws => {
      ws.on('error', () => ws.terminate())
      if (ws.protocol === SPDY_TUNNEL_PROTOCOL) {
        const stream = createWebSocketStream(ws)
        stream.on('error', () => ws.terminate())
        serveSpdy(stream, pod, this.sessions)
      } else {
        serveChannels(ws, pod, ports)
      }
    })
  }

  /** Ends every open session. */
  close(): void {
    for (const stop of this.sessions) stop()
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  }
}
