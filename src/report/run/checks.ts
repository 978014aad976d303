/**
 * A run as a list of checks, the way CI and a reader judge it: preflight, each probe in each phase it
 * is planned for (including those the run never got to evaluate), whether the fault fired, whether
 * the control traffic was left untouched, whether the guardrails held, whether every VirtualService
 * was reverted, and whether the run completed. junit.xml, summary.md and the GitHub annotations all
 * read this one list, so they never disagree. Pure.
 */
import {PHASES, type PhaseName, type Probe} from '../../experiment/model.js'
import {targetedClasses} from '../../experiment/traffic.js'
import {cutShortText, type ProbeResult, type RunEvent} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {probeKind, recordedProbePhases} from '../../experiment/probes.js'
import {type PhaseReasons, phaseReasonsText, reasonsByPhase} from './failure-reasons.js'
import {formatMs} from '../format.js'

/** How a check came out: `failed` is a miss or a harm found, `errored` could not be evaluated. */
export type CheckStatus = 'passed' | 'failed' | 'errored' | 'skipped'

/** Where in the run a check belongs; also its JUnit classname suffix. */
export type CheckGroup = 'preflight' | PhaseName | 'revert' | 'run'

/** What a check is about: a probe of the hypothesis, or the run's own evidence and safety. */
export type CheckKind = 'preflight' | 'probe' | 'evidence' | 'revert' | 'run'

/** One check of a run. */
export interface ReportCheck {
  kind: CheckKind
  group: CheckGroup
  name: string
  status: CheckStatus
  /** One line: the measurement against the expectation, the evidence, or why it was skipped. */
  summary: string
  /** More text (hints, cleanup command, the run's reason). */
  detail?: string
  /** How long the check observed, when that means something (a phase's length). */
  durationMs?: number
  /** The probe result behind a probe check. */
  probe?: ProbeResult
  /** A probe's expectation: the result's, or as the experiment states it when it was not evaluated. */
  expected?: string
  /** For a failed or errored check, what went wrong as a headline (`revert failed for default/ratings`). */
  problem?: string
}

/** A probe's expectation as the runner words it, for probes that were never evaluated. */
export function expectationOf(probe: Probe): string {
  if ('prometheus' in probe) return probe.prometheus.expect
  if ('envoy' in probe) return `${probe.envoy.stat} ${probe.envoy.expect}`
  if ('http' in probe) {
    const {status, bodyContains} = probe.http.expect
    return (
      [
        status === undefined ? undefined : `status ${status}`,
        bodyContains === undefined ? undefined : `body contains ${JSON.stringify(bodyContains)}`,
      ]
        .filter(Boolean)
        .join(', ') || 'status 2xx'
    )
  }
  return Object.entries(probe.thresholds)
    .map(([metric, exprs]) => `${metric} ${exprs.join(', ')}`)
    .join(', ')
}

type Event<K extends RunEvent['kind']> = Extract<RunEvent, {kind: K}>
const eventsOf = <K extends RunEvent['kind']>(doc: JournalDocument, kind: K): Event<K>[] =>
  doc.events.filter((e): e is Event<K> => e.kind === kind)

function phaseOf(doc: JournalDocument, name: PhaseName): JournalDocument['phases'][number] | undefined {
  return doc.phases.find(p => p.name === name)
}

function phaseMs(doc: JournalDocument, name: PhaseName): number | undefined {
  const p = phaseOf(doc, name)
  return p?.endT === undefined ? undefined : p.endT - p.startT
}

/** Why something was not evaluated: the run did not get that far. */
function notReached(doc: JournalDocument, what: string): string {
  if (doc.status !== 'finished')
    return `not evaluated: the journal ends before ${what} (the run died or is still running)`
  return `not evaluated: the run ended (${doc.outcome ?? 'unknown'}) before ${what}`
}

function preflightChecks(doc: JournalDocument): ReportCheck[] {
  const seen = new Set<string>()
  const checks: ReportCheck[] = []
  for (const e of eventsOf(doc, 'preflight')) {
    const key = `${e.check}\n${e.status}\n${e.message}`
    if (seen.has(key)) continue
    seen.add(key)
    const status: CheckStatus = e.status === 'failed' ? 'errored' : 'passed'
    checks.push({
      kind: 'preflight',
      group: 'preflight',
      name: e.check,
      status,
      ...(status === 'errored' ? {problem: `preflight check ${e.check} failed`} : {}),
      summary: e.status === 'warning' ? `warning: ${e.message}` : e.message,
      ...(e.hint === undefined ? {} : {detail: e.hint}),
    })
  }
  return checks
}

/** For a threshold probe that missed or errored: why its classes' requests failed in that phase (`; failed requests: targeted: 503 UO × 12`). */
function failuresOf(
  reasons: readonly PhaseReasons[],
  phase: PhaseName,
  result: ProbeResult,
  planned: Probe | undefined,
): string {
  if (result.kind !== 'threshold' || result.status === 'held') return ''
  const text = phaseReasonsText(
    reasons,
    phase,
    planned !== undefined && 'thresholds' in planned ? planned.traffic : undefined,
  )
  return text === undefined ? '' : `; failed requests: ${text}`
}

