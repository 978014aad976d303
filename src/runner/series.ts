/**
 * Prometheus range series for the report's charts: after the load stops, each PromQL probe and
 * abort condition is queried over the whole run, so the report shows how the figure moved through
 * baseline, fault and recovery — not only the instant value at each phase's end.
 */
import type {Experiment} from '../experiment/model.js'
import type {PrometheusClient} from '../probes/prometheus.js'
import type {ProbeSeries} from '../journal/events.js'

/** Most points per series (one a second for runs up to ~16 min, coarser beyond). */
const MAX_POINTS = 1000

/** A query's series over the run (defined with the events that carry it). */
export type {ProbeSeries}

/** Every PromQL query of the experiment, probes first, then abort conditions, each once. */
export function promQueries(experiment: Experiment): {probe: string; query: string}[] {
  const probes = [...experiment.spec.steadyState, ...(experiment.spec.guardrails?.abortWhen ?? [])]
  const seen = new Set<string>()
  const out: {probe: string; query: string}[] = []
  for (const p of probes) {
    if (!('prometheus' in p) || p.prometheus === undefined) continue
    const probe = p.name ?? p.prometheus.query
    if (seen.has(probe)) continue
    seen.add(probe)
    out.push({probe, query: p.prometheus.query})
  }
  return out
}

/** The step that keeps a window of `ms` within MAX_POINTS points (at least 1 s). */
export function stepFor(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000 / MAX_POINTS))
}

/** Queries each series over [runStart, end]; a failure is recorded on that series, never thrown. */
export async function collectSeries(
  prometheus: PrometheusClient,
  experiment: Experiment,
  runStart: Date,
  end: Date,
): Promise<ProbeSeries[]> {
  const stepSeconds = stepFor(end.getTime() - runStart.getTime())
  return Promise.all(
    promQueries(experiment).map(async ({probe, query}): Promise<ProbeSeries> => {
      try {
        const byLabels = await prometheus.range(query, runStart, end, stepSeconds)
        const series = Object.entries(byLabels).map(([labels, points]) => ({
          labels: JSON.parse(labels) as Record<string, string>,
          points: points
            .filter(p => Number.isFinite(p.v))
            .map(p => [Math.round(p.t - runStart.getTime()), p.v] as [number, number]),
        }))
        return {probe, query, stepSeconds, series}
      } catch (err) {
        return {probe, query, stepSeconds, series: [], error: (err as Error).message}
      }
    }),
  )
}
