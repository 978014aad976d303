/**
 * `--pushgateway URL`: pushes the runner's metrics to a Prometheus Pushgateway when a fault goes
 * live (so `chaos_fault_active=1` is visible while it is) and when the run ends.
 *
 * Mid-run pushes are POSTs of the live families only (fault state, probe verdicts): POST replaces
 * just the families it carries, so the group keeps the previous run's outcome and duration until
 * this run has its own. The final push is a PUT of everything: PUT replaces the whole group, so no
 * series of an older run (a renamed probe, a service no longer faulted) outlives it.
 *
 * A push that fails or times out is a warning: telemetry never fails a run or delays a revert.
 */
import {Pushgateway, type Registry} from 'prom-client'

import {UsageError} from '../errors.js'
import type {RunEvent} from '../runner/events.js'
import type {RunTelemetry} from './metrics.js'

/** The Pushgateway job every push uses. */
export const PUSH_JOB = 'faultline'
/** How long one push may take, connection to answer, before it is abandoned with a warning. */
export const DEFAULT_PUSH_TIMEOUT_MS = 5000

/** Where and how to push. */
export interface PushOptions {
  /** The Pushgateway's base URL, e.g. `http://pushgateway:9091`. */
  url: string
  /**
   * Grouping label `instance`. Leave it unset for scheduled runs: a per-pod instance would start a
   * new group every run and leave the old ones (and their fault state) in the gateway forever.
   */
  instance?: string
  /** Per push, default 5 s. */
  timeoutMs?: number
  /** Where a failed push is reported. */
  warn: (message: string) => void
}

/** What one push did, for the console and tests. */
export interface PushRecord {
  method: 'POST' | 'PUT'
  reason: string
  ok: boolean
  error?: string
}

/** Pushes a `RunTelemetry`'s metrics at the moments that matter, one push at a time. */
export class TelemetryPusher {
  /** Every push attempted, in order. */
  readonly pushes: PushRecord[] = []
  private queue: Promise<void> = Promise.resolve()
  private livePending = false
  private finalPushed = false

  /** Throws `UsageError` (exit 2) for a URL that is not http(s): at start-up, not as a warning later. */
  constructor(private readonly telemetry: RunTelemetry, private readonly options: PushOptions) {
    const url = URL.canParse(options.url) ? new URL(options.url) : undefined
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
      throw new UsageError(`--pushgateway ${options.url}: expected an http:// or https:// URL`, {hint: 'Pass the Pushgateway\'s base URL, e.g. --pushgateway http://pushgateway:9091'})
    }
  }

  /** The event-stream subscriber; subscribe it after the `RunTelemetry`'s own so the metrics are current. */
  readonly observe = (e: RunEvent): void => {
    if (e.kind === 'fault-applied' && !this.livePending) {
      // Several objects written in a row become one push.
      this.livePending = true
      this.enqueue(() => {
        this.livePending = false
        return this.push('POST', this.telemetry.liveRegistry, 'fault applied')
      })
    }
    if (e.kind === 'run-finished') this.pushFinal('run finished')
  }

  /**
   * Waits for every queued push; if the run never reported its end (it threw before `run-finished`)
   * but did start, pushes the final state now. Never rejects.
   */
  async close(): Promise<void> {
    if (!this.finalPushed && this.telemetry.currentExperiment !== undefined) this.pushFinal('run ended without a verdict')
    await this.queue
  }

  /** Resolves once every push queued so far has finished (succeeded or warned). */
  settled(): Promise<void> {
    return this.queue
  }

  private pushFinal(reason: string): void {
    this.finalPushed = true
    this.enqueue(() => this.push('PUT', this.telemetry.registry, reason))
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task)
  }

  private async push(method: PushRecord['method'], registry: Registry, reason: string): Promise<void> {
    const experiment = this.telemetry.currentExperiment
    if (experiment === undefined) return
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS
    // A fresh signal per push bounds the whole request; `timeout` alone only bounds socket idleness.
    const gateway = new Pushgateway(this.options.url, {timeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs)}, registry)
    const params = {jobName: PUSH_JOB, groupings: groupingFor(experiment, this.options.instance)}
    try {
      await (method === 'PUT' ? gateway.push(params) : gateway.pushAdd(params))
      this.pushes.push({method, reason, ok: true})
    } catch (err) {
      const error = describePushError(err, timeoutMs)
      this.pushes.push({method, reason, ok: false, error})
      this.options.warn(`Pushgateway ${this.options.url}: ${method} (${reason}) failed: ${error}; the run goes on`)
    }
  }
}

/** The grouping key of a run's metrics: `{experiment}` plus `instance` when one is given. */
export function groupingFor(experiment: string, instance: string | undefined): Record<string, string> {
  return instance === undefined ? {experiment} : {experiment, instance}
}

function describePushError(err: unknown, timeoutMs: number): string {
  const e = err as {name?: string; code?: string; message?: string}
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR') return `no answer within ${timeoutMs}ms`
  return e.message ?? String(err)
}
