/**
 * The timeline section: per traffic class, latency, requests in flight (with the oldest one's age,
 * when the journal records them), error ratio and request rate charts (drawn in the page by
 * `html-client.ts` from compact columns embedded here), a legend that names the shaded phases and
 * the numbered moments, and per phase what each class sent and got. A phase the run cut short is
 * drawn and named as incomplete, and requests the runner cancelled are counted as cancelled.
 */
import {targetedClasses} from '../../experiment/traffic.js'
import {inFlightText} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {html, type SafeHtml, scriptJson} from '../assets.js'
import {formatCount, formatMs, formatPercent, formatRunClock} from './html-format.js'
import {type ChartLimit, chartLimits} from './limits.js'
import {journalSeries, type PromChartData, promChartData} from './series.js'
import {
  inFlightColumns,
  loadColumns,
  type LoadColumns,
  type Marker,
  type PhaseSpan,
  phaseTraffic,
  type Timeline,
} from './model.js'

/** What the page's script draws from, all times in seconds since the run started. */
export interface ChartData {
  offsetS: number
  endS: number
  /** `labels`: the band's label, longest first; the page draws the first that fits. */
  phases: {name: string; from: number; to: number; cutShort: boolean; open: boolean; labels: string[]}[]
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
const tenths = (ms: number) => `${(ms / 1000).toFixed(1)} s`

/** How long a cut-short phase had run, and of how long planned: from the runner's record, else from its end. */
function cutOf(p: PhaseSpan): {afterMs: number; plannedMs: number; reason?: string} {
  return p.cut ?? {afterMs: p.toMs - p.fromMs, plannedMs: p.plannedMs}
}

/** A phase band's label, longest first: `fault · incomplete — cut short at +8.6 s of 20.0 s`, …, `fault`. */
export function phaseLabels(p: PhaseSpan): string[] {
  if (p.open) return [`${p.name} (never ended)`, p.name]
  if (!p.cutShort) return [p.name]
  const cut = cutOf(p)
  const at = `${p.name} · incomplete — cut short at +${tenths(cut.afterMs)}`
  return [`${at} of ${tenths(cut.plannedMs)}`, at, `${p.name} · incomplete`, `${p.name} (cut)`, p.name]
}

/** The embedded chart data: phases, markers and each class's seconds as columns. */
export function chartData(doc: JournalDocument, timeline: Timeline): ChartData {
  const failed = timeline.markers.find(m => m.kind === 'revert-failed')
  return {
    offsetS: seconds(timeline.loadOffsetMs),
    endS: seconds(timeline.endMs),
    phases: timeline.phases.map(p => ({
      name: p.name,
      from: seconds(p.fromMs),
      to: seconds(p.toMs),
      cutShort: p.cutShort,
      open: p.open,
      labels: phaseLabels(p),
    })),
    markers: timeline.markers.map(m => ({n: m.n, kind: m.kind, label: m.label, t: seconds(m.tMs)})),
    classes: Object.entries(doc.load)
      .filter(([, s]) => s.length > 0)
      .map(([name, s]) => {
        const flying = doc.inFlight?.[name] ?? []
        return {...loadColumns(name, s), ...(flying.length === 0 ? {} : {inFlight: inFlightColumns(flying)})}
      }),
    limits: chartLimits(doc, timeline),
    prometheus: journalSeries(doc)
      .filter(s => s.error === undefined && s.series.some(x => x.points.length > 0))
      .map(s => promChartData(doc, s)),
    ...(failed === undefined ? {} : {liveFromS: seconds(failed.tMs)}),
  }
}

// Latency and errors first: they are what a fault moves; the constant-arrival rate rarely does.
// Requests in flight sit under latency: a delay shows there while it happens, latency only once
// the slow requests complete.
const METRICS = ['latency', 'inflight', 'errors', 'rate'] as const
const CHART_TITLES: Record<(typeof METRICS)[number], string> = {
  latency: 'Latency (ms)',
  inflight: 'Requests in flight · age of the oldest',
  errors: 'Error ratio (%)',
  rate: 'Request rate (req/s)',
}
const CHART_HEIGHTS: Record<(typeof METRICS)[number], number> = {latency: 170, inflight: 130, errors: 115, rate: 115}

function roleOf(doc: JournalDocument): (name: string) => string {
  let targeted: Set<string>
  try {
    targeted = targetedClasses({experiment: doc.experiment.spec})
  } catch {
    return () => ''
  }
  return name => (targeted.has(name) ? 'targeted: carries the fault’s match headers' : 'control: no fault headers')
}

function headersOf(doc: JournalDocument, name: string): string {
  const traffic = doc.experiment.spec?.spec?.load?.traffic?.find(t => t.name === name)
  if (traffic === undefined) return ''
  const headers = Object.entries(traffic.headers ?? {}).map(([k, v]) => `${k}: ${v}`)
  return [traffic.rate ?? (traffic.vus === undefined ? '' : `${traffic.vus} VUs`), ...headers]
    .filter(Boolean)
    .join(' · ')
}

/** `, incomplete — cut short at +8.6 s of 20 s planned (interrupted (signal)); cancelled in flight: targeted 6 in flight, oldest 3.0 s`. */
function cutWords(p: PhaseSpan): SafeHtml {
  const cut = cutOf(p)
  const flying = (p.cut?.inFlight ?? []).filter(f => f.count > 0)
  return html`, <strong class="warn-text">incomplete — cut short</strong> at +${tenths(cut.afterMs)} of ${formatMs(cut.plannedMs)} planned${cut.reason === undefined ? '' : ` (${cut.reason})`}${flying.length === 0 ? '' : `; cancelled in flight: ${inFlightText(flying)}`}`
}

function legend(timeline: Timeline): SafeHtml {
  const phases = timeline.phases.map(
    p => html`<li><span class="swatch phase-${p.name}"></span><b>${p.name}</b>
    ${formatRunClock(p.fromMs)} → ${formatRunClock(p.toMs)} (${formatMs(p.toMs - p.fromMs)}${p.cutShort ? cutWords(p) : ''}${p.open ? html`, <strong class="warn-text">never ended</strong>` : ''})</li>`,
  )
  const markers = timeline.markers.map(
    m =>
      html`<li><span class="marker-num marker-${m.kind}">${m.n}</span><b>${m.label}</b> ${formatRunClock(m.tMs)} <span class="muted">${m.detail}</span></li>`,
  )
  return html`<div class="chart-legend">
  <ul class="phase-legend" aria-label="phases">${phases}</ul>
  ${markers.length === 0 ? html`<p class="muted">No fault was written, so no moments are marked.</p>` : html`<ul class="marker-legend" aria-label="marked moments">${markers}</ul>`}
</div>`
}

function trafficTable(doc: JournalDocument, timeline: Timeline): SafeHtml {
  // Only runs the runner stopped cancel requests: the column is there when it has something to say.
  const cancelled = Object.values(doc.load).some(s => s.some(x => (x.cancelled ?? 0) > 0))
  const incomplete = new Set(timeline.phases.filter(p => p.cutShort).map(p => p.name))
  const rows = Object.entries(doc.load).flatMap(([name, s]) =>
    phaseTraffic(s, timeline).map(
      (p, i) => html`<tr>
    ${i === 0 ? html`<th scope="rowgroup" rowspan="${timeline.phases.length}">${name}</th>` : ''}
    <td>${p.phase}${incomplete.has(p.phase) ? html` <span class="warn-text small">incomplete</span>` : ''}</td><td class="num">${formatCount(p.requests)}</td><td class="num">${p.ratePerS.toFixed(1)} req/s</td>
    <td class="num${p.failed > 0 ? ' bad-text' : ''}">${formatCount(p.failed)} (${formatPercent(p.requests === 0 ? 0 : p.failed / p.requests)})</td>
    ${cancelled ? html`<td class="num${p.cancelled > 0 ? ' warn-text' : ''}">${formatCount(p.cancelled)}</td>` : ''}
    <td class="num">${formatCount(p.dropped)}</td>
    <td>${
      Object.entries(p.statuses)
        .sort()
        .map(([code, n]) => `${code} × ${formatCount(n)}`)
        .join(', ') || '—'
    }</td>
    <td class="num">${p.worstP99 === undefined ? '—' : formatMs(p.worstP99)}</td></tr>`,
    ),
  )
  return html`<table class="traffic">
  <caption>Traffic by phase (a second counts in the phase its middle falls in)${cancelled ? '; cancelled: requests the runner cancelled when it stopped the run, in flight then — neither answered nor failed' : ''}</caption>
  <thead><tr><th>class</th><th>phase</th><th>requests</th><th>rate</th><th>failed</th>${cancelled ? html`<th>cancelled</th>` : ''}<th>dropped</th><th>statuses</th><th>worst 1-s p99</th></tr></thead>
  <tbody>${rows}</tbody></table>`
}

/** The timeline section, or a sentence saying why there is none (no load ran). */
export function timelineSection(doc: JournalDocument, timeline: Timeline, data: ChartData): SafeHtml {
  if (data.classes.length === 0) {
    return html`<section id="timeline"><h2>Timeline</h2><p class="empty">No load was recorded: ${timeline.phases.length === 0 ? 'the run ended before its first phase' : 'the load driver sent nothing'}, so there is nothing to chart.</p>${timeline.markers.length > 0 ? legend(timeline) : ''}</section>`
  }
  const role = roleOf(doc)
  const cards = data.classes.map(
    (c, i) => html`<div class="class-card">
  <h3>${c.name} <span class="muted">${role(c.name)}</span></h3>
  <p class="muted small">${headersOf(doc, c.name)}</p>
  ${METRICS.filter(m => m !== 'inflight' || c.inFlight !== undefined).map(m => html`<div class="chart-head"><h4>${CHART_TITLES[m]}</h4></div><div class="chart" data-class="${i}" data-metric="${m}" data-height="${CHART_HEIGHTS[m]}"></div>`)}
</div>`,
  )
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
