/**
 * `chaos gameday`: the experiments of a GameDay in order, on one target, each through
 * `runExperiment` (so each reverts in its own `finally`), with a cooldown between them, an overall
 * time limit, and the rest skipped after a failure when `stopOnFirstFailure` asks, after a signal,
 * or after a failed revert (a fault may be live: nothing more is injected on top of it).
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import type {Outcome} from '../journal/events.js'
import type {EventStream} from '../journal/events.js'
import type {RunReportFiles} from '../report/write.js'
import type {RunInput, RunResult} from '../runner/run.js'

/** A run with the reports written from its journal (the runner writes none itself). */
export type ReportedRun = RunResult & RunReportFiles
import {wait} from '../runner/timeline.js'
import type {GameDay} from '../experiment/model.js'
import type {GameDayItem} from './entries.js'

/** What happened to one entry. */
export type EntryResult =
  | {status: 'ran'; item: GameDayItem; startedAt: Date; durationMs: number; result: ReportedRun; reason: string}
  | {status: 'skipped'; item: GameDayItem; reason: string}

/** How the game day went. */
export interface GameDayRun {
  startedAt: Date
  finishedAt: Date
  entries: EntryResult[]
  /** Why the game day stopped early, if it did. */
  stoppedBecause?: string
  /** Stopped by a signal or its own time limit (not by an experiment's outcome). */
  interrupted: boolean
}

/** What a game day needs; `run` is `runExperiment` (a fake in unit tests). */
export interface GameDayRunInput {
  gameday: GameDay
  items: readonly GameDayItem[]
  /** Ctrl-C / SIGTERM for the whole game day: aborts the running experiment (it reverts) and skips the rest. */
  signal: AbortSignal
  /** Everything of `RunInput` an entry does not decide itself. */
  runInput: (item: GameDayItem, signal: AbortSignal, events: EventStream) => RunInput
  /** A fresh event stream per experiment, with the console and telemetry subscribed. */
  events: (item: GameDayItem) => EventStream
  run: (input: RunInput) => Promise<ReportedRun>
  /** Lines for the person at the terminal (cooldowns, skips). */
  say: (line: string) => void
}

/** Runs the game day's experiments in order; never throws for an experiment's outcome. */
export async function runGameDay(input: GameDayRunInput): Promise<GameDayRun> {
  const {gameday, items, say} = input
  const startedAt = new Date()
  const stop = new AbortController()
  let stoppedBecause: string | undefined
  let interrupted = false
  const halt = (reason: string, interruption = true) => {
    if (stoppedBecause === undefined) interrupted = interruption
    stoppedBecause ??= reason
    // The reason travels with the signal, so the running experiment's own journal says why it stopped.
    stop.abort(stoppedBecause)
  }
  const onSignal = () => halt('interrupted (signal)')
  input.signal.addEventListener('abort', onSignal, {once: true})
  if (input.signal.aborted) onSignal()
  const maxDuration = gameday.spec.guardrails?.maxDuration
  const maxMs = maxDuration === undefined ? undefined : parseDurationMs(maxDuration)
  const timer =
    maxMs === undefined
      ? undefined
      : setTimeout(() => halt(`the game day's guardrails.maxDuration (${maxDuration}) was reached`), maxMs)
  const cooldownMs = gameday.spec.cooldown === undefined ? 0 : (parseDurationMs(gameday.spec.cooldown) ?? 0)
  const entries: EntryResult[] = []
  try {
    for (const [i, item] of items.entries()) {
      if (stoppedBecause !== undefined) {
        entries.push({status: 'skipped', item, reason: stoppedBecause})
        continue
      }
      if (i > 0 && cooldownMs > 0) {
        say(`cooldown ${gameday.spec.cooldown} before ${item.name} (${i + 1}/${items.length})…`)
        await wait(cooldownMs, stop.signal)
        if (stoppedBecause !== undefined) {
          entries.push({status: 'skipped', item, reason: stoppedBecause})
          continue
        }
      }
      say(`── ${item.name} (${i + 1}/${items.length}, namespace ${item.namespace}) ──`)
      const entry = await runEntry(input, item, stop.signal, () => stoppedBecause)
      entries.push(entry)
      const after = stopAfter(entry.result.outcome, item.name, gameday.spec.stopOnFirstFailure === true)
      if (after !== undefined) halt(after, false)
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer)
    input.signal.removeEventListener('abort', onSignal)
  }
  return {
    startedAt,
    finishedAt: new Date(),
    entries,
    interrupted,
    ...(stoppedBecause === undefined ? {} : {stoppedBecause}),
  }
}

/**
 * The outcomes the gate judges: each experiment that ran, plus `aborted` when a signal or the time
 * limit skipped experiments — an interrupted game day did not do its job, even if nothing that
 * ran failed (Ctrl-C in a cooldown after a held experiment must not exit 0).
 */
export function gameDayOutcomes(run: GameDayRun): Outcome[] {
  const ran = run.entries.flatMap(e => (e.status === 'ran' ? [e.result.outcome] : []))
  return run.interrupted && run.entries.some(e => e.status === 'skipped') ? [...ran, 'aborted'] : ran
}

async function runEntry(
  input: GameDayRunInput,
  item: GameDayItem,
  signal: AbortSignal,
  stoppedBecause: () => string | undefined,
): Promise<EntryResult & {status: 'ran'}> {
  const startedAt = new Date()
  const result = await input.run(input.runInput(item, signal, input.events(item)))
  // The run only knows it was signalled; the game day knows why (a signal or its own time limit).
  const why = stoppedBecause()
  const reason =
    result.outcome === 'aborted' && why !== undefined && !result.reason.startsWith(why)
      ? `${why}: ${result.reason}`
      : result.reason
  return {status: 'ran', item, startedAt, durationMs: Date.now() - startedAt.getTime(), result, reason}
}

/** Why the rest is skipped after an experiment ended with `outcome`, or undefined to go on. */
export function stopAfter(outcome: Outcome, name: string, stopOnFirstFailure: boolean): string | undefined {
  if (outcome === 'revert-failed')
    return `${name}'s revert failed and a fault may still be live: nothing more is injected`
  if (stopOnFirstFailure && outcome !== 'held') return `stopOnFirstFailure: ${name} ended ${outcome}`
  return undefined
}
