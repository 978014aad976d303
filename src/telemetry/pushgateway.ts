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

import {UsageError} from '@faultline/core/errors.js'
import type {RunEvent} from '../journal/events.js'
import {RunTelemetry} from './metrics.js'

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

/**
 * Pushes each run's metrics at the moments that matter, one push at a time. It keeps a
 * `RunTelemetry` per run: a group holds one experiment's run, so a game day's second experiment
 * must not carry the first one's series into its own group.
 */
export class TelemetryPusher {
  /** Every push attempted, in order. */
  readonly pushes: PushRecord[] = []
  private queue: Promise<void> = Promise.resolve()
  private run: RunTelemetry | undefined
  /** The run whose mid-run push is queued and not yet sent (later writes of that run join it). */
  private livePendingFor: RunTelemetry | undefined
  private finalPushed = false

  /** Throws `UsageError` (exit 2) for a URL that is not http(s): at start-up, not as a warning later. */
  constructor(private readonly options: PushOptions) {
    const url = URL.canParse(options.url) ? new URL(options.url) : undefined
    if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
      throw new UsageError(`--pushgateway ${options.url}: expected an http:// or https:// URL`, {
        hint: "Pass the Pushgateway's base URL, e.g. --pushgateway http://pushgateway:9091",
      })
    }
  }

  /** The current (or last) run's metrics, as pushed. */
  get telemetry(): RunTelemetry | undefined {
    return this.run
  }

  /** The event-stream subscriber: `events.subscribe(pusher.observe)`. */
  readonly observe = (e: RunEvent): void => {
    if (e.kind === 'run-started') {
      this.run = new RunTelemetry()
      this.finalPushed = false
    }
    const run = this.run
    if (run === undefined) return
    run.observe(e)
    if (e.kind === 'fault-applied' && this.livePendingFor !== run) {
      // Several objects written in a row become one push.
      this.livePendingFor = run
      this.enqueue(() => {
        if (this.livePendingFor === run) this.livePendingFor = undefined
        return this.push('POST', run, run.liveRegistry, 'fault applied')
      })
    }
    if (e.kind === 'run-finished') this.pushFinal(run, 'run finished')
  }

  /**
   * Waits for every queued push; if the run never reported its end (it threw before `run-finished`)
   * but did start, pushes the final state now. Never rejects.
   */
  async close(): Promise<void> {
    if (!this.finalPushed && this.run !== undefined) this.pushFinal(this.run, 'run ended without a verdict')
    await this.queue
  }

  /** Resolves once every push queued so far has finished (succeeded or warned). */
  settled(): Promise<void> {
    return this.queue
  }

  private pushFinal(run: RunTelemetry, reason: string): void {
    this.finalPushed = true
    this.enqueue(() => this.push('PUT', run, run.registry, reason))
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue.then(task)
  }

  /** One push of `registry` to the group of `run`'s experiment (taken when queued, not when sent). */
  private async push(
    method: PushRecord['method'],
    run: RunTelemetry,
    registry: Registry,
    reason: string,
  ): Promise<void> {
    const experiment = run.currentExperiment
    if (experiment === undefined) return
    const timeoutMs = this.options.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS
    // A fresh signal per push bounds the whole request; `timeout` alone only bounds socket idleness.
    const gateway = new Pushgateway(
      this.options.url,
      {timeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs)},
      registry,
    )
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
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR')
    return `no answer within ${timeoutMs}ms`
  return e.message ?? String(err)
}
