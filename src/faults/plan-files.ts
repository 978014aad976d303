/** `chaos plan` without the command line: files in, fault plan out. Works offline. */
import {loadExperiment} from '../experiment/load.js'
import type {Experiment} from '../experiment/model.js'
import {readExistingObjects} from './existing.js'
import {planExperiment} from './experiment-plan.js'
import {newRunId} from './names.js'
import type {FaultPlan} from './plan.js'
import type {PlannedSetup} from './setup.js'
import {planSetupOffline} from './setup-files.js'

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
  /** The DestinationRules `spec.setup` would patch (when the manifests hold them). */
  setup?: PlannedSetup[]
  notes: string[]
}

/** Loads the experiment and the existing objects, and compiles the plan. */
export async function planFromFiles(request: PlanRequest): Promise<PlanResult> {
  const experiment = await loadExperiment(request.file)
  const existing = await readExistingObjects(request.existingFiles)
  const now = request.now ?? new Date()
  const runId = request.runId ?? newRunId(now)
  const plan = planExperiment({
    experiment,
    existing: existing.virtualServices,
    now,
    runId,
    ...(request.namespace === undefined ? {} : {namespace: request.namespace}),
    ...(request.owner === undefined ? {} : {owner: request.owner}),
  })
  const setup = await planSetupOffline(request.file, experiment, existing.destinationRules, {
    runId,
    now,
    ...(request.namespace === undefined ? {} : {namespace: request.namespace}),
    ...(request.owner === undefined ? {} : {owner: request.owner}),
  })
  return {
    experiment,
    plan,
    ...(setup.objects.length === 0 ? {} : {setup: setup.objects}),
    notes: [...existing.notes, ...setup.notes],
  }
}
