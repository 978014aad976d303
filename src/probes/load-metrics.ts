/**
 * Threshold probes over the load's own samples: a window of the recorder (one traffic class, one
 * phase) turned into k6's metrics, and every threshold of a probe evaluated against them.
 */
import type {WindowSummary} from '../load/recorder.js'
import {formatNumber} from './prometheus.js'
import {type AggregatedMetric, evaluateThreshold, parseThreshold} from './thresholds.js'

/** The k6 metrics a window of load provides; others have no data. */
export function metricsOf(w: WindowSummary): Record<string, AggregatedMetric> {
  const d = w.duration
  const trend: AggregatedMetric =
    w.requests === 0 ? {} : {count: w.requests, avg: d.avg, min: d.min, max: d.max, med: d.med, percentile: d.p}
  return {
    http_req_duration: trend,
    http_req_waiting: trend,
    iteration_duration: trend,
    http_req_failed: w.requests === 0 ? {} : {rate: w.failedRate},
    http_reqs: {count: w.requests, rate: w.rate},
    iterations: {count: w.requests, rate: w.rate},
    dropped_iterations: {
      count: w.dropped,
      rate: w.dropped / Math.max(0.001, w.requests === 0 ? 1 : w.requests / w.rate),
    },
  }
}

/** A threshold probe's verdict in one window. */
export interface ThresholdVerdict {
  status: 'held' | 'missed' | 'errored'
  /** Measured values, one per threshold, e.g. `p(95)=5981ms, rate=0`. */
  actual: string
  expected: string
  /** The first threshold's measured value (for charts and trends). */
  value?: number
  message?: string
}

/** Evaluates every threshold of a probe over a window; the probe holds only if all do. */
export function evaluateThresholds(thresholds: Record<string, string[]>, w: WindowSummary): ThresholdVerdict {
  const metrics = metricsOf(w)
  const actual: string[] = []
  const expected: string[] = []
  const problems: string[] = []
  let missed = false
  let errored = false
  let value: number | undefined
  for (const [metric, expressions] of Object.entries(thresholds)) {
    for (const expression of expressions) {
      expected.push(`${metric} ${expression}`)
      const parsed = parseThreshold(metric, expression)
      if (!parsed.ok) {
        errored = true
        problems.push(parsed.message)
        continue
      }
      const result = evaluateThreshold(parsed.threshold, metrics[metric] ?? {})
      const label =
        parsed.threshold.aggregation.kind === 'percentile'
          ? `p(${parsed.threshold.aggregation.p})`
          : parsed.threshold.aggregation.kind
      if (result.status === 'no-data' || result.actual === undefined) {
        errored = true
        problems.push(`${metric}: no samples in this phase${w.requests === 0 ? ' (no request completed)' : ''}`)
        actual.push(`${label}=-`)
        continue
      }
      value ??= result.actual
      actual.push(`${label}=${formatNumber(result.actual)}${parsed.threshold.metricType === 'trend' ? 'ms' : ''}`)
      if (result.status === 'failed') missed = true
    }
  }
  return {
    status: errored ? 'errored' : missed ? 'missed' : 'held',
    actual: actual.join(', '),
    expected: expected.join(', '),
    ...(value === undefined ? {} : {value}),
    ...(problems.length === 0 ? {} : {message: problems.join('; ')}),
  }
}
