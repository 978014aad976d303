/**
 * The sandbox's workloads as Kubernetes would show them: bookinfo's four Services and the pods of
 * its six Deployments, plus the `chaos-client` pod through which outside traffic (the forward proxy,
 * hence the runner's load) enters the mesh — so faults on productpage fire for that traffic too.
 */
import {randomInt} from 'node:crypto'

import {PROXY_CONFIG_ANNOTATION} from './mesh/inclusion.js'
import {DEFAULT_PROFILE, type IstioProfile} from './mesh/profile.js'
import type {Pod, Service, Topology} from './types.js'

/** The namespace every sandbox workload lives in. */
export const SANDBOX_NAMESPACE = 'default'

/** The port every bookinfo Service exposes (and every app listens on, in Kubernetes). */
export const BOOKINFO_PORT = 9080

/** The app label of the pod the forward proxy sends requests from. */
export const CLIENT_APP = 'chaos-client'

/** A Deployment's pod template as far as the sandbox cares: which app and version it runs. */
export interface Workload {
  app: string
  version: string
}

/**
 * A pod with a sidecar but without the stats annotation: its proxy exposes only Istio's default
 * stats inclusion list, as every pod on a real cluster does unless someone adds more. Nothing calls
 * it; it is there so the runner's stats-inclusion hint can be seen (an Envoy probe on `app: stats-less`).
 */
export const STATS_LESS_APP = 'stats-less'

/**
 * The annotation the sandbox's bookinfo and client pod templates carry, as docs/real-cluster.md and
 * the examples tell users to add on a real cluster: without it (pkg/bootstrap/config.go's default
 * inclusion list) Envoy collects none of the fault filter's or the clusters' circuit-breaker stats.
 * The regexes are the form that matches with and without Istio ≥ 1.23's `;`.
 */
export const STATS_ANNOTATION_VALUE = JSON.stringify({
  proxyStatsMatcher: {
    inclusionRegexps: [
      '.*\\.fault\\..*',
      '.*circuit_breakers.*',
      '.*upstream_rq_pending_overflow.*',
      '.*upstream_cx_overflow.*',
      '.*upstream_rq_retry.*',
      '.*outlier_detection.*',
    ],
  },
})

/** Bookinfo's services, in the order productpage calls them. */
export const BOOKINFO_SERVICES = ['productpage', 'details', 'reviews', 'ratings'] as const

/** Bookinfo's Deployments (one pod each, as in `bookinfo.yaml`) and the client workload. */
export const SANDBOX_WORKLOADS: readonly Workload[] = [
  {app: 'productpage', version: 'v1'},
  {app: 'details', version: 'v1'},
  {app: 'reviews', version: 'v1'},
  {app: 'reviews', version: 'v2'},
  {app: 'reviews', version: 'v3'},
  {app: 'ratings', version: 'v1'},
  {app: CLIENT_APP, version: 'v1'},
  {app: STATS_LESS_APP, version: 'v1'},
]

// Kubernetes' alphabet for generated names (no vowels, no look-alikes: apimachinery's rand.String).
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'

/** A random source returning an integer in [0, max). */
export type RandomInt = (max: number) => number

function randomSuffix(length: number, rand: RandomInt): string {
  let s = ''
  for (let i = 0; i < length; i++) s += NAME_ALPHABET[rand(NAME_ALPHABET.length)]
  return s
}

/**
 * A pod name as a Deployment's ReplicaSet makes it: `<deployment>-<pod-template-hash>-<5 chars>`,
 * e.g. `reviews-v2-7d9f8c6b5-x2k4p`. Bookinfo's Deployments are named `<app>-<version>`.
 */
export function podName(workload: Workload, rand: RandomInt = randomInt): string {
  const deployment =
    workload.app === CLIENT_APP || workload.app === STATS_LESS_APP
      ? workload.app
      : `${workload.app}-${workload.version}`
  return `${deployment}-${randomSuffix(9 + rand(2), rand)}-${randomSuffix(5, rand)}`
}

/** The service account bookinfo gives each app (`bookinfo-reviews`, …). */
export function serviceAccountFor(app: string): string {
  return app === CLIENT_APP || app === STATS_LESS_APP ? app : `bookinfo-${app}`
}

/** Builds the pod named `name` for a workload whose application listens on `appPort`, injected as `profile`'s Istio would. */
export function makePod(
  workload: Workload,
  name: string,
  appPort: number,
  profile: IstioProfile = DEFAULT_PROFILE,
): Pod {
  return {
    name,
    namespace: SANDBOX_NAMESPACE,
    labels: {app: workload.app, version: workload.version},
    serviceAccount: serviceAccountFor(workload.app),
    containers: [workload.app, 'istio-proxy'],
    appPort,
    annotations: workload.app === STATS_LESS_APP ? {} : {[PROXY_CONFIG_ANNOTATION]: STATS_ANNOTATION_VALUE},
    injection: {native: profile.nativeSidecar, image: `docker.io/istio/proxyv2:${profile.proxyImageTag}`},
  }
}

/** Whether every label of a selector is on the pod (Kubernetes' equality-based selection). */
export function selects(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v)
}

