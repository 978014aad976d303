/**
 * The sandbox's reaper: every few seconds it does what `chaos revert --expired` does, in every
 * namespace, so a run killed with SIGKILL (a CI timeout, an evicted pod) cannot leave a fault live
 * past its `faultline.dev/expires-at`. The CLI that starts the sandbox hands it the very function
 * the command calls (against the sandbox's own API server, through the same client), so it reverts
 * exactly as the command would: restoring the original, keeping a foreign edit, and leaving
 * unexpired runs alone. The sandbox itself knows nothing of the runner.
 */
import {parseDurationMs} from '@faultline/core/duration.js'

/** How often the sandbox sweeps for expired faults unless told otherwise. */
export const DEFAULT_REAPER_INTERVAL_MS = 5000
/** The environment variable that sets the interval of sandboxes started from this environment (`2s`, `500ms`, `0` = off). */
export const REAPER_INTERVAL_ENV = 'CHAOS_SANDBOX_REAPER_INTERVAL'

/** What one sweep of a namespace did: `chaos revert`'s report, as far as the reaper logs it. */
export interface SweepReport {
  reverted: readonly {ok: boolean; namespace: string; name: string; action: string; message: string}[]
}

/** Reverts the faults in `namespace` past their expiry at `now`, as `chaos revert --expired` does. */
export type RevertExpired<R extends SweepReport = SweepReport> = (namespace: string, now: Date) => Promise<R>

/** What the reaper needs. */
export interface ReaperOptions<R extends SweepReport = SweepReport> {
  /** `chaos revert --expired` in one namespace, against the sandbox's own API server (given by the CLI). */
  revertExpired: RevertExpired<R>
  /** The namespaces to sweep, read at each sweep (namespaces come and go). */
  namespaces: () => string[]
  /** Pause between the end of one sweep and the start of the next. */
  intervalMs?: number
  /** One line per revert, skip-worthy failure or sweep error (the sandbox's log). */
  log?: (line: string) => void
  /** The clock expiry is judged by. */
  now?: () => Date
}

/** A running reaper. */
export interface Reaper<R extends SweepReport = SweepReport> {
  readonly intervalMs: number
  /** Sweeps every namespace once now (also what the timer does); concurrent calls share one sweep. */
  sweep(): Promise<R[]>
  /** Stops the timer and waits for a sweep in progress; safe to call twice. */
  stop(): Promise<void>
}

/** The interval `CHAOS_SANDBOX_REAPER_INTERVAL` asks for, or the default; throws on a value that is not a duration. */
export function reaperIntervalFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[REAPER_INTERVAL_ENV]
  if (raw === undefined || raw.trim() === '') return DEFAULT_REAPER_INTERVAL_MS
  const ms = raw.trim() === '0' ? 0 : parseDurationMs(raw.trim())
  if (ms === undefined)
    throw new TypeError(
      `${REAPER_INTERVAL_ENV}=${raw}: expected a duration such as 5s or 500ms, or 0 to turn the reaper off`,
    )
  return ms
}

/**
 * Starts sweeping: the first sweep one interval from now, each next one an interval after the
 * previous ended (sweeps never overlap, and a slow API cannot make them pile up).
 */
export function startReaper<R extends SweepReport>(options: ReaperOptions<R>): Reaper<R> {
  const intervalMs = options.intervalMs ?? DEFAULT_REAPER_INTERVAL_MS
  if (!(intervalMs > 0)) throw new RangeError(`reaper interval must be positive, got ${intervalMs}ms`)
  const log = options.log ?? (() => {})
  const now = options.now ?? (() => new Date())
  let inFlight: Promise<R[]> | undefined
  let timer: NodeJS.Timeout | undefined
  let stopped = false

  const sweepOnce = async (): Promise<R[]> => {
    const reports: R[] = []
    for (const namespace of options.namespaces()) {
      try {
        // No selection: only faults past their expiry, exactly `chaos revert --expired`.
        const report = await options.revertExpired(namespace, now())
        for (const r of report.reverted)
          log(
            `reaper: ${r.ok ? '✓' : '✗'} ${r.namespace}/${r.name}: ${r.ok ? r.action : 'revert FAILED'} — ${r.message}`,
          )
        reports.push(report)
      } catch (err) {
        log(`reaper: sweeping namespace ${namespace} failed: ${(err as Error).message}`)
      }
    }
    return reports
  }
  const sweep = (): Promise<R[]> =>
    (inFlight ??= sweepOnce().finally(() => {
      inFlight = undefined
    }))
  const schedule = (): void => {
    if (stopped) return
    timer = setTimeout(
      () =>
        void sweep()
          .catch((err: Error) => log(`reaper: sweep failed: ${err.message}`))
          .finally(schedule),
      intervalMs,
    )
    timer.unref()
  }
  schedule()
  return {
    intervalMs,
    sweep,
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      await inFlight?.catch(() => {})
    },
  }
}
