/**
 * What report.html shows, read from a journal (pure): the verdict, the run's timeline (phases,
 * the moments that matter, where load second 0 sits on the run clock) and the per-second load
 * figures as compact columns for the charts. Every section renders from this, so a journal with
 * pieces missing (no load, no phases, a run that died) is handled in one place.
 */
import type {PhaseName} from '../../experiment/model.js'
import type {SecondStats} from '../../load/recorder.js'
import type {Outcome, PhaseCut, RunEvent} from '../../journal/events.js'
import type {InFlightSample, JournalDocument} from '../../journal/journal.js'
import {lastFaultedWords} from './faults.js'
import {formatMs} from './html-format.js'
import {loadLengthMs, loadStartMs} from '../phases.js'
import {VERDICT_LOOK} from '../verdicts.js'

/** The verdict a report leads with: an outcome, or `unfinished` for a journal left `running`. */
export type VerdictKey = Outcome | 'unfinished'

/** The banner's verdict: its key (for style), words, a symbol that does not rely on colour, and the reason. */
export interface VerdictView {
  key: VerdictKey
  title: string
  icon: string
  reason: string
}

/** The banner's headline per verdict; the symbol is the shared one (verdicts.ts). */
const HEADLINES: Record<VerdictKey, string> = {
  held: 'Hypothesis held',
  deviated: 'Hypothesis deviated',
  aborted: 'Aborted',
  'could-not-run': 'Could not run',
  'revert-failed': 'Revert failed — faults may still be live',
  unfinished: 'Unfinished — the run did not end',
}

const VERDICT_WORDS = Object.fromEntries(
  Object.entries(HEADLINES).map(([key, title]) => [key, {title, icon: VERDICT_LOOK[key as VerdictKey].symbol}]),
) as Record<VerdictKey, {title: string; icon: string}>

/** The verdict of a journal; a `running` one is a run that died (or is still going) and says so. */
export function verdictOf(doc: JournalDocument): VerdictView {
  if (doc.status !== 'finished' || doc.outcome === undefined) {
    const applied = doc.applied.length > 0 && doc.reverted.length < doc.applied.length
    const reason =
      `The journal was never closed: the run died or is still going (last event at ${formatMs(lastEventT(doc))}).` +
      (applied ? ' Faults it applied may still be live.' : '')
    return {key: 'unfinished', ...VERDICT_WORDS.unfinished, reason}
  }
  return {key: doc.outcome, ...VERDICT_WORDS[doc.outcome], reason: doc.reason ?? ''}
}

function lastEventT(doc: JournalDocument): number {
  return doc.events.reduce((t, e) => Math.max(t, e.t), 0)
}

/** A phase as it ran: where it was on the run clock, and whether it was cut short or never ended. */
export interface PhaseSpan {
  name: string
  fromMs: number
  toMs: number
  plannedMs: number
  /** Ended before its planned length (an abort): incomplete. */
  cutShort: boolean
  /** Where and why the runner cut it, with what was in flight then (journals since the runner records it). */
  cut?: PhaseCut
  /** Never ended in the journal (the run died); `toMs` is the last thing we know of. */
  open: boolean
}

/** The kinds of moment marked on the charts. */
export type MarkerKind = 'fault-write' | 'first-evidence' | 'guardrail' | 'revert' | 'revert-failed' | 'last-evidence'

/** A moment marked on every chart as a numbered vertical line. */
export interface Marker {
  /** 1-based, in time order; the chart draws the number, the legend says what it is. */
  n: number
  kind: MarkerKind
  label: string
  tMs: number
  detail: string
}

/** The run on one clock: milliseconds since the run started. */
export interface Timeline {
  /** Where load second 0 starts on the run clock (the load starts with the first phase). */
  loadOffsetMs: number
  /** The end of what the charts show: the run's end, or the last thing recorded. */
  endMs: number
  phases: PhaseSpan[]
  markers: Marker[]
}

