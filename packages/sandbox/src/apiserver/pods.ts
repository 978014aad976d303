/**
 * Kubernetes Pod objects for the sandbox's workloads: what `kubectl get pods`, `kubectl exec` and the
 * runner's preflight read (labels incl. Istio's, containers incl. `istio-proxy`, Ready, pod IP).
 */
import {createHash} from 'node:crypto'

import type {Pod, Topology} from '../types.js'
import {parseFieldSelector, parseLabelSelector} from './selectors.js'

/** The Istio release the sandbox's sidecars claim to be, unless the pod says how it was injected. */
const PROXY_IMAGE = 'docker.io/istio/proxyv2:1.30.3'

/** A stable uid for a pod, so repeated reads agree. */
function podUid(pod: Pod): string {
  const h = createHash('sha1').update(`${pod.namespace}/${pod.name}`).digest('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/** Whether the pod runs Istio's proxy as its workload (a gateway: `sidecar.istio.io/inject: "false"`, nothing injected). */
function isGateway(pod: Pod): boolean {
  return pod.labels['sidecar.istio.io/inject'] === 'false'
}

/** Whether the sidecar injector added istio-proxy to the pod (not a gateway, not a pod without a proxy, e.g. in an ambient namespace). */
function injected(pod: Pod): boolean {
  return pod.containers.includes('istio-proxy') && !isGateway(pod)
}

/** Istio's injected labels, as a meshed pod carries them. */
function meshLabels(pod: Pod): Record<string, string> {
  if (!injected(pod)) return pod.labels
  const app = pod.labels['app'] ?? pod.name
  return {
    'security.istio.io/tlsMode': 'istio',
    'service.istio.io/canonical-name': app,
    'service.istio.io/canonical-revision': pod.labels['version'] ?? 'latest',
    ...pod.labels,
  }
}

/**
 * A sandbox pod's containers as the injector writes them: the proxy a gateway's router or a
 * sidecar; native sidecars (Istio ≥ 1.27 with ENABLE_NATIVE_SIDECARS=auto on kubelet ≥ 1.33, istio
 * 1.30.3 pilot/pkg/features/pilot.go; docs/real-cluster.md) put istio-proxy among the init
 * containers with restartPolicy: Always, not in spec.containers.
 */
function podContainers(pod: Pod): {
  containers: {name: string; image: string}[]
  initContainers: {name: string; image: string}[]
} {
  const native = pod.injection?.native === true
  // A gateway runs the proxy as a router with its HTTP port (istio 1.30.3 manifests/charts/gateways/istio-ingress/templates/deployment.yaml).
  const ports = [
    ...(isGateway(pod) ? [{name: 'http2', containerPort: pod.containerPort ?? 8080, protocol: 'TCP'}] : []),
    {name: 'http-envoy-prom', containerPort: 15090, protocol: 'TCP'},
  ]
  const proxy = {
    name: 'istio-proxy',
    image: pod.injection?.image ?? PROXY_IMAGE,
    args: ['proxy', isGateway(pod) ? 'router' : 'sidecar'],
    ports,
  }
  const containers = pod.containers
    .filter(name => !(native && name === 'istio-proxy'))
    .map(name =>
      name === 'istio-proxy'
        ? proxy
        : {
            name,
            image: `sandbox.local/${pod.namespace}/${name}:${pod.labels['version'] ?? 'latest'}`,
            ports: [{containerPort: pod.appPort, protocol: 'TCP'}],
          },
    )
  const initContainers = native && pod.containers.includes('istio-proxy') ? [{...proxy, restartPolicy: 'Always'}] : []
  return {containers, initContainers}
}

/** The Kubernetes Pod object for a sandbox pod; `since` is when the sandbox started. */
export function podObject(pod: Pod, since: string): Record<string, unknown> {
  const native = pod.injection?.native === true
  const {containers, initContainers} = podContainers(pod)
  const status = (c: {name: string; image: string}) => ({
    name: c.name,
    image: c.image,
    imageID: '',
    ready: true,
    started: true,
    restartCount: 0,
    state: {running: {startedAt: since}},
  })
  const condition = (type: string) => ({type, status: 'True', lastProbeTime: null, lastTransitionTime: since})
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: podUid(pod),
      resourceVersion: '1',
      creationTimestamp: since,
      labels: meshLabels(pod),
      annotations: {
        ...pod.annotations,
        ...(!injected(pod)
          ? {}
          : {
              'sidecar.istio.io/status': JSON.stringify(
                native
                  ? {containers: [], initContainers: ['istio-init', 'istio-proxy']}
                  : {containers: ['istio-proxy'], initContainers: ['istio-init']},
              ),
            }),
        'kubectl.kubernetes.io/default-container': pod.containers.find(c => c !== 'istio-proxy') ?? 'istio-proxy',
      },
    },
    spec: {
      serviceAccountName: pod.serviceAccount,
      serviceAccount: pod.serviceAccount,
      nodeName: 'sandbox',
      restartPolicy: 'Always',
      ...(initContainers.length === 0 ? {} : {initContainers}),
      containers,
    },
    status: {
      phase: 'Running',
      podIP: '127.0.0.1',
      podIPs: [{ip: '127.0.0.1'}],
      hostIP: '127.0.0.1',
      startTime: since,
      qosClass: 'BestEffort',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
      ...(initContainers.length === 0 ? {} : {initContainerStatuses: initContainers.map(status)}),
      containerStatuses: containers.map(status),
    },
  }
}

/** Pods of one namespace (or all), filtered by label and field selectors, ordered by namespace/name. */
export function listPods(
  topology: Topology,
  namespace: string | undefined,
  query: URLSearchParams,
  since: string,
): Record<string, unknown>[] {
  const byLabel = parseLabelSelector(query.get('labelSelector'))
  const byField = parseFieldSelector(query.get('fieldSelector'))
  return topology
    .pods()
    .filter(p => (namespace === undefined || p.namespace === namespace) && byLabel(meshLabels(p)) && byField(p))
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
    .map(p => podObject(p, since))
}

/** One pod by namespace and name. */
export function findPod(topology: Topology, namespace: string, name: string): Pod | undefined {
  return topology.pods().find(p => p.namespace === namespace && p.name === name)
}
