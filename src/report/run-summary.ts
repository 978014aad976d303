/**
 * The key figures of one run, read from its journal (pure): the verdict and its reason, when and how
 * long, and per traffic class and phase the request rate, error ratio and p95/p99 — computed from the
 * journal's per-second histograms with the recorder's own windowing, so they agree with the probes.
 * The history index shows these; any report may reuse them.
 */
import type {PhaseName} from '../experiment/model.js'
import {type SecondStats, summariseSeconds} from '../load/recorder.js'
import type {Outcome} from '../runner/events.js'
import {targetedClasses} from '../runner/fault-phase.js'
import type {JournalDocument} from '../runner/journal.js'

/** What a listed run came to: an outcome, still `running` (or died so), or a journal we could not read. */
export type Verdict = Outcome | 'running' | 'unreadable'

/** Every verdict, in the order a reader ranks them (worst first). */
export const VERDICTS: readonly Verdict[] = ['revert-failed', 'deviated', 'aborted', 'could-not-run', 'running', 'unreadable', 'held']

/** Load figures of one traffic class (or role) over one phase. */
export interface LoadFigures {
  requests: number
  failed: number
  /** Requests per second over the phase's window. */
  rate: number
  /** Failed requests / requests (0 when none were sent). */
  errorRatio: number
  /** Latency percentiles in milliseconds. */
  p95: number
  p99: number
}

/** A phase name → its figures, for the phases that had load. */
export type PhaseFigures = Partial<Record<PhaseName, LoadFigures>>

/** Whether a traffic class carried the fault's match headers (targeted) or not (control). */
export type TrafficRole = 'targeted' | 'control'

/** One traffic class's figures per phase. */
export interface TrafficClassSummary {
  name: string
  role: TrafficRole
  phases: PhaseFigures
}

/** The key figures of one run, as the history index lists it. */
export interface RunSummary {
  /** The run's directory relative to the report root, `/`-separated (`<experiment>/<timestamp>`). */
  dir: string
  experiment: string
  runId?: string
  verdict: Verdict
  exitCode?: number
  /** The one-sentence reason (the runner's, or why the journal could not be read). */
  reason: string
  /** ISO time the run started (or, for an unreadable journal, the best guess from its directory). */
  startedAt?: string
  durationMs?: number
  /** When the journal was last written (tells a live run from a dead one left `running`). */
  lastWrittenAt?: string
  /** The load driver and its version. */
  driver?: string
  classes: TrafficClassSummary[]
  /** All targeted (resp. control) classes' seconds merged, per phase. */
  roles: Partial<Record<TrafficRole, PhaseFigures>>
  /** First evidence the fault took effect; `afterWriteMs` is -1 when inferred from traffic after the phase. */
  faultEffect?: {afterWriteMs: number; source: string}
  /** Probe results by status over all phases. */
  probes: {held: number; missed: number; errored: number}
}

/** Where a phase's load lies on the load clock, [fromMs, toMs). */
export interface PhaseWindow {
  phase: PhaseName
  fromMs: number
  toMs: number
}

/**
 * The runner's phase windows on the load clock. The load starts just before the baseline's
 * `phase-started` event, so the baseline's start is the load clock's zero (within a millisecond);
 * recovery runs from the fault's end, as the runner's recovery probes do.
 */
export function phaseWindows(journal: Pick<JournalDocument, 'phases'>, lastLoadMs: number): PhaseWindow[] {
  const find = (name: PhaseName) => journal.phases.find(p => p.name === name)
  const baseline = find('baseline')
  if (baseline === undefined) return []
  const t0 = baseline.startT
  const clock = (t: number | undefined) => (t === undefined ? lastLoadMs : Math.min(lastLoadMs, t - t0))
  const windows: PhaseWindow[] = [{phase: 'baseline', fromMs: 0, toMs: clock(baseline.endT)}]
  const fault = find('fault')
  if (fault !== undefined) {
    windows.push({phase: 'fault', fromMs: clock(fault.startT), toMs: clock(fault.endT)})
    if (fault.endT !== undefined && find('recovery') !== undefined) windows.push({phase: 'recovery', fromMs: clock(fault.endT), toMs: clock(find('recovery')?.endT)})
  }
  return windows.filter(w => w.toMs > w.fromMs)
}

function figures(seconds: readonly SecondStats[], window: PhaseWindow): LoadFigures | undefined {
  const w = summariseSeconds(seconds, window.fromMs, window.toMs)
  if (w.requests === 0) return undefined
  return {requests: w.requests, failed: w.failed, rate: w.rate, errorRatio: w.failedRate, p95: w.duration.p(95), p99: w.duration.p(99)}
}

