/**
 * Preflight's part in a gateway entry without a URL (`--entry gateway`): what the run may need in the
 * gateway's own namespace. chaos reads the gateway Service's load-balancer address, and when it has
 * none port-forwards to one of the Service's ready pods (src/cli/entry.ts `gatewayAddress`); and when
 * the gateway applies a fault, the ignition check and the fault phase's evidence read the fault
 * counters of the proxies there (src/runner/evidence.ts `gatewayNamespaces`).
 */
import type {AccessCheck, Cluster} from '../cluster/cluster.js'
import type {FaultPlan} from '../faults/plan.js'
import type {PreflightCheck} from './preflight-check.js'
import {deniedPermissions, STATS_EXEC_ACCESS, STATS_PROXY_ACCESS} from './preflight-stats.js'

type Access = Omit<AccessCheck, 'namespace'>

/**
 * What `gatewayAddress` asks in the gateway's namespace: list the Services (to find the gateway's
 * and its address), and for the port-forward list the pods its selector picks and open a
 * pods/portforward stream — a WebSocket GET, authorized as `get` and, since Kubernetes 1.35
 * (AuthorizePodWebsocketUpgradeCreatePermission), also as `create`.
 */
export const GATEWAY_ACCESS: Access[] = [
  {verb: 'list', group: '', resource: 'services'},
  {verb: 'list', group: '', resource: 'pods'},
  {verb: 'get', group: '', resource: 'pods', subresource: 'portforward'},
  {verb: 'create', group: '', resource: 'pods', subresource: 'portforward'},
]

/**
 * What reading the fault counters of the gateway's proxies asks in its namespace
 * (src/runner/evidence.ts `readFaultCounters`): list its pods, then read each proxy's stats through
 * the pod proxy or by exec (src/cluster/sidecar-stats.ts, which decides the way there by itself). As
 * in the target namespace, a Role grants both ways and the permission check wants either.
 */
export const GATEWAY_STATS_ACCESS: Access[] = [
  {verb: 'list', group: '', resource: 'pods'},
  ...STATS_PROXY_ACCESS,
  ...STATS_EXEC_ACCESS,
]

/** The gateway Service a gateway entry without a URL finds. */
export interface GatewayService {
  service: string
  namespace: string
}

/**
 * The finding for the gateway's permissions (`denied`: those of GATEWAY_ACCESS not granted there):
 * none when all are granted; a warning when the Service has a load-balancer address, because the
 * run then needs no port-forward (but would, the day the address goes); else a failure.
 */
export async function gatewayAccessCheck(
  cluster: Cluster,
  gateway: GatewayService,
  denied: readonly string[],
): Promise<PreflightCheck[]> {
  if (denied.length === 0) return []
  const {service, namespace} = gateway
  const svc = (await cluster.listServices(namespace).catch(() => undefined))?.find(s => s.name === service)
  const address = svc?.loadBalancer?.[0]
  const missing = `not allowed in ${namespace}, where the gateway entry finds Service ${service}: ${denied.join(', ')}`
  const grant = `Grant them with a Role in ${namespace} (\`chaos schedule\` prints one for a scheduled run)`
  if (address !== undefined)
    return [
      {
        check: 'permissions',
        status: 'warning',
        message: `${missing}; not needed while the Service has its load-balancer address ${address}, but without one chaos port-forwards to one of its pods`,
        hint: `${grant}, or pass --entry gateway=URL with the address.`,
      },
    ]
  const why =
    svc === undefined
      ? "so the Service's load-balancer address cannot be read"
      : 'and the Service has no load-balancer address, so chaos port-forwards to one of its ready pods'
  return [
    {
      check: 'permissions',
      status: 'failed',
      message: `${missing}, ${why}`,
      hint: `${grant}, or reach the gateway another way and pass --entry gateway=URL. Nothing was injected.`,
    },
  ]
}

/**
 * The hosts whose faults the plan has a gateway apply: its own fault routes with a match block bound
 * to a gateway (src/faults/compile.ts scopes those to the entered gateways, never `mesh`).
 */
export function faultsInGateway(plan: FaultPlan): string[] {
  const hosts = new Set<string>()
  for (const o of plan.objects) {
    const vsGateways = o.desired.spec.gateways ?? []
    for (const route of o.desired.spec.http ?? []) {
      if (route.fault === undefined || !o.revert.faultRouteNames.includes(route.name ?? '')) continue
      if (!(route.match ?? []).some(m => (m.gateways ?? vsGateways).some(g => g !== 'mesh'))) continue
      for (const d of route.route ?? []) hosts.add(d.destination.host)
    }
  }
  return [...hosts].sort()
}

/**
 * The finding for reading the gateway's fault counters (`denied`: those of GATEWAY_STATS_ACCESS not
 * granted there, the two ways of reading stats as alternatives): none when nothing is denied, when no
 * fault is applied in the gateway (its counters then cannot move), or when the gateway runs in the
 * target namespace (whose own permission check wants the same); else a failure, because a fault
 * only the gateway applies is then counted nowhere the run can read: the ignition check would stop
 * the run (exit 4) saying the targeted header does not reach the callers, which is not the cause.
 */
export function gatewayStatsCheck(
  gateway: GatewayService,
  plan: FaultPlan,
  denied: readonly string[],
): PreflightCheck[] {
  const hosts = faultsInGateway(plan)
  if (denied.length === 0 || hosts.length === 0 || gateway.namespace === plan.namespace) return []
  const {namespace} = gateway
  return [
    {
      check: 'permissions',
      status: 'failed',
      message: `not allowed in ${namespace}, where the gateway ${gateway.service} applies the fault on ${hosts.join(', ')}: ${denied.join(', ')}, so the fault counters of its proxies cannot be read: the ignition check would not see the gateway apply the fault (and stops the run when no sidecar counts it either), nor the fault phase time its effect`,
      hint: `Grant them with a Role in ${namespace} (\`chaos schedule\` prints one for a scheduled run), or run as a user who has them. Nothing was injected.`,
    },
  ]
}

const key = (a: Access) => `${a.verb} ${a.resource}${a.subresource === undefined ? '' : '/' + a.subresource}`

/** What preflight asks in the gateway's namespace: GATEWAY_ACCESS and GATEWAY_STATS_ACCESS, each permission once. */
export function gatewayAccess(gateway: GatewayService): AccessCheck[] {
  const asked = new Map([...GATEWAY_ACCESS, ...GATEWAY_STATS_ACCESS].map(a => [key(a), a]))
  return [...asked.values()].map(a => ({...a, namespace: gateway.namespace}))
}

/** The gateway's findings, from the answers (`allowed`) to `gatewayAccess(gateway)`: finding the gateway, reading its proxies' counters. */
export async function gatewayChecks(
  cluster: Cluster,
  gateway: GatewayService,
  plan: FaultPlan,
  allowed: readonly boolean[],
): Promise<PreflightCheck[]> {
  const answers = new Map(gatewayAccess(gateway).map((a, i) => [key(a), allowed[i] === true]))
  const denied = (want: readonly Access[]) =>
    deniedPermissions(
      want,
      want.map(a => answers.get(key(a)) === true),
    )
  return [
    ...(await gatewayAccessCheck(cluster, gateway, denied(GATEWAY_ACCESS))),
    ...gatewayStatsCheck(gateway, plan, denied(GATEWAY_STATS_ACCESS)),
  ]
}
