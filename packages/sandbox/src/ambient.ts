/**
 * The sandbox's ambient namespace: `ambient`, labelled `istio.io/dataplane-mode=ambient` (the label
 * that enrols a namespace in Istio's ambient mode: istio 1.30.3 `pkg/config/constants/constants.go`
 * DataplaneModeAmbient), running bookinfo's ratings (Service `ratings`, Deployment `ratings-v1`) as
 * `kubectl apply -n ambient -f bookinfo.yaml` would on a cluster whose namespace is not labelled for
 * sidecar injection: the pod has no `istio-proxy`, hence no sidecar to apply a VirtualService's fault
 * in. istio-cni marks such a pod as redirected to ztunnel (`cni/pkg/util/podutil.go`
 * annotationEnabledPatch: `ambient.istio.io/redirection: enabled`). It is what the runner's ambient
 * preflight finding is proven against; the sandbox models no ztunnel or waypoint (see
 * mesh/README.md): sidecar callers reach the pod directly, as they would through ztunnel.
 */
import type {Propagation} from './bookinfo/http.js'
import {startBookinfo} from './bookinfo/index.js'
import type {ObjectStore} from './store.js'
import {makePod, podName, type Workload} from './topology.js'
import type {Pod, Service} from './types.js'

/** The ambient namespace's name. */
export const AMBIENT_NAMESPACE = 'ambient'

/** The namespace label Istio's ambient mode enrols by. */
export const AMBIENT_LABELS: Readonly<Record<string, string>> = {'istio.io/dataplane-mode': 'ambient'}

/** What runs there: bookinfo's ratings v1 (bookinfo.yaml's `ratings-v1` Deployment). */
export const AMBIENT_WORKLOADS: readonly Workload[] = [{app: 'ratings', version: 'v1'}]

/** The pod istio-cni annotates once its traffic goes through ztunnel. */
const REDIRECTION_ANNOTATION = 'ambient.istio.io/redirection'

/** Creates the namespace with its ambient label (once, at start). */
export function createAmbientNamespace(store: ObjectStore): void {
  store.create({apiVersion: 'v1', kind: 'Namespace', metadata: {name: AMBIENT_NAMESPACE, labels: {...AMBIENT_LABELS}}})
}

/** A workload's pod in the ambient namespace: bookinfo's pod without the injected sidecar. */
export function ambientPod(workload: Workload, name: string, appPort: number): Pod {
  const pod = makePod(workload, name, appPort)
  return {
    name: pod.name,
    namespace: AMBIENT_NAMESPACE,
    labels: pod.labels,
    serviceAccount: pod.serviceAccount,
    appPort,
    containers: pod.containers.filter(c => c !== 'istio-proxy'),
    annotations: {[REDIRECTION_ANNOTATION]: 'enabled'},
  }
}

/** bookinfo's Services for the ambient workloads: port 9080, selector `app=<name>`. */
export function ambientServices(): Service[] {
  return [...new Set(AMBIENT_WORKLOADS.map(w => w.app))].map(name => ({
    name,
    namespace: AMBIENT_NAMESPACE,
    port: 9080,
    selector: {app: name},
  }))
}

/** Starts the ambient workloads' applications (no sidecar); returns their pods and the stop. */
export async function startAmbientWorkloads(
  propagate: readonly Propagation[] = [],
): Promise<{pods: Pod[]; close: () => Promise<void>}> {
  const apps = await startBookinfo(
    AMBIENT_WORKLOADS.map(workload => ({workload, podName: podName(workload)})),
    propagate,
  )
  return {pods: apps.pods.map(p => ambientPod(p.workload, p.podName, p.appPort)), close: () => apps.close()}
}
