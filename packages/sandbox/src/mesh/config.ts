/**
 * What istiod pushes to one sidecar, computed from the stored VirtualServices and DestinationRules
 * and the topology: the outbound virtual hosts (domain → routes) and the outbound clusters
 * (`outbound|<port>|<subset>|<fqdn>`) with their circuit breakers and outlier detection. Pure.
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import {appliesToSidecars, fqdn, hostCovers, re2, virtualServicesInPrecedence} from '@faultline/core/istio/routing.js'
import type {
  DestinationRule,
  HTTPMatchRequest,
  HTTPRoute,
  TrafficPolicy,
  VirtualService,
} from '@faultline/core/istio/types.js'
import type {Pod, Service, Topology} from '../types.js'

/** Istio writes this for every threshold the DestinationRule does not set (> 0) — test/reference/SEMANTICS.md (d). */
export const ENVOY_UNLIMITED = 4_294_967_295

/** Circuit-breaker thresholds of one Envoy cluster (default priority). */
export interface CircuitBreakerLimits {
  maxConnections: number
  maxPendingRequests: number
  maxRequests: number
  maxRetries: number
  /**
   * HTTP max_requests_per_connection (istio 1.30.3 `pilot/pkg/networking/core/cluster_traffic_policy.go`:
   * set only when `maxRequestsPerConnection` > 0; Envoy's default is unlimited).
   */
  maxRequestsPerConnection: number
}

/** Outlier detection as Istio configures Envoy (ctp.go applyOutlierDetection; Envoy defaults otherwise). */
export interface OutlierPolicy {
  consecutive5xx: number
  enforcing5xx: boolean
  consecutiveGateway: number
  enforcingGateway: boolean
  intervalMs: number
  baseEjectionMs: number
  maxEjectionMs: number
  maxEjectionPercent: number
  minHealthPercent: number
}

/** Load-balancing policy (DestinationRule `loadBalancer.simple`; Istio's default is LEAST_REQUEST). */
export type LbPolicy = 'LEAST_REQUEST' | 'ROUND_ROBIN' | 'RANDOM'

/** One outbound Envoy cluster as pushed to a sidecar. */
export interface ClusterConfig {
  name: string
  service: Service
  fqdn: string
  port: number
  subset: string
  endpoints: Pod[]
  limits: CircuitBreakerLimits
  outlier: OutlierPolicy | undefined
  lb: LbPolicy
  connectTimeoutMs: number
}

/** An outbound virtual host: the service a domain names and the routes of its VirtualService. */
export interface VirtualHost {
  /** The service the domain names; undefined on a gateway's virtual host, whose names are external hosts (`gateway.ts`). */
  service: Service | undefined
  fqdn: string
  port: number
  /** Sidecar-applicable routes in order; undefined when no VirtualService covers the host (default route). */
  routes: HTTPRoute[] | undefined
  /** The namespace short destination hosts resolve in (the VirtualService's, else the service's). */
  routeNamespace: string
  virtualService: string | undefined
}

/** Everything one sidecar knows about the mesh. */
export interface RoutingTable {
  /** Lowercase domains (`ratings`, `ratings:9080`, `ratings.default.svc.cluster.local`, …) → virtual host. */
  virtualHosts: Map<string, VirtualHost>
  /** Cluster name → cluster. */
  clusters: Map<string, ClusterConfig>
  /** Service FQDN → service (destination hosts of routes). */
  services: Map<string, Service>
}

/** Builds Istio's cluster name. */
export function clusterName(port: number, subset: string, serviceFqdn: string): string {
  return `outbound|${port}|${subset}|${serviceFqdn}`
}

/** Whether an object with this exportTo (in namespace `ns`) is visible to a proxy in `proxyNs`. */
export function exportedTo(exportTo: string[] | undefined, ns: string, proxyNs: string): boolean {
  if (exportTo === undefined || exportTo.length === 0) return true
  return exportTo.some(e => e === '*' || (e === '.' ? ns === proxyNs : e === proxyNs))
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v)
}

/**
 * Keeps the match blocks that exist for this proxy: `sourceLabels`, `sourceNamespace`, `gateways`
 * and `port` are generation-time selectors (test/reference/SEMANTICS.md (a)9–10). A route whose blocks all drop out
 * is not generated at all; a route with no blocks stays a catch-all.
 */
export function routesForSidecar(vs: VirtualService, pod: Pod, port: number): HTTPRoute[] {
  const topGateways = vs.spec.gateways ?? []
  const out: HTTPRoute[] = []
  for (const route of vs.spec.http ?? []) {
    if (route.match === undefined || route.match.length === 0) {
      out.push(route)
      break // translation stops at a catch-all (route.go)
    }
    const blocks = route.match.filter(m => blockAppliesTo(m, pod, port, topGateways))
    if (blocks.length > 0) out.push(blocks.length === route.match.length ? route : {...route, match: blocks})
  }
  return out
}

