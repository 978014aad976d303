/**
 * `spec.setup` against the cluster: preflight's findings (the DestinationRule exists, or a
 * did-you-mean; no other live run holds it), the write before the baseline (its revert registered
 * first; transient errors and conflicts read back before writing again), and the restore at the
 * end of the run on every exit path, with a fresh deadline, retries and a read-back that proves
 * none of our marks are left. Leftovers of dead runs are found by `setupLeftovers` for `chaos revert`.
 */
import {ApiError, type Cluster, ConflictError} from '../cluster/cluster.js'
import {ClusterUnavailable} from '@faultline/core/errors.js'
import type {Experiment, SetupDestinationRule} from '../experiment/model.js'
import {faultExpiry} from '../faults/experiment-plan.js'
import {
  carriesSetup,
  missingSetupMessage,
  type PlannedSetup,
  planSetup,
  planSetupRevert,
  setupInfo,
  setupRevertFromAnnotations,
  type SetupRevertAction,
} from '../faults/setup.js'
import type {DestinationRule} from '@faultline/core/istio/types.js'
import type {EventStream} from '../journal/events.js'
import type {PreflightCheck} from './preflight-check.js'
import {revertCommand, type RevertOptions, untilDeadline} from './revert.js'

export {missingSetupMessage}

/** The kind every setup event and outcome names (VirtualService ones carry none). */
export const SETUP_KIND = 'DestinationRule' as const

/** How one setup restore ended. */
export interface SetupRevertOutcome {
  kind: typeof SETUP_KIND
  namespace: string
  name: string
  ok: boolean
  action: 'restored' | 'stripped' | 'absent'
  message: string
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Preflight's setup checks: every DestinationRule `spec.setup` names exists (else a did-you-mean
 * from the namespace's), and none carries the setup of another live run (an expired one is a
 * warning: the run restores it first).
 */
export async function setupChecks(
  cluster: Cluster,
  experiment: Experiment,
  namespace: string,
  now: Date,
): Promise<PreflightCheck[]> {
  const entries = experiment.spec.setup?.destinationRules ?? []
  if (entries.length === 0) return []
  let rules: DestinationRule[]
  try {
    rules = await cluster.listDestinationRules(namespace)
  } catch (err) {
    return [
      {
        check: 'setup',
        status: 'failed',
        message: `cannot read the DestinationRules spec.setup patches: ${(err as Error).message}`,
        hint: `Grant get, list and update on destinationrules (networking.istio.io) in ${namespace}.`,
      },
    ]
  }
  const available = rules.map(r => r.metadata.name).sort()
  const checks: PreflightCheck[] = []
  const found: string[] = []
  entries.forEach((entry, i) => {
    const dr = rules.find(r => r.metadata.name === entry.name)
    if (dr === undefined) {
      checks.push({check: 'setup', status: 'failed', ...missingSetupMessage(entry.name, i, namespace, available)})
      return
    }
    const info = setupInfo(dr)
    if (info === undefined) {
      found.push(entry.name)
      return
    }
    if (info.expiresAt !== undefined && info.expiresAt < now) {
      checks.push({
        check: 'lock',
        status: 'warning',
        message: `DestinationRule ${entry.name} carries a stale setup of run ${info.runId} (expired ${info.expiresAt.toISOString()}); it is restored before this run patches it`,
      })
    } else {
      checks.push({
        check: 'lock',
        status: 'failed',
        message: `DestinationRule ${entry.name} is held by run ${info.runId}${info.owner === undefined ? '' : ` (${info.owner})`} until ${info.expiresAt?.toISOString() ?? 'an unknown time'}`,
        hint: `Wait for that run to finish, or if it died: chaos revert --run ${info.runId} --namespace ${namespace}`,
      })
    }
  })
  if (found.length > 0)
    checks.unshift({
      check: 'setup',
      status: 'ok',
      message: `the DestinationRules spec.setup patches exist: ${found.join(', ')}`,
    })
  return checks
}

/** Runs one DestinationRule's restore to completion or deadline: decide from the live object, write, read back. */
export function revertSetupObject(
  cluster: Cluster,
  namespace: string,
  name: string,
  runId: string,
  decide: (current: DestinationRule | undefined) => SetupRevertAction,
  options: RevertOptions = {},
): Promise<SetupRevertOutcome> {
  return untilDeadline<SetupRevertOutcome>(
    async () => {
      const current = await cluster.getDestinationRule(namespace, name)
      const action = decide(current)
      if (action.action === 'update') await cluster.replaceDestinationRule(action.object)
      const after = await cluster.getDestinationRule(namespace, name)
      if (after !== undefined && carriesSetup(after, runId))
        throw new ConflictError('read-back still shows our marks on the DestinationRule')
      const warnings =
        action.action === 'update' && action.warnings.length > 0 ? ` (${action.warnings.join('; ')})` : ''
      return {
        kind: SETUP_KIND,
        namespace,
        name,
        ok: true,
        action: action.action === 'none' ? 'absent' : action.keptForeignEdits ? 'stripped' : 'restored',
        message: action.reason + warnings,
      }
    },
    last => ({kind: SETUP_KIND, namespace, name, ok: false, action: 'absent', message: last}),
    options,
  )
}

