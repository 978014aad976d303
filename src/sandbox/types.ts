/**
 * The contracts between the sandbox's parts: the API server's object store, the topology of
 * workloads, and the mesh of sidecars. Each part is written and tested against these alone.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {DestinationRule, ObjectMeta, VirtualService} from '../istio/types.js'

/** A stored object of any kind the API server keeps. */
export interface StoredObject {
  apiVersion: string
  kind: string
  metadata: ObjectMeta
  [field: string]: unknown
}

/** A change to the store, as a Kubernetes watch reports it. */
export interface StoreEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED'
  object: StoredObject
}

/** The mesh configuration as istiod would see it: the stored Istio objects and their changes. */
export interface ConfigSource {
  /** Every VirtualService, all namespaces. */
  virtualServices(): VirtualService[]
  /** Every DestinationRule, all namespaces. */
  destinationRules(): DestinationRule[]
  /** Every Istio Gateway, all namespaces (the ingress gateway's servers); a source without it has none. */
  gateways?(): GatewayObject[]
  /** Called after every change to an Istio object; returns the unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void
}

/** A workload instance (one pod with one sidecar). */
export interface Pod {
  name: string
  namespace: string
  /** Includes Istio's `app` and `version`. */
  labels: Record<string, string>
  serviceAccount: string
  /** Container names; every meshed pod has `istio-proxy`. */
  containers: string[]
  /** The loopback port the application listens on (its "pod IP:port"). */
  appPort: number
  /** The port `appPort` stands for in Kubernetes (what port-forwards and Services target); default 9080, bookinfo's. */
  containerPort?: number
  /**
   * The pod's address for clients without a sidecar (`<pod IP>:<containerPort>`): its inbound
   * sidecar's listener, which enforces PeerAuthentication (mesh/inbound.ts). Absent without a sidecar.
   */
  inboundPort?: number
  /** The pod's annotations (e.g. `proxy.istio.io/config`, which decides the sidecar's stats inclusion). */
  annotations?: Record<string, string>
  /** How istio-proxy was injected: as a native sidecar (init container, `restartPolicy: Always`) or a container; its image. */
  injection?: {native: boolean; image: string}
}

/** A Kubernetes Service: a name, a port and a selector. */
export interface Service {
  name: string
  namespace: string
  port: number
  selector: Record<string, string>
  /** The container port the Service port targets; default: `port`. */
  targetPort?: number
  /** The port's name; default `http`. */
  portName?: string
  /** `LoadBalancer` (with `nodePort`), or the default `ClusterIP`. */
  type?: 'ClusterIP' | 'LoadBalancer'
  /** The node port of a LoadBalancer Service's port. */
  nodePort?: number
  /** The Service's labels; default: the selector and `service: <name>`, as bookinfo's. */
  labels?: Record<string, string>
}

/** What exists in the sandbox: services and the pods that back them. */
export interface Topology {
  services(): Service[]
  pods(): Pod[]
  /** Pods selected by a service (its endpoints). */
  endpoints(service: Service): Pod[]
}

/** The result of running a command in a container (for `pods/exec`). */
export interface ExecResult {
  stdout: string
  stderr: string
  /** 0 on success. */
  exitCode: number
}

/** Runs a command "in" a container of a sandbox pod (only `pilot-agent request GET stats…` in istio-proxy exists). */
export type ExecHandler = (pod: Pod, container: string, command: string[]) => Promise<ExecResult>

/** One pod's sidecar. */
export interface Sidecar {
  readonly pod: Pod
  /**
   * The outbound listener: an HTTP proxy on 127.0.0.1 that the pod's application (or the sandbox's
   * forward proxy) sends requests to, in absolute form (`GET http://ratings:9080/ratings/0`).
   */
  readonly outboundPort: number
  /** Handles one outbound request (used by the forward proxy to send a request "from" this pod). */
  handleOutbound(req: IncomingMessage, res: ServerResponse): void
  /** Envoy admin `/stats` text (`name: value` lines), optionally filtered by an RE2 regex (partial match). */
  statsText(filter?: string): string
  /** Istio standard metrics and Envoy stats in Prometheus text format. */
  metricsText(): Promise<string>
}

/** An Istio Gateway, as far as routing needs it. */
export interface GatewayObject {
  metadata: {name: string; namespace?: string}
  spec: {selector?: Record<string, string>; servers?: {port?: {number?: number; protocol?: string}; hosts?: string[]}[]}
}
