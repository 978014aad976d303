/**
 * Where a run's phases and its load sit against each other (pure). The journal times phases on the
 * run clock (ms since the run started) and load seconds on the load clock (seconds since the load
 * started); the load starts just before the baseline's `phase-started` event, so load second 0 sits
 * at the baseline's start (within a millisecond). report.html and the history index both place the
 * load through these, so they agree on which second belongs where.
 */
import type {PhaseName} from '../experiment/model.js'
import type {JournalDocument} from '../journal/journal.js'

/** Where load second 0 sits on the run clock: the baseline's start; 0 when no phase ran. */
export function loadStartMs(journal: Pick<JournalDocument, 'phases'>): number {
  return journal.phases.find(p => p.name === 'baseline')?.startT ?? 0
}

/** The end of the last load second recorded, on the load clock; 0 without load. */
export function loadLengthMs(journal: Pick<JournalDocument, 'load'>): number {
  let seconds = 0
  for (const series of Object.values(journal.load)) for (const s of series) seconds = Math.max(seconds, s.second + 1)
  return seconds * 1000
}

/** Where a phase's load lies on the load clock, [fromMs, toMs). */
export interface PhaseWindow {
  phase: PhaseName
  fromMs: number
  toMs: number
}

/**
 * The runner's phase windows on the load clock, cut at the load's end: recovery runs from the
 * fault's end, as the runner's recovery probes do.
 */
export function phaseWindows(journal: Pick<JournalDocument, 'phases'>, lengthMs: number): PhaseWindow[] {
  const find = (name: PhaseName) => journal.phases.find(p => p.name === name)
  const baseline = find('baseline')
  if (baseline === undefined) return []
  const t0 = loadStartMs(journal)
  const clock = (t: number | undefined) => (t === undefined ? lengthMs : Math.min(lengthMs, t - t0))
  const windows: PhaseWindow[] = [{phase: 'baseline', fromMs: 0, toMs: clock(baseline.endT)}]
  const fault = find('fault')
  if (fault !== undefined) {
    windows.push({phase: 'fault', fromMs: clock(fault.startT), toMs: clock(fault.endT)})
    if (fault.endT !== undefined && find('recovery') !== undefined)
      windows.push({phase: 'recovery', fromMs: clock(fault.endT), toMs: clock(find('recovery')?.endT)})
  }
  return windows.filter(w => w.toMs > w.fromMs)
}