/** The phases, the marked moments and the load's offset, from the journal's events. */
export function timelineOf(doc: JournalDocument): Timeline {
  const loadOffsetMs = loadStartMs(doc)
  const lastLoadMs = loadOffsetMs + loadLengthMs(doc)
  const wall = doc.finishedAt === undefined ? NaN : Date.parse(doc.finishedAt) - Date.parse(doc.startedAt)
  const known = Math.max(
    lastEventT(doc),
    ...doc.phases.map(p => p.endT ?? p.startT),
    Object.keys(doc.load).length > 0 ? lastLoadMs : 0,
  )
  const endMs = Number.isFinite(wall) && wall >= known ? wall : known
  const phases = doc.phases.map(p => {
    const toMs = p.endT ?? endMs
    // Older journals do not record the cut: a phase that ended well before its planned length was one.
    const cutShort = p.cutShort !== undefined || (p.endT !== undefined && toMs - p.startT < p.plannedMs - 500)
    return {
      name: p.name,
      fromMs: p.startT,
      toMs,
      plannedMs: p.plannedMs,
      open: p.endT === undefined,
      cutShort,
      ...(p.cutShort === undefined ? {} : {cut: p.cutShort}),
    }
  })
  return {loadOffsetMs, endMs, phases, markers: markersOf(doc.events)}
}

function markerOf(e: RunEvent): Omit<Marker, 'n'> | undefined {
  switch (e.kind) {
    case 'fault-applied':
      return {
        kind: 'fault-write',
        label: 'fault written',
        tMs: e.t,
        detail: `${e.fault.action} VirtualService ${e.fault.namespace}/${e.fault.name}`,
      }
    case 'fault-evidence':
      return {
        kind: 'first-evidence',
        label: 'first evidence',
        tMs: e.t,
        detail: `${formatMs(e.afterWriteMs)} after the write: ${e.message}`,
      }
    case 'guardrail-breached':
      return {kind: 'guardrail', label: 'guardrail breached', tMs: e.t, detail: `${e.guardrail}: ${e.message}`}
    case 'revert':
      return {kind: 'revert', label: 'reverted', tMs: e.t, detail: `${e.action} ${e.namespace}/${e.name}`}
    case 'revert-failed':
      return {kind: 'revert-failed', label: 'REVERT FAILED', tMs: e.t, detail: `${e.namespace}/${e.name}: ${e.message}`}
    case 'last-evidence':
      return {kind: 'last-evidence', label: 'last evidence', tMs: e.t, detail: lastFaultedWords(e)}
    default:
      return undefined
  }
}

/**
 * One marker per kind of moment, the first of each (a fault over several VirtualServices writes
 * several times within milliseconds; the lines would sit on top of each other). Stale faults of
 * dead runs reverted before the baseline are not this run's revert and are left to the event log.
 */
function markersOf(events: readonly RunEvent[]): Marker[] {
  const firstPhase = events.find(e => e.kind === 'phase-started')?.t ?? Infinity
  const first = new Map<MarkerKind, Omit<Marker, 'n'>>()
  const more = new Map<MarkerKind, number>()
  for (const e of events) {
    const m = markerOf(e)
    if (m === undefined || (m.kind === 'revert' && e.t < firstPhase)) continue
    if (first.has(m.kind)) more.set(m.kind, (more.get(m.kind) ?? 0) + 1)
    else first.set(m.kind, m)
  }
  return [...first.values()]
    .sort((a, b) => a.tMs - b.tMs)
    .map((m, i) => {
      const others = more.get(m.kind) ?? 0
      return {...m, n: i + 1, detail: others === 0 ? m.detail : `${m.detail} (and ${others} more, in the event log)`}
    })
}

