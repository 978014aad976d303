/**
 * Everything that happens in a run, as one discriminated union. The console, the journal and the
 * reports all subscribe to the same stream, so nothing is computed twice.
 */
import type {ClusterTarget} from '../cluster/cluster.js'
import type {BlastRadius} from '../diagnosis/model.js'
import type {PhaseName} from '../experiment/model.js'
import type {ProbeKind} from '../experiment/probes.js'
import type {InFlight, SecondStats} from '../load/recorder.js'

/** One query's series over the run; `t` is ms since the run started. */
export interface ProbeSeries {
  probe: string
  query: string
  stepSeconds: number
  series: {labels: Record<string, string>; points: [t: number, value: number][]}[]
  /** Why there is no series (the query failed or Prometheus did not answer). */
  error?: string
}

/** How a run ended (README, "Exit codes"). */
export type Outcome = 'held' | 'deviated' | 'aborted' | 'could-not-run' | 'revert-failed'

/** A probe's verdict in one phase: `missed` its tolerance, or `errored` (no data is never a pass). */
export type ProbeStatus = 'held' | 'missed' | 'errored'

/** The kinds of probe. */
export type {ProbeKind}

/** One probe evaluated in one phase. */
export interface ProbeResult {
  probe: string
  kind: ProbeKind
  phase: PhaseName
  status: ProbeStatus
  /** The measured value(s), e.g. `p(95)=5980ms`. */
  actual: string
  /** The expectation as written, e.g. `p(95)<4000`. */
  expected: string
  /** Why it errored, or what it measured in words. */
  message?: string
  /** Numeric value for charts and trends. */
  value?: number
}

/** What was written to one VirtualService (or, for `spec.setup`, DestinationRule), for the report's diff. */
export interface AppliedFault {
  /** `DestinationRule` for a `spec.setup` patch; absent for a VirtualService (a fault). */
  kind?: 'DestinationRule'
  namespace: string
  name: string
  action: 'create' | 'update'
  resourceVersion: string
  /** The spec before (updates) and after our write. */
  before?: unknown
  after: unknown
}

/**
 * A phase stopped before its planned length (Ctrl-C, a guardrail, the time limit): it is
 * incomplete, so its probes are not evaluated, and the requests still in flight then are counted
 * with their age (the runner cancels them; they are never counted as failures).
 */
export interface PhaseCut {
  reason: string
  /** How long the phase had run. */
  afterMs: number
  plannedMs: number
  inFlight: InFlight[]
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** Requests in flight in words: `targeted 31 in flight, oldest 6.2 s · control 0 in flight`. */
export function inFlightText(inFlight: readonly InFlight[]): string {
  return inFlight.map(f => `${f.traffic} ${f.count} in flight${f.count > 0 ? `, oldest ${seconds(f.oldestMs)}` : ''}`).join(' · ')
}

/** Why a phase's probes were not evaluated: `phase cut short at +3.1 s of 30.0 s (interrupted (signal))`. */
export function cutShortText(cut: PhaseCut): string {
  const flying = cut.inFlight.filter(f => f.count > 0)
  return `phase cut short at +${seconds(cut.afterMs)} of ${seconds(cut.plannedMs)} (${cut.reason})${flying.length > 0 ? `; cancelled in flight: ${inFlightText(flying)}` : ''}`
}

/** A lifecycle event; `t` is milliseconds since the run started, `at` the wall-clock time. */
export type RunEvent = {t: number; at: string} & (
  | {kind: 'run-started'; runId: string; experiment: string; file: string; target: ClusterTarget; driver: string; driverVersion: string}
  | {kind: 'preflight'; check: string; status: 'ok' | 'warning' | 'failed'; message: string; hint?: string}
  | {kind: 'phase-started'; phase: PhaseName; plannedMs: number}
  | {kind: 'phase-ended'; phase: PhaseName; cutShort?: PhaseCut}
  | {kind: 'fault-applied'; fault: AppliedFault}
  /** A `spec.setup` DestinationRule patched before the baseline (kept in applied with its kind). */
  | {kind: 'setup-applied'; setup: AppliedFault}
  | {kind: 'fault-evidence'; source: string; message: string; afterWriteMs: number}
  | {kind: 'fault-not-fired'; message: string; hint: string}
  | {kind: 'control-evidence'; untouched: boolean; message: string}
  | {kind: 'load-second'; second: SecondStats}
  /** Once a second while the load runs: what is in flight now, so a delay shows while it happens. */
  | {kind: 'load-progress'; loadMs: number; inFlight: InFlight[]}
  | {kind: 'probe-result'; result: ProbeResult}
  | {kind: 'probe-series'; series: ProbeSeries}
  /** Once, at the end: what the mesh counted per edge and phase, and the diagnosis drawn from it (src/diagnosis/). */
  | {kind: 'blast-radius'; blastRadius: BlastRadius}
  | {kind: 'guardrail-breached'; guardrail: string; message: string}
  | {kind: 'revert'; resource?: 'DestinationRule'; namespace: string; name: string; action: 'restored' | 'stripped' | 'deleted' | 'absent'; message: string}
  | {kind: 'last-evidence'; afterRevertMs: number; message: string}
  | {kind: 'revert-failed'; resource?: 'DestinationRule'; namespace: string; name: string; message: string; command: string}
  | {kind: 'log'; level: 'info' | 'warn' | 'error'; message: string}
  | {kind: 'run-finished'; outcome: Outcome; exitCode: number; reason: string}
)

/** An event without its timestamps, as emitters write it. */
export type RunEventInput = RunEvent extends infer E ? E extends RunEvent ? Omit<E, 't' | 'at'> : never : never

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
