/**
 * A plain-HTTP front for the sandbox's HTTPS API server on 127.0.0.1 that records every request a
 * client makes (method, path, query, and whether it upgraded to a WebSocket), and what RBAC would
 * authorize each as — the request-info rules of kube-apiserver, for the paths client-node uses.
 */
import {createServer as createHttpServer, type IncomingMessage} from 'node:http'
import {request as httpsRequest} from 'node:https'
import type {AddressInfo, Socket} from 'node:net'
import {connect as tlsConnect} from 'node:tls'

/** One request as the API server saw it. */
export interface Recorded {
  method: string
  path: string
  query: URLSearchParams
  upgrade: boolean
}

/** What RBAC authorizes a request as. */
export type Attributes =
  | {kind: 'resource'; verbs: string[]; group: string; resource: string; subresource?: string; namespace?: string}
  | {kind: 'non-resource'; path: string}

/**
 * kube-apiserver's RequestInfo: `/api/v1/…` is the core group, `/apis/<group>/<version>/…` a named
 * one; GET of a collection is list (watch with ?watch), of a name get; POST create, PUT update,
 * PATCH patch, DELETE delete. A WebSocket exec is a GET upgrade: authorized as get pods/exec and,
 * since Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission), also as create.
 */
export function attributes(r: Recorded): Attributes {
  const s = r.path.split('/').filter(Boolean)
  let rest: string[]
  let group: string
  if (s[0] === 'api' && s.length > 2) {
    group = ''
    rest = s.slice(2)
  } else if (s[0] === 'apis' && s.length > 3) {
    group = s[1] as string
    rest = s.slice(3)
  } else {
    return {kind: 'non-resource', path: r.path}
  }
  let namespace: string | undefined
  if (rest[0] === 'namespaces' && rest.length > 2) {
    namespace = rest[1]
    rest = rest.slice(2)
  }
  const [resource, name, subresource] = rest as [string, string | undefined, string | undefined]
  const verb =
    (
      {
        GET: name === undefined ? (r.query.get('watch') === 'true' ? 'watch' : 'list') : 'get',
        POST: 'create',
        PUT: 'update',
        PATCH: 'patch',
        DELETE: name === undefined ? 'deletecollection' : 'delete',
      } as Record<string, string>
    )[r.method] ?? r.method.toLowerCase()
  const verbs = r.upgrade && subresource === 'exec' ? ['get', 'create'] : [verb]
  return {
    kind: 'resource',
    verbs,
    group,
    resource,
    ...(subresource === undefined ? {} : {subresource}),
    ...(namespace === undefined ? {} : {namespace}),
  }
}

/** A running recorder. */
export interface RecordingProxy {
  url: string
  requests: Recorded[]
  close(): Promise<void>
}

/**
 * Starts a recorder forwarding to `target` (an https URL whose certificate `ca` signs). `forbid`:
 * requests answered 403 Forbidden as kube-apiserver's RBAC answers them, instead of forwarded.
 */
export async function startRecordingProxy(
  target: string,
  ca: string,
  forbid: (r: Recorded) => boolean = () => false,
): Promise<RecordingProxy> {
  const upstream = new URL(target)
  const requests: Recorded[] = []
  const record = (req: IncomingMessage, upgrade: boolean) => {
    const url = new URL(req.url ?? '/', 'http://x')
    requests.push({method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, upgrade})
  }
  const server = createHttpServer((req, res) => {
    record(req, false)
    const recorded = requests[requests.length - 1] as Recorded
    if (forbid(recorded)) {
      const a = attributes(recorded)
      const what =
        a.kind === 'resource'
          ? `cannot ${a.verbs[0]} resource "${a.resource}${a.subresource === undefined ? '' : '/' + a.subresource}" in API group "${a.group}" in the namespace "${a.namespace ?? ''}"`
          : `cannot get path "${recorded.path}"`
      res.writeHead(403, {'Content-Type': 'application/json'}).end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
          message: `forbidden: User "faultline" ${what}`,
        }),
      )
      return
    }
    const out = httpsRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: {...req.headers, host: upstream.host},
        ca,
      },
      answer => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      },
    )
    out.on('error', err => res.writeHead(502).end(String(err)))
    req.pipe(out)
  })
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    record(req, true)
    const tls = tlsConnect({host: upstream.hostname, port: Number(upstream.port), ca}, () => {
      const lines = [
        `${req.method} ${req.url} HTTP/1.1`,
        ...Object.entries(req.headers).flatMap(([k, v]) =>
          k === 'host' ? [`host: ${upstream.host}`] : [v].flat().map(x => `${k}: ${x}`),
        ),
        '',
        '',
      ]
      tls.write(lines.join('\r\n'))
      if (head.length > 0) tls.write(head)
      tls.pipe(socket)
      socket.pipe(tls)
    })
    const destroy = () => {
      tls.destroy()
      socket.destroy()
    }
    tls.on('error', destroy)
    socket.on('error', destroy)
    tls.on('close', () => socket.end())
    socket.on('close', () => tls.end())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
