/**
 * `reports/index.html`: every run under a report root, newest first, with its verdict, reason and
 * key figures, links to its report and journal, client-side filters by experiment and verdict, and
 * per experiment a trend of the fault phase's figures across runs. One self-contained file (pure:
 * summaries in, markup out); every string from a journal goes through the escaping `html` tag.
 */
import {html, inlineScript, raw, type SafeHtml, scriptJson, uplotAssets} from '../assets.js'
import {formatMs, formatPercent} from '../format.js'
import {VERDICT_LOOK} from '../verdicts.js'
import {INDEX_CSS, INDEX_SCRIPT, VERDICT_COLOURS} from './client.js'
import {type LoadFigures, newestFirst, type RunSummary, VERDICTS} from './run-summary.js'

/** How the index is rendered. */
export interface IndexOptions {
  /** When the page is written: ages ("2 h ago") and stale `running` journals are judged against it. */
  generatedAt: Date
  /** Page title; defaults to "Faultline runs". */
  title?: string
  /** A journal left `running` and not written for this long belongs to a run that died (default 2 minutes). */
  staleAfterMs?: number
}

/** What a row shows as its verdict: a `running` journal nobody writes any more is `unfinished`. */
type Shown = RunSummary['verdict'] | 'unfinished'

const LABELS = Object.fromEntries(
  Object.entries(VERDICT_LOOK).map(([key, look]) => [key, {text: look.word, icon: look.symbol}]),
) as Record<Shown, {text: string; icon: string}>

const SHOWN_ORDER: readonly Shown[] = [...VERDICTS.slice(0, 4), 'unfinished', ...VERDICTS.slice(4)]

/** How long before `now` an instant was: `just now`, `5 min ago`, `3 h ago`, `12 d ago`. */
export function formatAge(iso: string, now: Date): string {
  const s = Math.round((now.getTime() - Date.parse(iso)) / 1000)
  if (!Number.isFinite(s)) return ''
  if (s < 60) return s < -60 ? 'in the future' : 'just now'
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 172_800) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