function probeCheck(
  doc: JournalDocument,
  phase: PhaseName,
  probe: string,
  result: ProbeResult | undefined,
  planned?: Probe,
  reasons: readonly PhaseReasons[] = [],
): ReportCheck {
  const durationMs = phaseMs(doc, phase)
  const expected = result?.expected ?? (planned === undefined ? undefined : expectationOf(planned))
  const base = {
    kind: 'probe' as const,
    group: phase,
    name: probe,
    ...(durationMs === undefined ? {} : {durationMs}),
    ...(expected === undefined ? {} : {expected}),
  }
  const cut = phaseOf(doc, phase)?.cutShort
  if (result === undefined && cut !== undefined)
    return {
      ...base,
      status: 'skipped',
      summary: `not evaluated (${cutShortText(cut)})`,
      ...(doc.reason === undefined ? {} : {detail: doc.reason}),
    }
  if (result === undefined)
    return {
      ...base,
      status: 'skipped',
      summary: notReached(doc, `the ${phase} phase was evaluated`),
      ...(doc.reason === undefined ? {} : {detail: doc.reason}),
    }
  const measured = `measured ${result.actual}, expected ${result.expected}${failuresOf(reasons, phase, result, planned)}`
  const detail = result.message === undefined ? {} : {detail: result.message}
  if (result.status === 'held') return {...base, probe: result, status: 'passed', summary: measured, ...detail}
  if (result.status === 'missed')
    return {
      ...base,
      probe: result,
      status: 'failed',
      problem: `"${probe}" missed in ${phase}`,
      summary: measured,
      ...detail,
    }
  return {
    ...base,
    probe: result,
    status: 'errored',
    problem: `"${probe}" could not be evaluated in ${phase}`,
    summary: `could not be evaluated: ${result.message ?? result.actual}${failuresOf(reasons, phase, result, planned)}`,
    detail: `expected ${result.expected}`,
  }
}

/** Every planned probe × phase, in phase order then the experiment's order, each matched to its result. */
function probeChecks(
  doc: JournalDocument,
  phase: PhaseName,
  unmatched: ProbeResult[],
  reasons: readonly PhaseReasons[] = [],
): ReportCheck[] {
  const checks: ReportCheck[] = []
  for (const probe of doc.experiment.spec.spec.steadyState) {
    if (!recordedProbePhases(probe).includes(phase)) continue
    const i = unmatched.findIndex(r => r.probe === probe.name && r.phase === phase && r.kind === probeKind(probe))
    const [result] = i < 0 ? [undefined] : unmatched.splice(i, 1)
    checks.push(probeCheck(doc, phase, probe.name, result, probe, reasons))
  }
  // A result the spec does not plan (an older journal, an edited spec) is still reported.
  for (const r of unmatched.filter(r => r.phase === phase))
    checks.push(probeCheck(doc, phase, r.probe, r, undefined, reasons))
  return checks
}

function faultFired(doc: JournalDocument): ReportCheck {
  const evidence = eventsOf(doc, 'fault-evidence')[0]
  const notFired = eventsOf(doc, 'fault-not-fired')[0]
  const name = 'fault fired'
  if (evidence !== undefined) {
    const when = evidence.afterWriteMs >= 0 ? ` ${formatMs(evidence.afterWriteMs)} after the write` : ''
    return {
      kind: 'evidence',
      group: 'fault',
      name,
      status: 'passed',
      summary: `fired${when}: ${evidence.source}: ${evidence.message}`,
    }
  }
  if (notFired !== undefined)
    return {
      kind: 'evidence',
      group: 'fault',
      name,
      status: 'failed',
      problem: 'the fault never fired',
      summary: `the fault never fired: ${notFired.message}`,
      detail: notFired.hint,
    }
  return {
    kind: 'evidence',
    group: 'fault',
    name,
    status: 'skipped',
    summary: notReached(doc, 'any evidence of the fault was seen'),
  }
}

function controlChecks(doc: JournalDocument): ReportCheck[] {
  let targeted: Set<string>
  try {
    targeted = targetedClasses({experiment: doc.experiment.spec})
  } catch {
    targeted = new Set()
  }
  const evidence = eventsOf(doc, 'control-evidence')
  return doc.experiment.spec.spec.load.traffic
    .filter(t => !targeted.has(t.name))
    .map((t): ReportCheck => {
      const name = `control traffic untouched (${t.name})`
      const e = evidence.find(x => x.message.startsWith(`${t.name}: `))
      if (e === undefined)
        return {
          kind: 'evidence',
          group: 'fault',
          name,
          status: 'skipped',
          summary: notReached(doc, 'the control traffic was compared with the baseline'),
        }
      return {
        kind: 'evidence',
        group: 'fault',
        name,
        status: e.untouched ? 'passed' : 'failed',
        ...(e.untouched ? {} : {problem: `control traffic affected (${t.name})`}),
        summary: e.untouched ? e.message : `control traffic affected: ${e.message}`,
      }
    })
}

