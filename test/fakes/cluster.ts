/** An in-memory `Cluster` with an API server's write semantics, and knobs to make it misbehave. */
import {
  ApiError,
  type AccessCheck,
  type Cluster,
  ConflictError,
  type ClusterTarget,
  type MeshFacts,
  type PodSummary,
  type ServiceSummary,
} from '../../src/cluster/cluster.js'
import type {DestinationRule, VirtualService} from '@faultline/core/istio/types.js'

type Op = 'get' | 'list' | 'create' | 'replace' | 'delete'

/** A fake cluster for runner tests. */
export class FakeCluster implements Cluster {
  readonly target: ClusterTarget = {source: 'kubeconfig', context: 'fake', server: 'https://fake', namespace: 'default'}
  readonly objects = new Map<string, VirtualService>()
  readonly destinationRules: DestinationRule[] = []
  readonly pods: PodSummary[] = []
  /** Bookinfo's Services in `default`, as on a cluster running it; remove one to test a missing host. */
  readonly services: ServiceSummary[] = ['productpage', 'details', 'reviews', 'ratings'].map(name => ({
    name,
    namespace: 'default',
    type: 'ClusterIP',
    ports: [9080],
  }))
  /** Each pod's Envoy admin `/stats` text (`pilot-agent request GET stats` by exec). */
  readonly stats = new Map<string, string>()
  /**
   * Each pod's `/stats/prometheus`: what the pod proxy to port 15090 and `pilot-agent request GET
   * stats/prometheus` answer. A pod without one answers the pod proxy 503 (nothing listens on its
   * address, as with Istio's METRICS_LOCALHOST_ACCESS_ONLY), so the runner falls back to exec.
   */
  readonly prometheusStats = new Map<string, string>()
  /** The pod-proxy GETs asked for, as `namespace/pod:port/path`. */
  readonly podProxyGets: string[] = []
  /** The exec reads asked for, as `namespace/pod path`. */
  readonly execs: string[] = []
  /** What meshFacts answers: nothing known unless a test says so. */
  facts: MeshFacts = {}
  readonly writes: {op: Op; name: string}[] = []
  /** Fail the next N calls of an operation with a transient 503 (or a custom error). */
  readonly failNext = new Map<Op, {count: number; error?: () => Error}>()
  /** Denied permissions: `verb resource[/subresource]` everywhere, or `… in <namespace>` in one namespace. */
  denied = new Set<string>()
  private rv = 100

  private key(ns: string, name: string): string {
    return `${ns}/${name}`
  }

  private maybeFail(op: Op): void {
    const f = this.failNext.get(op)
    if (f === undefined || f.count <= 0) return
    f.count--
    throw f.error?.() ?? new ApiError(`${op}: 503 Service Unavailable`, 503, 'ServiceUnavailable')
  }

  /** Seeds an object as if someone had applied it. */
  seed(vs: VirtualService): VirtualService {
    const stored = structuredClone(vs)
    stored.metadata.namespace ??= 'default'
    stored.metadata.resourceVersion = String(++this.rv)
    stored.metadata.creationTimestamp ??= new Date(Date.UTC(2026, 0, 1)).toISOString()
    this.objects.set(this.key(stored.metadata.namespace, stored.metadata.name), stored)
    return structuredClone(stored)
  }

  async istioVersion(): Promise<string> {
    return 'v1'
  }

  async listVirtualServices(namespace: string): Promise<VirtualService[]> {
    this.maybeFail('list')
    return [...this.objects.values()].filter(v => v.metadata.namespace === namespace).map(v => structuredClone(v))
  }

  async getVirtualService(namespace: string, name: string): Promise<VirtualService | undefined> {
    this.maybeFail('get')
    const v = this.objects.get(this.key(namespace, name))
    return v === undefined ? undefined : structuredClone(v)
  }

  async createVirtualService(vs: VirtualService): Promise<VirtualService> {
    this.maybeFail('create')
    const ns = vs.metadata.namespace ?? 'default'
    if (this.objects.has(this.key(ns, vs.metadata.name)))
      throw new ApiError(`virtualservices "${vs.metadata.name}" already exists`, 409, 'AlreadyExists')
    this.writes.push({op: 'create', name: vs.metadata.name})
    return this.seed({...vs, metadata: {...vs.metadata, namespace: ns, creationTimestamp: new Date().toISOString()}})
  }

  async replaceVirtualService(vs: VirtualService): Promise<VirtualService> {
    this.maybeFail('replace')
    const ns = vs.metadata.namespace ?? 'default'
    const current = this.objects.get(this.key(ns, vs.metadata.name))
    if (current === undefined) throw new ApiError(`virtualservices "${vs.metadata.name}" not found`, 404, 'NotFound')
    if (vs.metadata.resourceVersion !== current.metadata.resourceVersion)
      throw new ConflictError(
        `the object has been modified; please apply your changes to the latest version and try again`,
      )
    this.writes.push({op: 'replace', name: vs.metadata.name})
    return this.seed({
      ...vs,
      metadata: {
        ...vs.metadata,
        namespace: ns,
        creationTimestamp: current.metadata.creationTimestamp ?? new Date().toISOString(),
      },
    })
  }

