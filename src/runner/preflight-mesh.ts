/**
 * Preflight findings about the mesh around the target namespace, each a pure function of the facts
 * the cluster gave (`Cluster.meshFacts`); a fact the cluster would not give keeps its check silent.
 * - Ambient: a namespace labelled `istio.io/dataplane-mode=ambient` has no sidecars, so a
 *   VirtualService fault has no calling sidecar to run in (only a waypoint could apply it).
 * - STRICT mTLS: a PeerAuthentication in STRICT mode makes the server sidecar refuse plaintext
 *   from a client without a sidecar (the connection is reset), which is how load sent from outside
 *   the mesh arrives.
 * - Precedence: sidecars use only the first VirtualService per host, in Istio's order (private,
 *   exported to the namespace, public; oldest first: `virtualServicesInPrecedence`), so one in
 *   another namespace can shadow ours and the fault would never fire.
 */
import type {MeshFacts} from '../cluster/cluster.js'
import type {FaultPlan} from '../faults/plan.js'
import {
  effectivePolicies,
  type MtlsMode,
  namespaceWide,
  type PeerAuthentication,
  policyName,
  ROOT_NAMESPACE,
  workloadMtls,
} from '@faultline/core/istio/peer-authentication.js'
import {fqdn, virtualServicesInPrecedence, visibilityTier} from '@faultline/core/istio/routing.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import type {PreflightCheck} from './preflight-check.js'

/** What the mesh checks look at. */
export interface MeshCheckInput {
  facts: MeshFacts
  namespace: string
  plan: FaultPlan
  /** The services the faults are on, as written in the experiment. */
  faultedServices: readonly string[]
  /** Whether the load enters the mesh through a sidecar (or a gateway). */
  loadThroughMesh: boolean
  now: Date
}

/** Every mesh finding for a run. */
export function meshChecks(input: MeshCheckInput): PreflightCheck[] {
  return [...ambientCheck(input), ...mtlsCheck(input), ...precedenceChecks(input)]
}

function ambientCheck({facts, namespace}: MeshCheckInput): PreflightCheck[] {
  if (facts.namespaceLabels?.['istio.io/dataplane-mode'] !== 'ambient') return []
  return [
    {
      check: 'ambient',
      status: 'failed',
      message: `namespace ${namespace} is in ambient mode (istio.io/dataplane-mode=ambient): its pods have no sidecar, so a VirtualService fault has no calling sidecar to run in and would never fire`,
      hint: `In ambient mode L7 faults run in a waypoint proxy: deploy one for the faulted service (istioctl waypoint apply -n ${namespace} --enroll-namespace; VirtualService with waypoints is alpha in Istio), or run against a namespace with sidecar injection.`,
    },
  ]
}

const MTLS_HINT =
  "Send the load through the ingress gateway (--entry gateway) or from inside the mesh (a meshed pod, e.g. the k6-operator driver with sidecar injection); a port-forward (--entry portForward) also works, as it reaches the application on the pod's localhost, which the sidecar does not intercept. Or allow plaintext for the entry workload while testing (a PERMISSIVE PeerAuthentication with its selector)."

/** Whether a workload policy gives the workloads it selects `mode` (or a port of them), over the namespace's mode. */
function selectedMode(p: PeerAuthentication, namespaceMode: MtlsMode, mode: MtlsMode): boolean {
  const own = p.spec?.mtls?.mode
  const workload = own === 'STRICT' || own === 'PERMISSIVE' || own === 'DISABLE' ? own : namespaceMode
  const ports = Object.values(p.spec?.portLevelMtls ?? {}).map(m => m.mode ?? 'UNSET')
  return workload === mode || ports.includes(mode)
}

/**
 * STRICT mTLS for plaintext load: the namespace's mode (namespace-wide, else mesh-wide, else
 * PERMISSIVE, as `workloadMtls` resolves it for a workload no selector picks) decides; the load's
 * entry workload is not known here, so a workload policy that relaxes (or tightens) it makes the
 * finding a warning naming that policy.
 */
