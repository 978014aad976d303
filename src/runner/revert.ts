/**
 * Carries out reverts against the cluster: registered before each apply, run in `finally`, with a
 * fresh deadline of its own (the run's may already be cancelled), retries on transient API errors
 * and conflicts, and a read-back that proves nothing of ours is left.
 */
import {ApiError, type Cluster, ConflictError} from '../cluster/cluster.js'
import {managedInfo, planRevert, revertCommand, revertFromAnnotations, type RevertAction} from '../faults/revert.js'
import type {PlannedVirtualService} from '../faults/plan.js'
import {isFaultRouteName} from '../faults/names.js'
import {ANNOTATION_RUN_ID} from '../faults/annotations.js'
import type {VirtualService} from '@faultline/core/istio/types.js'

/** How one object's revert ended. */
export interface RevertOutcome {
  /** `DestinationRule` for a `spec.setup` restore; absent for a VirtualService. */
  kind?: 'DestinationRule'
  namespace: string
  name: string
  ok: boolean
  action: 'restored' | 'stripped' | 'deleted' | 'absent'
  message: string
}

/** Limits for one revert pass. */
export interface RevertOptions {
  /** The whole pass must finish within this (fresh, not the run's). */
  deadlineMs?: number
  /** Pause before the first retry; doubles each time. */
  backoffMs?: number
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Whether `vs` still carries anything of run `runId`. */
export function carriesRun(vs: VirtualService, runId: string): boolean {
  return (
    vs.metadata.annotations?.[ANNOTATION_RUN_ID] === runId ||
    (vs.spec.http ?? []).some(r => isFaultRouteName(r.name, runId))
  )
}

function describe(action: RevertAction): RevertOutcome['action'] {
  if (action.action === 'delete') return 'deleted'
  if (action.action === 'none') return 'absent'
  return action.keptForeignEdits ? 'stripped' : 'restored'
}

/**
 * Runs `attempt` until it returns or the deadline passes: conflicts and transient API errors are
 * retried with a doubling back-off (capped at 2 s), anything else ends at once; `gaveUp` turns the
 * last error's message into the result.
 */
export async function untilDeadline<T>(
  attempt: () => Promise<T>,
  gaveUp: (last: string) => T,
  options: RevertOptions = {},
): Promise<T> {
  const deadline = Date.now() + (options.deadlineMs ?? 30_000)
  let backoff = options.backoffMs ?? 200
  let last = 'no attempt was made'
  while (Date.now() < deadline) {
    try {
      return await attempt()
    } catch (err) {
      const retriable = err instanceof ConflictError || (err instanceof ApiError && err.transient)
      last = (err as Error).message
      if (!retriable) break
      await sleep(Math.min(backoff, Math.max(0, deadline - Date.now())))
      backoff = Math.min(backoff * 2, 2000)
    }
  }
  return gaveUp(last)
}

/** Runs one object's revert to completion or deadline: decide from the live object, act, read back. */
export function revertObject(
  cluster: Cluster,
  namespace: string,
  name: string,
  runId: string,
  decide: (current: VirtualService | undefined) => RevertAction,
  options: RevertOptions = {},
): Promise<RevertOutcome> {
  return untilDeadline<RevertOutcome>(
    async () => {
      const current = await cluster.getVirtualService(namespace, name)
      const action = decide(current)
      if (action.action === 'delete')
        await cluster.deleteVirtualService(namespace, name, action.resourceVersion ?? current?.metadata.resourceVersion)
      if (action.action === 'update') await cluster.replaceVirtualService(action.object)
      const after = await cluster.getVirtualService(namespace, name)
      if (after !== undefined && carriesRun(after, runId))
        throw new ConflictError('read-back still shows our fault routes or annotations')
      return {namespace, name, ok: true, action: describe(action), message: action.reason}
    },
    last => ({namespace, name, ok: false, action: 'absent', message: last}),
    options,
  )
}

/** The command that cleans up by hand when an automatic revert failed (defined with the revert decisions). */
export {revertCommand}

/** Tracks what a run may have written so that `revertAll` can undo it, whatever happened. */
export class Reverter {
  private readonly entries: {planned: PlannedVirtualService; written?: VirtualService}[] = []

  constructor(
    private readonly cluster: Cluster,
    private readonly runId: string,
  ) {}

  /** Called before the apply is attempted: even a write whose answer was lost gets reverted. */
  register(planned: PlannedVirtualService): void {
    this.entries.push({planned})
  }

  /** Records what the API server returned for our write. */
  written(planned: PlannedVirtualService, object: VirtualService): void {
    const entry = this.entries.find(e => e.planned === planned)
    if (entry !== undefined) entry.written = object
  }

  /** Objects registered so far. */
  get size(): number {
    return this.entries.length
  }

  /**
   * Reverts everything registered, all objects at once under one deadline for the whole pass (so a
   * control plane that refuses every write costs one deadline, not one per object); returns each
   * outcome, newest first.
   */
  async revertAll(options: RevertOptions = {}): Promise<RevertOutcome[]> {
    const outcomes = await Promise.all(
      [...this.entries].reverse().map(({planned, written}) => {
        const {namespace, name} = planned.revert
        const decide = (current: VirtualService | undefined): RevertAction => {
          // Nothing of ours is left: an earlier attempt landed though its answer was lost (a 504), or
          // someone removed it. Planning from `written` would call that "their edits" and write again.
          if (current !== undefined && managedInfo(current) === undefined && !carriesRun(current, this.runId)) {
            return {
              action: 'none',
              namespace,
              name,
              reason: `nothing of run ${this.runId} is left on it (an earlier attempt landed, or someone removed it)`,
            }
          }
          if (written !== undefined) return planRevert(current, written, planned.revert)
          // Our write's answer never arrived: act only if the object shows it landed.
          if (current !== undefined && managedInfo(current)?.runId === this.runId) return revertFromAnnotations(current)
          return {action: 'none', namespace, name, reason: 'our write never landed'}
        }
        return revertObject(this.cluster, namespace, name, this.runId, decide, options)
      }),
    )
    this.entries.length = 0
    return outcomes
  }
}
