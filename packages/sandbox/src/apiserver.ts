/**
 * The sandbox's Kubernetes API server: the REST subset the runner and kubectl use — discovery,
 * OpenAPI v3, namespaces, networking.istio.io VirtualServices and DestinationRules (three versions),
 * security.istio.io PeerAuthentications (two),
 * pods and `pods/exec` over WebSocket, services (read), SelfSubjectAccessReview — on 127.0.0.1
 * behind a bearer token. Routing and auth live here; each resource's behaviour lives in `apiserver/`.
 */
import {timingSafeEqual} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {createServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import type {Duplex} from 'node:stream'

import {crdFor, validateIstioObject} from '@faultline/core/istio/crd.js'
import {SECURITY_GROUP, SECURITY_VERSIONS} from '@faultline/core/istio/peer-authentication.js'
import {ISTIO_GROUP, ISTIO_VERSIONS} from '@faultline/core/istio/types.js'
import {handleAccessReview, handleNamespaces, handlePods} from './apiserver/core.js'
import {
  apiGroup,
  apiGroups,
  AUTHORIZATION_GROUP,
  coreResources,
  coreVersions,
  groupResources,
  KUBERNETES_VERSION,
} from './apiserver/discovery.js'
import {ExecGateway, execRequest, rejectUpgrade} from './apiserver/exec.js'
import {API_FAULTS_PATH, type ApiFaultInjector, handleApiFaults} from './apiserver/faults.js'
import {sendJson, sendStatus} from './apiserver/http.js'
import {handleIstio, type IstioTarget} from './apiserver/istio.js'
import {openApiDocument, openApiIndex} from './apiserver/openapi.js'
import {selfSignedCertificate} from './apiserver/tls.js'
import {findPod} from './apiserver/pods.js'
import {BuiltinStore, builtinTarget, handleBuiltin} from './apiserver/builtin.js'
import {PortForwardGateway} from './apiserver/portforward.js'
import {handlePodProxy, handleServiceProxy} from './apiserver/podproxy.js'
import {handleServices} from './apiserver/services.js'
import {ApiError, badRequest, methodNotAllowed, notFound, pathNotFound, unauthorized} from './apiserver/status.js'
import type {K6OperatorSandbox} from './k6-operator.js'
import type {ObjectStore} from './store.js'
import type {ExecHandler, Topology} from './types.js'

/** What the API server serves and how it is reached. */
export interface ApiServerOptions {
  store: ObjectStore
  topology: Topology
  exec: ExecHandler
  /** The bearer token every request must carry. */
  token: string
  /** 0 (default) picks a free port. */
  port?: number
  host?: '127.0.0.1'
  /** Makes the server fail, conflict and lag like a loaded control plane (`chaos sandbox up --api-faults`). */
  faults?: ApiFaultInjector
  /** The sandbox's k6-operator: TestRuns, ConfigMaps and runner pods (packages/sandbox/src/k6-operator.ts). */
  k6Operator?: K6OperatorSandbox
}

/** A running API server. */
export interface ApiServer {
  /** `https://127.0.0.1:<port>`. */
  url: string
  /** The PEM certificate the server presents (self-signed; the kubeconfig's `certificate-authority-data`). */
  certificateAuthority: string
  close(): Promise<void>
}

const PLURAL_KIND: Record<string, IstioTarget['kind']> = {
  virtualservices: 'VirtualService',
  destinationrules: 'DestinationRule',
  gateways: 'Gateway',
}
const SECURITY_PLURAL_KIND: Record<string, IstioTarget['kind']> = {peerauthentications: 'PeerAuthentication'}
const HEALTH_PATHS = new Set(['/healthz', '/readyz', '/livez'])
const SPDY_UNSUPPORTED =
  'Upgrade request required: the sandbox serves pods/exec over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) only; SPDY is not supported (kubectl 1.30+ and client-node use WebSocket)'

function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? ''
  const m = /^Bearer\s+(.+)$/i.exec(header)
  if (m === null) return false
  const given = Buffer.from((m[1] ?? '').trim())
  const expected = Buffer.from(token)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

function segmentsOf(url: URL): string[] {
  try {
    return url.pathname
      .split('/')
      .filter(s => s !== '')
      .map(decodeURIComponent)
  } catch {
    throw badRequest(`malformed path ${JSON.stringify(url.pathname)}`)
  }
}

interface Context {
  opts: ApiServerOptions
  builtins: BuiltinStore
  since: string
  serverAddress: string
}

/** One request on its way to a handler. */
interface Routed {
  req: IncomingMessage
  res: ServerResponse
  url: URL
  q: URLSearchParams
  ctx: Context
}

/** What a path pattern captured: its `:name` segments and, after a trailing `*`, the rest of the path. */
interface Captured {
  params: Partial<Record<string, string>>
  rest: string[]
}

type Handler = (r: Routed, p: Captured) => Promise<void> | void

/** Answers a GET with `body`; no body means no such path. */
function serveGet(r: Routed, body: unknown): void {
  if (r.req.method !== 'GET') throw methodNotAllowed(r.req.method ?? '')
  if (body === undefined) throw pathNotFound()
  sendJson(r.res, 200, body)
}

/** The discovery documents at fixed paths, matched on the joined decoded path. */
const FIXED_PATHS = new Map<string, (ctx: Context) => unknown>([
  ['/version', () => KUBERNETES_VERSION],
  ['/api', ctx => coreVersions(ctx.serverAddress)],
  ['/api/v1', () => coreResources()],
  [
    '/apis',
    ctx => {
      const k6 = ctx.opts.k6Operator
      return k6 === undefined
        ? apiGroups()
        : {...(apiGroups() as object), groups: [...(apiGroups() as {groups: unknown[]}).groups, ...k6.apiGroups()]}
    },
  ],
  ['/openapi/v3', () => openApiIndex()],
])

/**
 * Segments `pattern` (`a/:b/c/:d?/*`) matches: literals equal, `:name` any one segment, a last
 * `:name?` one segment or none, a trailing `*` any rest (also none).
 */
function matchPath(pattern: string, s: readonly string[]): Captured | undefined {
  const parts = pattern.split('/')
  const params: Partial<Record<string, string>> = {}
  for (const [i, part] of parts.entries()) {
    if (part === '*') return {params, rest: s.slice(i)}
    const segment = s[i]
    if (segment === undefined)
      return part.endsWith('?') && i === s.length && i === parts.length - 1 ? {params, rest: []} : undefined
    if (part.startsWith(':')) params[part.slice(1).replace(/\?$/, '')] = segment
    else if (part !== segment) return undefined
  }
  return s.length === parts.length ? {params, rest: []} : undefined
}

function serveOpenApiDocument({res}: Routed, {rest}: Captured): void {
  const doc = openApiDocument(rest.join('/'))
  if (doc === undefined) throw pathNotFound()
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(doc),
    'Cache-Control': 'public, immutable',
  })
  res.end(doc)
}

