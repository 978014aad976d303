/**
 * Least-privilege RBAC for scheduled runs. The run's Role is exactly the permissions preflight
 * checks (`requiredAccess`; in a gateway entry's namespace `GATEWAY_ACCESS` and
 * `GATEWAY_STATS_ACCESS`), so what a run asks for and what the schedule grants cannot drift.
 *
 * What needs no Role: `SelfSubjectAccessReview` (preflight's permission check) is granted to every
 * authenticated user by the built-in ClusterRole `system:basic-user`, and the discovery calls
 * (`GET /api`, `/apis`, finding the served networking.istio.io version) by `system:discovery`.
 */
import type {AccessCheck} from '../cluster/cluster.js'
import {ISTIO_GROUP} from '@faultline/core/istio/types.js'
import {gatewayService} from '../faults/entry-gateways.js'
import {requiredAccess} from '../runner/preflight.js'
import {GATEWAY_ACCESS, GATEWAY_STATS_ACCESS} from '../runner/preflight-gateway.js'

/** One rule of a Role, as rbac.authorization.k8s.io/v1 writes it. */
export interface PolicyRule {
  apiGroups: string[]
  resources: string[]
  verbs: string[]
}

/**
 * What `chaos revert --expired` does in a namespace: list the VirtualServices carrying Faultline's
 * labels, read each again before writing, then restore (update) or delete it; list the
 * DestinationRules too, for a `spec.setup` a dead run left patched (restoring one — get, update —
 * is granted only when an experiment of the schedule has a setup).
 */
export const REAPER_ACCESS: Omit<AccessCheck, 'namespace'>[] = [
  ...['get', 'list', 'update', 'delete'].map(verb => ({verb, group: ISTIO_GROUP, resource: 'virtualservices'})),
  {verb: 'list', group: ISTIO_GROUP, resource: 'destinationrules'},
]

/** What the reaper adds for `spec.setup`: restoring a patched DestinationRule. */
const REAPER_SETUP_ACCESS: Omit<AccessCheck, 'namespace'>[] = ['get', 'update'].map(verb => ({
  verb,
  group: ISTIO_GROUP,
  resource: 'destinationrules',
}))

/**
 * What the k6-operator driver does in the run's namespace (src/load/k6-operator.ts): create the
 * script's ConfigMap and the TestRun, follow the TestRun's stage, watch the runner pods (pods list
 * is preflight's already), delete both at the end; list them for `chaos revert`.
 */
export const K6_OPERATOR_ACCESS: Omit<AccessCheck, 'namespace'>[] = [
  ...['create', 'get', 'list', 'delete'].map(verb => ({verb, group: 'k6.io', resource: 'testruns'})),
  ...['create', 'list', 'delete'].map(verb => ({verb, group: '', resource: 'configmaps'})),
  {verb: 'list', group: '', resource: 'pods'},
]

/** What the reaper adds for the k6-operator driver: deleting the TestRuns and ConfigMaps of dead runs. */
const REAPER_K6_OPERATOR_ACCESS: Omit<AccessCheck, 'namespace'>[] = [
  ...['list', 'delete'].map(verb => ({verb, group: 'k6.io', resource: 'testruns'})),
  ...['list', 'delete'].map(verb => ({verb, group: '', resource: 'configmaps'})),
]

/** The Role rules of a scheduled run: preflight's own list, so a run never lacks what it checks for (`setup`: an experiment has a `spec.setup`; `k6Operator`: one runs its load with the k6-operator driver; `portForward`: one enters the mesh through a port-forward; `gateway`: one enters through a gateway Service in this namespace). */
export function runRules(
  options: {setup?: boolean; k6Operator?: boolean; portForward?: boolean; gateway?: boolean} = {},
): PolicyRule[] {
  const access = requiredAccess('', {setup: options.setup === true, portForward: options.portForward === true})
  return policyRules([
    ...access.map(({namespace: _, ...a}) => a),
    ...(options.k6Operator === true ? K6_OPERATOR_ACCESS : []),
    ...(options.gateway === true ? [...GATEWAY_ACCESS, ...GATEWAY_STATS_ACCESS] : []),
  ])
}

