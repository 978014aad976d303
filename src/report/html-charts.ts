/**
 * The timeline section: per traffic class, request rate, error ratio and latency charts (drawn in
 * the page by `html-client.ts` from compact columns embedded here), a legend that names the shaded
 * phases and the numbered moments, and per phase what each class sent and got.
 */
import {targetedClasses} from '../experiment/traffic.js'
import type {JournalDocument} from '../runner/journal.js'
import {html, type SafeHtml, scriptJson} from './assets.js'
import {formatCount, formatMs, formatPercent, formatRunClock} from './html-format.js'
import {type ChartLimit, chartLimits} from './html-limits.js'
import {journalSeries, type PromChartData, promChartData} from './html-series.js'
import {loadColumns, type LoadColumns, type Marker, phaseTraffic, type Timeline} from './html-model.js'

/** What the page's script draws from, all times in seconds since the run started. */
export interface ChartData {
  offsetS: number
  endS: number
  phases: {name: string; from: number; to: number; cutShort: boolean; open: boolean}[]
  markers: {n: number; kind: Marker['kind']; label: string; t: number}[]
  classes: LoadColumns[]
  /** The threshold probes' and guardrails' limits, drawn on the load charts. */
  limits: ChartLimit[]
  /** Prometheus range series with a sample, one chart each. */
  prometheus: PromChartData[]
  /** Where a failed revert left the fault possibly live (hatched to the end), if one did. */
  liveFromS?: number
}

const seconds = (ms: number) => Math.round(ms) / 1000

/** The embedded chart data: phases, markers and each class's seconds as columns. */
export function chartData(doc: JournalDocument, timeline: Timeline): ChartData {
  const failed = timeline.markers.find(m => m.kind === 'revert-failed')
  return {
    offsetS: seconds(timeline.loadOffsetMs),
    endS: seconds(timeline.endMs),
    phases: timeline.phases.map(p => ({name: p.name, from: seconds(p.fromMs), to: seconds(p.toMs), cutShort: p.cutShort, open: p.open})),
    markers: timeline.markers.map(m => ({n: m.n, kind: m.kind, label: m.label, t: seconds(m.tMs)})),
    classes: Object.entries(doc.load).filter(([, s]) => s.length > 0).map(([name, s]) => loadColumns(name, s)),
    limits: chartLimits(doc, timeline),
    prometheus: journalSeries(doc).filter(s => s.error === undefined && s.series.some(x => x.points.length > 0)).map(s => promChartData(doc, s)),
    ...(failed === undefined ? {} : {liveFromS: seconds(failed.tMs)}),
  }
}

// Latency and errors first: they are what a fault moves; the constant-arrival rate rarely does.
const METRICS = ['latency', 'errors', 'rate'] as const

function roleOf(doc: JournalDocument): (name: string) => string {
  let targeted: Set<string>
  try {
    targeted = targetedClasses({experiment: doc.experiment.spec})
  } catch {
    return () => ''
  }
  return name => targeted.has(name) ? 'targeted: carries the fault’s match headers' : 'control: no fault headers'
}

function headersOf(doc: JournalDocument, name: string): string {
  const traffic = doc.experiment.spec?.spec?.load?.traffic?.find(t => t.name === name)
  if (traffic === undefined) return ''
  const headers = Object.entries(traffic.headers ?? {}).map(([k, v]) => `${k}: ${v}`)
  return [traffic.rate ?? (traffic.vus === undefined ? '' : `${traffic.vus} VUs`), ...headers].filter(Boolean).join(' · ')
}

function legend(timeline: Timeline): SafeHtml {
  const phases = timeline.phases.map(p => html`<li><span class="swatch phase-${p.name}"></span><b>${p.name}</b>
    ${formatRunClock(p.fromMs)} → ${formatRunClock(p.toMs)} (${formatMs(p.toMs - p.fromMs)}${p.cutShort ? html`, <strong class="warn-text">cut short</strong> of ${formatMs(p.plannedMs)} planned` : ''}${p.open ? html`, <strong class="warn-text">never ended</strong>` : ''})</li>`)
  const markers = timeline.markers.map(m => html`<li><span class="marker-num marker-${m.kind}">${m.n}</span><b>${m.label}</b> ${formatRunClock(m.tMs)} <span class="muted">${m.detail}</span></li>`)
  return html`<div class="chart-legend">
  <ul class="phase-legend" aria-label="phases">${phases}</ul>
  ${markers.length === 0 ? html`<p class="muted">No fault was written, so no moments are marked.</p>` : html`<ul class="marker-legend" aria-label="marked moments">${markers}</ul>`}
</div>`
}

function trafficTable(doc: JournalDocument, timeline: Timeline): SafeHtml {
  const rows = Object.entries(doc.load).flatMap(([name, s]) => phaseTraffic(s, timeline).map((p, i) => html`<tr>
    ${i === 0 ? html`<th scope="rowgroup" rowspan="${timeline.phases.length}">${name}</th>` : ''}
    <td>${p.phase}</td><td class="num">${formatCount(p.requests)}</td><td class="num">${p.ratePerS.toFixed(1)} req/s</td>
    <td class="num${p.failed > 0 ? ' bad-text' : ''}">${formatCount(p.failed)} (${formatPercent(p.requests === 0 ? 0 : p.failed / p.requests)})</td>
    <td class="num">${formatCount(p.dropped)}</td>
    <td>${Object.entries(p.statuses).sort().map(([code, n]) => `${code} × ${formatCount(n)}`).join(', ') || '—'}</td>
    <td class="num">${p.worstP99 === undefined ? '—' : formatMs(p.worstP99)}</td></tr>`))
  return html`<table class="traffic">
  <caption>Traffic by phase (a second counts in the phase its middle falls in)</caption>
  <thead><tr><th>class</th><th>phase</th><th>requests</th><th>rate</th><th>failed</th><th>dropped</th><th>statuses</th><th>worst 1-s p99</th></tr></thead>
  <tbody>${rows}</tbody></table>`
}

/** The timeline section, or a sentence saying why there is none (no load ran). */
export function timelineSection(doc: JournalDocument, timeline: Timeline, data: ChartData): SafeHtml {
  if (data.classes.length === 0) {
    return html`<section id="timeline"><h2>Timeline</h2><p class="empty">No load was recorded: ${timeline.phases.length === 0 ? 'the run ended before its first phase' : 'the load driver sent nothing'}, so there is nothing to chart.</p>${timeline.markers.length > 0 ? legend(timeline) : ''}</section>`
  }
  const role = roleOf(doc)
  const cards = data.classes.map((c, i) => html`<div class="class-card">
  <h3>${c.name} <span class="muted">${role(c.name)}</span></h3>
  <p class="muted small">${headersOf(doc, c.name)}</p>
  ${METRICS.map(m => html`<div class="chart-head"><h4>${m === 'rate' ? 'Request rate (req/s)' : m === 'errors' ? 'Error ratio (%)' : 'Latency (ms)'}</h4></div><div class="chart" data-class="${i}" data-metric="${m}" data-height="${m === 'latency' ? 170 : 115}"></div>`)}
</div>`)
  return html`<section id="timeline">
<h2>Timeline <span class="muted">per traffic class, one point per second, time since the run started</span></h2>
${legend(timeline)}
<div class="class-grid cols-${Math.min(data.classes.length, 2)}">${cards}</div>
${trafficTable(doc, timeline)}
</section>`
}

/** The `<script type="application/json">` element the page's script reads. */
export function chartDataElement(data: ChartData): SafeHtml {
  return html`<script type="application/json" id="chart-data">${scriptJson(data)}</script>`
}
