/**
 * What a notification says about one outcome — a run's or a game day's — independent of where it
 * is sent: the verdict word, what ran, the reason, the top diagnosis sentence when there is one,
 * and a link to the report when `--report-url` says where reports are served. Pure.
 */
import {relative, sep} from 'node:path'

import type {GameDayReport} from '../report/gameday/report.js'
import {VERDICT_LOOK} from '../report/verdicts.js'
import type {Outcome} from '../journal/events.js'

/** One experiment of a game day, as a notification lists it. */
export interface NotifiedExperiment {
  name: string
  /** The verdict word (`held`, `could not run`, `skipped` …). */
  verdict: string
  reason: string
}

/** The content of one notification. */
export interface Notification {
  /** What ended: one experiment's run, or a game day. */
  subject: 'experiment' | 'gameday'
  /** The experiment's or game day's metadata.name. */
  name: string
  outcome: Outcome
  /** The verdict word as every report writes it (`held`, `deviated`, `could not run` …). */
  verdict: string
  /** The process's exit code after `--fail-on`. */
  exitCode: number
  /** The one-sentence reason of the verdict. */
  reason: string
  /**
   * The top sentence of the run's diagnosis (why it deviated, in plain words), when one exists.
   * Nothing produces a diagnosis yet: the field is here so the formats already carry it.
   */
  diagnosis?: string
  /** Absolute link to the report, when `--report-url` was given. */
  reportUrl?: string
  startedAt?: string
  durationMs?: number
  runId?: string
  /** A game day's experiments in order. */
  experiments?: NotifiedExperiment[]
}

/** The verdict word of an outcome (the reports' own table). */
export function verdictWord(outcome: Outcome): string {
  return VERDICT_LOOK[outcome].word
}

/**
 * The report's address under `base` (where the report root is served): the path of `file`
 * relative to `reportDir`, each segment URL-encoded. Undefined without a base.
 */
export function reportLink(base: string | undefined, reportDir: string, file: string): string | undefined {
  if (base === undefined) return undefined
  const path = relative(reportDir, file)
    .split(sep)
    .filter(s => s !== '' && s !== '.')
    .map(encodeURIComponent)
    .join('/')
  return `${base.replace(/\/+$/, '')}/${path}`
}

/** What `chaos run` knows when it ends. */
export interface RunFacts {
  name: string
  outcome: Outcome
  exitCode: number
  reason: string
  runId?: string
  startedAt?: string
  durationMs?: number
  diagnosis?: string
  reportUrl?: string
}

/** The notification of one run. */
export function runNotification(facts: RunFacts): Notification {
  return {
    subject: 'experiment',
    name: facts.name,
    outcome: facts.outcome,
    verdict: verdictWord(facts.outcome),
    exitCode: facts.exitCode,
    reason: facts.reason,
    ...(facts.diagnosis === undefined ? {} : {diagnosis: facts.diagnosis}),
    ...(facts.reportUrl === undefined ? {} : {reportUrl: facts.reportUrl}),
    ...(facts.startedAt === undefined ? {} : {startedAt: facts.startedAt}),
    ...(facts.durationMs === undefined ? {} : {durationMs: facts.durationMs}),
    ...(facts.runId === undefined ? {} : {runId: facts.runId}),
  }
}

/** The notification of a game day, from its gameday.json. */
export function gameDayNotification(
  report: GameDayReport,
  options: {reportUrl?: string; diagnosis?: string} = {},
): Notification {
  const ran = report.experiments.filter(e => e.status === 'ran')
  const notHeld = ran.filter(e => e.outcome !== 'held')
  const reason =
    report.stoppedBecause !== undefined
      ? `stopped early: ${report.stoppedBecause}`
      : notHeld.length === 0
        ? `${ran.length} of ${report.experiments.length} experiment${report.experiments.length === 1 ? '' : 's'} ran and held`
        : notHeld.map(e => `${e.name} ${verdictWord(e.outcome ?? 'could-not-run')}: ${e.reason}`).join('; ')
  return {
    subject: 'gameday',
    name: report.name,
    outcome: report.outcome,
    verdict: verdictWord(report.outcome),
    exitCode: report.exitCode,
    reason,
    ...(options.diagnosis === undefined ? {} : {diagnosis: options.diagnosis}),
    ...(options.reportUrl === undefined ? {} : {reportUrl: options.reportUrl}),
    startedAt: report.startedAt,
    durationMs: report.durationMs,
    experiments: report.experiments.map(e => ({
      name: e.name,
      verdict: e.status === 'skipped' ? VERDICT_LOOK.skipped.word : verdictWord(e.outcome ?? 'could-not-run'),
      reason: e.reason,
    })),
  }
}
