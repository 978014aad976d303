/**
 * The game-day report's data (gameday.json) and its plain renderings (summary.md, junit.xml).
 * Built from the game day's run results; each experiment's own run folder keeps its full reports,
 * and the game day links to them by relative path so the whole report root can be moved or
 * uploaded as one CI artifact.
 */
import {relative, sep} from 'node:path'

import {XMLBuilder} from 'fast-xml-parser'

import type {FailOn} from '../../gameday/gate.js'
import type {GameDayRun} from '../../gameday/run.js'
import type {Outcome} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {formatMs} from '../format.js'
import {renderJunit, xmlSafe} from '../run/junit.js'
import {markdownText} from '../run/markdown.js'
import {REPORT_FILES} from '../write.js'

/** The files of a game-day folder. */
export const GAMEDAY_FILES = {
  json: 'gameday.json',
  html: 'gameday.html',
  junit: 'junit.xml',
  markdown: 'summary.md',
} as const

/** One experiment of the game day as reported. */
export interface GameDayExperimentReport {
  name: string
  /** The experiment file (or `<gameday>#spec.experiments[i]` for an inline one). */
  file: string
  namespace: string
  status: 'ran' | 'skipped'
  outcome?: Outcome
  exitCode?: number
  /** The run's reason, or why the experiment was skipped. */
  reason: string
  startedAt?: string
  durationMs?: number
  /** The run folder, relative to the game-day folder (`/` separated). */
  runDir?: string
  /** Its report.html, relative to the game-day folder, when one was written. */
  report?: string
  /** The run's diagnosis (its journal's blastRadius), one sentence per finding, when it has one. */
  diagnosis?: string[]
}

/** gameday.json. */
export interface GameDayReport {
  kind: 'FaultlineGameDay'
  version: 1
  name: string
  description?: string
  file: string
  startedAt: string
  finishedAt: string
  durationMs: number
  /** The worst outcome of the experiments that ran (held when none ran). */
  outcome: Outcome
  /** The process's exit code after `--fail-on`. */
  exitCode: number
  failOn: FailOn
  /** Outcomes the gate let pass. */
  tolerated: Outcome[]
  stoppedBecause?: string
  experiments: GameDayExperimentReport[]
}

/** The report's header facts, beside the run. */
export interface GameDayFacts {
  name: string
  description?: string
  file: string
  /** The game-day folder the links are relative to. */
  dir: string
  failOn: FailOn
  verdict: {outcome: Outcome; exitCode: number; tolerated: Outcome[]}
}

const link = (from: string, to: string) => relative(from, to).split(sep).join('/')

/** gameday.json's content (pure). */
export function gameDayReport(run: GameDayRun, facts: GameDayFacts): GameDayReport {
  const experiments = run.entries.map((e): GameDayExperimentReport => {
    const base = {name: e.item.name, file: e.item.file, namespace: e.item.namespace}
    if (e.status === 'skipped') return {...base, status: 'skipped', reason: e.reason}
    const html = e.result.reportFiles.find(
      f => f.endsWith(`${sep}${REPORT_FILES.html}`) || f.endsWith(`/${REPORT_FILES.html}`),
    )
    return {
      ...base,
      status: 'ran',
      outcome: e.result.outcome,
      exitCode: e.result.exitCode,
      reason: e.reason,
      startedAt: e.startedAt.toISOString(),
      durationMs: e.durationMs,
      runDir: link(facts.dir, e.result.runDir),
      ...(html === undefined ? {} : {report: link(facts.dir, html)}),
    }
  })
  return {
    kind: 'FaultlineGameDay',
    version: 1,
    name: facts.name,
    ...(facts.description === undefined ? {} : {description: facts.description}),
    file: facts.file,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    durationMs: run.finishedAt.getTime() - run.startedAt.getTime(),
    outcome: facts.verdict.outcome,
    exitCode: facts.verdict.exitCode,
    failOn: facts.failOn,
    tolerated: facts.verdict.tolerated,
    ...(run.stoppedBecause === undefined ? {} : {stoppedBecause: run.stoppedBecause}),
    experiments,
  }
}

/** How an experiment's line reads: its outcome, or skipped. */
export function entryVerdict(e: GameDayExperimentReport): string {
  return e.status === 'skipped' ? 'skipped' : `${e.outcome ?? 'unknown'} (exit ${e.exitCode ?? '?'})`
}

const MD_ICON: Record<Outcome | 'skipped', string> = {
  held: '✅',
  deviated: '❌',
  aborted: '⏹️',
  'could-not-run': '⛔',
  'revert-failed': '⚠️',
  skipped: '⏭️',
}