/** How long one setup write keeps trying through transient errors and conflicts. */
const APPLY_RETRY_MS = 10_000

/** Tracks the setup a run may have written so that `revertAll` restores it, whatever happened. */
export class SetupReverter {
  private readonly entries: {planned: PlannedSetup; written?: DestinationRule}[] = []

  constructor(
    private readonly cluster: Cluster,
    private readonly runId: string,
  ) {}

  /** Objects registered so far. */
  get size(): number {
    return this.entries.length
  }

  /** Called before the write is attempted: even a write whose answer was lost gets restored. */
  register(planned: PlannedSetup): void {
    this.entries.push({planned})
  }

  /** Records what the API server returned for our write. */
  written(planned: PlannedSetup, object: DestinationRule): void {
    const entry = this.entries.find(e => e.planned === planned)
    if (entry !== undefined) entry.written = object
  }

  /** Restores everything registered, all at once under one deadline; newest first. */
  async revertAll(options: RevertOptions = {}): Promise<SetupRevertOutcome[]> {
    const outcomes = await Promise.all(
      [...this.entries].reverse().map(({planned, written}) => {
        const {namespace, name} = planned.revert
        const decide = (current: DestinationRule | undefined): SetupRevertAction => {
          if (written === undefined && (current === undefined || setupInfo(current)?.runId !== this.runId)) {
            return {action: 'none', namespace, name, reason: 'our write never landed'}
          }
          return planSetupRevert(current, planned.revert, written)
        }
        return revertSetupObject(this.cluster, namespace, name, this.runId, decide, options)
      }),
    )
    this.entries.length = 0
    return outcomes
  }
}

/** Writes one planned setup; a lost answer or a conflict is read back before writing again (as apply.ts does for faults). */
async function write(cluster: Cluster, p: PlannedSetup, runId: string): Promise<DestinationRule> {
  const {namespace, name} = p.revert
  const deadline = Date.now() + APPLY_RETRY_MS
  let desired = p.desired
  for (let backoff = 200; ; backoff = Math.min(backoff * 2, 2000)) {
    try {
      return await cluster.replaceDestinationRule(desired)
    } catch (err) {
      const retriable = err instanceof ConflictError || (err instanceof ApiError && err.transient)
      if (!retriable || Date.now() + backoff > deadline) throw err
      await sleep(backoff)
      const current = await cluster.getDestinationRule(namespace, name)
      if (current !== undefined && setupInfo(current)?.runId === runId) return current
      const same =
        current !== undefined &&
        JSON.stringify(current.spec) === JSON.stringify(p.existing.spec) &&
        setupInfo(current) === undefined
      if (!same) throw err
      desired = {...desired, metadata: {...desired.metadata, resourceVersion: current.metadata.resourceVersion ?? ''}}
    }
  }
}

/** What applying the setup needs. */
export interface SetupApplyInput {
  cluster: Cluster
  experiment: Experiment
  namespace: string
  runId: string
  startedAt: Date
  owner?: string
  events: EventStream
  reverter: SetupReverter
  revertTimeoutMs?: number
}

/** Restores the setups dead runs left on the DestinationRules `entries` name; throws (exit 4) when one stays. */
async function restoreStaleSetups(input: SetupApplyInput, entries: readonly SetupDestinationRule[]): Promise<void> {
  const {cluster, namespace, events} = input
  for (const entry of entries) {
    const dr = await cluster.getDestinationRule(namespace, entry.name)
    const info = dr === undefined ? undefined : setupInfo(dr)
    if (dr === undefined || info === undefined) continue
    // Preflight stopped the run if a live run holds it: this one is expired.
    const outcome = await revertSetupObject(
      cluster,
      namespace,
      entry.name,
      info.runId,
      current =>
        current === undefined
          ? {action: 'none', namespace, name: entry.name, reason: 'gone'}
          : setupRevertFromAnnotations(current),
      {deadlineMs: input.revertTimeoutMs ?? 30_000},
    )
    if (!outcome.ok)
      throw new ClusterUnavailable(
        `a stale setup on DestinationRule ${entry.name} could not be restored: ${outcome.message}`,
        {hint: `Run: chaos revert --run ${info.runId} --namespace ${namespace}`},
      )
    events.emit({
      kind: 'revert',
      resource: SETUP_KIND,
      namespace,
      name: entry.name,
      action: outcome.action,
      message: `stale setup restored: ${outcome.message}`,
    })
  }
}