function blockAppliesTo(m: HTTPMatchRequest, pod: Pod, port: number, topGateways: string[]): boolean {
  const gateways = m.gateways ?? topGateways
  if (gateways.length > 0 && !gateways.includes('mesh')) return false
  if (m.sourceLabels !== undefined && !selects(m.sourceLabels, pod.labels)) return false
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== pod.namespace) return false
  if (m.port !== undefined && m.port !== port) return false
  return true
}

/**
 * Whether every regex in the VirtualService's matches is valid RE2. istiod's webhook rejects the
 * others (test/reference/SEMANTICS.md (c)13); one that got into the store anyway is left out, as Envoy would NACK it.
 */
export function regexesCompile(vs: VirtualService): boolean {
  const matches = (vs.spec.http ?? []).flatMap(r => r.match ?? [])
  const strings = matches.flatMap(m => [
    m.uri,
    m.method,
    m.authority,
    m.scheme,
    ...Object.values(m.headers ?? {}),
    ...Object.values(m.withoutHeaders ?? {}),
    ...Object.values(m.queryParams ?? {}),
  ])
  try {
    for (const sm of strings) if (sm?.regex !== undefined && sm.regex !== '*') re2(sm.regex)
    return true
  } catch {
    return false
  }
}

/** Domains Istio puts in a service's outbound virtual host, as seen from `proxyNs`. */
export function domainsFor(service: Service, proxyNs: string): string[] {
  const base = [
    `${service.name}.${service.namespace}.svc.cluster.local`,
    `${service.name}.${service.namespace}.svc`,
    `${service.name}.${service.namespace}`,
  ]
  if (service.namespace === proxyNs) base.push(service.name)
  return base.flatMap(d => [d, `${d}:${service.port}`])
}

/**
 * The DestinationRule a proxy uses for a host: the proxy's namespace first, then the service's, then
 * `istio-system` (the root namespace); an exact host beats a wildcard; among equals the oldest wins.
 */
