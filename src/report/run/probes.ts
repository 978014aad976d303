/**
 * The hypothesis as it came out: every probe × phase with its value, expectation and verdict
 * (held, missed, errored — and "not evaluated" when the run ended first), and the mesh's own
 * signals — Envoy stat deltas (circuit-breaker overflow, outlier ejections, fault counters) and
 * Prometheus queries — per phase, with each query's range series over the run.
 */
import type {PhaseName, Probe} from '../../experiment/model.js'
import {cutShortText, type PhaseCut, type ProbeResult} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {probeKind, recordedProbePhases} from '../../experiment/probes.js'
import {html, type SafeHtml} from '../assets.js'
import {significant} from './html-format.js'
import {PHASE_ORDER} from './model.js'
import {type PromChartData, seriesBlock} from './series.js'

const STATUS_ICON = {held: '✔', missed: '✘', errored: '!'} as const

/** One probe: its planned phases and its results by phase. */
interface ProbeLine {
  name: string
  kind: string
  expectation: string
  planned: readonly PhaseName[]
  results: Partial<Record<PhaseName, ProbeResult>>
  probe?: Probe
}

function expectationOf(p: Probe): string {
  if ('prometheus' in p) return `${p.prometheus.query} ${p.prometheus.expect}`
  if ('envoy' in p) return `${p.envoy.stat} ${p.envoy.expect}`
  if ('http' in p)
    return [
      p.http.expect.status === undefined ? '' : `status ${p.http.expect.status}`,
      p.http.expect.bodyContains === undefined ? '' : `body contains "${p.http.expect.bodyContains}"`,
    ]
      .filter(Boolean)
      .join(', ')
  return Object.entries(p.thresholds)
    .map(([metric, exprs]) => `${metric} ${exprs.join(', ')}`)
    .join('; ')
}

/** The probes of the experiment in its order, then any result whose probe the spec does not name. */
function probeLines(doc: JournalDocument): ProbeLine[] {
  const spec = doc.experiment.spec?.spec?.steadyState ?? []
  const lines: ProbeLine[] = spec.map(p => ({
    name: p.name,
    kind: probeKind(p),
    expectation: expectationOf(p),
    planned: recordedProbePhases(p),
    results: {},
    probe: p,
  }))
  for (const r of doc.probes) {
    let line = lines.find(l => l.name === r.probe)
    if (line === undefined) {
      line = {name: r.probe, kind: r.kind, expectation: r.expected, planned: [], results: {}}
      lines.push(line)
    }
    line.results[r.phase] = r
    line.expectation = r.expected
  }
  return lines
}

function resultCell(
  line: ProbeLine,
  phase: PhaseName,
  ran: ReadonlySet<string>,
  cuts: ReadonlyMap<string, PhaseCut>,
): SafeHtml {
  const r = line.results[phase]
  if (r !== undefined) {
    return html`<td class="result status-${r.status}"><span class="badge badge-${r.status}">${STATUS_ICON[r.status]} ${r.status}</span>
      <span class="actual">${r.actual}</span>${r.message === undefined ? '' : html`<span class="message">${r.message}</span>`}</td>`
  }
  if (!line.planned.includes(phase))
    return html`<td class="result not-planned">—<span class="message">not checked in this phase</span></td>`
  const cut = cuts.get(phase)
  // The cut's whole story (reason, what was in flight) is said once under the table.
  if (cut !== undefined)
    return html`<td class="result not-evaluated">○ incomplete<span class="message">not evaluated: ${cutAt(cut)}</span></td>`
  return html`<td class="result not-evaluated">○ not evaluated<span class="message">${ran.has(phase) ? 'the run ended before this probe was read' : 'this phase did not run'}</span></td>`
}

/** `cut short at +8.6 s of 20.0 s`. */
function cutAt(cut: PhaseCut): string {
  return `cut short at +${(cut.afterMs / 1000).toFixed(1)} s of ${(cut.plannedMs / 1000).toFixed(1)} s`
}

/** Under the hypothesis table, once per phase the run cut short: why, and what was in flight then. */
function cutNotes(cuts: ReadonlyMap<string, PhaseCut>): SafeHtml[] {
  return [...cuts].map(
    ([phase, cut]) =>
      html`<p class="small"><strong class="warn-text">The ${phase} phase is incomplete</strong> — ${cutShortText(cut)}. Its probes were not evaluated: a phase cut short neither holds nor misses, and the requests the runner cancelled are not failures.</p>`,
  )
}

/** The phases the run cut short, by name, with where and why. */
function phaseCuts(doc: JournalDocument): Map<string, PhaseCut> {
  return new Map(doc.phases.flatMap(p => (p.cutShort === undefined ? [] : [[p.name, p.cutShort] as const])))
}

