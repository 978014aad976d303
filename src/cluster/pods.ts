/**
 * A Kubernetes Pod object → `PodSummary` (pure, so both pod shapes are unit-tested without an API
 * server). Istio's proxy is either a regular container or, with native sidecars, an init container
 * with `restartPolicy: Always`: istio/istio 1.30.3 `manifests/charts/istio-control/istio-discovery/
 * files/injection-template.yaml` puts `istio-proxy` under `initContainers` with
 * `restartPolicy: Always` when `$nativeSidecar`, which is on by default since Istio 1.27 when every
 * node's kubelet is ≥ 1.33 (`pkg/kube/inject/webhook.go` DetectNativeSidecar; docs/real-cluster.md).
 */
import type {PodSummary} from './cluster.js'

/** The parts of a Pod (core/v1) read here; client-node's V1Pod has this shape. */
export interface PodObject {
  metadata?: {name?: string; namespace?: string; labels?: Record<string, string>}
  spec?: {
    containers?: ReadonlyArray<{name: string; ports?: ReadonlyArray<{name?: string; containerPort: number}>}>
    initContainers?: ReadonlyArray<{name: string; restartPolicy?: string}>
  }
  status?: {conditions?: ReadonlyArray<{type: string; status: string}>}
}

/** Summarises a pod; `namespace` is used when the object does not carry one. */
export function podSummary(pod: PodObject, namespace: string): PodSummary {
  // Kubernetes allows only `Always` on an init container (a restartable, i.e. sidecar, container).
  const sidecars = (pod.spec?.initContainers ?? []).filter(c => c.restartPolicy === 'Always').map(c => c.name)
  const ports = Object.fromEntries(
    (pod.spec?.containers ?? []).flatMap(c =>
      (c.ports ?? []).flatMap(p => (p.name === undefined || p.name === '' ? [] : [[p.name, p.containerPort] as const])),
    ),
  )
  return {
    name: pod.metadata?.name ?? '',
    namespace: pod.metadata?.namespace ?? namespace,
    labels: pod.metadata?.labels ?? {},
    containers: (pod.spec?.containers ?? []).map(c => c.name),
    ...(sidecars.length === 0 ? {} : {sidecars}),
    ...(Object.keys(ports).length === 0 ? {} : {ports}),
    ready: (pod.status?.conditions ?? []).some(c => c.type === 'Ready' && c.status === 'True'),
  }
}