  async deleteVirtualService(namespace: string, name: string, resourceVersion?: string): Promise<void> {
    this.maybeFail('delete')
    const current = this.objects.get(this.key(namespace, name))
    if (current === undefined) return
    if (resourceVersion !== undefined && resourceVersion !== current.metadata.resourceVersion)
      throw new ConflictError('precondition failed: resourceVersion')
    this.writes.push({op: 'delete', name})
    this.objects.delete(this.key(namespace, name))
  }

  async listDestinationRules(namespace: string): Promise<DestinationRule[]> {
    return this.destinationRules
      .filter(d => (d.metadata.namespace ?? 'default') === namespace)
      .map(d => structuredClone(d))
  }

  /** Seeds a DestinationRule as if someone had applied it (replacing one of the same name). */
  seedDestinationRule(dr: DestinationRule): DestinationRule {
    const stored = structuredClone(dr)
    stored.metadata.namespace ??= 'default'
    stored.metadata.resourceVersion = String(++this.rv)
    const i = this.destinationRules.findIndex(
      d =>
        (d.metadata.namespace ?? 'default') === stored.metadata.namespace && d.metadata.name === stored.metadata.name,
    )
    if (i >= 0) this.destinationRules[i] = stored
    else this.destinationRules.push(stored)
    return structuredClone(stored)
  }

  async getDestinationRule(namespace: string, name: string): Promise<DestinationRule | undefined> {
    this.maybeFail('get')
    const d = this.destinationRules.find(
      x => (x.metadata.namespace ?? 'default') === namespace && x.metadata.name === name,
    )
    return d === undefined ? undefined : structuredClone(d)
  }

  async replaceDestinationRule(dr: DestinationRule): Promise<DestinationRule> {
    this.maybeFail('replace')
    const ns = dr.metadata.namespace ?? 'default'
    const current = this.destinationRules.find(
      x => (x.metadata.namespace ?? 'default') === ns && x.metadata.name === dr.metadata.name,
    )
    if (current === undefined) throw new ApiError(`destinationrules "${dr.metadata.name}" not found`, 404, 'NotFound')
    if (dr.metadata.resourceVersion !== current.metadata.resourceVersion)
      throw new ConflictError(
        'the object has been modified; please apply your changes to the latest version and try again',
      )
    this.writes.push({op: 'replace', name: `destinationrule/${dr.metadata.name}`})
    return this.seedDestinationRule({...dr, metadata: {...dr.metadata, namespace: ns}})
  }

  async listPods(namespace: string, selector: string): Promise<PodSummary[]> {
    if (this.isDenied('list pods', namespace))
      throw new ApiError(
        `pods is forbidden: User "fake" cannot list resource "pods" in API group "" in the namespace "${namespace}"`,
        403,
        'Forbidden',
      )
    const terms = selector === '' ? [] : selector.split(',').map(kv => kv.split('='))
    return this.pods.filter(p => p.namespace === namespace && terms.every(([k, v]) => p.labels[k as string] === v))
  }

  async listServices(namespace: string): Promise<ServiceSummary[]> {
    if (this.isDenied('list services', namespace))
      throw new ApiError(
        `services is forbidden: User "fake" cannot list resource "services" in API group "" in the namespace "${namespace}"`,
        403,
        'Forbidden',
      )
    return this.services.filter(s => s.namespace === namespace).map(s => structuredClone(s))
  }

  async proxyRequest(namespace: string, pod: string, path = 'stats'): Promise<string> {
    this.execs.push(`${namespace}/${pod} ${path}`)
    if (this.isDenied('create pods/exec', namespace))
      throw new ApiError(
        `pods "${pod}" is forbidden: User "fake" cannot create resource "pods/exec" in API group "" in the namespace "${namespace}"`,
        403,
        'Forbidden',
      )
    const s = path === 'stats/prometheus' ? this.prometheusStats.get(pod) : this.stats.get(pod)
    if (s === undefined) throw new ApiError(`pod ${pod} has no sidecar stats`, 500)
    return s
  }

  async podProxyGet(namespace: string, pod: string, port: number, path: string): Promise<string> {
    this.podProxyGets.push(`${namespace}/${pod}:${port}/${path}`)
    if (this.isDenied('get pods/proxy', namespace))
      throw new ApiError(
        `pods "${pod}" is forbidden: User "fake" cannot get resource "pods/proxy" in API group "" in the namespace "${namespace}"`,
        403,
        'Forbidden',
      )
    if (!this.pods.some(p => p.namespace === namespace && p.name === pod))
      throw new ApiError(`pods "${pod}" not found`, 404, 'NotFound')
    const s = port === 15090 && path === 'stats/prometheus' ? this.prometheusStats.get(pod) : undefined
    if (s === undefined)
      throw new ApiError(
        `error trying to reach service: dial tcp 10.0.0.1:${port}: connect: connection refused`,
        503,
        'ServiceUnavailable',
      )
    return s
  }

  async canI(checks: AccessCheck[]): Promise<boolean[]> {
    return checks.map(
      c =>
        !this.isDenied(`${c.verb} ${c.resource}${c.subresource === undefined ? '' : '/' + c.subresource}`, c.namespace),
    )
  }

  async meshFacts(): Promise<MeshFacts> {
    return structuredClone(this.facts)
  }

  private isDenied(permission: string, namespace: string): boolean {
    return this.denied.has(permission) || this.denied.has(`${permission} in ${namespace}`)
  }
}
