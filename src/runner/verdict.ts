/**
 * A run's verdict, as data: from what the fault phase and the recovery showed to an outcome, its
 * exit code and a reason in plain words. Pure, tested as a table (test/runner/verdict.test.ts).
 *
 * The order is the order of what matters most: a revert that failed may have left a fault live; a
 * stopped run (Ctrl-C, a guardrail, the time limit) tested nothing to the end; a fault that never
 * fired tested nothing at all; then the hypothesis under the fault, then whether the system came
 * back once the fault was gone ("recovered" / "did not recover").
 */
import {ExitCode} from '@faultline/core/errors.js'
import type {Outcome, ProbeResult} from '../journal/events.js'

/** Each outcome's exit code (README, "Exit codes"). */
export const OUTCOME_EXIT: Record<Outcome, number> = {
  held: ExitCode.Held,
  deviated: ExitCode.Deviated,
  aborted: ExitCode.Aborted,
  'could-not-run': ExitCode.CouldNotRun,
  'revert-failed': ExitCode.RevertFailed,
}

/** How a run ended. */
export interface Verdict {
  outcome: Outcome
  exitCode: number
  reason: string
}

/** What the verdict is made from, once the fault phase (and the recovery, if it ran) is over. */
export interface VerdictInput {
  /** Why the run was stopped early, when it was. */
  abortReason?: string
  /** VirtualServices the revert could not restore, with the command that cleans them up. */
  failedReverts: {namespace: string; name: string; message: string}[]
  revertCommand: string
  /** Whether any evidence showed the fault took effect. */
  fired: boolean
  /** Probe results of the fault phase (instant and load). */
  fault: ProbeResult[]
  /** Probe results of the recovery phase; undefined when the recovery did not run. */
  recovery?: ProbeResult[]
}

/** The verdict with its exit code. */
export function verdictOf(outcome: Outcome, reason: string): Verdict {
  return {outcome, exitCode: OUTCOME_EXIT[outcome], reason}
}

const listed = (results: ProbeResult[]) =>
  results.map(r => `"${r.probe}" ${r.status} (${r.actual}, expected ${r.expected})`).join('; ')

/** The run's verdict. */
export function decideVerdict(input: VerdictInput): Verdict {
  if (input.failedReverts.length > 0) {
    const objects = input.failedReverts.map(o => `${o.namespace}/${o.name} (${o.message})`).join(', ')
    return verdictOf(
      'revert-failed',
      `revert failed for ${objects}: faults may still be live. Run: ${input.revertCommand}`,
    )
  }
  if (input.abortReason !== undefined) return verdictOf('aborted', `${input.abortReason}; faults were reverted`)
  if (!input.fired)
    return verdictOf(
      'deviated',
      'the fault never fired, so the hypothesis was not tested (see the fault-not-fired event)',
    )
  const underFault = input.fault.filter(r => r.status !== 'held')
  const notRecovered = (input.recovery ?? []).filter(r => r.status !== 'held')
  const parts = [
    ...(underFault.length > 0 ? [`the hypothesis deviated under the fault: ${listed(underFault)}`] : []),
    ...(notRecovered.length > 0 ? [`the system did not recover after the revert: ${listed(notRecovered)}`] : []),
  ]
  if (parts.length > 0) return verdictOf('deviated', parts.join('; and '))
  const recovered =
    input.recovery === undefined || input.recovery.length === 0
      ? 'no probe checked the recovery'
      : `recovered: ${input.recovery.length} probe result(s) in the recovery phase within tolerance`
  return verdictOf(
    'held',
    `the hypothesis held: ${input.fault.length} probe result(s) under the fault, all within tolerance; ${recovered}`,
  )
}
