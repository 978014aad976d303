/**
 * The k6-operator driver's view of Prometheus: the series k6's experimental-prometheus-rw output
 * writes (xk6-output-prometheus-remote: counters `k6_<name>_total`, trends as native histograms
 * `k6_<name>_seconds` with K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true; every k6 tag a label,
 * so `traffic`, `testrun_name`, `instance_id`, `status`, `expected_response`), the PromQL a
 * threshold becomes, and the per-second series the Recorder is fed from range queries.
 */
import {request} from 'undici'

import {parseThreshold} from '../probes/thresholds.js'

export const REQS = 'k6_http_reqs_total'
export const DURATION = 'k6_http_req_duration_seconds'

/** A PromQL label matcher value, quoted. */
function q(value: string): string {
  return JSON.stringify(value)
}

/** The selector of one run's (and optionally one class's) series. */
export function selector(testRun: string, traffic?: string, extra = ''): string {
  return `{testrun_name=${q(testRun)}${traffic === undefined ? '' : `,traffic=${q(traffic)}`}${extra}}`
}

/** The queries a threshold probe needs over a window of `seconds` ending at the evaluation time. */
export function thresholdQueries(
  testRun: string,
  traffic: string | undefined,
  seconds: number,
  percentiles: readonly number[],
): Record<string, string> {
  const w = `${Math.max(1, Math.round(seconds))}s`
  const h = `sum(increase(${DURATION}${selector(testRun, traffic)}[${w}]))`
  const out: Record<string, string> = {
    requests: `sum(increase(${REQS}${selector(testRun, traffic)}[${w}]))`,
    failed: `sum(increase(${REQS}${selector(testRun, traffic, ',expected_response="false"')}[${w}])) or vector(0)`,
    avg: `histogram_sum(${h}) / histogram_count(${h}) * 1000`,
    min: `histogram_quantile(0, ${h}) * 1000`,
    max: `histogram_quantile(1, ${h}) * 1000`,
  }
  for (const p of percentiles) out[`p${p}`] = `histogram_quantile(${p / 100}, ${h}) * 1000`
  return out
}

/** The percentiles a probe's thresholds ask for (`p(99)`, `med` is p50). */
export function percentilesOf(thresholds: Record<string, string[]>): number[] {
  const out = new Set<number>([50])
  for (const [metric, expressions] of Object.entries(thresholds)) {
    for (const e of expressions) {
      const parsed = parseThreshold(metric, e)
      if (parsed.ok && parsed.threshold.aggregation.kind === 'percentile') out.add(parsed.threshold.aggregation.p)
    }
  }
  return [...out]
}

/** One native histogram sample as Prometheus's API writes it. */
export interface ApiHistogram {
  count: string
  sum: string
  /** [boundary rule, lower, upper, count]. */
  buckets?: [number, string, string, string][]
}

/** Instant query → one number (undefined for an empty result or NaN). */
export async function instantValue(baseUrl: string, query: string, at: Date): Promise<number | undefined> {
  const body = (await api(baseUrl, 'api/v1/query', {query, time: String(at.getTime() / 1000)})) as {
    resultType: string
    result: {value: [number, string]}[]
  }
  const raw = body.result[0]?.value[1]
  if (raw === undefined) return undefined
  const v = Number(raw)
  return Number.isNaN(v) ? undefined : v
}

/** Range query → series of float samples and native histograms, keyed by their labels. */
export async function rangeSeries(
  baseUrl: string,
  query: string,
  start: Date,
  end: Date,
  stepSeconds: number,
): Promise<{metric: Record<string, string>; values?: [number, string][]; histograms?: [number, ApiHistogram][]}[]> {
  const body = (await api(baseUrl, 'api/v1/query_range', {
    query,
    start: String(start.getTime() / 1000),
    end: String(end.getTime() / 1000),
    step: String(stepSeconds),
  })) as {
    result: {metric: Record<string, string>; values?: [number, string][]; histograms?: [number, ApiHistogram][]}[]
  }
  return body.result
}

async function api(baseUrl: string, path: string, params: Record<string, string>): Promise<unknown> {
  const url = new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  const res = await request(url, {headersTimeout: 10_000, bodyTimeout: 10_000})
  const text = await res.body.text()
  let body: {status?: string; data?: unknown; error?: string}
  try {
    body = JSON.parse(text) as typeof body
  } catch {
    throw new Error(`Prometheus at ${baseUrl} answered HTTP ${res.statusCode}: ${text.slice(0, 120)}`)
  }
  if (body.status !== 'success') throw new Error(`Prometheus query failed: ${body.error ?? text.slice(0, 120)}`)
  return body.data
}

/**
 * Whether Prometheus accepts remote writes with native histograms: its flags say so
 * (`/api/v1/status/flags`), else a POST to /api/v1/write that is not 404 (the receiver is off).
 */
export async function remoteWriteProblem(baseUrl: string): Promise<string | undefined> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`
  try {
    const res = await request(new URL('api/v1/status/flags', base), {headersTimeout: 5000, bodyTimeout: 5000})
    const body = (await res.body.json().catch(() => undefined)) as {data?: Record<string, string>} | undefined
    const flags = body?.data
    if (res.statusCode === 200 && flags !== undefined) {
      const missing: string[] = []
      if (flags['web.enable-remote-write-receiver'] !== 'true') missing.push('--web.enable-remote-write-receiver')
      if (!(flags['enable-feature'] ?? '').split(',').includes('native-histograms'))
        missing.push('--enable-feature=native-histograms')
      return missing.length === 0 ? undefined : `Prometheus at ${baseUrl} runs without ${missing.join(' and ')}`
    }
    const post = await request(new URL('api/v1/write', base), {
      method: 'POST',
      body: '',
      headersTimeout: 5000,
      bodyTimeout: 5000,
    })
    await post.body.dump()
    return post.statusCode === 404
      ? `Prometheus at ${baseUrl} does not accept remote writes (POST /api/v1/write answered 404)`
      : undefined
  } catch (err) {
    return `Prometheus at ${baseUrl} did not answer (${(err as {code?: string; message?: string}).code ?? (err as Error).message})`
  }
}

/** A representative latency (ms) for each request counted in a native histogram's bucket delta. */
export function bucketLatencies(now: ApiHistogram | undefined, before: ApiHistogram | undefined): number[] {
  const counts = new Map<string, {lower: number; upper: number; n: number}>()
  for (const [, lo, up, c] of now?.buckets ?? [])
    counts.set(`${lo}:${up}`, {lower: Number(lo), upper: Number(up), n: Number(c)})
  for (const [, lo, up, c] of before?.buckets ?? []) {
    const b = counts.get(`${lo}:${up}`)
    if (b !== undefined) b.n -= Number(c)
  }
  const out: number[] = []
  for (const b of counts.values()) {
    const n = Math.round(b.n)
    // The bucket's geometric middle: exponential buckets are 2^(2^-schema) wide.
    const ms = (b.lower > 0 ? Math.sqrt(b.lower * b.upper) : b.upper / 2) * 1000
    for (let i = 0; i < n; i++) out.push(ms)
  }
  return out.sort((a, b) => a - b)
}
