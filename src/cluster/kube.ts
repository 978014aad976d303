/**
 * `Cluster` over @kubernetes/client-node — the only module that imports it. Works against any
 * API server: a real cluster, or the sandbox's (which speaks the same protocol).
 */
import {request as httpRequest} from 'node:http'
import {request as httpsRequest, type RequestOptions} from 'node:https'
import {createServer, type AddressInfo, type Socket} from 'node:net'
import {PassThrough, Writable} from 'node:stream'

import {
  ApiException,
  ApisApi,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Exec,
  type KubeConfig,
  PortForward,
  type V1Status,
} from './client-node.js'

import {ISTIO_GROUP, ISTIO_VERSIONS, type DestinationRule, type VirtualService} from '@faultline/core/istio/types.js'
import {
  ApiError,
  ConflictError,
  PROXY_CONTAINER,
  type AccessCheck,
  type Cluster,
  type ClusterTarget,
  type MeshFacts,
  type PeerAuthentication,
  type PodStream,
  type PodSummary,
  type ServiceSummary,
} from './cluster.js'
import {podSummary} from './pods.js'

/** Istio's root namespace, where mesh-wide policies live (meshConfig.rootNamespace's default). */
const ISTIO_ROOT_NAMESPACE = 'istio-system'

/** PeerAuthentications of a namespace: security.istio.io/v1 (Istio ≥ 1.22), else v1beta1. */
async function listPeerAuthentications(custom: CustomObjectsApi, namespace: string): Promise<PeerAuthentication[]> {
  let last: unknown
  for (const version of ['v1', 'v1beta1']) {
    try {
      return (
        (await custom.listNamespacedCustomObject({
          group: 'security.istio.io',
          version,
          namespace,
          plural: 'peerauthentications',
        })) as {items: PeerAuthentication[]}
      ).items
    } catch (err) {
      last = err
    }
  }
  throw last
}

const EXEC_TIMEOUT_MS = 15_000

/** The parts of a Service (core/v1) read here; client-node's V1Service has this shape. */
interface ServiceObject {
  metadata?: {name?: string; namespace?: string}
  spec?: {
    type?: string
    externalName?: string
    selector?: Record<string, string>
    ports?: ReadonlyArray<{port: number; targetPort?: unknown}>
  }
  status?: {loadBalancer?: {ingress?: ReadonlyArray<{ip?: string; hostname?: string}>}}
}

/** A Service object → `ServiceSummary`. */
function serviceSummary(s: ServiceObject, namespace: string): ServiceSummary {
  return {
    name: s.metadata?.name ?? '',
    namespace: s.metadata?.namespace ?? namespace,
    type: s.spec?.type ?? 'ClusterIP',
    ...(s.spec?.externalName === undefined ? {} : {externalName: s.spec.externalName}),
    ports: (s.spec?.ports ?? []).map(p => p.port),
    ...((s.status?.loadBalancer?.ingress ?? []).length === 0
      ? {}
      : {
          loadBalancer: (s.status?.loadBalancer?.ingress ?? [])
            .map(i => i.ip ?? i.hostname ?? '')
            .filter(a => a !== ''),
        }),
    ...(s.spec?.selector === undefined ? {} : {selector: s.spec.selector}),
    targetPorts: Object.fromEntries(
      (s.spec?.ports ?? []).map(p => [p.port, (p.targetPort as number | string | undefined) ?? p.port]),
    ),
  }
}

/** Converts client-node's exceptions into ours; anything without an HTTP status is a network error. */
function translate(err: unknown, what: string): Error {
  if (err instanceof ApiException) {
    const body =
      typeof err.body === 'string' ? safeJson(err.body) : (err.body as {message?: string; reason?: string} | undefined)
    const message = `${what}: ${body?.message ?? err.message}`
    if (err.code === 409 && body?.reason !== 'AlreadyExists') return new ConflictError(message, {cause: err})
    return new ApiError(message, err.code, body?.reason, {cause: err})
  }
  const cause = err as {message?: string; code?: string}
  return new ApiError(`${what}: ${cause.code ?? cause.message ?? String(err)}`, 0, undefined, {cause: err})
}

