/**
 * Preflight: everything that can be known before anything is injected. A failed check stops the
 * run with exit 4 and nothing written; warnings are what an expert would tell you first.
 */
import {ApiError, type AccessCheck, type Cluster, type ServiceSummary} from '../cluster/cluster.js'
import type {Experiment} from '../experiment/model.js'
import {closest} from '../experiment/suggest.js'
import {gatewayService, portForwardService} from '../faults/entry-gateways.js'
import {managedInfo} from '../faults/revert.js'
import type {FaultPlan} from '../faults/plan.js'
import {fqdn, hostCovers} from '@faultline/core/istio/routing.js'
import {ISTIO_GROUP, type DestinationRule, type VirtualService} from '@faultline/core/istio/types.js'
import {snapshotEnvoy, statsInclusionHint} from '../probes/envoy.js'
import {PrometheusClient} from '../probes/prometheus.js'
import {sumMatching} from '../cluster/stats.js'
import type {PreflightCheck} from './preflight-check.js'
import {gatewayAccess, gatewayChecks} from './preflight-gateway.js'
import {meshChecks} from './preflight-mesh.js'
import {deniedPermissions, STATS_EXEC_ACCESS, STATS_PROXY_ACCESS, statsCheck} from './preflight-stats.js'
import {setupChecks} from './setup.js'

/** One preflight finding (its own module, so the modules of single checks need not import this one). */
export type {PreflightCheck} from './preflight-check.js'

/** What preflight looks at. */
export interface PreflightInput {
  experiment: Experiment
  cluster: Cluster
  namespace: string
  plan: FaultPlan
  prometheus: PrometheusClient | undefined
  /** Whether the load enters the mesh through a sidecar (true on the sandbox, via its proxy). */
  loadThroughMesh: boolean
  now: Date
}

const ACCESS: Omit<AccessCheck, 'namespace'>[] = [
  ...['get', 'list', 'create', 'update', 'delete'].map(verb => ({
    verb,
    group: ISTIO_GROUP,
    resource: 'virtualservices',
  })),
  {verb: 'list', group: ISTIO_GROUP, resource: 'destinationrules'},
  {verb: 'list', group: '', resource: 'pods'},
  {verb: 'list', group: '', resource: 'services'},
  // Sidecar stats: through the pod proxy, and by exec as the fallback (preflight-stats.ts). The Role
  // grants both; the permission check wants either.
  ...STATS_PROXY_ACCESS,
  ...STATS_EXEC_ACCESS,
]

/**
 * What a `portForward` entry adds (src/cli/port-forward.ts): reading its Service, and streams to its
 * pods. A port-forward is a WebSocket upgrade, a GET: authorized as `get pods/portforward`, and since
 * Kubernetes 1.35 (AuthorizePodWebsocketUpgradeCreatePermission) also as `create`, as for exec.
 */
export const PORT_FORWARD_ACCESS: Omit<AccessCheck, 'namespace'>[] = [
  {verb: 'get', group: '', resource: 'services'},
  {verb: 'get', group: '', resource: 'pods', subresource: 'portforward'},
  {verb: 'create', group: '', resource: 'pods', subresource: 'portforward'},
]

/** What `spec.setup` adds: reading and replacing the DestinationRules it patches. */
const SETUP_ACCESS: Omit<AccessCheck, 'namespace'>[] = ['get', 'update'].map(verb => ({
  verb,
  group: ISTIO_GROUP,
  resource: 'destinationrules',
}))

/** The permissions a run needs (also what `chaos schedule` grants); `setup` when an experiment has a `spec.setup`, `portForward` when its load enters through a port-forward. */
export function requiredAccess(
  namespace: string,
  options: {setup?: boolean; portForward?: boolean} = {},
): AccessCheck[] {
  return [
    ...ACCESS,
    ...(options.setup === true ? SETUP_ACCESS : []),
    ...(options.portForward === true ? PORT_FORWARD_ACCESS : []),
  ].map(a => ({...a, namespace}))
}

