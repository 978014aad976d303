/**
 * k6 threshold expressions (`p(99)<500`, `rate<0.01`, `count>100`): parsed into a typed form
 * and evaluated over aggregated samples. Which aggregations a metric allows follows k6: a Trend
 * has avg/min/max/med/p(N), a Rate has rate, a Counter has count and rate, a Gauge has value.
 */
import {closest} from '../experiment/suggest.js'
import {compare, type Operator, readNumber, readOperator} from './compare.js'

/** k6's metric types. */
export type MetricType = 'counter' | 'gauge' | 'rate' | 'trend'

/** Built-in k6 metrics that thresholds may name, with their types. */
export const METRICS: Readonly<Record<string, MetricType>> = {
  http_reqs: 'counter',
  http_req_failed: 'rate',
  http_req_duration: 'trend',
  http_req_blocked: 'trend',
  http_req_connecting: 'trend',
  http_req_tls_handshaking: 'trend',
  http_req_sending: 'trend',
  http_req_waiting: 'trend',
  http_req_receiving: 'trend',
  iterations: 'counter',
  iteration_duration: 'trend',
  dropped_iterations: 'counter',
  checks: 'rate',
  data_sent: 'counter',
  data_received: 'counter',
  vus: 'gauge',
  vus_max: 'gauge',
}

/** The metrics the builtin load driver records; the others need `driver: k6`. */
export const BUILTIN_DRIVER_METRICS: readonly string[] = [
  'http_reqs',
  'http_req_failed',
  'http_req_duration',
  'dropped_iterations',
]

/** Aggregations each metric type supports (k6 docs, "Threshold syntax"). */
export const AGGREGATIONS: Readonly<Record<MetricType, readonly string[]>> = {
  counter: ['count', 'rate'],
  gauge: ['value'],
  rate: ['rate'],
  trend: ['avg', 'min', 'max', 'med', 'p(N)'],
}

/** How a metric's samples are reduced to one number. */
export type Aggregation =
  {kind: 'avg' | 'min' | 'max' | 'med' | 'count' | 'rate' | 'value'} | {kind: 'percentile'; p: number}

/** One parsed threshold: `aggregation operator value` on a metric. */
export interface Threshold {
  metric: string
  metricType: MetricType
  aggregation: Aggregation
  operator: Operator
  value: number
  /** The expression as written. */
  source: string
}

/** Parse outcome: the threshold, or what is wrong with it. */
export type ThresholdParse =
  {ok: true; threshold: Threshold} | {ok: false; on: 'metric' | 'expression'; message: string; hint: string}

const AGGREGATION = /^(avg|min|max|med|count|rate|value|p\(\s*([^)]*)\s*\))/

/** A threshold that does not parse: what is wrong with it. */
type ThresholdProblem = Extract<ThresholdParse, {ok: false}>

/** Why `metric` is no metric a threshold may name: a tagged sub-metric, or an unknown name (with the nearest known one). */
function unknownMetric(metric: string): ThresholdProblem {
  if (metric.includes('{')) {
    return {
      ok: false,
      on: 'metric',
      message: `tagged sub-metric "${metric}" is not supported`,
      hint: 'split the traffic into traffic classes and point a probe at one with traffic:',
    }
  }
  const near = closest(metric, Object.keys(METRICS))
  return {
    ok: false,
    on: 'metric',
    message: `unknown metric "${metric}"`,
    hint: near === undefined ? `known metrics: ${Object.keys(METRICS).join(', ')}` : `did you mean "${near}"?`,
  }
}

/** The aggregation an expression starts with (AGGREGATION's match), or why its percentile is not one. */
function readAggregation(agg: RegExpExecArray, expression: string): Aggregation | ThresholdProblem {
  if (agg[2] === undefined) return {kind: agg[1] as 'avg'}
  const p = readNumber(agg[2].trim())
  if (p === undefined || p < 0 || p > 100) {
    return {
      ok: false,
      on: 'expression',
      message: `threshold ${JSON.stringify(expression)}: percentile "${agg[2]}" is not a number between 0 and 100`,
      hint: 'write e.g. p(95) or p(99.9)',
    }
  }
  return {kind: 'percentile', p}
}

