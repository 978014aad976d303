/**
 * What istiod pushes to an ingress gateway (Envoy in gateway mode), for the sandbox's
 * `istio-ingressgateway` (`gateway.ts` routes by it): no sidecar outbound routing, only the routes of
 * the VirtualServices bound to the Gateways that select the gateway pod. Pure.
 *
 * As istio 1.30.3 builds it:
 * - pilot/pkg/networking/core/gateway.go buildGatewayHTTPRouteConfig: per Gateway server (port),
 *   the VirtualServices `VirtualServicesForGateway(configNamespace, "ns/name")`; the virtual host
 *   names are the intersection of the server's hosts and the VirtualService's hosts; routes of every
 *   VirtualService for the same host are appended in order (vHostDedupMap).
 * - pilot/pkg/networking/core/route/route.go BuildHTTPRoutesForVirtualService/TranslateRoute with
 *   gatewayNames = {ns/name}: a match block is kept when its `gateways` name this gateway (or, with
 *   none, its sourceLabels select the gateway pod), and when its `port` is 0 or the listener's;
 *   translation stops at the first catch-all route.
 * - pilot/pkg/model/config.go resolveGatewayName: a `gateways:` entry without `/` is in the
 *   VirtualService's namespace.
 */
import {hostCovers} from '@faultline/core/istio/routing.js'
import type {HTTPMatchRequest, HTTPRoute, VirtualService} from '@faultline/core/istio/types.js'
import type {GatewayObject, Pod} from '../types.js'
import {exportedTo, regexesCompile} from './config.js'

export type {GatewayObject}

/** One virtual host of a gateway listener: a host name and the routes for it. */
export interface GatewayVirtualHost {
  /** Lowercase host (`*`, `*.example.com`, `bookinfo.example.com`). */
  host: string
  /** Routes in order, each with the VirtualService it came from (for its namespace and stats). */
  routes: {route: HTTPRoute; virtualService: string; namespace: string}[]
}

/** A gateway's routing: per listener port, its virtual hosts. */
export type GatewayTable = Map<number, GatewayVirtualHost[]>

/** `gateways:` entries resolved as Istio does. */
export function resolveGatewayName(ref: string, vsNamespace: string): string {
  return ref === 'mesh' || ref.includes('/') ? ref : `${vsNamespace}/${ref}`
}

/** The host a Gateway server entry names: `ns/host`, `./host` (or any namespace) → host. */
function serverHost(h: string): string {
  const slash = h.indexOf('/')
  return (slash < 0 ? h : h.slice(slash + 1)).toLowerCase()
}

/** The intersection of a server host and a VirtualService host (host.Names.Intersection): the more specific one, when one covers the other. */
export function intersectHost(a: string, b: string): string | undefined {
  const covers = (w: string, h: string) => w === h || w === '*' || (w.startsWith('*.') && h.endsWith(w.slice(1)))
  if (covers(a, b)) return b
  if (covers(b, a)) return a
  return undefined
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v)
}

/** The blocks of a route that exist on this gateway listener, or undefined when none do (sourceMatchHTTP, port). */
function blocksFor(
  route: HTTPRoute,
  gatewayName: string,
  vsNs: string,
  pod: Pod,
  port: number,
): HTTPMatchRequest[] | undefined {
  const keep = (m: HTTPMatchRequest): boolean => {
    if (m.port !== undefined && m.port !== 0 && m.port !== port) return false
    if ((m.gateways ?? []).length > 0) return (m.gateways ?? []).some(g => resolveGatewayName(g, vsNs) === gatewayName)
    return (
      selects(m.sourceLabels, pod.labels) && (m.sourceNamespace === undefined || m.sourceNamespace === pod.namespace)
    )
  }
  const blocks = (route.match ?? []).filter(keep)
  return blocks.length === 0 ? undefined : blocks
}

/** Compiles the routing istiod would push to the gateway `pod`. */
export function compileGatewayTable(
  pod: Pod,
  gateways: readonly GatewayObject[],
  virtualServices: readonly VirtualService[],
): GatewayTable {
  const table: GatewayTable = new Map()
  for (const gw of gateways) {
    if (gw.spec.selector === undefined || !selects(gw.spec.selector, pod.labels)) continue
    const gatewayName = `${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`
    const bound = virtualServices.filter(vs => {
      const ns = vs.metadata.namespace ?? 'default'
      return (
        (vs.spec.gateways ?? []).some(g => resolveGatewayName(g, ns) === gatewayName) &&
        exportedTo(vs.spec.exportTo, ns, gw.metadata.namespace ?? 'default') &&
        regexesCompile(vs)
      )
    })
    for (const server of gw.spec.servers ?? []) {
      const port = server.port?.number
      if (port === undefined || !['HTTP', 'HTTP2', 'GRPC', undefined].includes(server.port?.protocol?.toUpperCase()))
        continue
      const vhosts = table.get(port) ?? []
      for (const vs of bound) {
        const ns = vs.metadata.namespace ?? 'default'
        const routes: GatewayVirtualHost['routes'] = []
        for (const route of vs.spec.http ?? []) {
          if (route.match === undefined || route.match.length === 0) {
            routes.push({route, virtualService: vs.metadata.name, namespace: ns})
            break // translation stops at a catch-all
          }
          const blocks = blocksFor(route, gatewayName, ns, pod, port)
          if (blocks !== undefined)
            routes.push({
              route: blocks.length === route.match.length ? route : {...route, match: blocks},
              virtualService: vs.metadata.name,
              namespace: ns,
            })
        }
        for (const sh of (server.hosts ?? []).map(serverHost)) {
          for (const vh of (vs.spec.hosts ?? []).map(h => h.toLowerCase())) {
            const host = intersectHost(sh, vh)
            if (host === undefined) continue
            const existing = vhosts.find(v => v.host === host)
            if (existing === undefined) vhosts.push({host, routes: [...routes]})
            else if (!existing.routes.some(r => r.virtualService === vs.metadata.name && r.namespace === ns))
              existing.routes.push(...routes)
          }
        }
      }
      table.set(port, vhosts)
    }
  }
  return table
}

/** The virtual host Envoy picks for a request's Host on a gateway listener: exact, then the longest `*.` suffix, then `*`. */
export function gatewayVirtualHost(
  table: GatewayTable,
  port: number,
  authority: string | undefined,
): GatewayVirtualHost | undefined {
  const vhosts = table.get(port) ?? []
  const host = (authority ?? '').toLowerCase().replace(/:\d+$/, '')
  const exact = vhosts.find(v => v.host === host)
  if (exact !== undefined) return exact
  const suffix = vhosts
    .filter(v => v.host.startsWith('*.') && host.endsWith(v.host.slice(1)))
    .sort((a, b) => b.host.length - a.host.length)[0]
  return suffix ?? vhosts.find(v => v.host === '*')
}

/** Whether a destination host of a gateway route names `serviceFqdn` (short names resolve in the VirtualService's namespace). */
export function routesTo(route: HTTPRoute, serviceFqdn: string, vsNamespace: string): boolean {
  return (route.route ?? []).some(
    d => hostCovers(d.destination.host, serviceFqdn, vsNamespace) && !d.destination.host.includes('*'),
  )
}