function guardrailCheck(doc: JournalDocument): ReportCheck[] {
  if ((doc.experiment.spec.spec.guardrails?.abortWhen ?? []).length === 0) return []
  const name = 'no guardrail breached'
  const breach = eventsOf(doc, 'guardrail-breached')[0]
  if (breach !== undefined)
    return [
      {
        kind: 'evidence',
        group: 'fault',
        name,
        status: 'failed',
        problem: `guardrail "${breach.guardrail}" breached`,
        summary: `guardrail "${breach.guardrail}" breached: ${breach.message}`,
      },
    ]
  if (phaseOf(doc, 'fault') === undefined)
    return [
      {kind: 'evidence', group: 'fault', name, status: 'skipped', summary: notReached(doc, 'the fault phase started')},
    ]
  return [
    {
      kind: 'evidence',
      group: 'fault',
      name,
      status: 'passed',
      summary: 'every abort condition stayed clear during the fault phase',
    },
  ]
}

/** One check per VirtualService written: reverted, revert failed, or no revert recorded at all. */
function revertChecks(doc: JournalDocument): ReportCheck[] {
  const reverts = eventsOf(doc, 'revert')
  const failures = eventsOf(doc, 'revert-failed')
  const seen = new Set<string>()
  const checks: ReportCheck[] = []
  for (const a of doc.applied) {
    // A spec.setup DestinationRule and a VirtualService may share a name: each is matched with its own kind.
    const same = (e: {resource?: string; namespace: string; name: string}) =>
      e.resource === a.kind && e.namespace === a.namespace && e.name === a.name
    const key = `${a.kind === undefined ? '' : `${a.kind} `}${a.namespace}/${a.name}`
    if (seen.has(key)) continue
    seen.add(key)
    const name = `reverted ${key}`
    const failed = failures.find(same)
    // A stale fault of a dead run reverted on the same object before our write is not our revert.
    const appliedAt =
      (a.kind === undefined
        ? eventsOf(doc, 'fault-applied').find(e => e.fault.namespace === a.namespace && e.fault.name === a.name)?.t
        : eventsOf(doc, 'setup-applied').find(e => e.setup.namespace === a.namespace && e.setup.name === a.name)?.t) ??
      0
    const done = reverts.filter(r => same(r) && r.t >= appliedAt).at(-1)
    if (failed !== undefined)
      checks.push({
        kind: 'revert',
        group: 'revert',
        name,
        status: 'failed',
        problem: `revert failed for ${key}`,
        summary: `revert failed: ${failed.message}`,
        detail: `the fault may still be live; clean up with: ${failed.command}`,
      })
    else if (done !== undefined)
      checks.push({kind: 'revert', group: 'revert', name, status: 'passed', summary: `${done.action}: ${done.message}`})
    else
      checks.push({
        kind: 'revert',
        group: 'revert',
        name,
        status: 'errored',
        problem: `no revert recorded for ${key}`,
        summary: 'no revert was recorded: the fault may still be live',
        detail: `run: chaos revert --run ${doc.runId} --namespace ${a.namespace}`,
      })
  }
  return checks
}

function runCompleted(doc: JournalDocument): ReportCheck {
  const name = 'run completed'
  const ran = PHASES.filter(p => phaseOf(doc, p)?.endT !== undefined)
  if (doc.status !== 'finished')
    return {
      kind: 'run',
      group: 'run',
      name,
      status: 'errored',
      problem: 'the run did not finish',
      summary: 'the journal is still marked running: the run is in progress, or its process died',
      detail: `check for leftover faults: chaos revert --run ${doc.runId}`,
    }
  if (ran.length === PHASES.length)
    return {
      kind: 'run',
      group: 'run',
      name,
      status: 'passed',
      summary: `all three phases ran; ${doc.reason ?? ''}`.trim(),
    }
  return {
    kind: 'run',
    group: 'run',
    name,
    status: 'errored',
    problem: `the run stopped early (${doc.outcome ?? 'stopped'})`,
    summary: `${doc.outcome ?? 'stopped'}: ${doc.reason ?? 'no reason recorded'}`,
    detail: ran.length === 0 ? 'no phase ran' : `phases that ran: ${ran.join(', ')}`,
  }
}

/** Every check of a run, in the order the run meets them. */
export function runChecks(doc: JournalDocument): ReportCheck[] {
  const unmatched = [...doc.probes]
  const reasons = reasonsByPhase(doc)
  return [
    ...preflightChecks(doc),
    ...probeChecks(doc, 'baseline', unmatched, reasons),
    faultFired(doc),
    ...probeChecks(doc, 'fault', unmatched, reasons),
    ...controlChecks(doc),
    ...guardrailCheck(doc),
    ...revertChecks(doc),
    ...probeChecks(doc, 'recovery', unmatched, reasons),
    runCompleted(doc),
  ]
}

/** The checks by status. */
export function countChecks(checks: readonly ReportCheck[]): Record<CheckStatus, number> {
  const counts = {passed: 0, failed: 0, errored: 0, skipped: 0}
  for (const c of checks) counts[c.status]++
  return counts
}