/** Whether any experiment of a schedule enters the mesh through a port-forward (its run's Role then may read Services and port-forward to pods). */
export function usesPortForward(experiments: readonly {experiment: {spec: {load: {entry?: object}}}}[]): boolean {
  return experiments.some(
    e => e.experiment.spec.load.entry !== undefined && 'portForward' in e.experiment.spec.load.entry,
  )
}

/**
 * The namespaces of the gateways the schedule's experiments enter through without a URL, each with
 * the experiments that do and their gateway Services (sorted by namespace). Whether such a run
 * port-forwards depends on the gateway Service having a load-balancer address when it runs, which a
 * schedule cannot know.
 */
export function gatewayNamespaces(
  experiments: readonly {experiment: Parameters<typeof gatewayService>[0] & {metadata: {name: string}}}[],
): Map<string, {experiment: string; service: string}[]> {
  const out = new Map<string, {experiment: string; service: string}[]>()
  for (const {experiment} of experiments) {
    const gateway = gatewayService(experiment)
    if (gateway === undefined) continue
    const entries = out.get(gateway.namespace) ?? []
    entries.push({experiment: experiment.metadata.name, service: gateway.service})
    out.set(gateway.namespace, entries)
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)))
}

/**
 * The Role rules in a gateway's namespace: what preflight asks there (src/runner/preflight-gateway.ts),
 * finding the gateway and reading its proxies' fault counters. Both ways of reading those are granted,
 * as in the target namespace: which one works (a pod's port 15090 may not be reachable) is known only
 * when the run reads.
 */
export function gatewayRules(): PolicyRule[] {
  return policyRules([...GATEWAY_ACCESS, ...GATEWAY_STATS_ACCESS])
}

/** The Role rules of the reaper (`setup`: an experiment of the schedule has a `spec.setup`). */
export function reaperRules(options: {setup?: boolean; k6Operator?: boolean} = {}): PolicyRule[] {
  return policyRules([
    ...REAPER_ACCESS,
    ...(options.setup === true ? REAPER_SETUP_ACCESS : []),
    ...(options.k6Operator === true ? REAPER_K6_OPERATOR_ACCESS : []),
  ])
}

/** Whether any experiment of a schedule runs its load with the k6-operator driver (`driver`: `chaos schedule --driver`). */
export function usesK6Operator(
  experiments: readonly {experiment: {spec: {load: {driver?: string}}}}[],
  driver: string | undefined,
): boolean {
  return (
    driver === 'k6-operator' ||
    (driver === undefined && experiments.some(e => e.experiment.spec.load.driver === 'k6-operator'))
  )
}

/** Whether any experiment of a schedule patches DestinationRules (its Roles then may get and update them). */
export function hasSetup(
  experiments: readonly {experiment: {spec: {setup?: {destinationRules: unknown[]}}}}[],
): boolean {
  return experiments.some(e => (e.experiment.spec.setup?.destinationRules.length ?? 0) > 0)
}

/** Role rules granting exactly `access`: one rule per resource, verbs sorted, in first-seen order. */
export function policyRules(access: Omit<AccessCheck, 'namespace'>[]): PolicyRule[] {
  const byResource = new Map<string, {group: string; resource: string; verbs: Set<string>}>()
  for (const a of access) {
    const resource = a.subresource === undefined ? a.resource : `${a.resource}/${a.subresource}`
    const key = `${a.group}\u0000${resource}`
    const entry = byResource.get(key) ?? {group: a.group, resource, verbs: new Set<string>()}
    entry.verbs.add(a.verb)
    byResource.set(key, entry)
  }
  return [...byResource.values()].map(e => ({
    apiGroups: [e.group],
    resources: [e.resource],
    verbs: [...e.verbs].sort(),
  }))
}

/** Every (verb, group, resource[/subresource]) a set of rules grants, as `verb group/resource` strings. */
export function grantedPermissions(rules: PolicyRule[]): string[] {
  return rules
    .flatMap(r =>
      r.apiGroups.flatMap(g => r.resources.flatMap(res => r.verbs.map(v => `${v} ${g === '' ? 'core' : g}/${res}`))),
    )
    .sort()
}