/** One traffic class's seconds as columns (the page's charts read these; histograms never leave the journal). */
export interface LoadColumns {
  name: string
  /** Load seconds (since load start). */
  second: number[]
  requests: number[]
  failed: number[]
  dropped: number[]
  /** Requests the runner cancelled (a hard stop), neither passed nor failed; only when there were any. */
  cancelled?: number[]
  /** Requests in flight, sampled once a second; only in journals that record them. */
  inFlight?: InFlightColumns
  /** Latency percentiles in ms, null for a second without a completed request. */
  p50: (number | null)[]
  p95: (number | null)[]
  p99: (number | null)[]
}

const round2 = (v: number) => Math.round(v * 100) / 100

/** The per-second figures of one class as compact columns, in second order. */
export function loadColumns(name: string, seconds: readonly SecondStats[]): LoadColumns {
  const sorted = [...seconds].sort((a, b) => a.second - b.second)
  const latency = (pick: (s: SecondStats) => number) =>
    sorted.map(s => (s.requests - s.dropped > 0 ? round2(pick(s)) : null))
  return {
    name,
    second: sorted.map(s => s.second),
    requests: sorted.map(s => s.requests),
    failed: sorted.map(s => s.failed),
    dropped: sorted.map(s => s.dropped),
    ...(sorted.some(s => (s.cancelled ?? 0) > 0) ? {cancelled: sorted.map(s => s.cancelled ?? 0)} : {}),
    p50: latency(s => s.p50),
    p95: latency(s => s.p95),
    p99: latency(s => s.p99),
  }
}

/** One class's in-flight samples as columns: when (load clock), how many, and the oldest one's age. */
export interface InFlightColumns {
  /** Seconds since the load started, to 10 ms. */
  at: number[]
  count: number[]
  /** Age of the oldest request in flight, seconds to 10 ms (0 when none). */
  oldestS: number[]
}

/** The in-flight samples of one class as compact columns, in time order. */
export function inFlightColumns(samples: readonly InFlightSample[]): InFlightColumns {
  const sorted = [...samples].sort((a, b) => a.loadMs - b.loadMs)
  const s2 = (ms: number) => Math.round(ms / 10) / 100
  return {at: sorted.map(s => s2(s.loadMs)), count: sorted.map(s => s.count), oldestS: sorted.map(s => s2(s.oldestMs))}
}

/** Load figures of one class over one phase, summed from its seconds. */
export interface PhaseTraffic {
  phase: string
  requests: number
  failed: number
  dropped: number
  /** Requests the runner cancelled (a hard stop): not failures. */
  cancelled: number
  ratePerS: number
  statuses: Record<string, number>
  /** The highest per-second p99 in the phase (a phase-wide percentile needs the histograms; the probes have it). */
  worstP99: number | undefined
}

/**
 * Per phase, what one class sent and got. A second belongs to the phase its middle falls in, the
 * same windowing the recorder's probes use.
 */
export function phaseTraffic(seconds: readonly SecondStats[], timeline: Timeline): PhaseTraffic[] {
  return timeline.phases.map(p => {
    const picked = seconds.filter(s => {
      const mid = timeline.loadOffsetMs + s.second * 1000 + 500
      return mid >= p.fromMs && mid < p.toMs
    })
    const statuses: Record<string, number> = {}
    for (const s of picked)
      for (const [code, n] of Object.entries(s.statuses)) statuses[code] = (statuses[code] ?? 0) + n
    const requests = picked.reduce((n, s) => n + s.requests, 0)
    const withLatency = picked.filter(s => s.requests - s.dropped > 0)
    return {
      phase: p.name,
      requests,
      statuses,
      failed: picked.reduce((n, s) => n + s.failed, 0),
      dropped: picked.reduce((n, s) => n + s.dropped, 0),
      cancelled: picked.reduce((n, s) => n + (s.cancelled ?? 0), 0),
      ratePerS: requests / Math.max(0.001, (p.toMs - p.fromMs) / 1000),
      worstP99: withLatency.length === 0 ? undefined : Math.max(...withLatency.map(s => s.p99)),
    }
  })
}

/** The phase names in run order, for tables with a column per phase. */
export const PHASE_ORDER: readonly PhaseName[] = ['baseline', 'fault', 'recovery']
