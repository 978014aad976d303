/** Which Istio Gateways the load enters through, for the fault compiler (issue 14, "ways in"). */
import type {LoadEntry} from '../experiment/model.js'
import type {VirtualService} from '@faultline/core/istio/types.js'

/** Istio's default ingress gateway Service. */
export const DEFAULT_GATEWAY = {service: 'istio-ingressgateway', namespace: 'istio-system', port: 80}

/** The Gateways a gateway entry serves, for the fault compiler: the entry's, else every one the namespace's VirtualServices name. */
export function enteredGateways(
  entry: LoadEntry | undefined,
  virtualServices: readonly VirtualService[],
  namespace: string,
): string[] | undefined {
  if (entry === undefined || 'proxy' in entry || 'portForward' in entry) return undefined
  // `gateways:` entries resolve in the VirtualService's namespace (istio 1.30.3 pilot/pkg/model/config.go resolveGatewayName).
  const resolve = (g: string, ns: string) => (g.includes('/') ? g : `${ns}/${g}`)
  if (entry.gateways !== undefined) return entry.gateways.map(g => resolve(g, namespace))
  const names = new Set<string>()
  for (const vs of virtualServices) {
    const ns = vs.metadata.namespace ?? namespace
    for (const g of [
      ...(vs.spec.gateways ?? []),
      ...(vs.spec.http ?? []).flatMap(r => (r.match ?? []).flatMap(m => m.gateways ?? [])),
    ])
      if (g !== 'mesh') names.add(resolve(g, ns))
  }
  return [...names]
}

/** Whether the experiment's load enters through a gateway (a mesh proxy that calls the services behind it). */
export function throughGatewayEntry(experiment: {spec: {load: {entry?: LoadEntry}}}): boolean {
  const entry = experiment.spec.load.entry
  return entry !== undefined && !('proxy' in entry) && !('portForward' in entry)
}

/**
 * The Service a port-forward entry reaches (its namespace resolved), else undefined. A port-forward
 * lands on the pod's application port from inside the pod's network namespace, past its own
 * sidecar: Istio's iptables leave loopback traffic from any user but the proxy's alone (istio/istio
 * tools/istio-iptables/pkg/capture/testdata/empty.golden: `-A ISTIO_OUTPUT -o lo -m owner !
 * --uid-owner 1337 -j RETURN`), and nothing calls it through a sidecar of its own.
 */
export function portForwardService(
  experiment: {spec: {load: {entry?: LoadEntry}}},
  namespace: string,
): {service: string; namespace: string; port: number} | undefined {
  const entry = experiment.spec.load.entry
  if (entry === undefined || !('portForward' in entry)) return undefined
  return {
    service: entry.portForward.service,
    namespace: entry.portForward.namespace ?? namespace,
    port: entry.portForward.port,
  }
}

/**
 * The gateway Service a gateway entry without a URL is found by (its defaults filled in), else
 * undefined: chaos reads its load-balancer address, and without one port-forwards to one of its
 * pods (src/cli/entry.ts `gatewayAddress`).
 */
export function gatewayService(experiment: {
  spec: {load: {entry?: LoadEntry}}
}): {service: string; namespace: string; port: number} | undefined {
  const entry = experiment.spec.load.entry
  if (entry === undefined || !('gateway' in entry)) return undefined
  return {
    service: entry.gateway.service,
    namespace: entry.gateway.namespace ?? DEFAULT_GATEWAY.namespace,
    port: entry.gateway.port ?? DEFAULT_GATEWAY.port,
  }
}