function mtlsCheck({facts, namespace, loadThroughMesh}: MeshCheckInput): PreflightCheck[] {
  if (loadThroughMesh || facts.peerAuthentications === undefined) return []
  const kept = effectivePolicies(facts.peerAuthentications)
  const {mode, from} = workloadMtls(kept, {namespace, labels: {}})
  const workloadPolicies = kept.filter(
    p => p.metadata.namespace === namespace && namespace !== ROOT_NAMESPACE && !namespaceWide(p),
  )
  if (mode === 'STRICT' && from !== undefined) {
    const relaxing = workloadPolicies.filter(
      p => selectedMode(p, mode, 'PERMISSIVE') || selectedMode(p, mode, 'DISABLE'),
    )
    const message = `PeerAuthentication ${policyName(from)} makes mTLS STRICT for ${namespace}: the server sidecars refuse plaintext from a client without a sidecar (the connection is reset), and the load here does not come from one`
    if (relaxing.length === 0) return [{check: 'mtls', status: 'failed', message, hint: MTLS_HINT}]
    return [
      {
        check: 'mtls',
        status: 'warning',
        message: `${message}, unless its entry workload is one that PeerAuthentication ${relaxing.map(policyName).join(', ')} allow${relaxing.length === 1 ? 's' : ''} plaintext for`,
        hint: MTLS_HINT,
      },
    ]
  }
  const strictWorkloads = workloadPolicies.filter(p => selectedMode(p, mode, 'STRICT'))
  if (strictWorkloads.length === 0) return []
  return [
    {
      check: 'mtls',
      status: 'warning',
      message: `PeerAuthentication ${strictWorkloads.map(p => p.metadata.name).join(', ')} make mTLS STRICT for some workloads of ${namespace}: if the load's entry workload is one of them, plaintext load from outside the mesh is refused`,
      hint: MTLS_HINT,
    },
  ]
}

/** The cluster's VirtualServices with our planned writes in place (a created one is the newest of all). */
function withPlan(
  all: readonly VirtualService[],
  plan: FaultPlan,
  now: Date,
): {list: VirtualService[]; ours: Set<string>} {
  const key = (vs: VirtualService) => `${vs.metadata.namespace ?? ''}/${vs.metadata.name}`
  const planned = new Map(plan.objects.map(o => [`${o.revert.namespace}/${o.revert.name}`, o]))
  const list = all.map(vs => {
    const o = planned.get(key(vs))
    return o === undefined
      ? vs
      : {
          ...o.desired,
          metadata: {
            ...o.desired.metadata,
            ...(vs.metadata.creationTimestamp === undefined ? {} : {creationTimestamp: vs.metadata.creationTimestamp}),
          },
        }
  })
  for (const o of plan.objects) {
    if (!all.some(vs => key(vs) === `${o.revert.namespace}/${o.revert.name}`))
      list.push({
        ...o.desired,
        metadata: {...o.desired.metadata, namespace: o.revert.namespace, creationTimestamp: now.toISOString()},
      })
  }
  return {list, ours: new Set(planned.keys())}
}

const TIER = ['private to the namespace', 'exported to the namespace', 'public'] as const

function precedenceChecks({facts, namespace, plan, faultedServices, now}: MeshCheckInput): PreflightCheck[] {
  if (facts.virtualServices === undefined) return []
  const {list, ours} = withPlan(facts.virtualServices, plan, now)
  const checks: PreflightCheck[] = []
  for (const service of new Set(faultedServices)) {
    const host = fqdn(service, namespace)
    const first = virtualServicesInPrecedence(list, host, namespace)[0]
    if (first === undefined || ours.has(`${first.metadata.namespace ?? ''}/${first.metadata.name}`)) continue
    const tier = TIER[visibilityTier(first, namespace) ?? 2]
    checks.push({
      check: 'precedence',
      status: 'failed',
      message: `VirtualService ${first.metadata.namespace}/${first.metadata.name} (${tier}, created ${first.metadata.creationTimestamp ?? 'at an unknown time'}) takes precedence for ${host} in ${namespace}'s sidecars: they use only the first VirtualService per host, so our fault route would never be used`,
      hint: `Istio orders a host's VirtualServices private (exportTo: ".") → exported to the namespace → public, each oldest first. Put the fault where that VirtualService is (run with --namespace ${first.metadata.namespace ?? namespace} if the callers are there), or narrow its exportTo so it does not apply to ${namespace}.`,
    })
  }
  return checks
}