function phaseFigures(seconds: readonly SecondStats[], windows: readonly PhaseWindow[]): PhaseFigures {
  const out: PhaseFigures = {}
  for (const w of windows) {
    const f = figures(seconds, w)
    if (f !== undefined) out[w.phase] = f
  }
  return out
}

/** Which classes were targeted: from the experiment as run; a spec we cannot read leaves every class control. */
function roleOf(journal: JournalDocument): (traffic: string) => TrafficRole {
  try {
    const targeted = targetedClasses({experiment: journal.experiment.spec})
    return name => (targeted.has(name) ? 'targeted' : 'control')
  } catch {
    return () => 'control'
  }
}

function trafficSummaries(journal: JournalDocument): Pick<RunSummary, 'classes' | 'roles'> {
  const load = journal.load
  const lastLoadMs = Math.max(0, ...Object.values(load).flatMap(seconds => seconds.map(s => (s.second + 1) * 1000)))
  const windows = phaseWindows(journal, lastLoadMs)
  const role = roleOf(journal)
  const classes = Object.entries(load).map(([name, seconds]) => ({name, role: role(name), phases: phaseFigures(seconds, windows)}))
  const roles: RunSummary['roles'] = {}
  for (const r of ['targeted', 'control'] as const) {
    const seconds = Object.entries(load).filter(([name]) => role(name) === r).flatMap(([, s]) => s)
    if (seconds.length > 0) roles[r] = phaseFigures(seconds, windows)
  }
  return {classes, roles}
}

function faultEffect(journal: JournalDocument): RunSummary['faultEffect'] {
  for (const e of journal.events) {
    if (e.kind === 'fault-evidence') return {afterWriteMs: e.afterWriteMs, source: e.source}
  }
  return undefined
}

function driverOf(journal: JournalDocument): string | undefined {
  for (const e of journal.events) {
    if (e.kind === 'run-started') return e.driverVersion || e.driver
  }
  return journal.environment.driverVersion ?? journal.environment.driver
}

/** The run's key figures; `dir` is its directory relative to the report root. */
export function summariseRun(journal: JournalDocument, dir: string, lastWrittenAt?: Date): RunSummary {
  const finished = journal.status === 'finished' && journal.outcome !== undefined
  const started = Date.parse(journal.startedAt)
  const ended = journal.finishedAt === undefined ? Number.NaN : Date.parse(journal.finishedAt)
  const probes = {held: 0, missed: 0, errored: 0}
  for (const p of journal.probes) if (p.status in probes) probes[p.status]++
  const summary: RunSummary = {
    dir, experiment: journal.experiment.name, runId: journal.runId,
    verdict: finished ? journal.outcome as Outcome : 'running',
    reason: finished ? journal.reason ?? '' : 'the journal is still marked running: the run is in progress, or its process died (run `chaos revert` if faults may be left behind)',
    startedAt: journal.startedAt, probes, ...trafficSummaries(journal),
  }
  if (journal.exitCode !== undefined) summary.exitCode = journal.exitCode
  if (Number.isFinite(started) && Number.isFinite(ended)) summary.durationMs = Math.max(0, ended - started)
  if (lastWrittenAt !== undefined) summary.lastWrittenAt = lastWrittenAt.toISOString()
  const driver = driverOf(journal)
  if (driver !== undefined) summary.driver = driver
  const effect = faultEffect(journal)
  if (effect !== undefined) summary.faultEffect = effect
  return summary
}

/** A run whose journal could not be read: listed with why, never dropped. */
export function unreadableRun(dir: string, experiment: string, problem: string, when?: Date): RunSummary {
  const summary: RunSummary = {dir, experiment, verdict: 'unreadable', reason: problem, classes: [], roles: {}, probes: {held: 0, missed: 0, errored: 0}}
  if (when !== undefined) summary.startedAt = when.toISOString()
  return summary
}

/** Sort order of the index: newest start first; runs of unknown time last; ties by directory, newest first. */
export function newestFirst(a: RunSummary, b: RunSummary): number {
  const ta = a.startedAt === undefined ? Number.NEGATIVE_INFINITY : Date.parse(a.startedAt)
  const tb = b.startedAt === undefined ? Number.NEGATIVE_INFINITY : Date.parse(b.startedAt)
  if (ta !== tb) return tb > ta ? 1 : -1
  return a.dir < b.dir ? 1 : a.dir > b.dir ? -1 : 0
}
