/**
 * `pods/proxy` and `services/proxy`: `GET /api/v1/namespaces/NS/pods/NAME[:PORT]/proxy/PATH` and
 * `…/services/[SCHEME:]NAME[:PORT]/proxy/PATH`, as `kubectl get --raw` and client libraries use them.
 * A pod's application port (9080) is proxied over HTTP to the pod's address, method, headers (less the
 * bearer token), query and body included: its inbound sidecar, which resets the API server's
 * plaintext under STRICT mTLS as a real one does (the API server has no sidecar; mesh/inbound.ts).
 * The sidecar's Prometheus ports 15090 and 15020 answer `/stats/prometheus` from its Envoy admin,
 * as Istio opens them on the pod's address (istio 1.30.3 `tools/packaging/common/envoy_bootstrap.json`: the `{{ .wildcard }}_{{ .envoy_prometheus_port }}`
 * listener routes only the prefix `/stats/prometheus`; `pilot/cmd/pilot-agent/status/server.go` serves
 * it on the status port). The admin port 15000 is bound to `{{ .localhost }}` in the same bootstrap,
 * so the API server, dialling the pod's IP, is refused there as on a real cluster (`kubectl exec …
 * pilot-agent request` reaches it). A Service goes to one of its endpoints' target port. What nothing
 * listens on answers 503 as a real API server does.
 */
import {request} from 'node:http'
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {ExecHandler, Pod, Topology} from '../types.js'
import {loopbackPort} from './portforward.js'
import {ApiError, badRequest, methodNotAllowed, notFound} from './status.js'

const PROMETHEUS_PORTS = new Set([15090, 15020])

/** `[scheme:]name[:port]`, as the API server splits a proxy target. */
export function splitTarget(target: string): {scheme: string; name: string; port: string} {
  const parts = target.split(':')
  if (parts.length === 3) return {scheme: parts[0] ?? '', name: parts[1] ?? '', port: parts[2] ?? ''}
  if (parts.length === 2) return {scheme: '', name: parts[0] ?? '', port: parts[1] ?? ''}
  if (parts.length === 1) return {scheme: '', name: target, port: ''}
  throw badRequest(`invalid service request ${JSON.stringify(target)}`)
}

function unreachable(message: string): ApiError {
  return new ApiError(503, 'ServiceUnavailable', message)
}

/** The path after `…/proxy`, undecoded, and the query, as the proxied server sees them. */
function proxiedPath(url: URL): string {
  const raw = url.pathname.split('/')
  return `/${raw.slice(8).join('/')}${url.search}`
}

function forwardHttp(
  req: IncomingMessage,
  res: ServerResponse,
  port: number,
  path: string,
  dialed: string,
): Promise<void> {
  const headers = {...req.headers}
  delete headers.authorization
  delete headers.host
  return new Promise((resolve, reject) => {
    const out = request({host: '127.0.0.1', port, method: req.method, path, headers}, up => {
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.pipe(res)
      up.on('end', resolve)
      up.on('error', reject)
    })
    let local = 0
    out.on('socket', socket =>
      socket.once('connect', () => {
        local = socket.localPort ?? 0
      }),
    )
    // A reset after connecting is Go's `read tcp <local>-><remote>: read: connection reset by peer` in the real server's message.
    out.on('error', err =>
      reject(
        unreachable(
          (err as NodeJS.ErrnoException).code === 'ECONNRESET'
            ? `error trying to reach service: read tcp 127.0.0.1:${local}->${dialed}: read: connection reset by peer`
            : `error trying to reach service: dial tcp ${dialed}: ${err.message}`,
        ),
      ),
    )
    req.pipe(out)
  })
}

async function adminAnswer(
  res: ServerResponse,
  req: IncomingMessage,
  pod: Pod,
  exec: ExecHandler,
  path: string,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed(req.method ?? '')
  const resource = path.split('?')[0] ?? ''
  if (resource !== '/stats/prometheus') {
    res.writeHead(404, {'Content-Type': 'text/plain; charset=utf-8'})
    return void res.end('404 page not found\n')
  }
  const result = await exec(pod, 'istio-proxy', ['pilot-agent', 'request', 'GET', path.slice(1)])
  if (result.exitCode !== 0) {
    res.writeHead(404, {'Content-Type': 'text/plain; charset=utf-8'})
    return void res.end(result.stderr)
  }
  res.writeHead(200, {
    'Content-Type': 'text/plain; version=0.0.4; charset=utf-8',
    'Content-Length': Buffer.byteLength(result.stdout),
  })
  res.end(req.method === 'HEAD' ? undefined : result.stdout)
}

/** `pods/NAME[:PORT]/proxy/PATH`. */
export async function handlePodProxy(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  topology: Topology,
  exec: ExecHandler,
  namespace: string,
  target: string,
  _rest: string[],
): Promise<void> {
  const {name, port: portText} = splitTarget(target)
  const pod = topology.pods().find(p => p.namespace === namespace && p.name === name)
  if (pod === undefined) throw notFound({group: '', resource: 'pods'}, name)
  const port = portText === '' ? 80 : Number(portText)
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw badRequest(`invalid port ${JSON.stringify(portText)}`)
  const path = proxiedPath(url)
  if (PROMETHEUS_PORTS.has(port)) {
    if (!pod.containers.includes('istio-proxy'))
      throw unreachable(`error trying to reach service: dial tcp 127.0.0.1:${port}: connect: connection refused`)
    return adminAnswer(res, req, pod, exec, path)
  }
  const loopback = loopbackPort(pod, port)
  if (loopback === undefined)
    throw unreachable(`error trying to reach service: dial tcp 127.0.0.1:${port}: connect: connection refused`)
  // The API server dials the pod's IP: the inbound sidecar's listener when the app port has one (mesh/inbound.ts).
  return forwardHttp(
    req,
    res,
    loopback === pod.appPort ? (pod.inboundPort ?? loopback) : loopback,
    path,
    `127.0.0.1:${port}`,
  )
}

/** `services/[SCHEME:]NAME[:PORT]/proxy/PATH`: one ready endpoint of the Service, at the port's target port. */
export async function handleServiceProxy(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  topology: Topology,
  namespace: string,
  target: string,
  _rest: string[],
): Promise<void> {
  const {name, port} = splitTarget(target)
  const service = topology.services().find(s => s.namespace === namespace && s.name === name)
  if (service === undefined) throw notFound({group: '', resource: 'services'}, name)
  if (port !== '' && port !== 'http' && port !== String(service.port))
    throw unreachable(`no service port "${port}" found for service "${name}"`)
  const pod = topology.endpoints(service)[0]
  if (pod === undefined) throw unreachable(`no endpoints available for service "${name}"`)
  return forwardHttp(req, res, pod.inboundPort ?? pod.appPort, proxiedPath(url), `127.0.0.1:${service.port}`)
}