function refuseExec({ctx, q}: Routed, {params}: Captured): void {
  const pod = findPod(ctx.opts.topology, params.namespace ?? '', params.name ?? '')
  if (pod === undefined) throw notFound({group: '', resource: 'pods'}, params.name ?? '')
  execRequest(pod, q)
  throw badRequest(SPDY_UNSUPPORTED)
}

function serveIstio(
  {req, res, q, ctx}: Routed,
  {params, rest}: Captured,
  versions: readonly string[] = ISTIO_VERSIONS,
  plurals = PLURAL_KIND,
): Promise<void> {
  const version = params.version ?? ''
  if (!versions.includes(version)) throw pathNotFound()
  const namespaced = rest[0] === 'namespaces' && rest.length >= 3
  const [plural, name, ...extra] = namespaced ? rest.slice(2) : rest
  const kind = plurals[plural ?? '']
  if (kind === undefined || extra.length > 0) throw pathNotFound()
  const target: IstioTarget = {kind, version, namespace: namespaced ? rest[1] : undefined, name}
  const {store, faults} = ctx.opts
  const serve = () => handleIstio(req, res, q, store, target)
  return faults === undefined ? serve() : faults.around(req, res, q, store, target, serve)
}

/** Path patterns and their handlers, the first match serving; a path under `api/v1` none matches is not found. */
const ROUTES: readonly [string, Handler][] = [
  ['openapi/v3/*', serveOpenApiDocument],
  [
    'api/v1/namespaces/:namespace?',
    (r, {params}) => handleNamespaces(r.req, r.res, r.q, r.ctx.opts.store, params.namespace),
  ],
  [
    'api/v1/namespaces/:namespace/pods/:name?',
    (r, {params}) =>
      handlePods(
        r.req,
        r.res,
        r.q,
        r.ctx.opts.topology,
        r.ctx.since,
        params.namespace,
        params.name,
        r.ctx.opts.k6Operator,
      ),
  ],
  ['api/v1/namespaces/:namespace/pods/:name/exec', refuseExec],
  [
    'api/v1/namespaces/:namespace/pods/:name/portforward',
    () => {
      throw badRequest('Upgrade request required')
    },
  ],
  [
    'api/v1/namespaces/:namespace/pods/:name/proxy/*',
    (r, {params, rest}) =>
      handlePodProxy(
        r.req,
        r.res,
        r.url,
        r.ctx.opts.topology,
        r.ctx.opts.exec,
        params.namespace ?? '',
        params.name ?? '',
        rest,
      ),
  ],
  [
    'api/v1/namespaces/:namespace/services/:name/proxy/*',
    (r, {params, rest}) =>
      handleServiceProxy(r.req, r.res, r.url, r.ctx.opts.topology, params.namespace ?? '', params.name ?? '', rest),
  ],
  [
    'api/v1/pods',
    r => handlePods(r.req, r.res, r.q, r.ctx.opts.topology, r.ctx.since, undefined, undefined, r.ctx.opts.k6Operator),
  ],
  [
    'api/v1/namespaces/:namespace/services/:name?',
    (r, {params}) => handleServices(r.req, r.res, r.q, r.ctx.opts.topology, r.ctx.since, params.namespace, params.name),
  ],
  ['api/v1/services', r => handleServices(r.req, r.res, r.q, r.ctx.opts.topology, r.ctx.since, undefined, undefined)],
  ['apis/:group', (r, {params}) => serveGet(r, apiGroup(params.group ?? ''))],
  ['apis/:group/:version', (r, {params}) => serveGet(r, groupResources(params.group ?? '', params.version ?? ''))],
  [`apis/${AUTHORIZATION_GROUP}/v1/selfsubjectaccessreviews`, r => handleAccessReview(r.req, r.res)],
  [`apis/${ISTIO_GROUP}/:version/*`, (r, p) => serveIstio(r, p)],
  [`apis/${SECURITY_GROUP}/:version/*`, (r, p) => serveIstio(r, p, SECURITY_VERSIONS, SECURITY_PLURAL_KIND)],
]