/** The hypothesis table: a row per probe, a column per phase. */
export function hypothesisSection(doc: JournalDocument): SafeHtml {
  const lines = probeLines(doc)
  const ran = new Set(doc.phases.map(p => p.name))
  const cuts = phaseCuts(doc)
  const guardrails = doc.experiment.spec?.spec?.guardrails?.abortWhen ?? []
  const rows = lines.map(
    l =>
      html`<tr><th scope="row">${l.name}<span class="kind">${l.kind}</span></th><td class="expectation"><code>${l.expectation}</code></td>${PHASE_ORDER.map(p => resultCell(l, p, ran, cuts))}</tr>`,
  )
  return html`<section id="hypothesis"><h2>Steady-state hypothesis</h2>
${
  lines.length === 0
    ? html`<p class="empty">The experiment names no probes.</p>`
    : html`<table class="hypothesis">
<thead><tr><th>probe</th><th>expectation</th>${PHASE_ORDER.map(p => html`<th>${p}</th>`)}</tr></thead>
<tbody>${rows}</tbody></table>`
}
${cutNotes(cuts)}
${guardrails.length === 0 ? '' : html`<p class="muted">Guardrails (checked every second of the fault phase; any that holds aborts the run): ${guardrails.map((g, i) => html`${i > 0 ? '; ' : ''}<code>${guardrailText(g)}</code>`)}</p>`}
</section>`
}

function guardrailText(
  g: NonNullable<NonNullable<JournalDocument['experiment']['spec']['spec']['guardrails']>['abortWhen']>[number],
): string {
  const what =
    'prometheus' in g
      ? `${g.prometheus.query} ${g.prometheus.expect}`
      : 'envoy' in g
        ? `${g.envoy.stat} ${g.envoy.expect}`
        : Object.entries(g.thresholds)
            .map(([m, e]) => `${m} ${e.join(', ')}`)
            .join('; ')
  return g.name === undefined ? what : `${g.name}: ${what}`
}

/** What family an Envoy stat belongs to, in the words an SRE looks for. */
export function statFamily(stat: string): string {
  if (/circuit_breakers|overflow/.test(stat)) return 'circuit-breaker overflow'
  if (/outlier_detection|ejections/.test(stat)) return 'outlier ejections'
  if (/fault\./.test(stat)) return 'fault counter'
  return 'Envoy stat'
}

function signalCell(line: ProbeLine, phase: PhaseName, cuts: ReadonlyMap<string, PhaseCut>): SafeHtml {
  const r = line.results[phase]
  const cut = cuts.get(phase)
  if (r === undefined && cut !== undefined && line.planned.includes(phase))
    return html`<td class="muted">○ incomplete<span class="message">not read: ${cutAt(cut)}</span></td>`
  if (r === undefined) return html`<td class="muted">—</td>`
  return html`<td class="status-${r.status}"><b>${r.value === undefined ? r.actual : significant(r.value)}</b> <span class="badge badge-${r.status}">${STATUS_ICON[r.status]} ${r.status}</span>${r.message === undefined ? '' : html`<span class="message">${r.message}</span>`}</td>`
}

/** Envoy stat deltas and Prometheus values per phase (the probes that read the mesh). */
export function meshSignalsSection(doc: JournalDocument, charted: readonly PromChartData[]): SafeHtml {
  const lines = probeLines(doc).filter(l => l.kind === 'envoy' || l.kind === 'prometheus')
  const cuts = phaseCuts(doc)
  const faultCounters = doc.events
    .filter(e => e.kind === 'fault-evidence')
    .map(e => (e.kind === 'fault-evidence' ? `${e.source}: ${e.message}` : ''))
  const rows = lines.map(l => {
    const probe = l.probe
    const what =
      probe !== undefined && 'envoy' in probe
        ? probe.envoy.stat
        : probe !== undefined && 'prometheus' in probe
          ? probe.prometheus.query
          : l.expectation
    const family =
      probe !== undefined && 'envoy' in probe
        ? statFamily(probe.envoy.stat)
        : l.kind === 'envoy'
          ? statFamily(l.expectation)
          : 'Prometheus query'
    return html`<tr><th scope="row">${l.name}<span class="kind">${family}</span></th><td><code>${what}</code></td>${PHASE_ORDER.map(p => signalCell(l, p, cuts))}</tr>`
  })
  return html`<section id="mesh"><h2>Mesh signals <span class="muted">Envoy stat deltas and Prometheus, per phase</span></h2>
${
  lines.length === 0
    ? html`<p class="empty">The experiment reads no Envoy stats or Prometheus queries as probes.</p>`
    : html`<table class="signals">
<thead><tr><th>signal</th><th>stat / query</th>${PHASE_ORDER.map(p => html`<th>${p}</th>`)}</tr></thead><tbody>${rows}</tbody></table>`
}
${seriesBlock(doc, charted)}
${faultCounters.length === 0 ? '' : html`<p class="small">Fault counters read for evidence: ${faultCounters.join('; ')}</p>`}
</section>`
}