/** `2026-11-26 03:15 UTC`. */
function formatWhen(iso: string): string {
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** A relative link from the report root to a file in the run's directory, each path segment URL-encoded. */
export function runHref(dir: string, file: string): string {
  return [...dir.split('/').filter(s => s !== '' && s !== '.' && s !== '..'), file].map(encodeURIComponent).join('/')
}

function shownVerdict(run: RunSummary, options: IndexOptions): Shown {
  if (run.verdict !== 'running') return run.verdict
  const written = run.lastWrittenAt === undefined ? Number.NaN : Date.parse(run.lastWrittenAt)
  const stale = !(options.generatedAt.getTime() - written < (options.staleAfterMs ?? 120_000))
  return stale ? 'unfinished' : 'running'
}

function badge(verdict: Shown, className = 'badge'): SafeHtml {
  const label = LABELS[verdict]
  return html`<span class="v ${className} ${verdict}" style="--c:${VERDICT_COLOURS[verdict] ?? '#777'}"><i aria-hidden="true">${label.icon}</i>${label.text}</span>`
}

function fault(run: RunSummary, role: 'targeted' | 'control'): LoadFigures | undefined {
  return run.roles[role]?.fault
}

function reasonOf(run: RunSummary, shown: Shown, now: Date): string {
  if (run.lastWrittenAt === undefined || (shown !== 'running' && shown !== 'unfinished')) return run.reason
  return shown === 'running'
    ? `in progress: the journal was last written ${formatAge(run.lastWrittenAt, now)}`
    : `the run did not end: its journal is still marked running and was last written ${formatAge(run.lastWrittenAt, now)}; if faults may be left behind, run \`chaos revert\``
}

function latencyCell(run: RunSummary, role: 'targeted' | 'control'): SafeHtml {
  const during = fault(run, role)
  if (during === undefined) return html`<td class="num">—</td>`
  const before = run.roles[role]?.baseline
  return html`<td class="num">${formatMs(during.p95)}${before !== undefined && html`<span class="sub">baseline ${formatMs(before.p95)}</span>`}</td>`
}

function errorsCell(run: RunSummary): SafeHtml {
  const t = fault(run, 'targeted')
  const c = fault(run, 'control')
  if (t === undefined && c === undefined) return html`<td class="num">—</td>`
  const show = (f: LoadFigures | undefined) => (f === undefined ? '—' : formatPercent(f.errorRatio))
  return html`<td class="num">${show(t)}<span class="sub">control ${show(c)}</span></td>`
}

function effectCell(run: RunSummary): SafeHtml {
  const effect = run.faultEffect
  if (effect === undefined) return html`<td class="num">—</td>`
  if (effect.afterWriteMs < 0)
    return html`<td class="num" title="${effect.source}">seen<span class="sub">in traffic</span></td>`
  return html`<td class="num" title="${effect.source}">${formatMs(effect.afterWriteMs)}<span class="sub">after write</span></td>`
}

function probesCell(run: RunSummary): SafeHtml {
  const {held, missed, errored} = run.probes
  if (held + missed + errored === 0) return html`<td class="num">—</td>`
  return html`<td class="num">${held} held${missed > 0 && html`<span class="sub bad">${missed} missed</span>`}${errored > 0 && html`<span class="sub bad">${errored} errored</span>`}</td>`
}

function row(run: RunSummary, options: IndexOptions): SafeHtml {
  const shown = shownVerdict(run, options)
  const reason = reasonOf(run, shown, options.generatedAt)
  const when =
    run.startedAt === undefined
      ? html`<span class="sub">time unknown</span>`
      : html`<span class="sub when" title="${run.startedAt}">${formatWhen(run.startedAt)} · ${formatAge(run.startedAt, options.generatedAt)}</span>`
  return html`<tr class="${shown}" data-experiment="${run.experiment}" data-verdict="${shown}">
<td>${badge(shown)}</td>
<td><span class="exp" title="${[run.runId && `run ${run.runId}`, run.driver && `load: ${run.driver}`].filter(Boolean).join(' · ')}">${run.experiment}</span>${when}</td>
<td class="num">${run.durationMs === undefined ? '—' : formatMs(run.durationMs)}</td>
<td><span class="reason" title="${reason}">${reason}</span></td>
${latencyCell(run, 'targeted')}${latencyCell(run, 'control')}${errorsCell(run)}${effectCell(run)}${probesCell(run)}
<td class="links"><a href="${runHref(run.dir, 'report.html')}">report</a><a href="${runHref(run.dir, 'journal.json')}">journal</a></td>
</tr>`
}

/** One experiment's runs as chart columns, oldest first (x in seconds, latency in ms, errors in %). */
interface Trend {
  experiment: string
  t: number[]
  verdict: string[]
  tp95: (number | null)[]
  cp95: (number | null)[]
  terr: (number | null)[]
  cerr: (number | null)[]
}

function trends(runs: readonly RunSummary[], options: IndexOptions): Trend[] {
  const byExperiment = new Map<string, Trend>()
  const round = (v: number | undefined, digits: number) => (v === undefined ? null : Number(v.toFixed(digits)))
  for (const run of [...runs].reverse()) {
    const at = run.startedAt === undefined ? Number.NaN : Date.parse(run.startedAt)
    if (run.verdict === 'unreadable' || Number.isNaN(at)) continue
    let trend = byExperiment.get(run.experiment)
    if (trend === undefined)
      byExperiment.set(
        run.experiment,
        (trend = {experiment: run.experiment, t: [], verdict: [], tp95: [], cp95: [], terr: [], cerr: []}),
      )
    const [t, c] = [fault(run, 'targeted'), fault(run, 'control')]
    trend.t.push(at / 1000)
    trend.verdict.push(shownVerdict(run, options))
    trend.tp95.push(round(t?.p95, 1))
    trend.cp95.push(round(c?.p95, 1))
    trend.terr.push(round(t === undefined ? undefined : t.errorRatio * 100, 3))
    trend.cerr.push(round(c === undefined ? undefined : c.errorRatio * 100, 3))
  }
  return [...byExperiment.values()].sort((a, b) => (b.t.at(-1) ?? 0) - (a.t.at(-1) ?? 0))
}

function trendCard(trend: Trend, index: number): SafeHtml {
  const counts = SHOWN_ORDER.map(v => [v, trend.verdict.filter(x => x === v).length] as const).filter(([, n]) => n > 0)
  const last = trend.verdict.at(-1) as Shown
  const figures = [trend.tp95, trend.cp95, trend.terr, trend.cerr].some(series => series.some(v => v !== null))
  return html`<section class="trend" data-experiment="${trend.experiment}" data-trend="${index}">
<header><h3><button type="button" title="Show only this experiment's runs">${trend.experiment}</button></h3>
<span class="meta">${trend.t.length} run${trend.t.length === 1 ? '' : 's'}: ${counts.map(([v, n], i) => html`${i > 0 && ', '}${n} ${LABELS[v].text}`)} · last ${badge(last, 'small')}</span></header>
${
  figures
    ? html`<div class="charts"><div class="chart" data-chart="latency"><div class="plot"></div><div class="cap">p95 latency in the fault phase</div></div>
<div class="chart" data-chart="errors"><div class="plot"></div><div class="cap">error ratio in the fault phase</div></div></div>`
    : html`<p class="meta">No run of this experiment reached the fault phase with load, so there is nothing to chart yet.</p>`
}
</section>`
}

const CHART_LEGEND =
  raw(`<div class="legend"><span><b>—</b> targeted traffic</span><span><b class="dash">- - -</b> control traffic</span>
<span>markers on the targeted line show each run's verdict:</span>${(
    ['held', 'deviated', 'aborted', 'revert-failed', 'could-not-run'] as const
  )
    .map(
      v =>
        `<span style="color:${VERDICT_COLOURS[v]}">${{held: '●', deviated: '✕', aborted: '■', 'revert-failed': '▲', 'could-not-run': '⊘'}[v]}</span> ${LABELS[v].text}`,
    )
    .join(' ')}<span>(a marker on the x axis: the run had no load figures)</span></div>`)

function filters(runs: readonly RunSummary[], shown: readonly Shown[]): SafeHtml {
  const experiments = new Map<string, number>()
  for (const r of runs) experiments.set(r.experiment, (experiments.get(r.experiment) ?? 0) + 1)
  const names = [...experiments.keys()].sort((a, b) => a.localeCompare(b))
  const verdicts = SHOWN_ORDER.filter(v => shown.includes(v))
  return html`<div class="bar">
<label for="filter-experiment">Experiment</label><select id="filter-experiment"><option value="">all (${names.length})</option>${names.map(n => html`<option value="${n}">${n} (${experiments.get(n) ?? 0})</option>`)}</select>
<label for="filter-verdict">Verdict</label><select id="filter-verdict"><option value="">any</option>${verdicts.map(v => html`<option value="${v}">${LABELS[v].text}</option>`)}</select>
<span class="chips">${verdicts.map(v => html`<button type="button" class="chip v ${v}" style="--c:${VERDICT_COLOURS[v] ?? '#777'}" data-verdict="${v}" aria-pressed="false"><i aria-hidden="true">${LABELS[v].icon}</i>${shown.filter(x => x === v).length} ${LABELS[v].text}</button>`)}</span>
<span class="meta">Showing <span id="shown">${runs.length === 1 ? 'the one run' : `all ${runs.length} runs`}</span></span>
</div>`
}

/** Runs that may have left faults behind, said once above the list: a revert that failed, a run that never ended. */
function attention(runs: readonly RunSummary[], shown: readonly Shown[]): SafeHtml | undefined {
  const at = (v: Shown) => shown.flatMap((s, i) => (s === v ? [runs[i] as RunSummary] : []))
  const parts = (
    [
      ['revert-failed', 'the revert failed in'],
      ['unfinished', 'the journal was never closed in'],
    ] as const
  )
    .map(([v, words]) => [words, at(v)] as const)
    .filter(([, list]) => list.length > 0)
  if (parts.length === 0) return undefined
  const list = (rs: readonly RunSummary[]) =>
    `${rs.length} run${rs.length === 1 ? '' : 's'} (newest: ${rs[0]?.experiment ?? ''}${rs[0]?.startedAt === undefined ? '' : `, ${formatWhen(rs[0].startedAt)}`})`
  return html`<p class="attention" role="note"><strong>Faults may have been left behind:</strong> ${parts.map(([words, rs], i) => html`${i > 0 && '; '}${words} ${list(rs)}`)}. <code>chaos revert</code> removes what a run left.</p>`
}

function emptyState(): SafeHtml {
  return html`<div class="empty"><h2>No runs yet</h2>
<p>Every <code>chaos run</code> writes its journal and report under <code>&lt;report-dir&gt;/&lt;experiment&gt;/&lt;timestamp&gt;/</code>, and this page lists them, newest first.</p>
<p class="hint">Try one on the built-in sandbox: <code>chaos run experiments/ratings-delay.yaml</code>, then open this page again.</p></div>`
}

/** The index page for `runs` (any order; listed newest first). */
export function renderIndex(runs: readonly RunSummary[], options: IndexOptions): string {
  const sorted = [...runs].sort(newestFirst)
  const title = options.title ?? 'Faultline runs'
  const shown = sorted.map(r => shownVerdict(r, options))
  const trendData = trends(sorted, options)
  const generated = options.generatedAt.toISOString()
  const body =
    sorted.length === 0
      ? emptyState()
      : html`${filters(sorted, shown)}
<details class="trends-box" open><summary>Trends per experiment (${trendData.length}): the fault phase across runs</summary><div class="trends">${trendData.map(trendCard)}</div>${CHART_LEGEND}</details>
${attention(sorted, shown)}<table id="runs"><colgroup><col class="c-verdict"><col class="c-run"><col class="c-dur"><col><col class="c-num"><col class="c-num"><col class="c-num"><col class="c-num"><col class="c-probes"><col class="c-files"></colgroup><thead><tr><th>Verdict</th><th>Experiment · started</th><th class="num">Duration</th><th>Reason</th>
<th class="num" title="p95 latency of the targeted traffic in the fault phase">Targeted p95<span class="sub">fault phase</span></th>
<th class="num" title="p95 latency of the control traffic in the fault phase">Control p95<span class="sub">fault phase</span></th>
<th class="num" title="Failed requests / requests in the fault phase">Errors<span class="sub">targeted / control</span></th>
<th class="num" title="From the fault's write to the first evidence it took effect">Fault effect</th><th class="num">Probes</th><th>Files</th></tr></thead>
<tbody>${sorted.map(r => row(r, options))}</tbody></table>
<p id="no-match" hidden>No run matches these filters.</p>`
  const charts = sorted.length === 0 ? undefined : uplotAssets()
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${title}</title><style>${raw(INDEX_CSS)}${charts?.style}</style></head>
<body><header><h1>${title}</h1><span class="meta">${sorted.length} run${sorted.length === 1 ? '' : 's'} · generated <time datetime="${generated}">${formatWhen(generated)}</time></span></header>
<main>${body}</main>
${
  charts !== undefined &&
  html`<script type="application/json" id="index-data">${scriptJson({trends: trendData, colours: VERDICT_COLOURS, labels: Object.fromEntries(Object.entries(LABELS).map(([k, v]) => [k, v.text]))})}</script>
<script>${charts.script}</script><script>${inlineScript(INDEX_SCRIPT)}</script>`
}
</body></html>
`.value
}
