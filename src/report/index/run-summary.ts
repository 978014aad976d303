/**
 * The key figures of one run, read from its journal (pure): the verdict and its reason, when and how
 * long, and per traffic class and phase the request rate, error ratio and p95/p99 — computed from the
 * journal's per-second histograms with the recorder's own windowing, so they agree with the probes.
 * The history index shows these; any report may reuse them.
 */
import type {PhaseName} from '../../experiment/model.js'
import {targetedClasses} from '../../experiment/traffic.js'
import {type Histogram, mergeEncoded, newHistogram, trendOf} from '../../load/histogram.js'
import {type SecondStats, secondsInWindow} from '../../load/recorder.js'
import type {Outcome} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {loadLengthMs, type PhaseWindow, phaseWindows} from '../phases.js'

/** What a listed run came to: an outcome, still `running` (or died so), or a journal we could not read. */
export type Verdict = Outcome | 'running' | 'unreadable'

/** Every verdict, in the order a reader ranks them (worst first). */
export const VERDICTS: readonly Verdict[] = [
  'revert-failed',
  'deviated',
  'aborted',
  'could-not-run',
  'running',
  'unreadable',
  'held',
]

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

/** One class's (or role's) load over one phase, its latencies merged. */
interface PhaseLoad {
  requests: number
  failed: number
  windowMs: number
  latency: Histogram
}

/** Each second is decoded once: phases are disjoint, and a role's phases add its classes' histograms. */
function phaseLoads(seconds: readonly SecondStats[], windows: readonly PhaseWindow[]): Map<PhaseName, PhaseLoad> {
  const loads = new Map<PhaseName, PhaseLoad>()
  for (const w of windows) {
    const picked = secondsInWindow(seconds, w.fromMs, w.toMs)
    const requests = picked.reduce((n, s) => n + s.requests, 0)
    if (requests === 0) continue
    loads.set(w.phase, {
      requests,
      failed: picked.reduce((n, s) => n + s.failed, 0),
      windowMs: w.toMs - w.fromMs,
      latency: mergeEncoded(picked.map(s => s.histogram)),
    })
  }
  return loads
}

function combined(parts: readonly PhaseLoad[]): PhaseLoad {
  const latency = newHistogram()
  for (const p of parts) latency.add(p.latency)
  return {
    requests: parts.reduce((n, p) => n + p.requests, 0),
    failed: parts.reduce((n, p) => n + p.failed, 0),
    windowMs: Math.max(...parts.map(p => p.windowMs)),
    latency,
  }
}

function phaseFigures(loads: ReadonlyMap<PhaseName, PhaseLoad>): PhaseFigures {
  const out: PhaseFigures = {}
  for (const [phase, load] of loads) {
    const trend = trendOf(load.latency)
    out[phase] = {
      requests: load.requests,
      failed: load.failed,
      rate: load.requests / Math.max(0.001, load.windowMs / 1000),
      errorRatio: load.failed / load.requests,
      p95: trend.p(95),
      p99: trend.p(99),
    }
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
  const load = Object.entries(journal.load)
  const windows = phaseWindows(journal, loadLengthMs(journal))
  const role = roleOf(journal)
  const loads = load.map(([name, seconds]) => ({name, role: role(name), loads: phaseLoads(seconds, windows)}))
  const roles: RunSummary['roles'] = {}
  for (const r of ['targeted', 'control'] as const) {
    const mine = loads.filter(c => c.role === r)
    if (mine.length === 0) continue
    const byPhase = new Map<PhaseName, PhaseLoad>()
    for (const w of windows) {
      const parts = mine.flatMap(c => c.loads.get(w.phase) ?? [])
      if (parts.length > 0) byPhase.set(w.phase, parts.length === 1 ? (parts[0] as PhaseLoad) : combined(parts))
    }
    roles[r] = phaseFigures(byPhase)
  }
  return {classes: loads.map(c => ({name: c.name, role: c.role, phases: phaseFigures(c.loads)})), roles}
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
    dir,
    experiment: journal.experiment.name,
    runId: journal.runId,
    verdict: finished ? (journal.outcome as Outcome) : 'running',
    reason: finished
      ? (journal.reason ?? '')
      : 'the journal is still marked running: the run is in progress, or its process died (run `chaos revert` if faults may be left behind)',
    startedAt: journal.startedAt,
    probes,
    ...trafficSummaries(journal),
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
  const summary: RunSummary = {
    dir,
    experiment,
    verdict: 'unreadable',
    reason: problem,
    classes: [],
    roles: {},
    probes: {held: 0, missed: 0, errored: 0},
  }
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
