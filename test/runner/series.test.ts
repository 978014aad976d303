import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseExperiment} from '../../src/experiment/load.js'
import type {PrometheusClient, SeriesPoint} from '../../src/probes/prometheus.js'
import {collectSeries, promQueries, stepFor} from '../../src/runner/series.js'
import {REPO} from '../cli.js'

const experiment = parseExperiment(
  readFileSync(`${REPO}/experiments/ratings-delay-promql.yaml`, 'utf8'),
  'ratings-delay-promql.yaml',
)

/** A Prometheus whose range answers are scripted per query. */
function prometheusAnswering(
  answer: (query: string, start: Date, end: Date, step: number) => Record<string, SeriesPoint[]>,
): PrometheusClient {
  return {
    range: async (query: string, start: Date, end: Date, step: number) => answer(query, start, end, step),
  } as unknown as PrometheusClient
}

describe('Prometheus range series for the report', () => {
  it('queries every PromQL probe and abort condition once, in file order', () => {
    const queries = promQueries(experiment)
    assert.deepEqual(
      queries.map(q => q.probe),
      [
        ...experiment.spec.steadyState.filter(p => 'prometheus' in p).map(p => p.name),
        ...(experiment.spec.guardrails?.abortWhen ?? []).filter(p => 'prometheus' in p).map(p => p.name),
      ],
    )
    assert.ok(queries.length >= 2)
  })

  it('keeps a series within 1000 points: 1s steps up to ~16 minutes, coarser beyond', () => {
    assert.equal(stepFor(20_000), 1)
    assert.equal(stepFor(1000 * 1000), 1)
    assert.equal(stepFor(3600 * 1000), 4)
  })

  it('turns each series into points on the run clock, keeping labels and dropping NaN', async () => {
    const start = new Date('2026-11-26T10:00:00Z')
    const end = new Date('2026-11-26T10:00:30Z')
    const asked: number[] = []
    const series = await collectSeries(
      prometheusAnswering((_q, s, e, step) => {
        asked.push(step)
        assert.deepEqual([s, e], [start, end])
        return {
          '{"pod":"a"}': [
            {t: start.getTime() + 1000, v: 0.5},
            {t: start.getTime() + 2000, v: Number.NaN},
          ],
        }
      }),
      experiment,
      start,
      end,
    )
    assert.equal(series.length, promQueries(experiment).length)
    assert.deepEqual(series[0]?.series, [{labels: {pod: 'a'}, points: [[1000, 0.5]]}])
    assert.deepEqual(new Set(asked), new Set([1]))
  })

  it('records a failing query on its series instead of failing the run', async () => {
    const series = await collectSeries(
      prometheusAnswering(() => {
        throw new Error('Prometheus at http://127.0.0.1:9 did not answer (ECONNREFUSED)')
      }),
      experiment,
      new Date(0),
      new Date(10_000),
    )
    assert.ok(series.every(s => s.series.length === 0 && /ECONNREFUSED/.test(s.error ?? '')))
  })
})