/** summary.md: the game day in a few lines, for a CI job summary or a chat message. */
export function renderGameDayMarkdown(report: GameDayReport): string {
  const gate =
    report.tolerated.length === 0
      ? ''
      : ` — tolerated by \`--fail-on ${report.failOn}\`: ${report.tolerated.join(', ')}`
  const rows = report.experiments.map((e, i) => {
    const name = e.report === undefined ? markdownText(e.name) : `[${markdownText(e.name)}](${encodeURI(e.report)})`
    return `| ${i + 1} | ${name} | ${MD_ICON[e.outcome ?? 'skipped']} ${entryVerdict(e)} | ${e.durationMs === undefined ? '—' : formatMs(e.durationMs)} | ${markdownText(e.reason).replace(/\|/g, '\\|')} |`
  })
  return [
    `## ${MD_ICON[report.outcome]} Game day ${markdownText(report.name)}: ${report.outcome} (exit ${report.exitCode})${gate}`,
    '',
    `${report.experiments.filter(e => e.status === 'ran').length} of ${report.experiments.length} experiment(s) ran in ${formatMs(report.durationMs)}, from ${markdownText(report.file)}.` +
      (report.stoppedBecause === undefined ? '' : ` Stopped early: ${markdownText(report.stoppedBecause)}.`),
    '',
    '| # | Experiment | Outcome | Duration | Reason |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    ...report.experiments.flatMap((e, i) =>
      e.diagnosis === undefined || e.diagnosis.length === 0
        ? []
        : [`**Why (${i + 1}. ${markdownText(e.name)})**`, '', ...e.diagnosis.map(s => `- ${markdownText(s)}`), ''],
    ),
  ].join('\n')
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  indentBy: '  ',
  suppressEmptyNode: true,
})

/** The one `<testsuite>` element of a run's junit.xml, renumbered. */
function runSuite(doc: JournalDocument, id: number): string {
  const xml = renderJunit(doc)
  const start = xml.indexOf('<testsuite ')
  const end = xml.lastIndexOf('</testsuite>')
  if (start < 0 || end < 0) throw new Error(`the junit.xml of ${doc.experiment.name} has no testsuite`)
  return xml
    .slice(start, end + '</testsuite>'.length)
    .replace(/^<testsuite ([^>]*?)\bid="\d+"/, `<testsuite $1id="${id}"`)
}

/** A skipped experiment as a suite of one skipped testcase, so CI lists it. */
function skippedSuite(e: GameDayExperimentReport, id: number): string {
  const suite = {
    testsuite: {
      '@_name': xmlSafe(e.name),
      '@_id': id,
      '@_package': 'faultline',
      '@_tests': 1,
      '@_failures': 0,
      '@_errors': 0,
      '@_skipped': 1,
      '@_time': '0.000',
      '@_file': xmlSafe(e.file),
      testcase: {
        '@_classname': xmlSafe(`${e.name}.run`),
        '@_name': 'experiment run',
        '@_time': '0.000',
        skipped: {'@_message': xmlSafe(`skipped: ${e.reason}`)},
      },
    },
  }
  return (builder.build(suite) as string)
    .trim()
    .split('\n')
    .map(line => `  ${line}`)
    .join('\n')
    .trimStart()
}

const count = (suite: string, name: string) =>
  Number(new RegExp(`^<testsuite [^>]*?\\b${name}="(\\d+)"`).exec(suite)?.[1] ?? 0)

/** junit.xml: one testsuite per experiment (each as `chaos run` writes it), skipped ones included. */
export function renderGameDayJunit(report: GameDayReport, journals: ReadonlyMap<number, JournalDocument>): string {
  const suites = report.experiments.map((e, i) => {
    const doc = journals.get(i)
    return doc === undefined
      ? skippedSuite(e.status === 'skipped' ? e : {...e, reason: `no journal was found for this run (${e.reason})`}, i)
      : runSuite(doc, i)
  })
  const total = (name: string) => suites.reduce((sum, s) => sum + count(s, name), 0)
  const head = builder.build({
    '?xml': {'@_version': '1.0', '@_encoding': 'UTF-8'},
    testsuites: {
      '@_name': xmlSafe(`faultline gameday ${report.name}`),
      '@_tests': total('tests'),
      '@_failures': total('failures'),
      '@_errors': total('errors'),
      '@_skipped': total('skipped'),
      '@_time': (report.durationMs / 1000).toFixed(3),
      '@_timestamp': report.startedAt.slice(0, 19),
      '#text': 'SUITES',
    },
  }) as string
  // Each run's suite is cut from a document where it sat one level deep: it keeps that indentation.
  return head.replace('SUITES', `\n${suites.map(suite => `  ${suite}`).join('\n')}\n`)
}
