/**
 * The sandbox's ingress gateway (`istio-ingressgateway` in `istio-system`): an Envoy in router mode,
 * with no application behind it. It is a `MeshSidecar` with a different listener: requests arrive
 * in origin form with the external Host, pick a virtual host of the Gateway servers on the listener's
 * port (`gateway-config.ts`), take the first matching route of the VirtualServices bound to that
 * Gateway, and from there follow the sidecar's path — the route's fault, the clusters istiod pushes
 * to the gateway (DestinationRules seen from `istio-system`), pools, retries, stats and Istio metrics
 * with the gateway as `reporter="source"` — in the same code (`router.ts` routeRequest).
 *
 * No virtual host for the Host, or no route in it: 404 `NR` with no body, as Envoy answers
 * `route_not_found` (istio 1.30.3 pilot/pkg/networking/core/gateway.go builds one virtual host per
 * server host and no catch-all, so an unknown Host finds none; its route configuration sets
 * IgnorePortInHostMatching, so `Host: bookinfo.example.com:80` matches `bookinfo.example.com`). A
 * server's port that is a port of the gateway's Service listens on that port's targetPort (the
 * chart's 80 → 8080; gateway_test.go "targetPort overrides service port"). The gateway's HTTP connection manager
 * stat prefix is `outbound_0.0.0.0_<port>` (+ `;` from 1.23): gateway.go leaves the plain-HTTP
 * server's statPrefix empty, and buildGatewayListeners' default is the traffic direction (OUTBOUND)
 * and the listener name `0.0.0.0_<port>` (getListenerName), through util.DelimitedStatsPrefix.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {selectRoute} from '@faultline/core/istio/routing.js'
import type {RoutingTable, VirtualHost} from './config.js'
import {type GatewayTable, gatewayVirtualHost} from './gateway-config.js'
import {localReply} from './reply.js'
import {noRoute, type OutboundContext, outboundTarget, routableRequest, routeRequest, startRouted} from './router.js'
import {MeshSidecar} from './sidecar.js'

/** The container port the gateway's HTTP listener stands for (the chart's `http2` Service port 80 targets 8080). */
export const GATEWAY_HTTP_PORT = 8080

/** Kubernetes' default NodePort range (`--service-node-port-range`), where the gateway's loopback listener is bound. */
export const NODE_PORT_RANGE = {min: 30000, max: 32767}

/**
 * The table keyed by listener port: a server port that is a port of the gateway's Service (`servicePorts`:
 * port → targetPort) listens on the targetPort; servers landing on one listener share its virtual hosts.
 */
export function byListenerPort(table: GatewayTable, servicePorts: ReadonlyMap<number, number>): GatewayTable {
  const out: GatewayTable = new Map()
  for (const [port, vhosts] of table) {
    const listener = servicePorts.get(port) ?? port
    const merged = out.get(listener) ?? []
    for (const vh of vhosts) {
      const same = merged.find(m => m.host === vh.host)
      if (same === undefined) merged.push({host: vh.host, routes: [...vh.routes]})
      else
        same.routes.push(
          ...vh.routes.filter(
            r => !same.routes.some(x => x.virtualService === r.virtualService && x.namespace === r.namespace),
          ),
        )
    }
    out.set(listener, merged)
  }
  return out
}

/** Routes one request arriving on a gateway listener `port` by the gateway's table. */
export function handleGatewayRequest(
  ctx: OutboundContext,
  table: GatewayTable,
  port: number,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const target = outboundTarget(req)
  const gvh = target === undefined ? undefined : gatewayVirtualHost(table, port, target.authority)
  const selection =
    target === undefined || gvh === undefined
      ? undefined
      : selectRoute(
          gvh.routes.map(r => r.route),
          routableRequest(req, target, port),
        )
  const picked = selection === undefined ? undefined : gvh?.routes[selection.routeIndex]
  const vhost: VirtualHost | undefined =
    picked === undefined || target === undefined
      ? undefined
      : {
          service: undefined,
          fqdn: target.host,
          port,
          routes: gvh?.routes.map(r => r.route),
          routeNamespace: picked.namespace,
          virtualService: picked.virtualService,
        }
  const r = startRouted(ctx, req, res, vhost, target, 'unknown')
  if (selection === undefined || vhost === undefined) {
    noRoute(r)
    return
  }
  r.route = selection.route
  r.matchIndex = selection.matchIndex
  routeRequest(ctx, r)
}

/** An ingress gateway pod's Envoy: the sidecar's clusters, stats and telemetry, with gateway routing on its listener. */
export class MeshGateway extends MeshSidecar {
  private gateway: GatewayTable = new Map()

  /**
   * Binds the listener to a free port in the NodePort range, so that the Service can show it as its
   * `http2` nodePort (what a kind user reaches a LoadBalancer Service without a load balancer by).
   */
  override async listen(): Promise<void> {
    const span = NODE_PORT_RANGE.max - NODE_PORT_RANGE.min + 1
    const start = Math.floor(this.random() * span)
    for (let i = 0; i < 50; i++) {
      try {
        await this.listenOn(NODE_PORT_RANGE.min + ((start + i * 7919) % span))
        return
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err
      }
    }
    throw new Error(
      `no free port in ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max} on 127.0.0.1 for the ingress gateway`,
    )
  }

  /**
   * Applies a push: the clusters as for a sidecar (no sidecar virtual hosts), and the Gateway routes
   * by listener port (`servicePorts`: the gateway Service's port → targetPort).
   */
  applyGatewayConfig(
    table: RoutingTable,
    gateway: GatewayTable,
    servicePorts: ReadonlyMap<number, number>,
    version: number,
  ): void {
    this.applyRoutingTable({...table, virtualHosts: new Map()}, version)
    this.gateway = byListenerPort(gateway, servicePorts)
    for (const port of this.gateway.keys()) this.faultStats(port)
  }

  /** The Gateway routes in force (per listener port). */
  gatewayTable(): GatewayTable {
    return this.gateway
  }

  /** A request on the gateway's listener (the chart's port 80 → 8080). */
  override handleOutbound(req: IncomingMessage, res: ServerResponse): void {
    try {
      handleGatewayRequest(this, this.gateway, GATEWAY_HTTP_PORT, req, res)
    } catch (err) {
      req.resume()
      localReply(res, 500, `sandbox gateway error: ${err instanceof Error ? err.message : String(err)}\n`)
    }
  }
}