const CONTROLLER_MARKS: [RegExp, string][] = [
  [/^argocd\.argoproj\.io\//, 'Argo CD'],
  [/^kustomize\.toolkit\.fluxcd\.io\//, 'Flux'],
  [/^helm\.toolkit\.fluxcd\.io\//, 'Flux'],
  [/^flagger\.app\//, 'Flagger'],
  [/^meta\.helm\.sh\//, 'Helm'],
  [/^rollouts\.argoproj\.io\//, 'Argo Rollouts'],
]

/** Who else may rewrite this VirtualService mid-run, if anyone. */
export function foreignController(vs: VirtualService): string | undefined {
  const owner = (vs.metadata.ownerReferences as {kind?: string; name?: string}[] | undefined)?.[0]
  if (owner !== undefined) return `${owner.kind ?? 'an owner'} ${owner.name ?? ''}`.trim()
  const marks = [...Object.keys(vs.metadata.annotations ?? {}), ...Object.keys(vs.metadata.labels ?? {})]
  for (const [re, name] of CONTROLLER_MARKS) if (marks.some(m => re.test(m))) return name
  const managedBy = vs.metadata.labels?.['app.kubernetes.io/managed-by']
  if (managedBy !== undefined && managedBy !== 'faultline') return managedBy
  const managers = ((vs.metadata.managedFields ?? []) as {manager?: string}[]).map(f => f.manager ?? '')
  const known = managers.find(m => /argocd|flux|kustomize-controller|helm-controller|flagger|rollouts/i.test(m))
  return known
}

function subsetChecks(plan: FaultPlan, rules: DestinationRule[], namespace: string): PreflightCheck[] {
  const missing = new Set<string>()
  for (const o of plan.objects) {
    for (const route of o.desired.spec.http ?? []) {
      for (const d of route.route ?? []) {
        if (d.destination.subset === undefined) continue
        const host = fqdn(d.destination.host, namespace)
        const defined = rules.some(
          r =>
            fqdn(r.spec.host, r.metadata.namespace ?? namespace) === host &&
            (r.spec.subsets ?? []).some(s => s.name === d.destination.subset),
        )
        if (!defined) missing.add(`${d.destination.subset} of ${d.destination.host}`)
      }
    }
  }
  if (missing.size === 0)
    return [{check: 'subsets', status: 'ok', message: 'every subset the routes use is defined by a DestinationRule'}]
  return [
    {
      check: 'subsets',
      status: 'failed',
      message: `routes use subsets no DestinationRule defines: ${[...missing].join(', ')}`,
      hint: 'Requests to an undefined subset fail with 503 (NR). Apply the DestinationRule first (make-before-break).',
    },
  ]
}

const SERVICE_DOMAIN = '.svc.cluster.local'

/** What a fault's host names, resolved in the run's namespace as Istio resolves a short name. */
export type HostTarget =
  | {kind: 'service'; fqdn: string; name: string; namespace: string}
  /** `*`, `*.example.com`: covers many hosts, names no one Service. */
  | {kind: 'wildcard'; fqdn: string}
  /** Under the cluster domain but not `<service>.<namespace>.svc.cluster.local` (a pod's DNS name, a typo'd domain). */
  | {kind: 'not-a-service'; fqdn: string}
  /** Outside the cluster domain: a ServiceEntry host, an external name, an IP. */
  | {kind: 'external'; fqdn: string}

/** Classifies a fault's host (pure). */
export function hostTarget(host: string, namespace: string): HostTarget {
  const name = fqdn(host, namespace)
  if (name === '*' || name.startsWith('*.')) return {kind: 'wildcard', fqdn: name}
  if (!name.endsWith(SERVICE_DOMAIN)) return {kind: 'external', fqdn: name}
  const labels = name.slice(0, -SERVICE_DOMAIN.length).split('.')
  const [service, ns] = labels
  if (labels.length !== 2 || service === undefined || ns === undefined) return {kind: 'not-a-service', fqdn: name}
  return {kind: 'service', fqdn: name, name: service, namespace: ns}
}

/** The Services of each namespace the hosts name, or why they could not be read (a 403). */
async function servicesByNamespace(
  cluster: Cluster,
  namespaces: Set<string>,
): Promise<Map<string, ServiceSummary[] | ApiError>> {
  const out = new Map<string, ServiceSummary[] | ApiError>()
  for (const ns of namespaces) {
    try {
      out.set(ns, await cluster.listServices(ns))
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 403) throw err
      out.set(ns, err)
    }
  }
  return out
}

/** The existing VirtualService the plan writes a host's faults into, if it names that exact host. */
function routedBy(plan: FaultPlan, target: HostTarget, faults: number[], namespace: string): string | undefined {
  const o = plan.objects.find(p => p.existing !== undefined && p.faults.some(i => faults.includes(i)))
  const ns = o?.existing?.metadata.namespace ?? namespace
  return (o?.existing?.spec.hosts ?? []).some(h => fqdn(h, ns) === target.fqdn) ? o?.existing?.metadata.name : undefined
}

function listOf(names: string[]): string {
  return names.length <= 12 ? names.join(', ') : `${names.slice(0, 12).join(', ')} and ${names.length - 12} more`
}

/** The finding for a host the cluster has no Service for. */
function missingService(
  target: Extract<HostTarget, {kind: 'service'}>,
  host: string,
  fields: string,
  services: ServiceSummary[],
  routing: string | undefined,
): PreflightCheck {
  const what = `no Service ${target.name} in namespace ${target.namespace}${host === target.fqdn ? '' : ` (${host} → ${target.fqdn})`}`
  if (routing !== undefined) {
    return {
      check: 'hosts',
      status: 'warning',
      message: `${what}, but VirtualService ${routing} routes that host: the fault goes there`,
      hint: 'It fires only if sidecars know the host: declared by a ServiceEntry, or a Service in another cluster of the mesh.',
    }
  }
  const names = services.map(s => s.name).sort()
  const near = closest(target.name, names)
  const twoLabels =
    host.split('.').length === 2 ? ` A two-label host is read as <service>.<namespace>, as cluster DNS does.` : ''
  const known =
    names.length === 0
      ? `Namespace ${target.namespace} has no Services (does it exist?).`
      : `Services in ${target.namespace}: ${listOf(names)}.`
  return {
    check: 'hosts',
    status: 'failed',
    message: `${what}${near === undefined ? '' : `: did you mean "${near}"?`}`,
    hint: `Fix ${fields}. ${known}${twoLabels} (If only a ServiceEntry declares the host, route it with a VirtualService first: preflight then only warns.)`,
  }
}

/** The finding for a host no Service can have: warned about, never refused. */
function notAServiceName(target: Exclude<HostTarget, {kind: 'service'}>): PreflightCheck {
  const why = {
    wildcard: 'is a wildcard, which names no one Service',
    'not-a-service': `is under the cluster domain but is not <service>.<namespace>${SERVICE_DOMAIN}`,
    external: 'is not a Kubernetes Service name',
  }[target.kind]
  return {
    check: 'hosts',
    status: 'warning',
    message: `${target.fqdn} ${why}: no Service to check`,
    hint: 'The fault fires only for traffic sidecars route by that host: declare it with a ServiceEntry if it is outside the mesh.',
  }
}

/**
 * The finding when listing Services was forbidden: failed in the run's namespace (the run's Role
 * must allow it), a warning elsewhere (the run writes nothing there, so it may well not be allowed).
 */
function unreadable(target: Extract<HostTarget, {kind: 'service'}>, namespace: string): PreflightCheck {
  const local = target.namespace === namespace
  return {
    check: 'hosts',
    status: local ? 'failed' : 'warning',
    message: `cannot check that Service ${target.name} exists: not allowed to list services in ${target.namespace}`,
    hint: local
      ? `Grant list on services (core API group) in ${namespace}: the run checks every fault's host before injecting.`
      : `Grant list on services in ${target.namespace} to have it checked; the run itself writes only in ${namespace}.`,
  }
}

/**
 * Hosts: every fault's host must be a Service that exists, or not be a Kubernetes Service name at
 * all. A misspelt host would get a VirtualService nobody's traffic uses: the run would "hold" and
 * prove nothing. Hosts a Service cannot name (ServiceEntry hosts, wildcards) are warned about,
 * never refused; a missing Service an existing VirtualService still routes is a warning too.
 */
export async function hostChecks(
  cluster: Cluster,
  faults: Experiment['spec']['faults'],
  plan: FaultPlan,
  namespace: string,
): Promise<PreflightCheck[]> {
  const byHost = new Map<string, {host: string; target: HostTarget; faults: number[]}>()
  faults.forEach((f, i) => {
    const target = hostTarget(f.service, namespace)
    const entry = byHost.get(target.fqdn) ?? {host: f.service, target, faults: []}
    entry.faults.push(i)
    byHost.set(target.fqdn, entry)
  })
  const namespaces = new Set(
    [...byHost.values()].flatMap(e => (e.target.kind === 'service' ? [e.target.namespace] : [])),
  )
  const services = await servicesByNamespace(cluster, namespaces)
  const checks: PreflightCheck[] = []
  const found: string[] = []
  for (const {host, target, faults: indexes} of byHost.values()) {
    const fields = indexes.map(i => `spec.faults[${i}].service`).join(', ')
    if (target.kind !== 'service') {
      checks.push(notAServiceName(target))
      continue
    }
    const listed = services.get(target.namespace) ?? []
    if (listed instanceof ApiError) {
      checks.push(unreadable(target, namespace))
      continue
    }
    const service = listed.find(s => s.name === target.name)
    if (service === undefined)
      checks.push(missingService(target, host, fields, listed, routedBy(plan, target, indexes, namespace)))
    else if (service.ports.length === 0)
      checks.push({
        check: 'hosts',
        status: 'warning',
        message: `Service ${target.name} in ${target.namespace} has no ports: Istio builds sidecar routes per Service port, so the fault may never fire`,
        hint: 'Give the Service the port its clients call.',
      })
    else found.push(`${target.name}.${target.namespace}`)
  }
  if (found.length > 0)
    checks.unshift({check: 'hosts', status: 'ok', message: `the faults' Services exist: ${found.join(', ')}`})
  return checks
}

/**
 * Locks: a VirtualService routing a faulted host that carries another run's fault. A live one is
 * held (we stop); an expired one belongs to a run that died (it is reverted first). Runs before
 * compiling, which refuses objects that still carry faults.
 */
export function lockChecks(
  existing: VirtualService[],
  faults: Experiment['spec']['faults'],
  namespace: string,
  now: Date,
): {checks: PreflightCheck[]; stale: VirtualService[]} {
  const hosts = faults.map(f => fqdn(f.service, namespace))
  const checks: PreflightCheck[] = []
  const stale: VirtualService[] = []
  for (const vs of existing) {
    const info = managedInfo(vs)
    if (info === undefined || !(vs.spec.hosts ?? []).some(h => hosts.some(host => hostCovers(h, host, namespace))))
      continue
    const expired = info.expiresAt !== undefined && info.expiresAt < now
    if (expired) {
      stale.push(vs)
      checks.push({
        check: 'lock',
        status: 'warning',
        message: `VirtualService ${vs.metadata.name} carries a stale fault of run ${info.runId} (expired ${info.expiresAt?.toISOString()}); it is reverted before this run injects anything`,
      })
    } else {
      checks.push({
        check: 'lock',
        status: 'failed',
        message: `VirtualService ${vs.metadata.name} is held by run ${info.runId}${info.owner === undefined ? '' : ` (${info.owner})`} until ${info.expiresAt?.toISOString() ?? 'an unknown time'}`,
        hint: `Wait for that run to finish, or if it died: chaos revert --run ${info.runId} --namespace ${namespace}`,
      })
    }
  }
  return {checks, stale}
}

async function envoyChecks(input: PreflightInput): Promise<PreflightCheck[]> {
  const checks: PreflightCheck[] = []
  for (const p of input.experiment.spec.steadyState) {
    if (!('envoy' in p)) continue
    const snap = await snapshotEnvoy(input.cluster, input.namespace, p.envoy.pods)
    if (snap.pods.size === 0) {
      checks.push({
        check: 'envoy',
        status: 'failed',
        message: `probe "${p.name}": no sidecar of pods ${JSON.stringify(p.envoy.pods)} could be read${snap.errors.size > 0 ? ': ' + [...snap.errors.values()][0] : ''}`,
        hint: 'Check the pod labels and that the pods run an istio-proxy container.',
      })
      continue
    }
    const matched = [...snap.pods.values()].some(s => sumMatching(s, p.envoy.stat).matched > 0)
    if (!matched)
      checks.push({
        check: 'envoy',
        status: 'warning',
        message: `probe "${p.name}": no sidecar reports ${p.envoy.stat} yet`,
        hint: statsInclusionHint(p.envoy.stat),
      })
  }
  return checks
}

async function prometheusChecks(input: PreflightInput): Promise<PreflightCheck[]> {
  const spec = input.experiment.spec
  const probes = [...spec.steadyState, ...(spec.guardrails?.abortWhen ?? [])].flatMap(p =>
    'prometheus' in p ? [{name: p.name, ...p.prometheus}] : [],
  )
  if (probes.length === 0) return []
  const checks: PreflightCheck[] = []
  // One Prometheus that does not answer is one finding, not one per query.
  const unreachable = new Set<string>()
  for (const q of probes) {
    const client = q.url === undefined ? input.prometheus : new PrometheusClient(q.url)
    if (client === undefined) {
      checks.push({
        check: 'prometheus',
        status: 'failed',
        message: 'the experiment has PromQL probes but no Prometheus is known',
        hint: 'Pass --prometheus-url, set spec.prometheus.url, or run on the sandbox with prometheus installed.',
      })
      break
    }
    if (unreachable.has(client.baseUrl)) continue
    const outcome = await client.instant(q.query)
    if (outcome.ok || !/did not answer|parse|bad_data|query failed/.test(outcome.message)) continue
    if (/did not answer/.test(outcome.message)) {
      unreachable.add(client.baseUrl)
      checks.push({
        check: 'prometheus',
        status: 'failed',
        message: outcome.message,
        hint: 'Start Prometheus or fix --prometheus-url / spec.prometheus.url; nothing was injected.',
      })
    } else {
      checks.push({
        check: 'prometheus',
        status: 'failed',
        message: `${q.name ?? 'a PromQL probe'}: ${outcome.message}`,
        hint: "Fix the query (try it in Prometheus's own UI); nothing was injected.",
      })
    }
  }
  if (checks.length === 0)
    checks.push({
      check: 'prometheus',
      status: 'ok',
      message: `Prometheus answers and ${probes.length} quer${probes.length === 1 ? 'y runs' : 'ies run'}`,
    })
  return checks
}

/**
 * A fault on the service the load is sent to, when no sidecar or gateway sends it there: Istio
 * applies a VirtualService's fault in the calling proxy (the sidecar's outbound route, or the
 * gateway's for gateway-bound routes), never in the server's inbound, so that fault cannot fire —
 * exit 4 before anything is injected. Through a gateway or a sidecar (the sandbox's proxy, --entry)
 * there is a calling proxy and the compiler put the fault where it runs. Through a port-forward
 * (--entry portForward) the load reaches the Service's application inside its pod, past every
 * sidecar (faults/entry-gateways.ts portForwardService): a fault on that Service cannot fire, faults
 * on the hosts its application calls fire in its own sidecar.
 */
function entryCheck(input: PreflightInput): PreflightCheck[] {
  if (input.loadThroughMesh) return []
  const forward = portForwardService(input.experiment, input.namespace)
  const url = new URL(input.experiment.spec.load.url)
  const entryHost =
    forward === undefined ? fqdn(url.hostname, input.namespace) : fqdn(forward.service, forward.namespace)
  return input.experiment.spec.faults.flatMap((f, i) =>
    fqdn(f.service, input.namespace) !== entryHost
      ? []
      : [
          forward === undefined
            ? {
                check: 'entry',
                status: 'failed' as const,
                message: `spec.faults[${i}] on ${f.service} cannot fire: the load goes straight to ${url.host}, not through a sidecar or a gateway, and Istio applies a fault in the proxy that calls ${f.service}`,
                hint: `Send the load through the mesh (--entry gateway for the ingress gateway, --entry proxy=URL for a meshed forward proxy, or the sandbox), or put the fault on a service ${f.service} calls. Nothing was injected.`,
              }
            : {
                check: 'entry',
                status: 'failed' as const,
                message: `spec.faults[${i}] on ${f.service} cannot fire: the load enters through a port-forward to ${forward.namespace}/${forward.service}'s pods, which reaches its application directly (past its own sidecar, with no calling sidecar before it), and Istio applies a fault in the proxy that calls ${f.service}`,
                hint: `Put the fault on a service ${f.service} calls (its sidecar applies it), or send the load through a calling proxy instead: --entry gateway (the ingress gateway) or --entry proxy=URL (a meshed forward proxy). Nothing was injected.`,
              },
        ],
  )
}

/**
 * Whether the run may do what it needs in the namespace (and in a port-forward's), and the gateway
 * entry's own access (finding the gateway; reading its proxies' fault counters), asked in one round
 * and judged apart.
 */
async function permissionChecks(
  input: PreflightInput,
  forward: ReturnType<typeof portForwardService>,
): Promise<PreflightCheck[]> {
  const {cluster, namespace} = input
  const checks: PreflightCheck[] = []
  const access = [
    ...requiredAccess(namespace, {setup: (input.experiment.spec.setup?.destinationRules.length ?? 0) > 0}),
    // The port-forward's Service may live in another namespace: its permissions are checked there.
    ...(forward === undefined ? [] : PORT_FORWARD_ACCESS.map(a => ({...a, namespace: forward.namespace}))),
  ]
  // A gateway entry without a URL may have to port-forward to the gateway, and reads the fault counters
  // of its proxies: asked in its namespace, judged apart.
  const gateway = gatewayService(input.experiment)
  const inGateway = gateway === undefined ? [] : gatewayAccess(gateway)
  const allowed = await cluster.canI([...access, ...inGateway])
  const denied = deniedPermissions(access, allowed)
  checks.push(
    denied.length === 0
      ? {check: 'permissions', status: 'ok', message: 'every permission the run needs is granted'}
      : {
          check: 'permissions',
          status: 'failed',
          message: `not allowed in ${namespace}: ${denied.join(', ')}`,
          hint: 'Grant them with a Role (see `chaos schedule` for the least-privilege Role), or run as a user who has them.',
        },
  )
  if (gateway !== undefined)
    checks.push(...(await gatewayChecks(cluster, gateway, input.plan, allowed.slice(access.length))))
  return checks
}

/** A warning for each VirtualService another controller manages (it may overwrite our routes mid-run). */
function controllerChecks(plan: FaultPlan): PreflightCheck[] {
  const checks: PreflightCheck[] = []
  for (const o of plan.objects) {
    const who = o.existing === undefined ? undefined : foreignController(o.existing)
    if (who !== undefined)
      checks.push({
        check: 'controller',
        status: 'warning',
        message: `VirtualService ${o.revert.name} is managed by ${who}, which may overwrite our routes mid-run`,
        hint: 'Pause its sync for the duration of the experiment; the revert keeps whatever it writes meanwhile.',
      })
  }
  return checks
}

/** Runs every check; the caller stops on any `failed`. */
export async function preflight(input: PreflightInput): Promise<PreflightCheck[]> {
  const {cluster, namespace} = input
  const checks: PreflightCheck[] = []
  const version = await cluster.istioVersion()
  checks.push({
    check: 'cluster',
    status: 'ok',
    message: `${cluster.target.server} (${cluster.target.context}) serves ${ISTIO_GROUP}/${version}`,
  })
  const forward = portForwardService(input.experiment, namespace)
  checks.push(...(await permissionChecks(input, forward)))
  checks.push(...(await hostChecks(cluster, input.experiment.spec.faults, input.plan, namespace)))
  checks.push(...subsetChecks(input.plan, await cluster.listDestinationRules(namespace), namespace))
  checks.push(...(await setupChecks(cluster, input.experiment, namespace, input.now)))
  checks.push(...controllerChecks(input.plan))
  checks.push(
    ...entryCheck(input),
    ...(await statsCheck(cluster, namespace)),
    ...(await envoyChecks(input)),
    ...(await prometheusChecks(input)),
  )
  const faultedServices = input.experiment.spec.faults.map(f => f.service)
  // A port-forward lands past the entry pod's sidecar, so its mTLS mode never sees the load: as for load through the mesh, the mTLS check does not apply.
  const pastSidecars = forward !== undefined
  checks.push(
    ...meshChecks({
      facts: await cluster.meshFacts(namespace),
      namespace,
      plan: input.plan,
      faultedServices,
      loadThroughMesh: input.loadThroughMesh || pastSidecars,
      now: input.now,
    }),
  )
  return checks
}