/** A fixed set of services and pods: what the sandbox runs, for its whole life. */
export class StaticTopology implements Topology {
  private readonly allServices: readonly Service[]
  private readonly allPods: readonly Pod[]

  constructor(services: readonly Service[], pods: readonly Pod[]) {
    this.allServices = services
    this.allPods = pods
  }

  services(): Service[] {
    return [...this.allServices]
  }

  pods(): Pod[] {
    return [...this.allPods]
  }

  endpoints(service: Service): Pod[] {
    return this.allPods.filter(p => p.namespace === service.namespace && selects(service.selector, p.labels))
  }

  /** The service a host names, as cluster DNS resolves it from the sandbox's namespace. */
  serviceForHost(host: string): Service | undefined {
    const name = serviceNameFromHost(host.toLowerCase())
    if (name === undefined) return undefined
    return this.allServices.find(s => s.name === name.service && s.namespace === (name.namespace ?? SANDBOX_NAMESPACE))
  }

  /** The pod with this name, if any. */
  pod(name: string): Pod | undefined {
    return this.allPods.find(p => p.name === name)
  }
}

/** Splits `ratings`, `ratings.default`, `ratings.default.svc` and `ratings.default.svc.cluster.local`. */
export function serviceNameFromHost(host: string): {service: string; namespace?: string} | undefined {
  const parts = host.replace(/\.$/, '').split('.')
  const [service, namespace] = parts
  if (service === undefined || service === '') return undefined
  const rest = parts.slice(2).join('.')
  if (namespace === undefined) return {service}
  if (rest === '' || rest === 'svc' || rest === 'svc.cluster.local') return {service, namespace}
  return undefined
}

/** Where the ingress gateway runs, and its name (Istio's `gateways` chart, `istio-ingress`). */
export const GATEWAY_NAMESPACE = 'istio-system'
export const GATEWAY_NAME = 'istio-ingressgateway'

/**
 * The chart's gateway labels (istio 1.30.3 manifests/charts/gateways/istio-ingress/values.yaml
 * `labels`), also the Service's selector, which Istio's samples' Gateways select (`istio: ingressgateway`).
 */
export const GATEWAY_LABELS = {app: GATEWAY_NAME, istio: 'ingressgateway'} as const

/**
 * The ingress gateway's pod as the chart's deployment.yaml labels its template: the gateway labels
 * plus canonical name and revision (`latest`), `sidecar.istio.io/inject: "false"`, and istio-proxy as
 * its only container (not injected: a plain container, also under native sidecars). It carries the
 * stats annotation the docs tell users to add (the chart adds none), so that a fault the gateway
 * applies is counted where the runner can read it. `appPort` is its listener's, set once it listens.
 */
export function gatewayPod(rand: RandomInt = randomInt, profile: IstioProfile = DEFAULT_PROFILE): Pod {
  return {
    name: `${GATEWAY_NAME}-${randomSuffix(9 + rand(2), rand)}-${randomSuffix(5, rand)}`,
    namespace: GATEWAY_NAMESPACE,
    labels: {
      ...GATEWAY_LABELS,
      'service.istio.io/canonical-name': GATEWAY_NAME,
      'service.istio.io/canonical-revision': 'latest',
      'sidecar.istio.io/inject': 'false',
      'app.kubernetes.io/name': GATEWAY_NAME,
      'istio.io/rev': 'default',
      'operator.istio.io/component': 'IngressGateways',
      'istio.io/dataplane-mode': 'none',
      chart: 'gateways',
      heritage: 'Tiller',
      release: 'istio',
    },
    serviceAccount: `${GATEWAY_NAME}-service-account`,
    containers: ['istio-proxy'],
    appPort: 0,
    containerPort: 8080,
    annotations: {[PROXY_CONFIG_ANNOTATION]: STATS_ANNOTATION_VALUE},
    injection: {native: false, image: `docker.io/istio/proxyv2:${profile.proxyImageTag}`},
  }
}

/**
 * The gateway's Service: type LoadBalancer, port `http2` 80 → 8080 (the chart's), selecting the
 * gateway labels. Its node port is the gateway's loopback listener, set once it listens; its status
 * has no load-balancer address, as on a kind cluster without a load-balancer controller.
 */
export function gatewayService(): Service {
  return {
    name: GATEWAY_NAME,
    namespace: GATEWAY_NAMESPACE,
    port: 80,
    targetPort: 8080,
    portName: 'http2',
    type: 'LoadBalancer',
    selector: {...GATEWAY_LABELS},
    labels: {
      ...GATEWAY_LABELS,
      'app.kubernetes.io/name': GATEWAY_NAME,
      'istio.io/rev': 'default',
      'operator.istio.io/component': 'IngressGateways',
      release: 'istio',
    },
  }
}

/** Bookinfo's Services: port 9080, selector `app=<name>`. */
export function bookinfoServices(): Service[] {
  return BOOKINFO_SERVICES.map(name => ({
    name,
    namespace: SANDBOX_NAMESPACE,
    port: BOOKINFO_PORT,
    selector: {app: name},
  }))
}
