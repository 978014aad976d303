/**
 * The hypothesis drawn onto the load charts: each threshold probe's latency and error-ratio limits
 * (and each threshold guardrail's abort limit) as a horizontal line over the phases it is checked
 * in, on the charts of the traffic class it reads — so a reader sees the line the run had to stay
 * under. The probe judges a whole phase; the chart shows seconds, so a second above the line is a
 * hint, not the verdict (the hypothesis table has that).
 */
import type {PhaseName} from '../../experiment/model.js'
import {parseThreshold} from '../../probes/thresholds.js'
import type {JournalDocument} from '../../journal/journal.js'
import {recordedProbePhases} from '../../experiment/probes.js'
import type {Timeline} from './model.js'

/** One limit line for the page's script: on which class's which chart, where, and what it is. */
export interface ChartLimit {
  /** The traffic class it reads; null for every class. */
  traffic: string | null
  metric: 'latency' | 'errors'
  /** In the chart's unit: ms for latency, % for errors. */
  value: number
  label: string
  /** Seconds since the run started: the phases it is checked in. */
  spans: [number, number][]
}

type Thresholds = Record<string, readonly string[]>

/**
 * The lines of one threshold map. A probe must stay under its limit (`<`, `<=`); a guardrail's
 * condition aborts the run when it holds, so its line is a `>` or `>=`.
 */
function limitsOf(
  thresholds: Thresholds,
  traffic: string | null,
  label: string,
  operators: readonly string[],
  spans: [number, number][],
): ChartLimit[] {
  const out: ChartLimit[] = []
  for (const [metric, expressions] of Object.entries(thresholds)) {
    for (const expression of expressions) {
      const parsed = parseThreshold(metric, expression)
      if (!parsed.ok || !operators.includes(parsed.threshold.operator)) continue
      const {aggregation, value} = parsed.threshold
      if (metric === 'http_req_duration' && aggregation.kind !== 'min' && aggregation.kind !== 'count') {
        out.push({traffic, metric: 'latency', value, label: `${label}: ${expression.replace(/\s+/g, '')}`, spans})
      } else if (metric === 'http_req_failed' && aggregation.kind === 'rate') {
        out.push({
          traffic,
          metric: 'errors',
          value: value * 100,
          label: `${label}: ${expression.replace(/\s+/g, '')}`,
          spans,
        })
      }
    }
  }
  return out
}

/** Every drawable limit of the experiment's threshold probes and threshold guardrails. */
export function chartLimits(doc: JournalDocument, timeline: Timeline): ChartLimit[] {
  const spec = doc.experiment.spec?.spec
  const spansOf = (phases: readonly PhaseName[]) =>
    timeline.phases
      .filter(p => phases.includes(p.name as PhaseName))
      .map((p): [number, number] => [p.fromMs / 1000, p.toMs / 1000])
  const probes = (spec?.steadyState ?? []).flatMap(p =>
    'thresholds' in p && p.thresholds !== undefined
      ? limitsOf(p.thresholds, p.traffic ?? null, 'probe', ['<', '<='], spansOf(recordedProbePhases(p)))
      : [],
  )
  const guardrails = (spec?.guardrails?.abortWhen ?? []).flatMap(g =>
    'thresholds' in g && g.thresholds !== undefined
      ? limitsOf(g.thresholds, g.traffic ?? null, 'abort when', ['>', '>='], spansOf(['fault']))
      : [],
  )
  return [...probes, ...guardrails].filter(l => l.spans.length > 0)
}