/**
 * Applies `spec.setup` before the baseline: restores stale setups of dead runs first, plans from
 * the DestinationRules as they are now, and writes each one with its restore registered first.
 * Throws (exit 4, nothing of the experiment's faults written) when a write fails; the caller's
 * `revertAll` restores whatever landed.
 */
export async function applySetup(input: SetupApplyInput): Promise<void> {
  const {cluster, experiment, namespace, runId, events} = input
  const entries = experiment.spec.setup?.destinationRules ?? []
  if (entries.length === 0) return
  await restoreStaleSetups(input, entries)
  const existing = await Promise.all(entries.map(e => cluster.getDestinationRule(namespace, e.name)))
  const plan = planSetup({
    entries,
    existing: existing.filter((d): d is DestinationRule => d !== undefined),
    namespace,
    runId,
    expiresAt: faultExpiry(experiment, input.startedAt),
    experiment: experiment.metadata.name,
    ...(input.owner === undefined ? {} : {owner: input.owner}),
  })
  const missing = plan.missing[0]
  if (missing !== undefined) {
    const {message, hint} = missingSetupMessage(missing.name, missing.index, namespace, missing.available)
    throw new ClusterUnavailable(`${message} (it was deleted after preflight)`, {hint})
  }
  for (const p of plan.objects) {
    input.reverter.register(p)
    let written: DestinationRule
    try {
      written = await write(cluster, p, runId)
    } catch (err) {
      throw new ClusterUnavailable(
        `applying spec.setup to DestinationRule ${namespace}/${p.revert.name} failed: ${(err as Error).message}; everything applied so far is being restored`,
        {cause: err},
      )
    }
    input.reverter.written(p, written)
    events.emit({
      kind: 'setup-applied',
      setup: {
        kind: SETUP_KIND,
        namespace,
        name: p.revert.name,
        action: 'update',
        resourceVersion: written.metadata.resourceVersion ?? '',
        before: p.existing.spec,
        after: written.spec,
      },
    })
  }
}

/** Restores the run's setup (every exit path), emitting each outcome; returns the failures. */
export async function restoreSetup(
  reverter: SetupReverter,
  events: EventStream,
  runId: string,
  namespace: string,
  revertTimeoutMs = 30_000,
): Promise<SetupRevertOutcome[]> {
  if (reverter.size === 0) return []
  const outcomes = await reverter.revertAll({deadlineMs: revertTimeoutMs})
  for (const o of outcomes) {
    events.emit(
      o.ok
        ? {
            kind: 'revert',
            resource: SETUP_KIND,
            namespace: o.namespace,
            name: o.name,
            action: o.action,
            message: o.message,
          }
        : {
            kind: 'revert-failed',
            resource: SETUP_KIND,
            namespace: o.namespace,
            name: o.name,
            message: o.message,
            command: revertCommand(runId, namespace),
          },
    )
  }
  return outcomes.filter(o => !o.ok)
}

/** A DestinationRule a run left patched. */
export interface SetupLeftover {
  kind: typeof SETUP_KIND
  name: string
  runId: string
  owner?: string
  expiresAt?: string
  expired: boolean
}

/** Every DestinationRule carrying Faultline's marks. */
export function setupLeftovers(all: DestinationRule[], now: Date): SetupLeftover[] {
  return all.flatMap(dr => {
    const info = setupInfo(dr)
    if (info === undefined) return []
    return [
      {
        kind: SETUP_KIND,
        name: dr.metadata.name,
        runId: info.runId || 'unknown',
        ...(info.owner === undefined ? {} : {owner: info.owner}),
        ...(info.expiresAt === undefined ? {} : {expiresAt: info.expiresAt.toISOString()}),
        expired: info.expiresAt === undefined || info.expiresAt < now,
      },
    ]
  })
}

/** Restores one leftover from its own marks (`chaos revert`, the reaper). */
export function revertSetupLeftover(
  cluster: Cluster,
  namespace: string,
  leftover: {name: string; runId: string},
  options?: RevertOptions,
): Promise<SetupRevertOutcome> {
  return revertSetupObject(
    cluster,
    namespace,
    leftover.name,
    leftover.runId,
    current =>
      current === undefined
        ? {action: 'none', namespace, name: leftover.name, reason: 'already gone'}
        : setupRevertFromAnnotations(current),
    options,
  )
}
