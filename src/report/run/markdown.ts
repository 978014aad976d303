/**
 * `summary.md`: a short Markdown account of one run for a pull request or a job summary — the
 * verdict and its reason, the load's key numbers per traffic class and phase, the probe × phase
 * table, the fault evidence and the reverts. Every string that came from the experiment, the
 * cluster or the target is escaped, so it renders as the text it is. Pure.
 */
import {PHASES} from '../../experiment/model.js'
import type {JournalDocument} from '../../journal/journal.js'
import {type ReportCheck, type CheckStatus, runChecks} from './checks.js'
import {reasonsByPhase} from './failure-reasons.js'
import {formatMs, formatPercent, formatRate} from '../format.js'
import {type LoadFigures, summariseRun} from '../index/run-summary.js'
import {VERDICT_LOOK} from '../verdicts.js'
import {reasonsText} from '../../load/reasons.js'
import {diagnosisMarkdown} from '../../diagnosis/text.js'

/** A journal left `running` did not finish (or is still going): the shared `unfinished` verdict. */
const VERDICT: Record<string, {icon: string; title: string}> = {
  ...Object.fromEntries(
    Object.entries(VERDICT_LOOK).map(([key, look]) => [key, {icon: look.emoji, title: look.word.toUpperCase()}]),
  ),
  running: {icon: VERDICT_LOOK.unfinished.emoji, title: VERDICT_LOOK.unfinished.word.toUpperCase()},
}

const ICON: Record<CheckStatus, string> = {passed: '✅', failed: '❌', errored: '⚠️', skipped: '⏭️'}

/**
 * Untrusted text as inline Markdown that renders as itself: one line, HTML neutralised, Markdown
 * punctuation and table pipes backslash-escaped, control characters made visible.
 */
export function markdownText(text: string): string {
  return text
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\`*_[\]|~]/g, c => `\\${c}`)
    .replace(
      // eslint-disable-next-line no-control-regex
      /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]/g,
      c => `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
    )
}

function table(header: string[], rows: string[][]): string[] {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)]
}

function headline(doc: JournalDocument): string[] {
  const verdict = doc.status === 'finished' && doc.outcome !== undefined ? doc.outcome : 'running'
  const {icon, title} = VERDICT[verdict] ?? {icon: '❔', title: verdict.toUpperCase()}
  const exit = doc.exitCode === undefined ? '' : ` (exit ${doc.exitCode})`
  const reason =
    doc.status === 'finished'
      ? (doc.reason ?? '')
      : 'the journal is still marked running: the run is in progress, or its process died — check for leftover faults with `chaos revert`'
  const env = doc.environment
  const started = Date.parse(doc.startedAt)
  const ended = doc.finishedAt === undefined ? Number.NaN : Date.parse(doc.finishedAt)
  const facts = [
    `run ${markdownText(doc.runId)}`,
    markdownText(doc.experiment.file),
    env.cluster === undefined
      ? undefined
      : markdownText(`${env.cluster} ${env.context ?? ''}, namespace ${env.namespace ?? '?'}`),
    Number.isFinite(ended - started) ? formatMs(ended - started) : undefined,
    env.driverVersion === undefined ? undefined : `load: ${markdownText(env.driverVersion)}`,
    env.user === undefined ? undefined : `by ${markdownText(env.user)}`,
  ].filter(f => f !== undefined)
  return [
    `## ${icon} ${markdownText(doc.experiment.name)}: ${title}${exit}`,
    '',
    doc.status === 'finished' ? markdownText(reason.charAt(0).toUpperCase() + reason.slice(1)) : reason,
    '',
    facts.join(' · '),
  ]
}

function loadSection(doc: JournalDocument): string[] {
  const classes = summariseRun(doc, '').classes
  const rows: string[][] = []
  const cells = (f: LoadFigures) => [formatRate(f.rate), formatPercent(f.errorRatio), formatMs(f.p95), formatMs(f.p99)]
  for (const c of classes) {
    for (const phase of PHASES) {
      const f = c.phases[phase]
      if (f !== undefined)
        rows.push([markdownText(c.name === c.role ? c.name : `${c.name} (${c.role})`), phase, ...cells(f)])
    }
  }
  if (rows.length === 0) return []
  return ['', '### Load', '', ...table(['Traffic', 'Phase', 'Rate', 'Errors', 'p95', 'p99'], rows)]
}

