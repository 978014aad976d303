/**
 * Everything that happens in a run, as one discriminated union. The console, the journal and the
 * reports all subscribe to the same stream, so nothing is computed twice.
 */
import type {ProbeKind} from '../experiment/probes.js'
import type {InFlight, PhaseCut, RunEvent} from './model.js'

/** The journal's types, each derived from its one TypeBox model (model.ts). */
export type {AppliedFault, Outcome, PhaseCut, ProbeResult, ProbeSeries, ProbeStatus, RunEvent} from './model.js'

/** The kinds of probe. */
export type {ProbeKind}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Requests in flight in words: `targeted 31 in flight, oldest 6.2 s · control 0 in flight`. */
export function inFlightText(inFlight: readonly InFlight[]): string {
  return inFlight
    .map(f => `${f.traffic} ${f.count} in flight${f.count > 0 ? `, oldest ${seconds(f.oldestMs)}` : ''}`)
    .join(' · ')
}

/** Why a phase's probes were not evaluated: `phase cut short at +3.1 s of 30.0 s (interrupted (signal))`. */
export function cutShortText(cut: PhaseCut): string {
  const flying = cut.inFlight.filter(f => f.count > 0)
  return `phase cut short at +${seconds(cut.afterMs)} of ${seconds(cut.plannedMs)} (${cut.reason})${flying.length > 0 ? `; cancelled in flight: ${inFlightText(flying)}` : ''}`
}

/** An event without its timestamps, as emitters write it. */
export type RunEventInput = RunEvent extends infer E ? (E extends RunEvent ? Omit<E, 't' | 'at'> : never) : never

/** Fans events out to subscribers, stamping each with the run clock. */
export class EventStream {
  private readonly listeners: ((e: RunEvent) => void)[] = []
  private readonly t0: number

  constructor(private readonly clock: () => number = () => Date.now()) {
    this.t0 = clock()
  }

  /** Milliseconds since the run started. */
  elapsed(): number {
    return this.clock() - this.t0
  }

  /** Adds a subscriber. */
  subscribe(listener: (e: RunEvent) => void): void {
    this.listeners.push(listener)
  }

  /** Stamps and delivers an event; a failing subscriber never stops the run. */
  emit(event: RunEventInput): RunEvent {
    const now = this.clock()
    const stamped = {...event, t: now - this.t0, at: new Date(now).toISOString()} as RunEvent
    for (const l of this.listeners) {
      try {
        l(stamped)
      } catch (err) {
        process.emitWarning(`event subscriber failed on ${stamped.kind}: ${(err as Error).message}`)
      }
    }
    return stamped
  }
}
