/**
 * The CI gate: which outcomes fail a pipeline (`--fail-on`), and which outcome of several is the
 * worst (a game day's exit code). Pure, shared by `chaos run` and `chaos gameday`.
 */
import type {Outcome} from '../journal/events.js'
import {OUTCOME_EXIT} from '../runner/verdict.js'

/** What `--fail-on` accepts. */
export const FAIL_ON = ['any', 'deviated', 'aborted'] as const
/** One `--fail-on` value. */
export type FailOn = (typeof FAIL_ON)[number]

/** What `--fail-on` means, for the flag's help and the README. */
export const FAIL_ON_HELP =
  'what fails the gate: any (default) — every outcome but held exits non-zero; deviated — only a deviated hypothesis fails (aborted and could-not-run runs, which tested nothing, exit 0); aborted — only aborted and could-not-run fail (deviations, e.g. known bugs, exit 0). A failed revert always exits 5.'

/** Each outcome's exit code: one table, the verdict's. */
export {OUTCOME_EXIT}

/**
 * Outcomes from least to most severe. A failed revert may leave a fault live: it always wins. An
 * aborted run was stopped with its fault live (by a guardrail, a signal or the time limit), which
 * is more than a run that could not start and injected nothing; a deviation is a finding about the
 * system, but the run itself went as planned.
 */
export const SEVERITY: readonly Outcome[] = ['held', 'deviated', 'could-not-run', 'aborted', 'revert-failed']

/** The most severe of `outcomes` (held for none). */
export function worstOutcome(outcomes: readonly Outcome[]): Outcome {
  return outcomes.reduce<Outcome>((worst, o) => (SEVERITY.indexOf(o) > SEVERITY.indexOf(worst) ? o : worst), 'held')
}

/** Whether the gate lets `outcome` pass under `failOn` (held always passes, revert-failed never). */
export function tolerated(outcome: Outcome, failOn: FailOn): boolean {
  if (outcome === 'held') return true
  if (outcome === 'revert-failed') return false
  if (failOn === 'deviated') return outcome !== 'deviated'
  if (failOn === 'aborted') return outcome === 'deviated'
  return false
}

/** The gate's verdict over one or more outcomes. */
export interface GateVerdict {
  /** The most severe outcome of all. */
  outcome: Outcome
  /** The process exit code: the most severe outcome the gate does not tolerate, else 0. */
  exitCode: number
  /** Non-held outcomes the gate let pass (deduplicated, most severe first). */
  tolerated: Outcome[]
}

/** Applies `--fail-on` to every outcome of a run or game day. */
export function gate(outcomes: readonly Outcome[], failOn: FailOn): GateVerdict {
  const failing = outcomes.filter(o => !tolerated(o, failOn))
  const passed = [...new Set(outcomes.filter(o => o !== 'held' && tolerated(o, failOn)))]
  passed.sort((a, b) => SEVERITY.indexOf(b) - SEVERITY.indexOf(a))
  return {outcome: worstOutcome(outcomes), exitCode: OUTCOME_EXIT[worstOutcome(failing)], tolerated: passed}
}

/** The console line saying the gate let an outcome pass, or undefined when it did not. */
export function gateNote(verdict: GateVerdict, failOn: FailOn): string | undefined {
  if (verdict.tolerated.length === 0) return undefined
  const codes = verdict.tolerated.map(o => `${o} (exit ${OUTCOME_EXIT[o]})`).join(', ')
  return `--fail-on ${failOn}: the gate tolerated ${codes}; exit ${verdict.exitCode}`
}