/** Why requests failed, per class and phase (only those with failures): `ENOTFOUND productpage × 50`. */
function failuresSection(doc: JournalDocument): string[] {
  const rows = reasonsByPhase(doc)
    .filter(p => p.failed > 0)
    .map(p => [markdownText(p.traffic), p.phase, String(p.failed), markdownText(reasonsText(p.reasons, 5))])
  return rows.length === 0
    ? []
    : ['', '### Failed requests', '', ...table(['Traffic', 'Phase', 'Failed', 'Reasons (most frequent first)'], rows)]
}

/** One cell of the probe table: status icon and what was measured (or why not). */
function probeCell(c: ReportCheck | undefined): string {
  if (c === undefined) return '—'
  if (c.probe === undefined) return `${ICON[c.status]} not evaluated`
  const text = c.status === 'errored' ? `errored: ${c.probe.message ?? c.probe.actual}` : c.probe.actual
  return `${ICON[c.status]} ${markdownText(text)}`
}

function hypothesisSection(checks: readonly ReportCheck[]): string[] {
  const probeChecks = checks.filter(c => c.kind === 'probe')
  const names = [...new Set(probeChecks.map(c => c.name))]
  if (names.length === 0) return []
  if (probeChecks.every(c => c.status === 'skipped'))
    return ['', '### Hypothesis', '', `Not tested: none of the ${names.length} probe(s) was evaluated.`]
  const rows = names.map(name => {
    const of = probeChecks.filter(c => c.name === name)
    const expected = of.find(c => c.expected !== undefined)?.expected
    return [
      markdownText(name),
      expected === undefined ? '' : markdownText(expected),
      ...PHASES.map(p => probeCell(of.find(c => c.group === p))),
    ]
  })
  return ['', '### Hypothesis', '', ...table(['Probe', 'Expected', 'Baseline', 'Fault', 'Recovery'], rows)]
}

function bullet(c: ReportCheck): string {
  const detail = c.detail === undefined || c.status === 'passed' ? '' : ` — ${markdownText(c.detail)}`
  return `- ${ICON[c.status]} **${markdownText(c.name)}**: ${markdownText(c.summary)}${detail}`
}

function preflightSection(checks: readonly ReportCheck[]): string[] {
  const lines = checks.filter(c => c.kind === 'preflight' && c.status !== 'passed').map(bullet)
  return lines.length === 0 ? [] : ['', '### Preflight', '', ...lines]
}

function faultSection(doc: JournalDocument, checks: readonly ReportCheck[]): string[] {
  const lines = [
    ...doc.applied.map(a =>
      a.kind === 'DestinationRule'
        ? `- Setup: patched DestinationRule ${markdownText(`${a.namespace}/${a.name}`)} (resourceVersion ${markdownText(a.resourceVersion)}), restored at the end`
        : `- Applied VirtualService ${markdownText(`${a.namespace}/${a.name}`)} (${a.action}, resourceVersion ${markdownText(a.resourceVersion)})`,
    ),
    ...checks.filter(c => c.kind === 'evidence' && c.status !== 'skipped').map(bullet),
    ...checks.filter(c => c.kind === 'revert').map(bullet),
    ...doc.events.filter(e => e.kind === 'last-evidence').map(e => `- After the revert: ${markdownText(e.message)}`),
  ]
  return lines.length === 0 ? [] : ['', '### Fault and revert', '', ...lines]
}

/** A command shown as code when it is plainly one (nothing to escape), else as escaped text. */
function command(text: string): string {
  return /^[\w .:/=@-]+$/.test(text) ? `\`${text}\`` : markdownText(text)
}

/** When a revert failed, what to run comes first, as a GitHub alert. */
function cleanupCallout(doc: JournalDocument): string[] {
  const failed = doc.events.filter(e => e.kind === 'revert-failed')
  if (failed.length === 0) return []
  return [
    '',
    '> [!CAUTION]',
    `> Faults may still be live on ${failed.map(e => markdownText(`${e.namespace}/${e.name}`)).join(', ')}. Clean up with:`,
    ...[...new Set(failed.map(e => e.command))].map(c => `> ${command(c)}`),
  ]
}

/** The journal of one run as summary.md. */
export function renderMarkdown(doc: JournalDocument): string {
  const checks = runChecks(doc)
  return [
    ...headline(doc),
    ...cleanupCallout(doc),
    ...preflightSection(checks),
    ...loadSection(doc),
    ...failuresSection(doc),
    ...hypothesisSection(checks),
    ...(doc.blastRadius === undefined ? [] : diagnosisMarkdown(doc.blastRadius, markdownText)),
    ...faultSection(doc, checks),
    '',
  ].join('\n')
}
