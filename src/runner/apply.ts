/**
 * Writing a fault plan to the cluster, all or nothing: each object's revert is registered before
 * its write is attempted, and a failed write stops the apply (the caller reverts what was written).
 * Shared by the fault phase and the ignition check.
 */
import {isDeepStrictEqual} from 'node:util'

import {ApiError, type Cluster, ConflictError} from '../cluster/cluster.js'
import {ClusterUnavailable} from '@faultline/core/errors.js'
import type {FaultPlan, PlannedVirtualService} from '../faults/plan.js'
import {managedInfo} from '../faults/revert.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import type {Reverter} from './revert.js'

/** How long one object's apply keeps trying through transient errors and conflicts. */
const APPLY_RETRY_MS = 10_000

/** Whether the cluster still holds what the plan was made from (only the resourceVersion may differ). */
function stillAsPlanned(p: PlannedVirtualService, current: VirtualService | undefined): boolean {
  if (p.action === 'create' || p.existing === undefined) return current === undefined
  if (current === undefined) return false
  const content = (vs: VirtualService) => ({
    spec: vs.spec,
    labels: vs.metadata.labels ?? {},
    annotations: vs.metadata.annotations ?? {},
  })
  return isDeepStrictEqual(content(current), content(p.existing))
}

/**
 * Writes one planned object. A write that failed transiently (500, 504: it may have landed) or
 * hit a conflict is read back before anything else: if it landed, that is our write; if the object
 * is still as planned (absent for a create; same spec, labels and annotations for an update, only
 * its resourceVersion moved on), it is written again. Anything else is someone else's change,
 * which a plan made before it must not overwrite: the error stands.
 */
async function write(cluster: Cluster, p: PlannedVirtualService, runId: string): Promise<VirtualService> {
  const {namespace, name} = p.revert
  const deadline = Date.now() + APPLY_RETRY_MS
  let desired = p.desired
  for (let backoff = 200; ; backoff = Math.min(backoff * 2, 2000)) {
    try {
      return p.action === 'create'
        ? await cluster.createVirtualService(desired)
        : await cluster.replaceVirtualService(desired)
    } catch (err) {
      const retriable = err instanceof ConflictError || (err instanceof ApiError && err.transient)
      if (!retriable || Date.now() + backoff > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, backoff))
      const current = await cluster.getVirtualService(namespace, name)
      if (current !== undefined && managedInfo(current)?.runId === runId) return current
      if (!stillAsPlanned(p, current)) throw err
      if (current !== undefined)
        desired = {...desired, metadata: {...desired.metadata, resourceVersion: current.metadata.resourceVersion ?? ''}}
    }
  }
}

/** Writes every object of `plan` in order, each registered with `reverter` first; `applied` hears each write. */
export async function applyPlan(
  cluster: Cluster,
  plan: FaultPlan,
  reverter: Reverter,
  applied: (p: PlannedVirtualService, written: VirtualService) => void = () => undefined,
): Promise<void> {
  for (const p of plan.objects) {
    reverter.register(p)
    let written: VirtualService
    try {
      written = await write(cluster, p, plan.runId)
    } catch (err) {
      throw new ClusterUnavailable(
        `applying VirtualService ${p.revert.namespace}/${p.revert.name} failed: ${(err as Error).message}; everything applied so far is being reverted`,
        {cause: err},
      )
    }
    reverter.written(p, written)
    applied(p, written)
  }
}
