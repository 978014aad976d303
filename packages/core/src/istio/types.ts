/**
 * The parts of Istio's networking.istio.io objects that Faultline reads and writes. Fields we do
 * not model are kept (index signatures) so that round-tripping an object never loses anything.
 */

/** Istio StringMatch: exactly one of exact, prefix, regex. `{}` means "present". */
export interface StringMatch {
  exact?: string
  prefix?: string
  regex?: string
}

/** Istio HTTPMatchRequest (the fields that match at request time, plus selectors we respect). */
export interface HTTPMatchRequest {
  name?: string
  uri?: StringMatch
  scheme?: StringMatch
  method?: StringMatch
  authority?: StringMatch
  headers?: Record<string, StringMatch>
  withoutHeaders?: Record<string, StringMatch>
  queryParams?: Record<string, StringMatch>
  port?: number
  ignoreUriCase?: boolean
  sourceLabels?: Record<string, string>
  sourceNamespace?: string
  gateways?: string[]
  [field: string]: unknown
}

/** Istio Destination. */
export interface Destination {
  host: string
  subset?: string
  port?: {number?: number}
  [field: string]: unknown
}

/** Istio HTTPRouteDestination. */
export interface HTTPRouteDestination {
  destination: Destination
  weight?: number
  [field: string]: unknown
}

/** Istio HTTPFaultInjection as we emit it (percentage always set). */
export interface HTTPFaultInjection {
  delay?: {fixedDelay?: string; percentage?: {value: number}; percent?: number; [field: string]: unknown}
  abort?: {httpStatus?: number; grpcStatus?: string; percentage?: {value: number}; [field: string]: unknown}
}

/** Istio HTTPRetry. */
export interface HTTPRetry {
  attempts?: number
  perTryTimeout?: string
  retryOn?: string
  [field: string]: unknown
}

/** Istio HTTPRoute. */
export interface HTTPRoute {
  name?: string
  match?: HTTPMatchRequest[]
  route?: HTTPRouteDestination[]
  redirect?: unknown
  directResponse?: unknown
  delegate?: unknown
  fault?: HTTPFaultInjection
  timeout?: string
  retries?: HTTPRetry
  [field: string]: unknown
}

/** Istio VirtualService spec. */
export interface VirtualServiceSpec {
  hosts?: string[]
  gateways?: string[]
  http?: HTTPRoute[]
  tcp?: unknown[]
  tls?: unknown[]
  exportTo?: string[]
  [field: string]: unknown
}

/** Kubernetes ObjectMeta, the fields we use. */
export interface ObjectMeta {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  resourceVersion?: string
  uid?: string
  generation?: number
  creationTimestamp?: string
  ownerReferences?: unknown[]
  managedFields?: unknown[]
  [field: string]: unknown
}

/** A networking.istio.io VirtualService. */
export interface VirtualService {
  apiVersion: string
  kind: 'VirtualService'
  metadata: ObjectMeta
  spec: VirtualServiceSpec
}

/** Istio DestinationRule connection pool settings. */
export interface ConnectionPoolSettings {
  tcp?: {maxConnections?: number; connectTimeout?: string; [field: string]: unknown}
  http?: {
    http1MaxPendingRequests?: number
    http2MaxRequests?: number
    maxRequestsPerConnection?: number
    maxRetries?: number
    [field: string]: unknown
  }
}

/** Istio OutlierDetection. */
export interface OutlierDetection {
  consecutive5xxErrors?: number
  consecutiveGatewayErrors?: number
  interval?: string
  baseEjectionTime?: string
  maxEjectionPercent?: number
  minHealthPercent?: number
  [field: string]: unknown
}

/** Istio TrafficPolicy. */
export interface TrafficPolicy {
  connectionPool?: ConnectionPoolSettings
  outlierDetection?: OutlierDetection
  loadBalancer?: unknown
  tls?: unknown
  [field: string]: unknown
}

/** Istio DestinationRule spec. */
export interface DestinationRuleSpec {
  host: string
  trafficPolicy?: TrafficPolicy
  subsets?: {name: string; labels?: Record<string, string>; trafficPolicy?: TrafficPolicy; [field: string]: unknown}[]
  exportTo?: string[]
  [field: string]: unknown
}

/** A networking.istio.io DestinationRule. */
export interface DestinationRule {
  apiVersion: string
  kind: 'DestinationRule'
  metadata: ObjectMeta
  spec: DestinationRuleSpec
}

/** The API group and the versions we read and write. */
export const ISTIO_GROUP = 'networking.istio.io'
/** Served versions, newest first. */
export const ISTIO_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const
