/**
 * Istio's first-match HTTP routing, evaluated the way a sidecar does (test/reference/SEMANTICS.md (a)): one
 * implementation shared by the sandbox's data plane and the fault compiler's property tests.
 */
import {RE2JS} from 're2js'

import type {HTTPMatchRequest, HTTPRoute, StringMatch, VirtualService} from './types.js'

/** A request as routing sees it. Header names are lowercase. */
export interface RoutableRequest {
  method: string
  /** Path with query string, e.g. `/ratings/0?x=1`. */
  path: string
  headers: Record<string, string | undefined>
  authority?: string
  scheme?: string
  port?: number
}

/** The route a request took: indexes into `spec.http` and into that route's `match` list. */
export interface RouteSelection {
  routeIndex: number
  /** -1 when the route has no match blocks (a catch-all). */
  matchIndex: number
  route: HTTPRoute
}

const CLUSTER_DOMAIN = 'svc.cluster.local'
const compiled = new Map<string, RE2JS>()

/** Compiles an RE2 pattern once (throws RE2JS's syntax error for patterns RE2 rejects). */
export function re2(pattern: string): RE2JS {
  let re = compiled.get(pattern)
  if (re === undefined) {
    re = RE2JS.compile(pattern)
    if (compiled.size > 10_000) compiled.clear()
    compiled.set(pattern, re)
  }
  return re
}

/** Whether a StringMatch holds for a value; `undefined` value means the header/param is absent. */
export function stringMatches(
  m: StringMatch | null | undefined,
  value: string | undefined,
  ignoreCase = false,
): boolean {
  if (value === undefined) return false
  if (m === null || m === undefined) return true
  if (m.exact !== undefined) return ignoreCase ? m.exact.toLowerCase() === value.toLowerCase() : m.exact === value
  if (m.prefix !== undefined)
    return ignoreCase ? value.toLowerCase().startsWith(m.prefix.toLowerCase()) : value.startsWith(m.prefix)
  if (m.regex !== undefined) return m.regex === '*' || re2(m.regex).matches(value)
  return true // {} is a presence match
}

/** Whether a StringMatch is a presence-only match (`{}` or regex `*`). */
function isPresence(m: StringMatch | null | undefined): boolean {
  return (
    m === null ||
    m === undefined ||
    (m.exact === undefined && m.prefix === undefined && (m.regex === undefined || m.regex === '*'))
  )
}

function splitPath(path: string): {pathOnly: string; query: URLSearchParams} {
  const q = path.indexOf('?')
  return q < 0
    ? {pathOnly: path, query: new URLSearchParams()}
    : {pathOnly: path.slice(0, q), query: new URLSearchParams(path.slice(q + 1))}
}

/** Whether every condition in one match block holds (AND semantics). */
export function matchBlockMatches(m: HTTPMatchRequest, req: RoutableRequest): boolean {
  const {pathOnly, query} = splitPath(req.path)
  if (m.uri !== undefined && !stringMatches(m.uri, pathOnly, m.ignoreUriCase === true && m.uri.regex === undefined))
    return false
  if (m.method !== undefined && !stringMatches(m.method, req.method)) return false
  if (m.authority !== undefined && !stringMatches(m.authority, req.authority ?? req.headers['host'])) return false
  if (m.scheme !== undefined && !stringMatches(m.scheme, req.scheme ?? 'http')) return false
  if (m.port !== undefined && req.port !== undefined && m.port !== req.port) return false
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    if (!stringMatches(sm, req.headers[name.toLowerCase()])) return false
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    const value = req.headers[name.toLowerCase()]
    // Envoy: invert_match, and a missing header is treated as "" unless this is a presence match.
    const seen = isPresence(sm) ? value : (value ?? '')
    if (stringMatches(sm, seen)) return false
  }
  for (const [name, sm] of Object.entries(m.queryParams ?? {})) {
    const value = query.get(name) ?? undefined
    if (!stringMatches(sm, value)) return false
  }
  return true
}

/** The first route (and match block) a request takes, or undefined when no route matches. */
export function selectRoute(http: readonly HTTPRoute[] | undefined, req: RoutableRequest): RouteSelection | undefined {
  for (const [routeIndex, route] of (http ?? []).entries()) {
    const blocks = route.match ?? []
    if (blocks.length === 0) return {routeIndex, matchIndex: -1, route}
    for (const [matchIndex, block] of blocks.entries()) {
      if (matchBlockMatches(block, req)) return {routeIndex, matchIndex, route}
    }
  }
  return undefined
}

