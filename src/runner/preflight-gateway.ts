/**
 * Preflight's part in a gateway entry without a URL (`--entry gateway`): what finding the gateway
 * may need in its own namespace. chaos reads the gateway Service's load-balancer address, and when
 * it has none port-forwards to one of the Service's ready pods (src/cli/entry.ts `gatewayAddress`).
 */
import type {AccessCheck, Cluster} from '../cluster/cluster.js'
import type {PreflightCheck} from './preflight-check.js'

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
