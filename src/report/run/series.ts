/**
 * Prometheus range series (queried over the whole run after the load stopped, `journal.series`)
 * as chart data aligned on one time axis per query, with the probe's expectation as a line to read
 * them against, and the chart boxes the page's script draws into.
 */
import type {JournalDocument} from '../../journal/journal.js'
import type {ProbeSeries} from '../../journal/events.js'
import {html, type SafeHtml} from '../assets.js'

/** One query's series for the page's script: times in seconds since the run started. */
export interface PromChartData {
  probe: string
  /** Series labels in words (`{code="503"}`), one per line of the chart. */
  labels: string[]
  /** Seconds since the run started: the union of every series' timestamps. */
  t: number[]
  /** Per series, the value at each `t` (null where that series has no sample). */
  values: (number | null)[][]
  /** The probe's expectation (or the guardrail's abort condition), drawn as a horizontal line. */
  threshold?: {op: string; value: number; label: string}
}

/** `{code="503", pod="a"}`, or the query's own name for a series without labels. */
export function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels)
    .filter(([k]) => k !== '__name__')
    .map(([k, v]) => `${k}="${v}"`)
  return parts.length === 0 ? 'value' : `{${parts.join(', ')}}`
}

/** `< 0.01`, `>= 5` … as a comparison and a number; undefined for anything else. */
export function thresholdOf(expect: string | undefined): {op: string; value: number} | undefined {
  const m = /^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*$/i.exec(expect ?? '')
  return m === null ? undefined : {op: m[1] as string, value: Number(m[2])}
}

/** The line a query is read against: a probe's expectation, or a guardrail's abort condition. */
function thresholdFor(doc: JournalDocument, probe: string): PromChartData['threshold'] {
  const spec = doc.experiment.spec?.spec
  for (const [list, word] of [
    [spec?.steadyState ?? [], 'expected'],
    [spec?.guardrails?.abortWhen ?? [], 'aborts when'],
  ] as const) {
    for (const p of list) {
      if (!('prometheus' in p) || p.prometheus === undefined || (p.name ?? p.prometheus.query) !== probe) continue
      const t = thresholdOf(p.prometheus.expect)
      return t === undefined ? undefined : {...t, label: `${word} ${t.op} ${t.value}`}
    }
  }
  return undefined
}

/** Aligns one query's series on the union of their timestamps. */
export function promChartData(doc: JournalDocument, s: ProbeSeries): PromChartData {
  const times = [...new Set(s.series.flatMap(x => x.points.map(([t]) => t)))].sort((a, b) => a - b)
  const index = new Map(times.map((t, i) => [t, i]))
  const values = s.series.map(x => {
    const column: (number | null)[] = times.map(() => null)
    for (const [t, v] of x.points) column[index.get(t) ?? 0] = v
    return column
  })
  const threshold = thresholdFor(doc, s.probe)
  return {
    probe: s.probe,
    labels: s.series.map(x => labelText(x.labels)),
    t: times.map(t => t / 1000),
    values,
    ...(threshold === undefined ? {} : {threshold}),
  }
}

/** The journal's range series (absent in journals written before they were kept). */
export function journalSeries(doc: JournalDocument): readonly ProbeSeries[] {
  return (doc as Partial<JournalDocument>).series ?? []
}

/** The charts (or, per query, why there is no series), for the mesh section. */
export function seriesBlock(doc: JournalDocument, charted: readonly PromChartData[]): SafeHtml {
  const series = journalSeries(doc)
  const hasPrometheus = (doc.experiment.spec?.spec?.steadyState ?? []).some(p => 'prometheus' in p)
  if (series.length === 0) {
    return hasPrometheus
      ? html`<p class="muted small">This journal holds no Prometheus range series (it predates them, or the run ended before they were read): only each phase's end value above.</p>`
      : html``
  }
  let chartIndex = 0
  const cards = series.map(s => {
    const empty = s.error !== undefined || s.series.every(x => x.points.length === 0)
    const index = empty ? -1 : chartIndex++
    const data = index < 0 ? undefined : charted[index]
    return html`<div class="class-card prom-card">
  <h3>${s.probe}</h3><p class="small"><code>${s.query}</code> <span class="muted">· step ${s.stepSeconds} s${data?.threshold === undefined ? '' : ` · ${data.threshold.label}`}</span></p>
  ${index < 0 ? html`<p class="empty">No series: ${s.error ?? 'the query returned no samples over the run'}.</p>` : html`<div class="chart-head"><h4>value over the run</h4></div><div class="chart" data-prom="${index}" data-height="150"></div>`}
</div>`
  })
  return html`<h3>Prometheus over the run</h3><div class="class-grid cols-${Math.min(series.length, 2)}">${cards}</div>`
}