/** Expands a host as Istio resolves it within a namespace: `ratings` → `ratings.default.svc.cluster.local`. */
export function fqdn(host: string, namespace: string): string {
  if (host === '*' || host.startsWith('*.')) return host
  const parts = host.split('.')
  if (parts.length === 1) return `${host}.${namespace}.${CLUSTER_DOMAIN}`
  if (parts.length === 2) return `${host}.${CLUSTER_DOMAIN}`
  if (parts.length === 3 && parts[2] === 'svc') return `${host}.cluster.local`
  return host
}

/** Whether a (possibly wildcard) VirtualService host covers a service FQDN. */
export function hostCovers(vsHost: string, serviceFqdn: string, namespace: string): boolean {
  const h = fqdn(vsHost, namespace)
  if (h === '*') return true
  if (h.startsWith('*.')) return serviceFqdn.endsWith(h.slice(1))
  return h === serviceFqdn
}

/** Whether a VirtualService applies to sidecars: no gateways, or `mesh` among them. */
export function appliesToSidecars(vs: VirtualService): boolean {
  const gateways = vs.spec.gateways
  return gateways === undefined || gateways.length === 0 || gateways.includes('mesh')
}

/** Oldest first, then by name, then namespace: Istio's sortConfigByCreationTime (pilot/pkg/model/config.go, 1.30.3). */
function byCreationTime(a: VirtualService, b: VirtualService): number {
  return (
    (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
    a.metadata.name.localeCompare(b.metadata.name) ||
    (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '')
  )
}

/**
 * How visible a VirtualService is to sidecars in `proxyNamespace`, as istiod indexes it
 * (pilot/pkg/model/push_context.go `initVirtualServices`, 1.30.3): 0 private to it (`exportTo: ["."]`
 * or its own namespace), 1 exported to it by name, 2 public (`*`, and the mesh default when
 * `exportTo` is empty); undefined when not visible there (`~`, or exported elsewhere).
 */
export function visibilityTier(vs: VirtualService, proxyNamespace: string): 0 | 1 | 2 | undefined {
  const exportTo = vs.spec.exportTo === undefined || vs.spec.exportTo.length === 0 ? ['*'] : vs.spec.exportTo
  if (exportTo.includes('*')) return 2
  if (exportTo.includes('~')) return undefined
  const own = vs.metadata.namespace
  if (own === proxyNamespace && exportTo.some(e => e === '.' || e === own)) return 0
  return exportTo.includes(proxyNamespace) ? 1 : undefined
}

/**
 * Every VirtualService a sidecar in `proxyNamespace` considers for a service, first the one it
 * uses: an exact host before a wildcard (Envoy matches exact domains first), then Istio's tiers
 * (private, exported to that namespace, public: `VirtualServicesForGateway`), each oldest first.
 * Sidecars keep only the first VirtualService per host (test/reference/SEMANTICS.md (a)11), so
 * an older public one in another namespace shadows a newer one in the proxy's own namespace.
 */
export function virtualServicesInPrecedence(
  all: readonly VirtualService[],
  serviceFqdn: string,
  proxyNamespace: string,
): VirtualService[] {
  const visible = all.filter(
    vs =>
      appliesToSidecars(vs) &&
      visibilityTier(vs, proxyNamespace) !== undefined &&
      (vs.spec.hosts ?? []).some(h => hostCovers(h, serviceFqdn, vs.metadata.namespace ?? proxyNamespace)),
  )
  const exact = (vs: VirtualService) =>
    (vs.spec.hosts ?? []).some(h => fqdn(h, vs.metadata.namespace ?? proxyNamespace) === serviceFqdn) ? 0 : 1
  return [...visible].sort(
    (a, b) =>
      exact(a) - exact(b) ||
      (visibilityTier(a, proxyNamespace) ?? 3) - (visibilityTier(b, proxyNamespace) ?? 3) ||
      byCreationTime(a, b),
  )
}

/**
 * The VirtualService sidecars use for a service: an exact host beats a wildcard, and among
 * equals the oldest wins (Istio drops later duplicates for sidecars — test/reference/SEMANTICS.md (a)11).
 */
export function virtualServiceFor(
  all: readonly VirtualService[],
  serviceFqdn: string,
  namespace: string,
): VirtualService | undefined {
  const candidates = all.filter(
    vs =>
      appliesToSidecars(vs) &&
      (vs.spec.hosts ?? []).some(h => hostCovers(h, serviceFqdn, vs.metadata.namespace ?? namespace)),
  )
  const exact = candidates.filter(vs =>
    (vs.spec.hosts ?? []).some(h => fqdn(h, vs.metadata.namespace ?? namespace) === serviceFqdn),
  )
  const pool = exact.length > 0 ? exact : candidates
  return [...pool].sort(byCreationTime)[0]
}