/** Parses one k6 threshold expression for `metric`. Pure; never throws. */
export function parseThreshold(metric: string, expression: string): ThresholdParse {
  const metricType = METRICS[metric]
  if (metricType === undefined) return unknownMetric(metric)
  const text = expression.trim()
  const agg = AGGREGATION.exec(text)
  const allowed = AGGREGATIONS[metricType].join(', ')
  if (agg === null) {
    return {
      ok: false,
      on: 'expression',
      message: `threshold ${JSON.stringify(expression)} does not start with an aggregation`,
      hint: `write e.g. ${example(metricType)}; ${metric} (a ${metricType}) supports ${allowed}`,
    }
  }
  const aggregation = readAggregation(agg, expression)
  if ('ok' in aggregation) return aggregation
  const name = aggregation.kind === 'percentile' ? 'p(N)' : aggregation.kind
  if (!AGGREGATIONS[metricType].includes(name)) {
    return {
      ok: false,
      on: 'expression',
      message: `threshold ${JSON.stringify(expression)}: ${metric} is a ${metricType} metric and has no ${name === 'p(N)' ? agg[1] : name}`,
      hint: `${metric} supports ${allowed}, e.g. ${example(metricType)}`,
    }
  }
  const rest = text.slice(agg[0].length).trim()
  const operator = readOperator(rest)
  if (operator === undefined) {
    return {
      ok: false,
      on: 'expression',
      message: `threshold ${JSON.stringify(expression)} has no comparison after ${agg[1]}`,
      hint: `use one of < <= > >= == != and a number, e.g. ${example(metricType)}`,
    }
  }
  const value = readNumber(rest.slice(operator.length).trim())
  if (value === undefined) {
    return {
      ok: false,
      on: 'expression',
      message: `threshold ${JSON.stringify(expression)} must end with a number`,
      hint: `e.g. ${example(metricType)}${metricType === 'trend' ? ' (durations are in milliseconds, without a unit)' : ''}`,
    }
  }
  return {ok: true, threshold: {metric, metricType, aggregation, operator, value, source: expression}}
}

function example(type: MetricType): string {
  return {counter: 'count>100', gauge: 'value<50', rate: 'rate<0.01', trend: 'p(99)<500'}[type]
}

/** A metric's samples reduced to the numbers thresholds compare; absent ones were not measured. */
export interface AggregatedMetric {
  count?: number
  rate?: number
  avg?: number
  min?: number
  max?: number
  med?: number
  value?: number
  /** The p-th percentile (0–100) of a trend's samples. */
  percentile?: (p: number) => number
}

/** The outcome of one threshold: passed, failed, or no data to judge (e.g. no samples). */
export interface ThresholdResult {
  threshold: Threshold
  status: 'passed' | 'failed' | 'no-data'
  /** The aggregated value compared, when there was one. */
  actual?: number
}

/** The number a threshold compares, or undefined when the metric does not provide it. */
export function aggregate(metric: AggregatedMetric, aggregation: Aggregation): number | undefined {
  const value = aggregation.kind === 'percentile' ? metric.percentile?.(aggregation.p) : metric[aggregation.kind]
  return value === undefined || Number.isNaN(value) ? undefined : value
}

/** Evaluates a threshold against a metric's aggregates. Pure. */
export function evaluateThreshold(threshold: Threshold, metric: AggregatedMetric): ThresholdResult {
  const actual = aggregate(metric, threshold.aggregation)
  if (actual === undefined) return {threshold, status: 'no-data'}
  return {threshold, status: compare(actual, threshold.operator, threshold.value) ? 'passed' : 'failed', actual}
}
