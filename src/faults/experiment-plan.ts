/**
 * From an experiment to the fault plan a run would apply: the glue between the experiment model
 * and the pure compiler, shared by `chaos plan` and the runner.
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import {UnsafeFault} from '@faultline/core/errors.js'
import type {Experiment} from '../experiment/model.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {validateVirtualService, virtualServiceWarnings} from '@faultline/core/istio/validate.js'
import {compileFaults} from './compile.js'
import {enteredGateways} from './entry-gateways.js'
import {isFaultRouteName} from './names.js'
import type {FaultPlan} from './plan.js'

/** How long faults outlive the run's planned end before any `chaos revert` may treat them as stale. */
export const EXPIRY_GRACE_MS = 5 * 60_000

/** What planning an experiment needs. */
export interface ExperimentPlanInput {
  experiment: Experiment
  existing: VirtualService[]
  runId: string
  now: Date
  /** Overrides `spec.target.namespace`. */
  namespace?: string
  owner?: string
}

/** The namespace a run targets: the flag, else the experiment's, else `default`. */
export function targetNamespace(experiment: Experiment, override?: string): string {
  return override ?? experiment.spec.target?.namespace ?? 'default'
}

/** When the faults expire: the run's longest possible duration after `now`, plus a grace period. */
export function faultExpiry(experiment: Experiment, now: Date): Date {
  const {baseline, fault, recovery} = experiment.spec.phases
  const phases = [baseline, fault, recovery].reduce((sum, d) => sum + (parseDurationMs(d) ?? 0), 0)
  const max =
    experiment.spec.guardrails?.maxDuration === undefined
      ? undefined
      : parseDurationMs(experiment.spec.guardrails.maxDuration)
  return new Date(now.getTime() + Math.max(phases, max ?? 0) + EXPIRY_GRACE_MS)
}

/**
 * Compiles an experiment's faults and checks every object against what a cluster would accept, so
 * nothing is applied that the API server or istiod would reject half-way through a run.
 */
export function planExperiment(input: ExperimentPlanInput): FaultPlan {
  // Load through a gateway: faults on what its VirtualServices route directly are applied there.
  const gateways = enteredGateways(
    (input.experiment.spec.load as Experiment['spec']['load'] | undefined)?.entry,
    input.existing,
    targetNamespace(input.experiment, input.namespace),
  )
  const plan = compileFaults({
    namespace: targetNamespace(input.experiment, input.namespace),
    ...(gateways === undefined ? {} : {gateways}),
    existing: input.existing,
    faults: input.experiment.spec.faults,
    runId: input.runId,
    expiresAt: faultExpiry(input.experiment, input.now),
    experiment: input.experiment.metadata.name,
    ...(input.owner === undefined ? {} : {owner: input.owner}),
  })
  for (const o of plan.objects) {
    const violations = validateVirtualService(o.desired)
    if (violations.length > 0) {
      throw new UnsafeFault(
        `the VirtualService ${o.desired.metadata.name} it would write is not valid: ${violations.map(v => `${v.path}: ${v.message}`).join('; ')}`,
        {
          hint:
            o.action === 'update'
              ? 'The existing object may already be invalid; check it with kubectl apply --dry-run=server.'
              : "Check the fault's service name and match.",
        },
      )
    }
    // Istio warns about rules that can never match: pass on the ones about what we wrote.
    for (const w of virtualServiceWarnings(o.desired)) {
      const index = Number(/^spec\.http\[([0-9]+)\]/.exec(w.path)?.[1])
      const route = o.desired.spec.http?.[index]
      if (o.action === 'create' || isFaultRouteName(route?.name, plan.runId))
        o.notes.push(`Istio will warn: ${w.message}`)
    }
  }
  return plan
}
