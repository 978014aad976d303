/** The load-driver interface: one load run across all phases, results into a `Recorder`. */
import type {Recorder} from './recorder.js'
import type {SendReport} from './send-log.js'

/** One traffic class as the driver runs it. */
export interface TrafficPlan {
  name: string
  /** Open model: requests per second. */
  ratePerSecond?: number
  /** Closed model: concurrent virtual users. */
  vus?: number
  headers: Record<string, string>
}

/** Everything a driver needs to produce load. */
export interface LoadPlan {
  url: string
  method: string
  body?: string
  traffic: TrafficPlan[]
  durationMs: number
  /** HTTP forward proxy (absolute-form requests), e.g. the sandbox's. */
  proxy?: string
  /** Per-request timeout; k6's default is 60s. */
  requestTimeoutMs: number
}

/** Produces load and reports every request to the recorder. */
export interface LoadDriver {
  /** `builtin` or `k6`. */
  readonly name: string
  /** Version string recorded in the journal (e.g. `k6 v2.2.0 …`). */
  version(): Promise<string>
  /**
   * Runs the plan until `durationMs` or until `stop` (no new requests; in-flight ones complete),
   * and resolves when every request has completed; `abort` fails in-flight requests at once.
   */
  run(
    plan: LoadPlan,
    recorder: Recorder,
    signals: {stop: AbortSignal; abort: AbortSignal; fail?: (reason: string) => void},
  ): Promise<void>
  /** How well the last run kept its open-model schedule, when the driver can tell. */
  readonly lastSendReport?: readonly SendReport[]
  /**
   * Before the load clock starts (after the run's preflight): what the driver must set up in the
   * cluster, and its own preflight. Throws a FaultlineError (exit 4) when it cannot run. `fail` in
   * `run`'s signals stops the run when the load breaks mid-way (exit 4 before the fault, 3 after).
   */
  prepare?(
    plan: LoadPlan,
    run: LoadRunIdentity,
    report: (check: DriverCheck) => void,
    signal: AbortSignal,
  ): Promise<void>
  /** Threshold probes the driver evaluates itself over a load-clock window (k6-operator: PromQL). */
  thresholds?(
    traffic: string | undefined,
    thresholds: Record<string, string[]>,
    fromMs: number,
    toMs: number,
  ): Promise<DriverThresholdVerdict>
  /** Removes whatever `prepare` created; called on every exit path, also when `prepare` failed. */
  cleanup?(): Promise<void>
  /**
   * While chaos's own port-forward is the way in (src/cli/way-in.ts): a request whose connection
   * closed mid-answer is counted as `port-forward lost: cut mid-answer` when `cut` says the forward
   * cut it, not as `reset (connection closed)`. Returns the undo. Only a driver that sees its
   * connections' ports has it (the builtin; k6's error tags carry no local port).
   */
  watchPortForward?(cut: CutConnection): () => void
}

/** The ports of a connection that closed mid-answer, as undici's SocketError carries them (`err.socket`). */
export interface ConnectionPorts {
  localPort?: number
  remotePort?: number
}

/** Whether chaos's port-forward cut this connection of the load mid-answer (each cut is told once). */
export type CutConnection = (ports: ConnectionPorts) => boolean

/** Who is running the load: the objects a driver creates carry it (labels, annotations). */
export interface LoadRunIdentity {
  runId: string
  experiment: string
  owner: string
  namespace: string
  /** When a dead run's objects may be removed by anyone. */
  expiresAt: Date
}

/** A driver's preflight finding or progress note. */
export interface DriverCheck {
  check: string
  status: 'ok' | 'warning' | 'failed'
  message: string
  hint?: string
}

/** A threshold probe's verdict as a driver computes it (same shape as the runner's). */
export interface DriverThresholdVerdict {
  status: 'held' | 'missed' | 'errored'
  actual: string
  expected: string
  value?: number
  message?: string
}

/** Parses `20/s`, `600/m`, `3600/h` into requests per second. */
export function parseRate(rate: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\/(s|m|h)$/.exec(rate)
  if (m === null) throw new Error(`invalid rate ${JSON.stringify(rate)}: write it like 20/s, 600/m or 3600/h`)
  return Number(m[1]) / {s: 1, m: 60, h: 3600}[m[2] as 's' | 'm' | 'h']
}
