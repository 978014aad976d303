/**
 * The part of a Prometheus text exposition (v0.0.4) the map needs: Istio's standard metrics and a
 * few Envoy cluster counters, as a sidecar's merged `/stats/prometheus` serves them (or as
 * Prometheus returns their series). Everything else is skipped while parsing, so a big scrape costs
 * little memory. Pure.
 */

import {readSampleLine} from '../cluster/prometheus-stats.js'

/** The metric families the map reads, and the labels it keeps of each (the rest are dropped). */
const ISTIO_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'destination_service',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'response_code',
  'response_flags',
] as const

export const MAP_METRICS: Record<string, readonly string[]> = {
  istio_requests_total: ISTIO_LABELS,
  istio_request_duration_milliseconds_bucket: [...ISTIO_LABELS, 'le'],
  istio_request_duration_milliseconds_sum: ISTIO_LABELS,
  istio_request_duration_milliseconds_count: ISTIO_LABELS,
  istio_response_bytes_sum: ISTIO_LABELS,
  istio_response_bytes_count: ISTIO_LABELS,
  envoy_cluster_upstream_rq_retry: ['cluster_name'],
  envoy_cluster_upstream_rq_pending_overflow: ['cluster_name'],
  envoy_cluster_outlier_detection_ejections_active: ['cluster_name'],
}

/** One sample: its metric, the labels kept, its value. */
export interface Sample {
  metric: string
  labels: Record<string, string>
  value: number
}

/** A stable key for a sample's series (metric and kept labels). */
export function seriesKey(metric: string, labels: Record<string, string>): string {
  const kept = MAP_METRICS[metric] ?? Object.keys(labels).sort()
  return `${metric}{${kept.map(k => labels[k] ?? '').join('\u0001')}}`
}

/**
 * The samples of the map's metric families in a text exposition, with only the labels the map
 * keeps. Samples of the same series (after dropping labels) are summed. Comments, other families
 * and malformed lines are skipped.
 */
export function parseMapMetrics(text: string): Sample[] {
  const bySeries = new Map<string, Sample>()
  let from = 0
  while (from < text.length) {
    let to = text.indexOf('\n', from)
    if (to < 0) to = text.length
    const line = text.slice(from, to)
    from = to + 1
    if (line.length === 0 || line[0] === '#') continue
    const sample = readSampleLine(line, metric => MAP_METRICS[metric] !== undefined)
    if (sample === undefined) continue
    const {metric, value} = sample
    const keep = MAP_METRICS[metric] ?? []
    if (!Number.isFinite(value) && !metric.endsWith('_bucket')) continue
    const labels = new Map(sample.labels)
    const kept: Record<string, string> = {}
    for (const k of keep) {
      const v = labels.get(k)
      if (v !== undefined) kept[k] = v
    }
    const key = seriesKey(metric, kept)
    const existing = bySeries.get(key)
    if (existing === undefined) bySeries.set(key, {metric, labels: kept, value})
    else existing.value += value
  }
  return [...bySeries.values()]
}
