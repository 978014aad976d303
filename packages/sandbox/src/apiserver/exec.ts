/**
 * `pods/exec` over the Kubernetes WebSocket channel protocol (what kubectl 1.30+ and client-node
 * speak): each binary frame is one byte naming the stream (1 stdout, 2 stderr, 3 status) and the
 * data. v4/v5 put a JSON `Status` on stream 3 — `Success`, or `NonZeroExitCode` with the exit code
 * as a cause — then the server closes the connection. Older protocols put a plain error text there.
 */
import type {IncomingMessage} from 'node:http'
import type {Duplex} from 'node:stream'

import {WebSocketServer, type WebSocket} from 'ws'

import type {ExecHandler, Pod} from '../types.js'
import {ApiError, badRequest} from './status.js'

/** Subprotocols in order of preference (the server's choice, not the client's). */
export const EXEC_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
] as const

const STDOUT = 1
const STDERR = 2
const STATUS = 3

/** What the exec query asks for. */
export interface ExecRequest {
  command: string[]
  container: string
  stdout: boolean
  stderr: boolean
}

/**
 * Checks an exec request against the pod the way the API server does before it upgrades the
 * connection: a command, a stream, and a container the pod has (the only one when unnamed).
 */
export function execRequest(pod: Pod, query: URLSearchParams): ExecRequest {
  const command = query.getAll('command')
  if (command.length === 0) throw badRequest('you must specify at least 1 command')
  const on = (n: string) => ['1', 'true', 'True'].includes(query.get(n) ?? '')
  if (!on('stdin') && !on('stdout') && !on('stderr'))
    throw badRequest('you must specify at least 1 of stdin, stdout, stderr')
  if (on('tty') && on('stderr')) throw badRequest('tty and stderr cannot both be true')
  let container = query.get('container') ?? ''
  if (container === '') {
    if (pod.containers.length !== 1)
      throw badRequest(
        `a container name must be specified for pod ${pod.name}, choose one of: [${pod.containers.join(' ')}]`,
      )
    container = pod.containers[0] ?? ''
  }
  if (!pod.containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${pod.name}`)
  return {command, container, stdout: on('stdout'), stderr: on('stderr')}
}

/** The subprotocol to speak: the most capable one the client offered; '' (v1) when it offered none. */
export function chooseProtocol(offered: Set<string>): string | undefined {
  if (offered.size === 0) return ''
  return EXEC_PROTOCOLS.find(p => offered.has(p))
}

function frame(stream: number, data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  return Buffer.concat([Buffer.from([stream]), body])
}

function statusFrame(protocol: string, exitCode: number, command: string[], error?: string): Buffer | undefined {
  const structured = protocol === 'v5.channel.k8s.io' || protocol === 'v4.channel.k8s.io'
  if (!structured)
    return exitCode === 0 && error === undefined
      ? undefined
      : frame(STATUS, error ?? `command terminated with non-zero exit code: exit status ${exitCode}`)
  if (error !== undefined)
    return frame(
      STATUS,
      JSON.stringify({metadata: {}, status: 'Failure', message: error, reason: 'InternalError', code: 500}),
    )
  if (exitCode === 0) return frame(STATUS, JSON.stringify({metadata: {}, status: 'Success'}))
  return frame(
    STATUS,
    JSON.stringify({
      metadata: {},
      status: 'Failure',
      reason: 'NonZeroExitCode',
      message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
      details: {causes: [{reason: 'ExitCode', message: String(exitCode)}]},
    }),
  )
}

async function runSession(ws: WebSocket, pod: Pod, request: ExecRequest, exec: ExecHandler): Promise<void> {
  let result: {stdout: string; stderr: string; exitCode: number} | undefined
  let error: string | undefined
  try {
    result = await exec(pod, request.container, request.command)
  } catch (err) {
    error = `error executing command [${request.command.join(' ')}] in container ${request.container}: ${(err as Error).message}`
  }
  const send = (data: Buffer) =>
    new Promise<void>((resolve, reject) =>
      ws.send(data, {binary: true}, e => (e === undefined || e === null ? resolve() : reject(e))),
    )
  if (result !== undefined && request.stdout && result.stdout !== '') await send(frame(STDOUT, result.stdout))
  if (result !== undefined && request.stderr && result.stderr !== '') await send(frame(STDERR, result.stderr))
  const status = statusFrame(ws.protocol, result?.exitCode ?? 1, request.command, error)
  if (status !== undefined) await send(status)
  ws.close(1000)
}

/** Accepts exec WebSocket upgrades and runs each session through the ExecHandler. */
export class ExecGateway {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: offered => chooseProtocol(offered) ?? false,
  })

  constructor(private readonly exec: ExecHandler) {}

  /** Completes the upgrade (after the caller validated the request) and runs the command. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pod: Pod, request: ExecRequest): void {
    const offered = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map(s => s.trim())
      .filter(s => s !== '')
    if (offered.length > 0 && chooseProtocol(new Set(offered)) === undefined) {
      throw badRequest(
        `unable to upgrade: none of the requested subprotocols [${offered.join(', ')}] is supported; supported: ${EXEC_PROTOCOLS.join(', ')}`,
      )
    }
    this.wss.handleUpgrade(req, socket, head, ws => {
      ws.on('error', () => ws.terminate())
      runSession(ws, pod, request, this.exec).catch(() => ws.terminate())
    })
  }

  /** Closes every open session. */
  close(): void {
    for (const ws of this.wss.clients) ws.terminate()
    this.wss.close()
  }
}

/** Writes an HTTP error answer on a socket that was not upgraded. */
export function rejectUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.status)
  const reason =
    {400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found'}[err.status.code] ?? 'Error'
  socket.end(
    `HTTP/1.1 ${err.status.code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  )
}
