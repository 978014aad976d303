/**
 * Prometheus probes: an instant query at the end of a phase (and a range series for the report).
 * An unreachable Prometheus, a query error, an empty result or NaN makes the probe *errored*:
 * no data is never a pass.
 */
import {request} from 'undici'

import {evaluateExpectation, parsePrometheusExpectation} from './expect.js'

const TIMEOUT_MS = 10_000

/** A query's single number, or why there is none. */
export type QueryOutcome = {ok: true; value: number} | {ok: false; message: string}

/** One point of a range series. */
export interface SeriesPoint {
  t: number
  v: number
}

interface ApiResponse {
  status: 'success' | 'error'
  errorType?: string
  error?: string
  data?: {resultType: 'vector' | 'scalar' | 'matrix' | 'string'; result: unknown}
}

/** A small Prometheus HTTP API client. */
export class PrometheusClient {
  constructor(readonly baseUrl: string) {}

  /** `path` resolved under the base URL, which may itself carry a path prefix (e.g. behind a proxy). */
  private url(path: string): URL {
    return new URL(path, this.baseUrl.endsWith('/') ? this.baseUrl : this.baseUrl + '/')
  }

  private async get(path: string, params: Record<string, string>): Promise<ApiResponse> {
    const url = this.url(path)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    let res
    try {
      res = await request(url, {headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS})
    } catch (err) {
      const e = err as {code?: string; message?: string}
      throw new Error(`Prometheus at ${this.baseUrl} did not answer (${e.code ?? e.message ?? String(err)})`, {
        cause: err,
      })
    }
    const text = await res.body.text()
    try {
      return JSON.parse(text) as ApiResponse
    } catch {
      throw new Error(
        `Prometheus at ${this.baseUrl} answered HTTP ${res.statusCode} with a body that is not its API's JSON: ${text.slice(0, 120)}`,
      )
    }
  }

  /** Whether Prometheus answers at all (`/-/ready`). */
  async ready(): Promise<boolean> {
    try {
      const res = await request(this.url('-/ready'), {headersTimeout: 3000, bodyTimeout: 3000})
      await res.body.dump()
      return res.statusCode === 200
    } catch {
      return false
    }
  }

  /** Runs an instant query and reduces it to one number. */
  async instant(query: string, at?: Date): Promise<QueryOutcome> {
    let body: ApiResponse
    try {
      body = await this.get('api/v1/query', {query, ...(at === undefined ? {} : {time: String(at.getTime() / 1000)})})
    } catch (err) {
      return {ok: false, message: (err as Error).message}
    }
    if (body.status !== 'success')
      return {ok: false, message: `query failed (${body.errorType ?? 'error'}): ${body.error ?? 'no message'}`}
    return singleValue(body.data)
  }

  /** A range query for the report's charts; each series' points, keyed by its label set. */
  async range(query: string, start: Date, end: Date, stepSeconds: number): Promise<Record<string, SeriesPoint[]>> {
    const body = await this.get('api/v1/query_range', {
      query,
      start: String(start.getTime() / 1000),
      end: String(end.getTime() / 1000),
      step: String(stepSeconds),
    })
    if (body.status !== 'success')
      throw new Error(`range query failed (${body.errorType ?? 'error'}): ${body.error ?? ''}`)
    const out: Record<string, SeriesPoint[]> = {}
    for (const s of (body.data?.result ?? []) as {metric: Record<string, string>; values: [number, string][]}[]) {
      out[JSON.stringify(s.metric)] = s.values.map(([t, v]) => ({t: t * 1000, v: Number(v)}))
    }
    return out
  }
}

function singleValue(data: ApiResponse['data']): QueryOutcome {
  if (data === undefined) return {ok: false, message: 'the answer carried no data'}
  let raw: string | undefined
  if (data.resultType === 'scalar') raw = (data.result as [number, string])[1]
  else if (data.resultType === 'vector') {
    const series = data.result as {metric: Record<string, string>; value: [number, string]}[]
    if (series.length === 0)
      return {
        ok: false,
        message:
          'the query returned no data (an empty vector): check the metric and label names, and that Prometheus scrapes the sidecars',
      }
    if (series.length > 1)
      return {
        ok: false,
        message: `the query returned ${series.length} series; aggregate it to one number (e.g. sum(...))`,
      }
    raw = series[0]?.value[1]
  } else
    return {ok: false, message: `the query returned a ${data.resultType}; write an instant vector or scalar expression`}
  const value = Number(raw)
  if (raw === undefined || Number.isNaN(value))
    return {ok: false, message: 'the query returned NaN (e.g. 0/0: no traffic matched the denominator)'}
  return {ok: true, value}
}

/** A Prometheus probe's verdict. */
export interface PrometheusVerdict {
  status: 'held' | 'missed' | 'errored'
  actual: string
  value?: number
  message?: string
}

/** Evaluates `query` against `expect` (e.g. `< 0.01`) at `at`. */
export async function evaluatePrometheus(
  client: PrometheusClient,
  query: string,
  expect: string,
  at?: Date,
): Promise<PrometheusVerdict> {
  const parsed = parsePrometheusExpectation(expect)
  if (!parsed.ok) return {status: 'errored', actual: '-', message: parsed.message}
  const outcome = await client.instant(query, at)
  if (!outcome.ok) return {status: 'errored', actual: '-', message: outcome.message}
  const result = evaluateExpectation(parsed.expectation, {end: outcome.value})
  return {
    status: result.status === 'passed' ? 'held' : 'missed',
    actual: formatNumber(outcome.value),
    value: outcome.value,
  }
}

/** Prints a number compactly (4 significant digits). */
export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n)
  return Number(n.toPrecision(4)).toString()
}
