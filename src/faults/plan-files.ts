/** `chaos plan` without the command line: files in, fault plan out. Works offline. */
import {loadExperiment} from '../experiment/load.js'
import type {Experiment} from '../experiment/model.js'
import {readExistingObjects} from './existing.js'
import {planExperiment} from './experiment-plan.js'
import {newRunId} from './names.js'
import type {FaultPlan} from './plan.js'

/** What `chaos plan` was asked. */
export interface PlanRequest {
  file: string
  existingFiles: readonly string[]
  namespace?: string
  runId?: string
  owner?: string
  now?: Date
}

/** The plan, the experiment it came from, and notes about the inputs. */
export interface PlanResult {
  experiment: Experiment
  plan: FaultPlan
  notes: string[]
}

/** Loads the experiment and the existing objects, and compiles the plan. */
export async function planFromFiles(request: PlanRequest): Promise<PlanResult> {
  const experiment = await loadExperiment(request.file)
  const existing = await readExistingObjects(request.existingFiles)
  const now = request.now ?? new Date()
  const plan = planExperiment({
    experiment, existing: existing.virtualServices, now, runId: request.runId ?? newRunId(now),
    ...(request.namespace === undefined ? {} : {namespace: request.namespace}),
    ...(request.owner === undefined ? {} : {owner: request.owner}),
  })
  return {experiment, plan, notes: existing.notes}
}