export function destinationRuleFor(
  all: readonly DestinationRule[],
  serviceFqdn: string,
  serviceNs: string,
  proxyNs: string,
): DestinationRule | undefined {
  const visible = all.filter(dr => {
    const ns = dr.metadata.namespace ?? 'default'
    return exportedTo(dr.spec.exportTo, ns, proxyNs) && hostCovers(dr.spec.host, serviceFqdn, ns)
  })
  const rank = (dr: DestinationRule): number => {
    const ns = dr.metadata.namespace ?? 'default'
    const nsRank = ns === proxyNs ? 0 : ns === serviceNs ? 1 : 2
    const exact = fqdn(dr.spec.host, ns) === serviceFqdn ? 0 : 1
    return nsRank * 2 + exact
  }
  return [...visible].sort(
    (a, b) =>
      rank(a) - rank(b) ||
      (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
      a.metadata.name.localeCompare(b.metadata.name),
  )[0]
}

type PortLevel = TrafficPolicy & {port?: {number?: number}}

/** Istio's policy merge: top level, its port-level settings, the subset's, the subset's port level; each field replaced whole. */
export function effectivePolicy(dr: DestinationRule | undefined, subset: string, port: number): TrafficPolicy {
  if (dr === undefined) return {}
  const layer = (p: TrafficPolicy | undefined): TrafficPolicy => {
    if (p === undefined) return {}
    const portLevel = ((p['portLevelSettings'] as PortLevel[] | undefined) ?? []).find(s => s.port?.number === port)
    const {portLevelSettings: _ignored, ...rest} = p
    const {port: _port, ...portRest} = portLevel ?? {}
    return {...rest, ...portRest}
  }
  const sub = dr.spec.subsets?.find(s => s.name === subset)
  return {...layer(dr.spec.trafficPolicy), ...layer(sub?.trafficPolicy)}
}

const positive = (v: number | undefined): number => (v !== undefined && v > 0 ? v : ENVOY_UNLIMITED)
const ms = (d: string | undefined, fallback: number): number =>
  d === undefined ? fallback : (parseDurationMs(d) ?? fallback)

/** Envoy circuit-breaker thresholds from a traffic policy (0 or unset = unlimited). */
export function limitsFrom(policy: TrafficPolicy): CircuitBreakerLimits {
  const cp = policy.connectionPool
  return {
    maxConnections: positive(cp?.tcp?.maxConnections),
    maxPendingRequests: positive(cp?.http?.http1MaxPendingRequests),
    maxRequests: positive(cp?.http?.http2MaxRequests),
    maxRetries: positive(cp?.http?.maxRetries),
    maxRequestsPerConnection: positive(cp?.http?.maxRequestsPerConnection),
  }
}

/** Envoy outlier detection from a traffic policy, or undefined when the policy has none. */
export function outlierFrom(policy: TrafficPolicy): OutlierPolicy | undefined {
  const od = policy.outlierDetection
  if (od === undefined) return undefined
  // Unset consecutive5xxErrors: Envoy's default 5, enforced; unset gateway errors: detected at 5, not enforced.
  const c5 = od.consecutive5xxErrors
  const cg = od.consecutiveGatewayErrors
  return {
    consecutive5xx: c5 ?? 5,
    enforcing5xx: c5 === undefined || c5 > 0,
    consecutiveGateway: cg !== undefined && cg > 0 ? cg : 5,
    enforcingGateway: cg !== undefined && cg > 0,
    intervalMs: ms(od.interval, 10_000),
    baseEjectionMs: ms(od.baseEjectionTime, 30_000),
    maxEjectionMs: 300_000,
    maxEjectionPercent: od.maxEjectionPercent !== undefined && od.maxEjectionPercent > 0 ? od.maxEjectionPercent : 10,
    minHealthPercent: od.minHealthPercent ?? 0,
  }
}

function lbFrom(policy: TrafficPolicy): LbPolicy {
  const simple = (policy.loadBalancer as {simple?: string} | undefined)?.simple
  return simple === 'ROUND_ROBIN' || simple === 'RANDOM' ? simple : 'LEAST_REQUEST'
}

function clusterFor(
  service: Service,
  serviceFqdn: string,
  subset: string,
  labels: Record<string, string>,
  dr: DestinationRule | undefined,
  topology: Topology,
): ClusterConfig {
  const policy = effectivePolicy(dr, subset, service.port)
  return {
    name: clusterName(service.port, subset, serviceFqdn),
    service,
    fqdn: serviceFqdn,
    port: service.port,
    subset,
    endpoints: topology.endpoints(service).filter(p => selects(labels, p.labels)),
    limits: limitsFrom(policy),
    outlier: outlierFrom(policy),
    lb: lbFrom(policy),
    connectTimeoutMs: ms(policy.connectionPool?.tcp?.connectTimeout, 10_000),
  }
}

/** Compiles the routing table istiod would push to `pod`'s sidecar. */
export function compileRoutingTable(
  pod: Pod,
  virtualServices: readonly VirtualService[],
  destinationRules: readonly DestinationRule[],
  topology: Topology,
): RoutingTable {
  const proxyNs = pod.namespace
  const vsVisible = virtualServices.filter(
    vs =>
      appliesToSidecars(vs) &&
      exportedTo(vs.spec.exportTo, vs.metadata.namespace ?? 'default', proxyNs) &&
      regexesCompile(vs),
  )
  const table: RoutingTable = {virtualHosts: new Map(), clusters: new Map(), services: new Map()}
  for (const service of topology.services()) {
    const serviceFqdn = fqdn(service.name, service.namespace)
    table.services.set(serviceFqdn, service)
    // The first VirtualService in Istio's precedence for this proxy's namespace (sidecars keep one per
    // host). One whose rules all drop out for this sidecar is skipped and the service keeps its default
    // route (istio 1.30.3 pilot/pkg/networking/core/route/route.go: BuildHTTPRoutesForVirtualService
    // errors "no routes matched", buildSidecarVirtualHostsForVirtualService returns no virtual host).
    const first = virtualServicesInPrecedence(vsVisible, serviceFqdn, proxyNs)[0]
    const routes = first === undefined ? undefined : routesForSidecar(first, pod, service.port)
    const vs = routes !== undefined && routes.length > 0 ? first : undefined
    const host: VirtualHost = {
      service,
      fqdn: serviceFqdn,
      port: service.port,
      routes: vs === undefined ? undefined : routes,
      routeNamespace: vs?.metadata.namespace ?? service.namespace,
      virtualService: vs?.metadata.name,
    }
    for (const d of domainsFor(service, proxyNs)) if (!table.virtualHosts.has(d)) table.virtualHosts.set(d, host)
    const dr = destinationRuleFor(destinationRules, serviceFqdn, service.namespace, proxyNs)
    const base = clusterFor(service, serviceFqdn, '', {}, dr, topology)
    table.clusters.set(base.name, base)
    for (const s of dr?.spec.subsets ?? []) {
      const c = clusterFor(service, serviceFqdn, s.name, s.labels ?? {}, dr, topology)
      table.clusters.set(c.name, c)
    }
  }
  return table
}
