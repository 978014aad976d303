/**
 * How long a scheduled run may take before Kubernetes stops it. A run bounds itself (its phases,
 * `guardrails.maxDuration`); the Job's `activeDeadlineSeconds` is the backstop for a run that hangs,
 * so it is generous: the run's own bound, plus time for what surrounds the phases, plus a margin.
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import type {Experiment} from '../experiment/model.js'
import type {ScheduleBundle} from './bundle.js'

/** Per experiment: connecting, preflight, the revert and its proof, writing the report. */
export const PER_RUN_OVERHEAD_MS = 60_000
/** Scheduling the pod and pulling the image count against a Job's deadline too. */
export const START_ALLOWANCE_S = 300
/** Headroom on top of the computed budget. */
export const MARGIN = 0.2

/** The longest one experiment can run: its phases, or its maxDuration guardrail when that is longer (as fault expiry is computed). */
export function experimentBudgetMs(experiment: Experiment): number {
  const {baseline, fault, recovery} = experiment.spec.phases
  const phases = [baseline, fault, recovery].reduce((sum, d) => sum + (parseDurationMs(d) ?? 0), 0)
  const max =
    experiment.spec.guardrails?.maxDuration === undefined
      ? 0
      : (parseDurationMs(experiment.spec.guardrails.maxDuration) ?? 0)
  return Math.max(phases, max)
}

/** The deadlines of the scheduled Job, with the arithmetic that produced them. */
export interface Deadline {
  /** Phases (or maxDuration) of every experiment, overheads and cooldowns, in seconds. */
  budgetSeconds: number
  /** The Job's `activeDeadlineSeconds`. */
  activeDeadlineSeconds: number
  /** One line for the generated YAML's comment. */
  explanation: string
}

/** The Job deadline for a bundle: the sum over its experiments plus cooldowns, plus margin. */
export function runDeadline(bundle: Pick<ScheduleBundle, 'experiments' | 'cooldownMs'>): Deadline {
  const runs = bundle.experiments.map(e => experimentBudgetMs(e.experiment) + PER_RUN_OVERHEAD_MS)
  const cooldowns = bundle.cooldownMs * Math.max(0, bundle.experiments.length - 1)
  const budgetSeconds = Math.ceil((runs.reduce((a, b) => a + b, 0) + cooldowns) / 1000)
  const activeDeadlineSeconds = Math.ceil(budgetSeconds * (1 + MARGIN)) + START_ALLOWANCE_S
  const parts = `${runs.length} experiment${runs.length === 1 ? '' : 's'} × (phases or maxDuration + ${PER_RUN_OVERHEAD_MS / 1000}s)${cooldowns > 0 ? ` + ${cooldowns / 1000}s of cooldowns` : ''}`
  return {
    budgetSeconds,
    activeDeadlineSeconds,
    explanation: `${parts} = ${budgetSeconds}s; ×${1 + MARGIN} + ${START_ALLOWANCE_S}s to schedule the pod and pull the image = ${activeDeadlineSeconds}s`,
  }
}
