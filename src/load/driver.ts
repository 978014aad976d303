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
  run(plan: LoadPlan, recorder: Recorder, signals: {stop: AbortSignal; abort: AbortSignal}): Promise<void>
  /** How well the last run kept its open-model schedule, when the driver can tell. */
  readonly lastSendReport?: readonly SendReport[]
}

/** Parses `20/s`, `600/m`, `3600/h` into requests per second. */
export function parseRate(rate: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\/(s|m|h)$/.exec(rate)
  if (m === null) throw new Error(`invalid rate ${JSON.stringify(rate)}: write it like 20/s, 600/m or 3600/h`)
  return Number(m[1]) / {s: 1, m: 60, h: 3600}[m[2] as 's' | 'm' | 'h']
}
