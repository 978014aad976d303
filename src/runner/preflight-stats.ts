/**
 * Preflight's part in reading sidecar stats: the permissions (either way will do) and the `stats`
 * finding, which makes the run's first read and so decides, and says, how the stats are read for
 * the rest of the run (src/cluster/sidecar-stats.ts).
 */
import {type AccessCheck, type Cluster, hasProxy} from '../cluster/cluster.js'
import {describeDecision, sidecarStats} from '../cluster/sidecar-stats.js'
import type {PreflightCheck} from './preflight-check.js'

type Access = Omit<AccessCheck, 'namespace'>

/** Stats through the API server's pod proxy: a GET on the `pods/proxy` subresource. */
export const STATS_PROXY_ACCESS: Access[] = [{verb: 'get', group: '', resource: 'pods', subresource: 'proxy'}]

/**
 * Stats by exec, the fallback. Exec is a WebSocket upgrade, a GET: authorized as `get pods/exec`,
 * and since Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission, beta and on by default)
 * also as `create pods/exec`.
 */
export const STATS_EXEC_ACCESS: Access[] = [
  {verb: 'get', group: '', resource: 'pods', subresource: 'exec'},
  {verb: 'create', group: '', resource: 'pods', subresource: 'exec'},
]

const name = (a: Access) => `${a.verb} ${a.resource}${a.subresource === undefined ? '' : '/' + a.subresource}`
const isStatsAccess = (a: Access) => [...STATS_PROXY_ACCESS, ...STATS_EXEC_ACCESS].some(s => name(s) === name(a))

/**
 * The permissions not granted, as preflight names them. The two ways of reading stats are
 * alternatives: missing ones are listed only when neither way is fully granted.
 */
export function deniedPermissions(access: readonly Access[], allowed: readonly boolean[]): string[] {
  const granted = (want: readonly Access[]) =>
    want.every(w => access.some((a, i) => allowed[i] === true && name(a) === name(w)))
  const statsWay = granted(STATS_PROXY_ACCESS) || granted(STATS_EXEC_ACCESS)
  const denied = access.filter((a, i) => allowed[i] !== true && !isStatsAccess(a)).map(name)
  if (!statsWay && access.some(isStatsAccess))
    denied.push(
      `${STATS_PROXY_ACCESS.map(name).join(', ')} (or, to read sidecar stats by exec instead, ${STATS_EXEC_ACCESS.map(name).join(' and ')})`,
    )
  return denied
}

/**
 * Reads one sidecar of the namespace, which decides how stats are read for the run, and says so.
 * No meshed pod: no finding (the fault and probe checks say what is missing). Unreadable: a warning.
 */
export async function statsCheck(cluster: Cluster, namespace: string): Promise<PreflightCheck[]> {
  const pods = (await cluster.listPods(namespace, '').catch(() => []))
    .filter(hasProxy)
    .sort((a, b) => Number(b.ready) - Number(a.ready))
  const pod = pods[0]
  if (pod === undefined) return []
  const reader = sidecarStats(cluster)
  try {
    await reader.envoy(namespace, pod.name)
  } catch (err) {
    return [
      {
        check: 'stats',
        status: 'warning',
        message: `the sidecar stats of ${namespace}/${pod.name} could not be read: ${(err as Error).message}`,
        hint: "The fault counters and Envoy probes read them: grant get pods/proxy (or get and create pods/exec), and check that the pod's istio-proxy is running. Without them, whether the fault fired is judged from the traffic alone.",
      },
    ]
  }
  const decision = reader.decidedIn(namespace)
  if (decision === undefined) return []
  const said = describeDecision(decision)
  return [{check: 'stats', status: 'ok', message: said.message, ...(said.hint === undefined ? {} : {hint: said.hint})}]
}
