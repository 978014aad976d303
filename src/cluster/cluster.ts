/**
 * The narrow interface the runner uses to talk to a cluster. Only `src/cluster/` knows how
 * (client-node against a real API server or the sandbox's); everything else sees this.
 */
import type {PeerAuthentication} from '@faultline/core/istio/peer-authentication.js'
import type {DestinationRule, VirtualService} from '@faultline/core/istio/types.js'

/** Where a cluster connection came from, for the report and the console. */
export interface ClusterTarget {
  /** `kubeconfig`, `in-cluster`, or `sandbox` (a kubeconfig written by `chaos sandbox up`). */
  source: 'kubeconfig' | 'in-cluster' | 'sandbox'
  context: string
  server: string
  namespace: string
  user?: string
}

/** An Istio PeerAuthentication (security.istio.io), as preflight reads it. */
export type {PeerAuthentication} from '@faultline/core/istio/peer-authentication.js'

/**
 * What preflight reads about the mesh beyond the target namespace's routing. Each part is
 * undefined when the cluster would not say (the kind is not served, or listing it is forbidden):
 * a check without its facts stays silent rather than guessing.
 */
export interface MeshFacts {
  /** The target namespace's labels (`istio.io/dataplane-mode`, `istio-injection`). */
  namespaceLabels?: Record<string, string>
  /** VirtualServices in every namespace (those elsewhere can take precedence over ours). */
  virtualServices?: VirtualService[]
  /** PeerAuthentications in the target namespace and Istio's root namespace (istio-system). */
  peerAuthentications?: PeerAuthentication[]
}

/** A pod as the runner needs it. */
export interface PodSummary {
  name: string
  namespace: string
  labels: Record<string, string>
  /** `spec.containers`. */
  containers: string[]
  /**
   * Native sidecars: `spec.initContainers` with `restartPolicy: Always`, which run beside
   * `containers` for the pod's whole life. Istio ≥ 1.27 injects `istio-proxy` here by default
   * when every node's kubelet is ≥ 1.33 (docs/real-cluster.md). Absent means none.
   */
  sidecars?: string[]
  ready: boolean
  /** Named container ports (`spec.containers[].ports[].name` → `containerPort`), what a Service's named targetPort resolves to. */
  ports?: Record<string, number>
}

/**
 * One forwarded connection to a pod's port (pods/portforward): bytes written to `input` reach the
 * port, bytes from it come out of `data`. `ended` settles once, when the stream is over: with the
 * API server's or kubelet's error text (the port refused, the pod gone), else undefined.
 */
export interface PodStream {
  readonly data: NodeJS.ReadableStream
  readonly input: NodeJS.WritableStream
  readonly ended: Promise<string | undefined>
  close(): void
}

/** The container Istio injects Envoy (and pilot-agent) as. */
export const PROXY_CONTAINER = 'istio-proxy'

/** Whether the pod runs Istio's proxy, as a container or as a native sidecar. */
export function hasProxy(pod: Pick<PodSummary, 'containers' | 'sidecars'>): boolean {
  return pod.containers.includes(PROXY_CONTAINER) || (pod.sidecars ?? []).includes(PROXY_CONTAINER)
}

/** A Service as preflight needs it: enough to say a fault's host exists, and what else does. */
export interface ServiceSummary {
  name: string
  namespace: string
  /** `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`. */
  type: string
  /** The DNS name an `ExternalName` Service aliases. */
  externalName?: string
  ports: number[]
  /** status.loadBalancer.ingress: each entry's ip, else hostname (a LoadBalancer Service's external address). */
  loadBalancer?: string[]
  /** spec.selector: the pods behind it. */
  selector?: Record<string, string>
  /** Service port → its targetPort (a number, or the name of a container port). */
  targetPorts?: Record<number, number | string>
}

/** One access check: may we do `verb` on `resource` in `namespace`? */
export interface AccessCheck {
  verb: string
  group: string
  resource: string
  subresource?: string
  namespace: string
}

/** The operations the runner needs, and nothing more. */
export interface Cluster {
  readonly target: ClusterTarget
  /** The networking.istio.io version the server prefers (v1 on Istio ≥1.22). */
  istioVersion(): Promise<string>
  listVirtualServices(namespace: string, labelSelector?: string): Promise<VirtualService[]>
  getVirtualService(namespace: string, name: string): Promise<VirtualService | undefined>
  createVirtualService(vs: VirtualService): Promise<VirtualService>
  /** Replaces using `metadata.resourceVersion`; throws `ConflictError` when it is stale. */
  replaceVirtualService(vs: VirtualService): Promise<VirtualService>
  /** Deletes, optionally only if still at `resourceVersion` (precondition); absent → no error. */
  deleteVirtualService(namespace: string, name: string, resourceVersion?: string): Promise<void>
  listDestinationRules(namespace: string): Promise<DestinationRule[]>
  /** One DestinationRule, undefined when there is none (`spec.setup` patches only existing ones). */
  getDestinationRule(namespace: string, name: string): Promise<DestinationRule | undefined>
  /** Replaces using `metadata.resourceVersion`; throws `ConflictError` when it is stale. */
  replaceDestinationRule(dr: DestinationRule): Promise<DestinationRule>
  listPods(namespace: string, labelSelector: string): Promise<PodSummary[]>
  /** The Services of a namespace (`list services`; one call gives existence and "did you mean"). */
  listServices(namespace: string): Promise<ServiceSummary[]>
  /** Runs `pilot-agent request GET <path>` in the pod's istio-proxy container (or native sidecar) and returns stdout. */
  proxyRequest(namespace: string, pod: string, path: string): Promise<string>
  /**
   * `GET /api/v1/namespaces/NS/pods/NAME:PORT/proxy/PATH` (RBAC `get pods/proxy`): the body of a 2xx
   * answer; otherwise an `ApiError` with the status (reason `NotFound` only when the pod itself is missing).
   */
  podProxyGet(namespace: string, pod: string, port: number, path: string): Promise<string>
  /** SelfSubjectAccessReview for each check; true where allowed. */
  canI(checks: AccessCheck[]): Promise<boolean[]>
  /** The mesh facts preflight reads for `namespace` (never throws: unknown parts are undefined). */
  meshFacts(namespace: string): Promise<MeshFacts>
}

/** The API server refused a write because the object changed since we read it (HTTP 409). */
export class ConflictError extends Error {
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'ConflictError'
  }
}

/** Any other API error, with its HTTP status (0 when the server could not be reached). */
export class ApiError extends Error {
  /** HTTP status, 0 for network errors. */
  readonly status: number
  /** The Kubernetes Status `reason`, when the server sent one. */
  readonly reason: string | undefined

  constructor(message: string, status: number, reason?: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'ApiError'
    this.status = status
    this.reason = reason
  }

  /** Worth retrying: network failure, throttling, server-side error. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500
  }
}

/** Renders a label map as a Kubernetes label selector (`app=reviews,version=v2`). */
export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}
