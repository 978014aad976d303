/**
 * Test bed for the data plane: an in-memory ConfigSource, a Topology whose pods are small HTTP
 * servers on 127.0.0.1, and a client that sends absolute-form requests to a sidecar's listener.
 */
import http, {type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {DestinationRule, VirtualService} from '@faultline/core/istio/types.js'
import type {GatewayObject} from '../../src/mesh/gateway-config.js'
import {Mesh} from '../../src/mesh/index.js'
import type {IstioProfile} from '../../src/mesh/profile.js'
import type {ConfigSource, Pod, Service, StoreEvent, Topology} from '../../src/types.js'

/** An in-memory ConfigSource that notifies like the API server's store. */
export class FakeConfig implements ConfigSource {
  private vs: VirtualService[] = []
  private dr: DestinationRule[] = []
  private gw: GatewayObject[] = []
  private readonly listeners = new Set<(e: StoreEvent) => void>()

  virtualServices(): VirtualService[] {
    return this.vs
  }

  destinationRules(): DestinationRule[] {
    return this.dr
  }

  gateways(): GatewayObject[] {
    return this.gw
  }

  /** Creates or replaces a Gateway by namespace/name and notifies subscribers. */
  applyGateway(obj: GatewayObject): void {
    const i = this.gw.findIndex(
      o => o.metadata.name === obj.metadata.name && o.metadata.namespace === obj.metadata.namespace,
    )
    if (i >= 0) this.gw[i] = obj
    else this.gw.push(obj)
    for (const l of this.listeners)
      l({
        type: i >= 0 ? 'MODIFIED' : 'ADDED',
        object: {apiVersion: 'networking.istio.io/v1', kind: 'Gateway', ...obj} as unknown as StoreEvent['object'],
      })
  }

  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Creates or replaces an object by namespace/name and notifies subscribers. */
  apply(obj: VirtualService | DestinationRule): void {
    const list: (VirtualService | DestinationRule)[] = obj.kind === 'VirtualService' ? this.vs : this.dr
    const i = list.findIndex(
      o => o.metadata.name === obj.metadata.name && o.metadata.namespace === obj.metadata.namespace,
    )
    if (i >= 0) list[i] = obj
    else list.push(obj)
    for (const l of this.listeners)
      l({type: i >= 0 ? 'MODIFIED' : 'ADDED', object: obj as unknown as StoreEvent['object']})
  }

  /** Deletes an object and notifies subscribers. */
  remove(kind: 'VirtualService' | 'DestinationRule', name: string, namespace = 'default'): void {
    const list: (VirtualService | DestinationRule)[] = kind === 'VirtualService' ? this.vs : this.dr
    const i = list.findIndex(o => o.metadata.name === name && o.metadata.namespace === namespace)
    if (i < 0) return
    const [obj] = list.splice(i, 1)
    for (const l of this.listeners) l({type: 'DELETED', object: obj as unknown as StoreEvent['object']})
  }
}

/** A VirtualService in `default`. */
export function virtualService(name: string, spec: VirtualService['spec'], namespace = 'default'): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {name, namespace, creationTimestamp: '2026-01-01T00:00:00Z'},
    spec,
  }
}

/** A DestinationRule in `default`. */
export function destinationRule(name: string, spec: DestinationRule['spec'], namespace = 'default'): DestinationRule {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: {name, namespace, creationTimestamp: '2026-01-01T00:00:00Z'},
    spec,
  }
}

/** An app handler; the default answers 200 with the pod name and the headers it received. */
export type AppHandler = (req: IncomingMessage, res: ServerResponse, pod: string) => void

const echo: AppHandler = (req, res, pod) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, {'content-type': 'application/json', 'x-pod': pod})
    res.end(JSON.stringify({pod, url: req.url, headers: req.headers}))
  })
}

/** A meshed workload instance backed by a real HTTP server. */
export interface TestPod extends Pod {
  server: http.Server
  hits: number
  handler: AppHandler
}

