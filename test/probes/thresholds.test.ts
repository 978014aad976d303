import assert from 'node:assert/strict'

import {type AggregatedMetric, evaluateThreshold, parseThreshold, type Threshold} from '../../src/probes/thresholds.js'

function parsed(metric: string, expression: string): Threshold {
  const result = parseThreshold(metric, expression)
  assert.ok(result.ok, `${metric}: ${expression}: ${result.ok ? '' : result.message}`)
  return result.threshold
}

describe('k6 threshold expressions', () => {
  const accepted: Array<[string, string, Partial<Threshold>]> = [
    ['http_req_duration', 'p(99)<500', {aggregation: {kind: 'percentile', p: 99}, operator: '<', value: 500}],
    ['http_req_duration', 'p(95)<=4000', {aggregation: {kind: 'percentile', p: 95}, operator: '<=', value: 4000}],
    ['http_req_duration', 'p(99.9) < 1.5e3', {aggregation: {kind: 'percentile', p: 99.9}, operator: '<', value: 1500}],
    ['http_req_duration', ' avg<200 ', {aggregation: {kind: 'avg'}, operator: '<', value: 200}],
    ['http_req_duration', 'med<150', {aggregation: {kind: 'med'}}],
    ['http_req_duration', 'min>0', {aggregation: {kind: 'min'}, operator: '>'}],
    ['http_req_duration', 'max<3000', {aggregation: {kind: 'max'}}],
    ['http_req_failed', 'rate<0.01', {aggregation: {kind: 'rate'}, metricType: 'rate', value: 0.01}],
    ['checks', 'rate>=0.99', {aggregation: {kind: 'rate'}, operator: '>='}],
    ['http_reqs', 'count>100', {aggregation: {kind: 'count'}, metricType: 'counter'}],
    ['http_reqs', 'rate>=19', {aggregation: {kind: 'rate'}, metricType: 'counter'}],
    ['vus', 'value<50', {aggregation: {kind: 'value'}, metricType: 'gauge'}],
    ['http_req_failed', 'rate==0', {operator: '=='}],
    ['http_req_failed', 'rate===0', {operator: '==='}],
    ['http_req_failed', 'rate!=1', {operator: '!='}],
  ]
  for (const [metric, expression, want] of accepted) {
    it(`parses ${metric}: ${expression}`, () => {
      const threshold = parsed(metric, expression)
      for (const [key, value] of Object.entries(want)) assert.deepEqual(threshold[key as keyof Threshold], value, key)
      assert.equal(threshold.source, expression)
    })
  }

  const rejected: Array<[string, string, RegExp, RegExp?]> = [
    ['http_req_duration', 'rate<0.01', /trend metric and has no rate/, /avg, min, max, med, p\(N\)/],
    ['http_req_failed', 'p(99)<500', /rate metric and has no p\(99\)/, /supports rate/],
    ['http_req_failed', 'count<5', /has no count/],
    ['http_reqs', 'avg<5', /counter metric and has no avg/, /count, rate/],
    ['vus', 'rate<1', /gauge metric and has no rate/],
    ['http_req_duration', 'p(99)<', /must end with a number/],
    ['http_req_duration', 'p(99)<500ms', /must end with a number/, /milliseconds, without a unit/],
    ['http_req_duration', 'p(101)<500', /percentile "101" is not a number between 0 and 100/],
    ['http_req_duration', 'p(x)<500', /percentile "x"/],
    ['http_req_duration', 'p99<500', /does not start with an aggregation/],
    ['http_req_duration', 'avg 500', /no comparison after avg/],
    ['http_req_duration', 'avg=500', /no comparison/],
    ['http_req_duration', '', /does not start with an aggregation/],
    ['http_req_duraton', 'avg<5', /unknown metric "http_req_duraton"/, /did you mean "http_req_duration"\?/],
    ['my_custom_metric', 'avg<5', /unknown metric/, /known metrics: /],
    ['http_req_duration{status:200}', 'p(99)<500', /tagged sub-metric/, /traffic class/],
    ['http_req_failed', 'rate<Infinity', /must end with a number/],
    ['http_req_failed', 'rate<0x10', /must end with a number/],
  ]
  for (const [metric, expression, message, hint] of rejected) {
    it(`rejects ${metric}: ${JSON.stringify(expression)}`, () => {
      const result = parseThreshold(metric, expression)
      assert.equal(result.ok, false)
      if (result.ok) return
      assert.match(result.message, message)
      if (hint !== undefined) assert.match(result.hint, hint)
      assert.equal(result.on, /unknown metric|sub-metric/.test(message.source) ? 'metric' : 'expression')
    })
  }
})

describe('evaluating thresholds over aggregated samples', () => {
  const latency: AggregatedMetric = {
    count: 200,
    avg: 120,
    min: 8,
    max: 6100,
    med: 90,
    percentile: p => (p >= 99 ? 6000 : p >= 95 ? 450 : 100),
  }

  const table: Array<[string, string, AggregatedMetric, 'passed' | 'failed' | 'no-data', number?]> = [
    ['http_req_duration', 'p(99)<500', latency, 'failed', 6000],
    ['http_req_duration', 'p(95)<500', latency, 'passed', 450],
    ['http_req_duration', 'p(95)<=450', latency, 'passed', 450],
    ['http_req_duration', 'p(95)<450', latency, 'failed', 450],
    ['http_req_duration', 'avg<200', latency, 'passed', 120],
    ['http_req_duration', 'med<50', latency, 'failed', 90],
    ['http_req_duration', 'min>0', latency, 'passed', 8],
    ['http_req_duration', 'max<6000', latency, 'failed', 6100],
    ['http_req_failed', 'rate<0.01', {rate: 0.25}, 'failed', 0.25],
    ['http_req_failed', 'rate<0.01', {rate: 0}, 'passed', 0],
    ['http_reqs', 'count>100', {count: 101, rate: 20}, 'passed', 101],
    ['http_reqs', 'rate>=20', {count: 101, rate: 20}, 'passed', 20],
    ['vus', 'value==10', {value: 10}, 'passed', 10],
    ['http_req_failed', 'rate!=0', {rate: 0}, 'failed', 0],
    // Nothing measured is never a pass: no samples, no percentile function, NaN.
    ['http_req_duration', 'p(99)<500', {}, 'no-data'],
    ['http_req_duration', 'avg<500', {count: 0, avg: Number.NaN}, 'no-data'],
    ['http_req_failed', 'rate<0.01', {count: 5}, 'no-data'],
  ]
  for (const [metric, expression, metricValues, status, actual] of table) {
    it(`${metric} ${expression} over ${JSON.stringify(metricValues)} → ${status}`, () => {
      const result = evaluateThreshold(parsed(metric, expression), metricValues)
      assert.equal(result.status, status)
      assert.equal(result.actual, actual)
    })
  }

  it('asks the metric for the percentile the threshold names', () => {
    const asked: number[] = []
    evaluateThreshold(parsed('http_req_duration', 'p(99.9)<500'), {percentile: p => (asked.push(p), 1)})
    assert.deepEqual(asked, [99.9])
  })
})