/**
 * Whether a Service path is the topology's: services are the topology's; a stored one (chaos
 * schedule's report server) or a write goes to the store.
 */
function topologyServes(
  req: IncomingMessage,
  ctx: Context,
  builtin: NonNullable<ReturnType<typeof builtinTarget>>,
): boolean {
  const ofTopology =
    builtin.name !== undefined &&
    ctx.opts.topology.services().some(x => x.namespace === builtin.namespace && x.name === builtin.name)
  return (
    builtin.resource.kind === 'Service' &&
    (ofTopology ||
      (req.method === 'GET' &&
        (builtin.name === undefined ||
          ctx.builtins.get('Service', builtin.namespace ?? '', builtin.name) === undefined)))
  )
}

async function route(req: IncomingMessage, res: ServerResponse, url: URL, ctx: Context): Promise<void> {
  const s = segmentsOf(url)
  const r: Routed = {req, res, url, q: url.searchParams, ctx}
  const k6 = ctx.opts.k6Operator
  if (k6 !== undefined && (await k6.route(req, res, s, r.q))) return
  const fixed = FIXED_PATHS.get(`/${s.join('/')}`)
  if (fixed !== undefined) return serveGet(r, fixed(ctx))
  const builtin = builtinTarget(s)
  if (builtin !== undefined && !topologyServes(req, ctx, builtin)) {
    return handleBuiltin(
      req,
      res,
      r.q,
      ctx.builtins,
      builtin,
      ns => ctx.opts.store.get('Namespace', undefined, ns) !== undefined,
    )
  }
  for (const [pattern, handle] of ROUTES) {
    const captured = matchPath(pattern, s)
    if (captured !== undefined) return handle(r, captured)
  }
  throw pathNotFound()
}

function answerError(res: ServerResponse, err: unknown): void {
  const status =
    err instanceof ApiError
      ? err.status
      : new ApiError(500, 'InternalError', `Internal error occurred: ${(err as Error).message}`).status
  if (res.headersSent) {
    res.destroy()
    return
  }
  sendStatus(res, status)
}

function onUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  ctx: Context,
  gateway: ExecGateway,
  forwards: PortForwardGateway,
): void {
  try {
    if (!authorized(req, ctx.opts.token)) throw unauthorized()
    const url = new URL(req.url ?? '/', 'http://sandbox')
    const s = segmentsOf(url)
    const podSub =
      s.length === 7 && s[0] === 'api' && s[1] === 'v1' && s[2] === 'namespaces' && s[4] === 'pods' ? s[6] : undefined
    if (podSub !== 'exec' && podSub !== 'portforward')
      throw badRequest('the sandbox upgrades only pods/exec and pods/portforward connections')
    const pod = findPod(ctx.opts.topology, s[3] ?? '', s[5] ?? '')
    if (pod === undefined) throw notFound({group: '', resource: 'pods'}, s[5] ?? '')
    if (podSub === 'portforward') return forwards.upgrade(req, socket, head, pod, url.searchParams)
    // Validate before refusing SPDY, so kubectl's SPDY fallback still shows the real problem.
    const request = execRequest(pod, url.searchParams)
    if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') throw badRequest(SPDY_UNSUPPORTED)
    gateway.upgrade(req, socket, head, pod, request)
  } catch (err) {
    rejectUpgrade(socket, err instanceof ApiError ? err : new ApiError(500, 'InternalError', (err as Error).message))
  }
}

/**
 * Loads and compiles the Istio CRD schemas one step per event-loop turn after start-up, so the first
 * `kubectl apply` or fault injection does not wait seconds for them; a request that arrives first
 * waits for at most the step in progress. Returns the cancel function.
 */
function warmSchemas(): () => void {
  const steps: (() => void)[] = []
  for (const kind of ['VirtualService', 'DestinationRule', 'Gateway'] as const) {
    steps.push(() => void crdFor(kind))
    for (const version of ISTIO_VERSIONS)
      steps.push(() => void validateIstioObject({apiVersion: `${ISTIO_GROUP}/${version}`, kind, spec: {}}))
  }
  for (const version of ISTIO_VERSIONS) steps.push(() => void openApiDocument(`apis/${ISTIO_GROUP}/${version}`))
  steps.push(() => void crdFor('PeerAuthentication'))
  for (const version of SECURITY_VERSIONS) {
    steps.push(
      () =>
        void validateIstioObject({apiVersion: `${SECURITY_GROUP}/${version}`, kind: 'PeerAuthentication', spec: {}}),
    )
    steps.push(() => void openApiDocument(`apis/${SECURITY_GROUP}/${version}`))
  }
  let timer: NodeJS.Immediate | undefined
  const next = () => {
    const step = steps.shift()
    if (step === undefined) return
    step()
    timer = setImmediate(next)
  }
  timer = setImmediate(next)
  return () => {
    steps.length = 0
    if (timer !== undefined) clearImmediate(timer)
  }
}

/**
 * Starts the API server on 127.0.0.1, over HTTPS with a fresh self-signed certificate: kubectl sends
 * bearer tokens only over TLS. Give `certificateAuthority` to `writeKubeconfig`.
 */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1'
  const ctx: Context = {
    opts,
    builtins: new BuiltinStore(),
    since: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    serverAddress: '',
  }
  const gateway = new ExecGateway(opts.exec)
  const forwards = new PortForwardGateway()
  const tls = selfSignedCertificate()
  const server = createServer({cert: tls.cert, key: tls.key}, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox')
    if (HEALTH_PATHS.has(url.pathname) && req.method === 'GET') {
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8'})
      return void res.end('ok')
    }
    if (!authorized(req, opts.token)) return answerError(res, unauthorized())
    const {faults} = opts
    if (faults === undefined) return void route(req, res, url, ctx).catch(err => answerError(res, err))
    if (url.pathname === API_FAULTS_PATH)
      return void handleApiFaults(req, res, faults).catch(err => answerError(res, err))
    faults
      .delay()
      .then(() => route(req, res, url, ctx))
      .catch(err => answerError(res, err))
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    onUpgrade(req, socket, head, ctx, gateway, forwards),
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const stopWarming = warmSchemas()
  const {port} = server.address() as AddressInfo
  ctx.serverAddress = `${host}:${port}`
  return {
    url: `https://${host}:${port}`,
    certificateAuthority: tls.cert,
    close: () =>
      new Promise<void>(resolve => {
        stopWarming()
        gateway.close()
        forwards.close()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