/** The sandbox topology for a test. */
export class FakeTopology implements Topology {
  readonly svcs: Service[] = []
  readonly podList: TestPod[] = []

  services(): Service[] {
    return this.svcs
  }

  pods(): Pod[] {
    return this.podList
  }

  endpoints(service: Service): Pod[] {
    if (service.namespace === undefined) return []
    return this.podList.filter(
      p => p.namespace === service.namespace && Object.entries(service.selector).every(([k, v]) => p.labels[k] === v),
    )
  }

  /** Adds a Service selecting `app: <name>`. */
  service(name: string, port = 9080, namespace = 'default'): Service {
    const s = {name, namespace, port, selector: {app: name}}
    this.svcs.push(s)
    return s
  }

  /** Starts a pod's app server. */
  async pod(
    name: string,
    labels: Record<string, string>,
    handler: AppHandler = echo,
    namespace = 'default',
  ): Promise<TestPod> {
    const pod: TestPod = {
      name,
      namespace,
      labels,
      serviceAccount: 'default',
      containers: [labels['app'] ?? 'app', 'istio-proxy'],
      appPort: 0,
      // Every cluster and HTTP stat included, as these tests read them (the default list has none: inclusion.test.ts).
      annotations: {
        'proxy.istio.io/config': JSON.stringify({proxyStatsMatcher: {inclusionPrefixes: ['cluster.', 'http.']}}),
      },
      server: http.createServer((req, res) => {
        pod.hits++
        pod.handler(req, res, name)
      }),
      hits: 0,
      handler,
    }
    await new Promise<void>(resolve => pod.server.listen(0, '127.0.0.1', () => resolve()))
    pod.appPort = (pod.server.address() as AddressInfo).port
    this.podList.push(pod)
    return pod
  }

  /** Stops every app server. */
  async close(): Promise<void> {
    await Promise.all(
      this.podList.map(
        p =>
          new Promise<void>(resolve => {
            p.server.closeAllConnections()
            p.server.close(() => resolve())
          }),
      ),
    )
  }
}

/** A response as the client saw it. */
export interface Reply {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  ms: number
}

const clientAgent = new http.Agent({keepAlive: true, maxSockets: 256})

/** Sends a request through a sidecar's outbound listener in absolute form (as an HTTP proxy client does). */
export function send(
  port: number,
  url: string,
  headers: OutgoingHttpHeaders = {},
  method = 'GET',
  body?: string,
): Promise<Reply> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const req = http.request({host: '127.0.0.1', port, method, path: url, headers, agent: clientAgent}, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          ms: performance.now() - started,
        }),
      )
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Parses Envoy admin text (`name: value` lines) into a map. */
export function parseStats(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    const m = /^(.+): (-?\d+(?:\.\d+)?)$/.exec(line)
    if (m !== null) out.set(m[1] as string, Number(m[2]))
  }
  return out
}

/** A mesh over a fake config and topology, with a client pod whose sidecar sends the requests. */
export async function startMesh(
  topology: FakeTopology,
  config: FakeConfig,
  opts: {
    now?: () => number
    random?: () => number
    profile?: IstioProfile
    outboundTrafficPolicy?: 'ALLOW_ANY' | 'REGISTRY_ONLY'
  } = {},
): Promise<{mesh: Mesh; client: TestPod; port: number}> {
  const mesh = new Mesh({config, topology, ...opts})
  const client = await topology.pod('productpage-v1-5d9b6f7c8d-abcde', {app: 'productpage', version: 'v1'})
  for (const p of topology.podList) await mesh.addSidecar(p)
  const sidecar = mesh.sidecar(client.name)
  if (sidecar === undefined) throw new Error('client sidecar missing')
  return {mesh, client, port: sidecar.outboundPort}
}

/** Stat value from a sidecar's admin text. */
export function stat(mesh: Mesh, pod: string, name: string): number | undefined {
  return parseStats(mesh.sidecar(pod)?.statsText() ?? '').get(name)
}

/** A seeded PRNG (mulberry32) in [0, 1): statistical tests stay reproducible and cannot flake. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
