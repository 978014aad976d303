/**
 * Why requests failed, per traffic class and phase, from a journal's load seconds (pure): what
 * summary.md, junit.xml and report.html show beside the error ratios. Seconds are charged to phases
 * as the runner's probes charge them (a second's middle), so the counts add up to the phase's
 * failures. Journals from before reasons were recorded have none: their failures are `unknown`.
 */
import type {PhaseName} from '../../experiment/model.js'
import {addReasons, reasonsText, sumReasons} from '../../load/reasons.js'
import {secondsInWindow} from '../../load/recorder.js'
import type {JournalDocument} from '../../journal/journal.js'
import {loadLengthMs, phaseWindows} from '../phases.js'

/** One class's failures over one phase. */
export interface PhaseReasons {
  traffic: string
  phase: PhaseName
  requests: number
  failed: number
  /** Reason → count; failures a journal has no reason for are `unknown (older journal)`. */
  reasons: Record<string, number>
}

/** What failures without a recorded reason are called (journals from before reasons were recorded). */
export const UNKNOWN_REASON = 'unknown (older journal)'

/** Every class × phase that had load, in class then phase order. */
export function reasonsByPhase(doc: Pick<JournalDocument, 'load' | 'phases'>): PhaseReasons[] {
  const windows = phaseWindows(doc, loadLengthMs(doc))
  return Object.entries(doc.load)
    .flatMap(([traffic, seconds]) =>
      windows.map(w => {
        const picked = secondsInWindow(seconds, w.fromMs, w.toMs)
        const failed = picked.reduce((n, s) => n + s.failed, 0)
        const reasons = sumReasons(picked)
        const known = Object.values(reasons).reduce((a, b) => a + b, 0)
        if (failed > known) addReasons(reasons, {[UNKNOWN_REASON]: failed - known})
        return {traffic, phase: w.phase, requests: picked.reduce((n, s) => n + s.requests, 0), failed, reasons}
      }),
    )
    .filter(p => p.requests > 0 || p.failed > 0)
}

/**
 * The top reasons of the classes a probe reads (all when `traffic` is undefined) in one phase, in
 * words — `targeted: 503 UO × 12, 500 FI × 3` — or undefined when none of them failed.
 */
export function phaseReasonsText(all: readonly PhaseReasons[], phase: PhaseName, traffic?: string): string | undefined {
  const texts = all
    .filter(p => p.phase === phase && (traffic === undefined || p.traffic === traffic) && p.failed > 0)
    .map(p => `${p.traffic}: ${reasonsText(p.reasons)}`)
  return texts.length === 0 ? undefined : texts.join('; ')
}
