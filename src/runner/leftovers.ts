/**
 * `chaos revert`: finds what Faultline left in a namespace (from the objects' own labels,
 * annotations and route names — enough after a crash or `kill -9`) and reverts it.
 */
import {ApiError, type Cluster} from '../cluster/cluster.js'
import {ClusterUnavailable, FaultlineError} from '@faultline/core/errors.js'
import {isFaultRouteName, runIdOfRoute} from '../faults/names.js'
import {managedInfo, revertFromAnnotations} from '../faults/revert.js'
import type {DestinationRule, VirtualService} from '@faultline/core/istio/types.js'
import {k6OperatorLeftovers} from './k6-operator-cleanup.js'
import {type RevertOptions, type RevertOutcome, revertObject} from './revert.js'
import {revertSetupLeftover, setupLeftovers} from './setup.js'

/** Which leftovers to revert. */
export interface CleanupSelection {
  /** Only this run's. */
  runId?: string
  /** Also runs that have not expired yet (they may still be running). */
  all?: boolean
  /** Decide and report, write nothing. */
  dryRun?: boolean
  /** Limits for the revert pass (one deadline for all objects, reverted at once). */
  revert?: RevertOptions
}

/** A leftover fault found in the namespace. */
export interface Leftover {
  /** `DestinationRule` for a `spec.setup` a run left patched; absent for a VirtualService. */
  kind?: 'DestinationRule'
  name: string
  runId: string
  owner?: string
  expiresAt?: string
  expired: boolean
}

/** What `chaos revert` did. */
export interface CleanupReport {
  namespace: string
  found: Leftover[]
  reverted: RevertOutcome[]
  /** Left alone, with the reason. */
  skipped: {kind?: 'DestinationRule'; name: string; runId: string; reason: string}[]
  /** What could not be looked at (e.g. DestinationRules when listing them is forbidden). */
  notes?: string[]
}

/** Every VirtualService carrying Faultline's marks or routes. */
export function leftovers(all: VirtualService[], now: Date): Leftover[] {
  const found: Leftover[] = []
  for (const vs of all) {
    const info = managedInfo(vs)
    const route = (vs.spec.http ?? []).find(r => isFaultRouteName(r.name))
    if (info === undefined && route === undefined) continue
    const runId = info?.runId || runIdOfRoute(route?.name) || 'unknown'
    const expiresAt = info?.expiresAt
    found.push({
      name: vs.metadata.name,
      runId,
      ...(info?.owner === undefined ? {} : {owner: info.owner}),
      ...(expiresAt === undefined ? {} : {expiresAt: expiresAt.toISOString()}),
      expired: expiresAt === undefined || expiresAt < now,
    })
  }
  return found
}

/** What to do when the cluster could not be asked what is left: it was not checked, so faults may be live. */
export const UNCHECKED_HINT =
  'Check the kubeconfig (--kubeconfig, --context) and that the API server is reachable from here, then run the same chaos revert again; until it succeeds, any faults a run left there stay live.'

/**
 * The cluster could not be asked what Faultline left (unreachable, refused, forbidden): exit 4 and
 * say so — never "nothing to revert", since nothing was checked.
 */
export function cannotCheck(what: string, cause: unknown): ClusterUnavailable {
  return new ClusterUnavailable(
    `${what}; nothing was checked or reverted, so faults left by a run may still be live there`,
    {hint: UNCHECKED_HINT, cause},
  )
}

/** What Faultline left in a namespace: faulted VirtualServices and patched DestinationRules, and notes on what could not be listed. */
async function findLeftovers(
  cluster: Cluster,
  namespace: string,
  now: Date,
): Promise<{found: Leftover[]; notes: string[]}> {
  let all: VirtualService[]
  try {
    all = await cluster.listVirtualServices(namespace)
  } catch (err) {
    if (err instanceof FaultlineError && !(err instanceof ClusterUnavailable)) throw err
    throw cannotCheck(
      `could not list the VirtualServices in namespace ${namespace} (${cluster.target.server}): ${err instanceof Error ? err.message : String(err)}`,
      err,
    )
  }
  // spec.setup patches: DestinationRules carrying our marks. A cluster that will not list them (no
  // Istio, or a Role without it) is noted, never fatal: the VirtualServices are what hold faults.
  let rules: DestinationRule[] = []
  const notes: string[] = []
  try {
    rules = await cluster.listDestinationRules(namespace)
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 403 && err.status !== 404))
      throw cannotCheck(
        `could not list the DestinationRules in namespace ${namespace} (${cluster.target.server}): ${err instanceof Error ? err.message : String(err)}`,
        err,
      )
    notes.push(
      `DestinationRules in ${namespace} could not be listed (${err.message}): a spec.setup a dead run left patched would not be seen here`,
    )
  }
  const found = [...leftovers(all, now), ...setupLeftovers(rules, now)]
  return {found, notes}
}

/** Reverts the selected leftovers in a namespace. */
export async function revertLeftovers(
  cluster: Cluster,
  namespace: string,
  selection: CleanupSelection,
  now = new Date(),
): Promise<CleanupReport> {
  const {found, notes} = await findLeftovers(cluster, namespace, now)
  const report: CleanupReport = {namespace, found, reverted: [], skipped: [], ...(notes.length === 0 ? {} : {notes})}
  const chosen: Leftover[] = []
  for (const l of found) {
    if (selection.runId !== undefined && l.runId !== selection.runId) continue
    if (selection.runId === undefined && selection.all !== true && !l.expired) {
      report.skipped.push({
        ...(l.kind === undefined ? {} : {kind: l.kind}),
        name: l.name,
        runId: l.runId,
        reason: `run ${l.runId} may still be running (expires ${l.expiresAt}); pass --run ${l.runId} or --all to revert it now`,
      })
      continue
    }
    if (selection.dryRun === true) {
      report.skipped.push({
        ...(l.kind === undefined ? {} : {kind: l.kind}),
        name: l.name,
        runId: l.runId,
        reason: 'dry run',
      })
      continue
    }
    chosen.push(l)
  }
  // All at once under one deadline, as a run's own revert: N stuck objects cost one deadline, not N.
  // Faults first, then the setups (the setup was there before the faults, and is restored after them).
  const faults = await Promise.all(
    chosen
      .filter(l => l.kind === undefined)
      .map(l =>
        revertObject(
          cluster,
          namespace,
          l.name,
          l.runId,
          current =>
            current === undefined
              ? {action: 'none', namespace, name: l.name, reason: 'already gone'}
              : revertFromAnnotations(current),
          selection.revert,
        ),
      ),
  )
  const setups = await Promise.all(
    chosen
      .filter(l => l.kind === 'DestinationRule')
      .map(l => revertSetupLeftover(cluster, namespace, l, selection.revert)),
  )
  report.reverted = [...faults, ...setups]
  // The k6-operator driver's TestRuns and ConfigMaps (their runner pods go with the TestRun).
  await k6OperatorLeftovers(cluster, namespace, selection, now, report)
  return report
}
