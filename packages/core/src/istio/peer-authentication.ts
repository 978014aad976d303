/**
 * security.istio.io PeerAuthentication: which mTLS mode a workload's inbound sidecar enforces on a
 * port, resolved as istiod does (istio 1.30.3):
 * - `pilot/pkg/model/authentication.go` addPeerAuthentication: policies sorted by creation time,
 *   then name, then namespace (`sortConfigByCreationTime`, pilot/pkg/model/config.go); of the
 *   namespace-wide ones (no `selector.matchLabels`) only the oldest per namespace counts, later ones
 *   are ignored with a warning. getConfigsForWorkload: the workload's namespace and the root
 *   namespace, each policy whose matchLabels are a subset of the workload's labels.
 * - `pilot/pkg/security/authn/policy_applier.go` ComposePeerAuthentication: mesh-wide (root
 *   namespace, no selector) < namespace-wide < workload (selector, not in the root namespace), the
 *   oldest of each; an UNSET (or absent) mode inherits from the wider scope; PERMISSIVE when none
 *   sets one. `portLevelMtls` of the workload policy overrides per port (UNSET inherits the
 *   workload's mode); GetMutualTLSModeForPort looks the endpoint (container) port up there.
 * Both the runner's preflight and the sandbox's inbound sidecars use this.
 */

/** The API group and the versions Istio 1.30 serves PeerAuthentication in (v1 is the storage version). */
export const SECURITY_GROUP = 'security.istio.io'
export const SECURITY_VERSIONS = ['v1', 'v1beta1'] as const

/** Istio's root namespace (meshConfig.rootNamespace's default), where mesh-wide policies live. */
export const ROOT_NAMESPACE = 'istio-system'

/** A mode a sidecar enforces (UNSET never survives resolution). */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE'

/** An Istio PeerAuthentication, as far as mode resolution reads it. */
export interface PeerAuthentication {
  metadata: {name: string; namespace?: string; creationTimestamp?: string}
  spec?: {
    selector?: {matchLabels?: Record<string, string>}
    mtls?: {mode?: string}
    portLevelMtls?: Record<string, {mode?: string}>
  }
}

/** The effective policy of one workload: its mode, per-port overrides, and which policy set each. */
export interface WorkloadMtls {
  mode: MtlsMode
  /** The policy the mode comes from; none means Istio's default (PERMISSIVE). */
  from?: PeerAuthentication
  /** `portLevelMtls` of the workload policy that set a mode (an UNSET port has the workload's mode). */
  perPort: Map<number, MtlsMode>
  /** The workload-level policy, when one selects the workload. */
  workload?: PeerAuthentication
}

const MODES = new Set<string>(['STRICT', 'PERMISSIVE', 'DISABLE'])

/** A policy's (or a port's) mode, undefined for UNSET or absent. */
function setMode(mtls: {mode?: string} | undefined): MtlsMode | undefined {
  const mode = mtls?.mode
  return mode !== undefined && MODES.has(mode) ? (mode as MtlsMode) : undefined
}

/** Whether a policy has no `selector.matchLabels`: mesh-wide in the root namespace, else namespace-wide. */
export function namespaceWide(p: PeerAuthentication): boolean {
  return Object.keys(p.spec?.selector?.matchLabels ?? {}).length === 0
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** sortConfigByCreationTime's order: creation time, then name, then namespace. */
export function byCreation(a: PeerAuthentication, b: PeerAuthentication): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '')
  const tb = Date.parse(b.metadata.creationTimestamp ?? '')
  if (!Number.isNaN(ta) && !Number.isNaN(tb) && ta !== tb) return ta - tb
  return cmp(a.metadata.name, b.metadata.name) || cmp(a.metadata.namespace ?? '', b.metadata.namespace ?? '')
}

/** The policies istiod keeps: all, oldest first, without a namespace's second and later namespace-wide ones. */
export function effectivePolicies(policies: readonly PeerAuthentication[]): PeerAuthentication[] {
  const seen = new Set<string>()
  return [...policies].sort(byCreation).filter(p => {
    if (!namespaceWide(p)) return true
    const ns = p.metadata.namespace ?? ''
    if (seen.has(ns)) return false
    seen.add(ns)
    return true
  })
}

/** Whether every matchLabels entry is among the workload's labels (an empty selector selects all). */
function selects(p: PeerAuthentication, labels: Record<string, string>): boolean {
  return Object.entries(p.spec?.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v)
}

/** The effective mTLS policy of a workload (its namespace and pod labels), as ComposePeerAuthentication gives it. */
export function workloadMtls(
  policies: readonly PeerAuthentication[],
  workload: {namespace: string; labels: Record<string, string>},
  rootNamespace = ROOT_NAMESPACE,
): WorkloadMtls {
  const applicable = effectivePolicies(policies).filter(
    p =>
      (p.metadata.namespace === workload.namespace || p.metadata.namespace === rootNamespace) &&
      selects(p, workload.labels),
  )
  const mesh = applicable.find(p => namespaceWide(p) && p.metadata.namespace === rootNamespace)
  const namespace = applicable.find(p => namespaceWide(p) && p.metadata.namespace !== rootNamespace)
  const workloadPolicy = applicable.find(p => !namespaceWide(p) && p.metadata.namespace !== rootNamespace)
  let out: WorkloadMtls = {mode: 'PERMISSIVE', perPort: new Map()}
  for (const p of [mesh, namespace, workloadPolicy]) {
    const mode = p === undefined ? undefined : setMode(p.spec?.mtls)
    if (p !== undefined && mode !== undefined) out = {...out, mode, from: p}
  }
  if (workloadPolicy === undefined) return out
  const perPort = new Map<number, MtlsMode>()
  // An UNSET port inherits the workload's mode: the same as not listing it.
  for (const [port, mtls] of Object.entries(workloadPolicy.spec?.portLevelMtls ?? {})) {
    const mode = setMode(mtls)
    if (mode !== undefined) perPort.set(Number(port), mode)
  }
  return {...out, perPort, workload: workloadPolicy}
}

/** The mode the inbound sidecar enforces on an endpoint (container) port, and the policy that set it. */
export function modeForPort(mtls: WorkloadMtls, port: number): {mode: MtlsMode; from?: PeerAuthentication} {
  const portMode = mtls.perPort.get(port)
  if (portMode !== undefined && mtls.workload !== undefined) return {mode: portMode, from: mtls.workload}
  return {mode: mtls.mode, ...(mtls.from === undefined ? {} : {from: mtls.from})}
}

/** `namespace/name`, for messages. */
export function policyName(p: PeerAuthentication): string {
  return `${p.metadata.namespace ?? ''}/${p.metadata.name}`
}