/** How often one call is tried again, and the longest Retry-After honoured (client-go tries 10 times). */
const MAX_RETRIES = 4
const MAX_RETRY_AFTER_MS = 10_000

/** The server's Retry-After, in ms (seconds only, as kube-apiserver sends it). */
function retryAfterMs(headers: Record<string, string> | undefined): number | undefined {
  const value = Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === 'retry-after')?.[1]
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined
  return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS)
}

/**
 * When to try a failed call again, as client-go does: any verb when the server answered 429 or 5xx
 * with Retry-After (priority-and-fairness and an overloaded server refuse before acting, and ask to
 * be asked again); a read also on any other server error or network failure, since it changes
 * nothing. A write that failed otherwise (a 500 or 504 without Retry-After) may have landed: it is
 * not repeated blindly; the caller reads back and decides.
 */
function retryDelayMs(err: unknown, read: boolean, attempt: number): number | undefined {
  if (attempt >= MAX_RETRIES) return undefined
  const backoff = 100 * 2 ** attempt
  if (!(err instanceof ApiException)) return read ? backoff : undefined
  const failing = err.code === 429 || err.code >= 500
  if (!failing) return undefined
  const after = retryAfterMs(err.headers as Record<string, string> | undefined)
  if (after !== undefined) return after
  return read ? backoff : undefined
}

function safeJson(text: string): {message?: string; reason?: string} | undefined {
  try {
    return JSON.parse(text) as {message?: string; reason?: string}
  } catch {
    return undefined
  }
}

/** A `Cluster` backed by a loaded KubeConfig. */
export class KubeCluster implements Cluster {
  readonly target: ClusterTarget
  private readonly kc: KubeConfig
  private readonly custom: CustomObjectsApi
  private readonly core: CoreV1Api
  private version: Promise<string> | undefined

  /** The loaded kubeconfig, for the other APIs of `src/cluster/` (the k6-operator's TestRuns). */
  get kubeConfig(): KubeConfig {
    return this.kc
  }

  constructor(kc: KubeConfig, target: ClusterTarget) {
    this.kc = kc
    this.target = target
    this.custom = kc.makeApiClient(CustomObjectsApi)
    this.core = kc.makeApiClient(CoreV1Api)
  }

  istioVersion(): Promise<string> {
    this.version ??= (async () => {
      try {
        const groups = await this.kc.makeApiClient(ApisApi).getAPIVersions()
        const group = groups.groups.find(g => g.name === ISTIO_GROUP)
        if (group === undefined)
          throw new ApiError(`the API server does not serve ${ISTIO_GROUP}: is Istio installed?`, 404, 'NotFound')
        const served = group.versions.map(v => v.version)
        return ISTIO_VERSIONS.find(v => served.includes(v)) ?? group.preferredVersion?.version ?? 'v1'
      } catch (err) {
        this.version = undefined
        throw err instanceof ApiError ? err : translate(err, `discovering ${ISTIO_GROUP}`)
      }
    })()
    return this.version
  }

