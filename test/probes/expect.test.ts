import assert from 'node:assert/strict'

import {
  evaluateExpectation,
  type Expectation,
  type Observation,
  parseEnvoyExpectation,
  parsePrometheusExpectation,
} from '../../src/probes/expect.js'

function envoy(text: string): Expectation {
  const result = parseEnvoyExpectation(text)
  assert.ok(result.ok, result.ok ? '' : result.message)
  return result.expectation
}

describe('probe expectations', () => {
  describe('Envoy: subject operator number', () => {
    const accepted: Array<[string, Partial<Expectation>]> = [
      ['increase == 0', {subject: 'increase', operator: '==', value: 0}],
      ['increase > 0', {subject: 'increase', operator: '>', value: 0}],
      ['value < 5', {subject: 'value', operator: '<', value: 5}],
      ['delta >= 1', {subject: 'delta', operator: '>=', value: 1}],
      ['  delta<=-2.5 ', {subject: 'delta', operator: '<=', value: -2.5}],
      ['value != 3', {operator: '!='}],
    ]
    for (const [text, want] of accepted) {
      it(`parses ${JSON.stringify(text)}`, () => {
        const e = envoy(text)
        for (const [key, value] of Object.entries(want)) assert.equal(e[key as keyof Expectation], value, key)
      })
    }
    const rejected: Array<[string, RegExp]> = [
      ['increased > 0', /has no comparison operator/],
      ['rate > 0', /must start with increase, delta or value/],
      ['> 0', /must start with increase, delta or value/],
      ['increase = 0', /use == to compare/],
      ['increase >', /must end with a number/],
      ['increase > zero', /must end with a number/],
      ['', /must start with/],
    ]
    for (const [text, message] of rejected) {
      it(`rejects ${JSON.stringify(text)}`, () => {
        const result = parseEnvoyExpectation(text)
        assert.equal(result.ok, false)
        if (!result.ok) {
          assert.match(result.message, message)
          assert.ok(result.hint.length > 0)
        }
      })
    }
  })

  describe('Prometheus: operator number', () => {
    for (const [text, operator, value] of [
      ['< 0.01', '<', 0.01],
      ['>= 1', '>=', 1],
      ['== 0', '==', 0],
      ['>0.2', '>', 0.2],
      ['!= 1e-3', '!=', 0.001],
    ] as const) {
      it(`parses ${JSON.stringify(text)}`, () => {
        const result = parsePrometheusExpectation(text)
        assert.ok(result.ok)
        if (result.ok) assert.deepEqual(result.expectation, {subject: 'value', operator, value, source: text})
      })
    }
    for (const text of ['= 0', '0.01', '< ', 'less than 1', 'increase == 0', '<< 1']) {
      it(`rejects ${JSON.stringify(text)}`, () => {
        const result = parsePrometheusExpectation(text)
        assert.equal(result.ok, false)
        if (!result.ok) assert.match(result.hint, /"< 0.01"/)
      })
    }
  })

  describe('evaluation', () => {
    const table: Array<[string, Observation, 'passed' | 'failed' | 'no-data', number?]> = [
      ['increase == 0', {start: 10, end: 10}, 'passed', 0],
      ['increase == 0', {start: 10, end: 12}, 'failed', 2],
      ['increase > 0', {start: 10, end: 12}, 'passed', 2],
      // A counter that went down was reset by a restart: it has counted `end` since.
      ['increase > 0', {start: 40, end: 3}, 'passed', 3],
      ['increase == 0', {start: 40, end: 0}, 'passed', 0],
      ['delta >= 0', {start: 5, end: 2}, 'failed', -3],
      ['value < 5', {end: 4}, 'passed', 4],
      ['value < 5', {start: 0, end: 5}, 'failed', 5],
      ['increase > 0', {end: 5}, 'no-data'],
      ['delta == 0', {end: 5, start: Number.NaN}, 'no-data'],
      ['value == 0', {end: Number.NaN}, 'no-data'],
    ]
    for (const [text, observation, status, actual] of table) {
      it(`${text} over ${JSON.stringify(observation)} → ${status}`, () => {
        const result = evaluateExpectation(envoy(text), observation)
        assert.equal(result.status, status)
        assert.equal(result.actual, actual)
      })
    }
  })
})
