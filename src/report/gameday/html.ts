/**
 * gameday.html: one self-contained page for a game day — the worst outcome as a banner, then a
 * table of the experiments with their verdicts and links to each run's report.html. It reuses the
 * run report's stylesheet and verdict words, icons and colours, so a verdict looks the same on
 * every page; it runs no script and may fetch nothing (the data rides along as inert JSON).
 */
import type {Outcome} from '../../journal/events.js'
import {html, raw, scriptJson} from '../assets.js'
import {formatMs} from '../format.js'
import {type GameDayExperimentReport, type GameDayReport} from './report.js'
import {formatInstant} from '../run/html-format.js'
import {REPORT_CSS} from '../run/style.js'
import {capitalised, VERDICT_LOOK} from '../verdicts.js'

/** The shared verdict words and symbols, capitalised for the table. */
const VERDICTS = Object.fromEntries(
  Object.entries(VERDICT_LOOK).map(([key, look]) => [key, {title: capitalised(look.word), icon: look.symbol}]),
) as Record<Outcome | 'skipped', {title: string; icon: string}>

const BANNER: Record<Outcome, string> = {
  held: 'Every hypothesis held',
  deviated: 'A hypothesis deviated',
  aborted: 'Aborted — faults were reverted',
  'could-not-run': 'An experiment could not run',
  'revert-failed': 'Revert failed — faults may still be live',
}

/** Outcome badges in the run report's palette (its CSS variables): colour, word and symbol together. */
const GAMEDAY_CSS = `
table.gameday { border-collapse: collapse; width: 100%; margin-top: 8px; }
table.gameday th, table.gameday td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
table.gameday th { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
table.gameday td.reason { overflow-wrap: break-word; max-width: 60ch; }
ul.diagnosis { margin: 6px 0 0; padding-left: 18px; color: var(--muted); font-size: 13px; }
tr.skipped td { color: var(--muted); }
.outcome-held { color: #005286; background: var(--good-bg); border-color: var(--good); }
.outcome-deviated { color: #8f3a00; background: var(--dev-bg); border-color: var(--dev); }
.outcome-aborted { color: var(--abort); background: var(--abort-bg); border-color: var(--abort); }
.outcome-could-not-run { color: #333; background: var(--none-bg); border-color: var(--none); }
.outcome-revert-failed { color: #fff; background: var(--bad); border-color: var(--bad); }
.outcome-skipped { color: var(--muted); background: #fff; border-color: var(--line); border-style: dashed; }
.gate { margin: 10px 0 0; padding: 6px 10px; background: var(--warn-bg); border-left: 5px solid var(--warn); }
`

function badge(e: GameDayExperimentReport) {
  const key = e.outcome ?? 'skipped'
  const words = VERDICTS[key]
  return html`<span class="badge outcome-${key}"><span aria-hidden="true">${words.icon}</span> ${words.title}</span>${e.exitCode !== undefined && html` <span class="muted small">exit ${e.exitCode}</span>`}`
}

function row(e: GameDayExperimentReport, i: number) {
  const name = e.report === undefined ? html`${e.name}` : html`<a href="${encodeURI(e.report)}">${e.name}</a>`
  return html`<tr class="${e.status}"><td class="num">${i + 1}</td><td><strong>${name}</strong><span class="muted small" style="display:block">${e.file} · namespace ${e.namespace}</span></td>
<td>${badge(e)}</td><td class="num">${e.durationMs === undefined ? '—' : formatMs(e.durationMs)}</td><td class="reason">${e.reason}${diagnosis(e)}</td></tr>`
}

/** The run's diagnosis under its reason: why it deviated, one sentence per finding (absent when the run has none). */
function diagnosis(e: GameDayExperimentReport) {
  if (e.diagnosis === undefined || e.diagnosis.length === 0) return ''
  return html`<ul class="diagnosis">${e.diagnosis.map(sentence => html`<li>${sentence}</li>`)}</ul>`
}

/** Renders gameday.json as one self-contained page. */
export function renderGameDayHtml(report: GameDayReport): string {
  const ran = report.experiments.filter(e => e.status === 'ran').length
  const words = VERDICTS[report.outcome]
  const gate =
    report.tolerated.length > 0 &&
    html`<p class="gate">The CI gate (<code>--fail-on ${report.failOn}</code>) tolerated ${report.tolerated.join(', ')}: the game day exits ${report.exitCode}.</p>`
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'">
<title>${words.icon} Game day ${report.name}: ${report.outcome}</title>
<style>${raw(REPORT_CSS + GAMEDAY_CSS)}</style></head>
<body>
<p class="muted small">Game day · ${report.file}</p>
<h1>${report.name}</h1>
<section class="verdict verdict-${report.outcome}" role="status">
<div class="verdict-icon" aria-hidden="true">${words.icon}</div>
<div class="verdict-body"><p class="verdict-title">${BANNER[report.outcome]} <span class="exit">exit ${report.exitCode}</span></p>
<p class="verdict-reason">${ran} of ${report.experiments.length} experiment${report.experiments.length === 1 ? '' : 's'} ran in ${formatMs(report.durationMs)}${report.stoppedBecause !== undefined && html`; stopped early: ${report.stoppedBecause}`}.</p>
${report.description !== undefined && html`<p class="description">${report.description}</p>`}
<p class="meta">Started <time datetime="${report.startedAt}">${formatInstant(report.startedAt)}</time> · finished <time datetime="${report.finishedAt}">${formatInstant(report.finishedAt)}</time></p>
${gate}</div></section>
<h2 id="experiments">Experiments</h2>
<table class="gameday"><thead><tr><th class="num">#</th><th>Experiment</th><th>Outcome</th><th class="num">Duration</th><th>Reason</th></tr></thead>
<tbody>${report.experiments.map(row)}</tbody></table>
<script type="application/json" id="gameday-data">${scriptJson(report)}</script>
</body></html>
`.value
}