  private async call<T>(
    what: string,
    fn: (version: string) => Promise<T>,
    kind: 'read' | 'write' = 'write',
  ): Promise<T> {
    const version = await this.istioVersion()
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(version)
      } catch (err) {
        const wait = retryDelayMs(err, kind === 'read', attempt)
        if (wait === undefined) throw translate(err, what)
        await new Promise(resolve => setTimeout(resolve, wait))
      }
    }
  }

  async listVirtualServices(namespace: string, labelSelector?: string): Promise<VirtualService[]> {
    return this.call(
      `listing VirtualServices in ${namespace}`,
      async version => {
        const list = (await this.custom.listNamespacedCustomObject({
          group: ISTIO_GROUP,
          version,
          namespace,
          plural: 'virtualservices',
          ...(labelSelector === undefined ? {} : {labelSelector}),
        })) as {items: VirtualService[]}
        return list.items
      },
      'read',
    )
  }

  async getVirtualService(namespace: string, name: string): Promise<VirtualService | undefined> {
    try {
      return await this.call(
        `reading VirtualService ${namespace}/${name}`,
        version =>
          this.custom.getNamespacedCustomObject({
            group: ISTIO_GROUP,
            version,
            namespace,
            plural: 'virtualservices',
            name,
          }) as Promise<VirtualService>,
        'read',
      )
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined
      throw err
    }
  }

  async createVirtualService(vs: VirtualService): Promise<VirtualService> {
    const namespace = vs.metadata.namespace ?? this.target.namespace
    return this.call(
      `creating VirtualService ${namespace}/${vs.metadata.name}`,
      version =>
        this.custom.createNamespacedCustomObject({
          group: ISTIO_GROUP,
          version,
          namespace,
          plural: 'virtualservices',
          body: {...vs, apiVersion: `${ISTIO_GROUP}/${version}`},
          fieldManager: 'faultline',
        }) as Promise<VirtualService>,
    )
  }

  async replaceVirtualService(vs: VirtualService): Promise<VirtualService> {
    const namespace = vs.metadata.namespace ?? this.target.namespace
    return this.call(
      `updating VirtualService ${namespace}/${vs.metadata.name}`,
      version =>
        this.custom.replaceNamespacedCustomObject({
          group: ISTIO_GROUP,
          version,
          namespace,
          plural: 'virtualservices',
          name: vs.metadata.name,
          body: {...vs, apiVersion: `${ISTIO_GROUP}/${version}`},
          fieldManager: 'faultline',
        }) as Promise<VirtualService>,
    )
  }

  async deleteVirtualService(namespace: string, name: string, resourceVersion?: string): Promise<void> {
    try {
      await this.call(`deleting VirtualService ${namespace}/${name}`, version =>
        this.custom.deleteNamespacedCustomObject({
          group: ISTIO_GROUP,
          version,
          namespace,
          plural: 'virtualservices',
          name,
          ...(resourceVersion === undefined ? {} : {body: {preconditions: {resourceVersion}}}),
        }),
      )
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return
      throw err
    }
  }

  async listDestinationRules(namespace: string): Promise<DestinationRule[]> {
    return this.call(
      `listing DestinationRules in ${namespace}`,
      async version => {
        const list = (await this.custom.listNamespacedCustomObject({
          group: ISTIO_GROUP,
          version,
          namespace,
          plural: 'destinationrules',
        })) as {items: DestinationRule[]}
        return list.items
      },
      'read',
    )
  }

  async getDestinationRule(namespace: string, name: string): Promise<DestinationRule | undefined> {
    try {
      return await this.call(
        `reading DestinationRule ${namespace}/${name}`,
        version =>
          this.custom.getNamespacedCustomObject({
            group: ISTIO_GROUP,
            version,
            namespace,
            plural: 'destinationrules',
            name,
          }) as Promise<DestinationRule>,
        'read',
      )
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return undefined
      throw err
    }
  }

  async replaceDestinationRule(dr: DestinationRule): Promise<DestinationRule> {
    const namespace = dr.metadata.namespace ?? this.target.namespace
    return this.call(
      `updating DestinationRule ${namespace}/${dr.metadata.name}`,
      version =>
        this.custom.replaceNamespacedCustomObject({
          group: ISTIO_GROUP,
          version,
          namespace,
          plural: 'destinationrules',
          name: dr.metadata.name,
          body: {...dr, apiVersion: `${ISTIO_GROUP}/${version}`},
          fieldManager: 'faultline',
        }) as Promise<DestinationRule>,
    )
  }

  async meshFacts(namespace: string): Promise<MeshFacts> {
    const quietly = async <T>(read: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await read()
      } catch {
        return undefined
      }
    }
    const [ns, virtualServices, peerAuthentications] = await Promise.all([
      quietly(() => this.core.readNamespace({name: namespace})),
      quietly(() =>
        this.call(
          'listing VirtualServices in every namespace',
          async version =>
            (
              (await this.custom.listClusterCustomObject({group: ISTIO_GROUP, version, plural: 'virtualservices'})) as {
                items: VirtualService[]
              }
            ).items,
          'read',
        ),
      ),
      // Once each: a run in istio-system itself must not see its policies twice.
      quietly(async () =>
        (
          await Promise.all(
            [...new Set([namespace, ISTIO_ROOT_NAMESPACE])].map(n => listPeerAuthentications(this.custom, n)),
          )
        ).flat(),
      ),
    ])
    return {
      ...(ns === undefined ? {} : {namespaceLabels: ns.metadata?.labels ?? {}}),
      ...(virtualServices === undefined ? {} : {virtualServices}),
      ...(peerAuthentications === undefined ? {} : {peerAuthentications}),
    }
  }

  async listPods(namespace: string, labelSelector: string): Promise<PodSummary[]> {
    try {
      const list = await this.core.listNamespacedPod({namespace, labelSelector})
      // Native sidecars included: Istio ≥ 1.27 injects istio-proxy as one on Kubernetes ≥ 1.33 nodes.
      return list.items.map(p => podSummary(p, namespace))
    } catch (err) {
      throw translate(err, `listing pods ${labelSelector} in ${namespace}`)
    }
  }

  async listServices(namespace: string): Promise<ServiceSummary[]> {
    try {
      const list = await this.core.listNamespacedService({namespace})
      return list.items.map(s => serviceSummary(s, namespace))
    } catch (err) {
      throw translate(err, `listing Services in ${namespace}`)
    }
  }

  /** One Service by name (`get services`), undefined when there is none. */
  async readService(namespace: string, name: string): Promise<ServiceSummary | undefined> {
    try {
      return serviceSummary(await this.core.readNamespacedService({namespace, name}), namespace)
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined
      throw translate(err, `reading Service ${namespace}/${name}`)
    }
  }

  proxyRequest(namespace: string, pod: string, path: string): Promise<string> {
    const what = `running pilot-agent request GET ${path} in ${namespace}/${pod}`
    return new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = []
      const errChunks: Buffer[] = []
      const sink = (into: Buffer[]) =>
        new Writable({
          write(chunk: Buffer, _enc, done) {
            into.push(chunk)
            done()
          },
        })
      let settled = false
      const finish = (err: Error | undefined) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (err === undefined) resolve(Buffer.concat(chunks).toString('utf8'))
        else reject(err)
      }
      const timer = setTimeout(
        () => finish(new ApiError(`${what}: no answer within ${EXEC_TIMEOUT_MS / 1000}s`, 0)),
        EXEC_TIMEOUT_MS,
      )
      const onStatus = (status: V1Status) => {
        if (status.status === 'Success') finish(undefined)
        else
          finish(
            new ApiError(
              `${what}: ${status.message ?? 'failed'} ${Buffer.concat(errChunks).toString('utf8').trim()}`.trim(),
              status.code ?? 500,
              status.reason,
            ),
          )
      }
      // `-c istio-proxy` reaches a native sidecar (a restartable init container) as well as a container.
      new Exec(this.kc)
        .exec(
          namespace,
          pod,
          PROXY_CONTAINER,
          ['pilot-agent', 'request', 'GET', path],
          sink(chunks),
          sink(errChunks),
          null,
          false,
          onStatus,
        )
        .then(ws =>
          ws.on('close', () =>
            setTimeout(() => finish(new ApiError(`${what}: the connection closed without a status`, 0)), 50),
          ),
        )
        .catch(err => finish(translate(err, what)))
    })
  }

  /**
   * A GET through the API server's pod proxy. Sent by hand rather than with CoreV1Api's
   * connectGetNamespacedPodProxyWithPath, which percent-encodes the `/` of the path (`stats%2Fprometheus`)
   * and the `:` of `NAME:PORT`; the kubeconfig's TLS and credentials are applied as for any call.
   */
  async podProxyGet(namespace: string, pod: string, port: number, path: string): Promise<string> {
    const what = `GET pods/${pod}:${port}/proxy/${path} in ${namespace}`
    const server = this.kc.getCurrentCluster()?.server ?? this.target.server
    const url = new URL(
      `${server.replace(/\/+$/, '')}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}:${port}/proxy/${path}`,
    )
    const opts: RequestOptions = {method: 'GET', headers: {Accept: 'text/plain, */*'}}
    await this.kc.applyToHTTPSOptions(opts)
    return new Promise<string>((resolve, reject) => {
      const send = url.protocol === 'http:' ? httpRequest : httpsRequest
      const req = send(url, opts, res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', err => reject(translate(err, what)))
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          const status = res.statusCode ?? 0
          if (status >= 200 && status < 300) return resolve(body)
          const parsed = safeJson(body) as {kind?: string; message?: string; reason?: string} | undefined
          const fromApiServer = parsed?.kind === 'Status'
          const message = fromApiServer ? (parsed.message ?? '') : (body.trim().split('\n')[0] ?? '')
          reject(
            new ApiError(
              `${what}: ${status} ${message || res.statusMessage || ''}`.trim(),
              status,
              fromApiServer ? parsed.reason : undefined,
            ),
          )
        })
      })
      req.setTimeout(EXEC_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${EXEC_TIMEOUT_MS / 1000}s`)))
      req.on('error', err => reject(translate(err, what)))
      req.end()
    })
  }

  /**
   * Forwards `127.0.0.1:<port returned>` to `port` of `pod` (pods/portforward over WebSocket, as
   * `kubectl port-forward pod/NAME` does): each local connection is its own stream; `close` stops
   * listening and ends them.
   */
  async portForward(namespace: string, pod: string, port: number): Promise<{port: number; close: () => Promise<void>}> {
    const forward = new PortForward(this.kc)
    const sockets = new Set<Socket>()
    const server = createServer(socket => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => socket.destroy())
      forward
        .portForward(namespace, pod, [port], socket, null, socket)
        .then(ws => {
          if (typeof ws === 'function') return
          ws.on('close', () => socket.end())
          socket.on('close', () => ws.close())
        })
        .catch(() => socket.destroy())
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const close = () =>
      new Promise<void>(resolve => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      })
    return {port: (server.address() as AddressInfo).port, close}
  }

  /**
   * One stream to `port` of `pod` (pods/portforward over WebSocket in the channel protocol, as
   * client-node's PortForward speaks it): resolves once the API server accepted the upgrade; a
   * refusal (the pod gone, 403) rejects. Text on the error channel (kubelet could not connect to the
   * port) ends the stream with that text.
   */
  async openPortForward(namespace: string, pod: string, port: number): Promise<PodStream> {
    const data = new PassThrough()
    const input = new PassThrough()
    let errorText = ''
    let settle: (error: string | undefined) => void = () => undefined
    const ended = new Promise<string | undefined>(resolve => {
      settle = resolve
    })
    // client-node hands the error channel's first frame (the port number) over as an empty chunk: only text is an error.
    const errors = new Writable({
      write(chunk: Buffer, _enc, done) {
        if (chunk.length > 0) {
          errorText += chunk.toString('utf8')
          ws?.close()
        }
        done()
      },
    })
    let ws: {close(): void} | undefined
    try {
      const socket = await new PortForward(this.kc).portForward(namespace, pod, [port], data, errors, input)
      if (typeof socket === 'function') throw new Error('client-node returned a reconnecting handle')
      ws = socket
      const finish = () => {
        data.end()
        settle(errorText === '' ? undefined : errorText.trim())
      }
      socket.on('close', finish)
      socket.on('error', (err: Error) => {
        errorText ||= err.message
        finish()
      })
    } catch (err) {
      throw translate(err, `port-forwarding to ${namespace}/${pod}:${port}`)
    }
    return {data, input, ended, close: () => ws?.close()}
  }

  async canI(checks: AccessCheck[]): Promise<boolean[]> {
    const api = this.kc.makeApiClient(AuthorizationV1Api)
    return Promise.all(
      checks.map(async c => {
        try {
          const review = await api.createSelfSubjectAccessReview({
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SelfSubjectAccessReview',
              spec: {
                resourceAttributes: {
                  verb: c.verb,
                  group: c.group,
                  resource: c.resource,
                  namespace: c.namespace,
                  ...(c.subresource === undefined ? {} : {subresource: c.subresource}),
                },
              },
            },
          })
          return review.status?.allowed === true
        } catch (err) {
          throw translate(err, `checking permission to ${c.verb} ${c.resource}`)
        }
      }),
    )
  }
}
