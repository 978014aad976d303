/**
 * Expectations of Prometheus and Envoy probes: `< 0.01` compares a query's value; an Envoy
 * probe names what it compares: `increase == 0`, `delta >= 1`, `value < 5`.
 */
import {compare, type Operator, readNumber, readOperator} from './compare.js'

/**
 * What an Envoy expectation compares over a phase: `increase` (a counter's growth, counting from
 * zero after a reset, as Prometheus's increase() does), `delta` (end minus start, may be
 * negative: for gauges) or `value` (the value at the end).
 */
export type Subject = 'increase' | 'delta' | 'value'

/** A parsed expectation. */
export interface Expectation {
  subject: Subject
  operator: Operator
  value: number
  /** The expectation as written. */
  source: string
}

/** Parse outcome: the expectation, or what is wrong with it. */
export type ExpectationParse = {ok: true; expectation: Expectation} | {ok: false; message: string; hint: string}

const SUBJECTS: readonly Subject[] = ['increase', 'delta', 'value']

/** Parses a Prometheus probe's `expect` (`< 0.01`, `>= 1`, `== 0`); the subject is the query's value. */
export function parsePrometheusExpectation(text: string): ExpectationParse {
  const parsed = parseComparison(text.trim(), 'value', text)
  if (parsed.ok) return parsed
  return {ok: false, message: parsed.message, hint: 'write an operator and a number, e.g. "< 0.01", ">= 1" or "== 0"'}
}

/** Parses an Envoy probe's `expect` (`increase == 0`, `increase > 0`, `value < 5`, `delta >= 1`). */
export function parseEnvoyExpectation(text: string): ExpectationParse {
  const trimmed = text.trim()
  const subject = SUBJECTS.find(s => trimmed.startsWith(s))
  if (subject === undefined) {
    return {
      ok: false,
      message: `expectation ${JSON.stringify(text)} must start with increase, delta or value`,
      hint: 'e.g. "increase == 0" (counter did not grow during the phase) or "value < 5"',
    }
  }
  const parsed = parseComparison(trimmed.slice(subject.length).trim(), subject, text)
  if (parsed.ok) return parsed
  return {
    ok: false,
    message: parsed.message,
    hint: `write ${subject}, an operator and a number, e.g. "${subject} == 0"`,
  }
}

function parseComparison(text: string, subject: Subject, source: string): ExpectationParse {
  const operator = readOperator(text)
  if (operator === undefined) {
    const hint = text.startsWith('=') ? 'use == to compare' : 'use one of < <= > >= == !='
    return {ok: false, message: `expectation ${JSON.stringify(source)} has no comparison operator (${hint})`, hint}
  }
  const value = readNumber(text.slice(operator.length).trim())
  if (value === undefined)
    return {ok: false, message: `expectation ${JSON.stringify(source)} must end with a number`, hint: ''}
  return {ok: true, expectation: {subject, operator, value, source}}
}

/** What was observed over a phase: the value at its end and, for increase/delta, at its start. */
export interface Observation {
  end: number
  start?: number
}

/** The outcome of one expectation. */
export interface ExpectationResult {
  status: 'passed' | 'failed' | 'no-data'
  /** The number compared, when there was one. */
  actual?: number
}

/** The number an expectation compares, or undefined when the observation cannot give it. */
export function observed(subject: Subject, observation: Observation): number | undefined {
  const {start, end} = observation
  if (Number.isNaN(end)) return undefined
  if (subject === 'value') return end
  if (start === undefined || Number.isNaN(start)) return undefined
  if (subject === 'delta') return end - start
  // A counter that went down was reset (the pod restarted): it counted `end` since then.
  return end >= start ? end - start : end
}

/** Evaluates an expectation. Pure. */
export function evaluateExpectation(expectation: Expectation, observation: Observation): ExpectationResult {
  const actual = observed(expectation.subject, observation)
  if (actual === undefined) return {status: 'no-data'}
  return {status: compare(actual, expectation.operator, expectation.value) ? 'passed' : 'failed', actual}
}
