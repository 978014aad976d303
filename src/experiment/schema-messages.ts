/** Plain-words messages for single ajv errors, keyed by the field they are about. */
import type {ErrorObject} from 'ajv'

import {parseDurationNs} from '@faultline/core/duration.js'
import {API_VERSION} from './model.js'
import type {FieldPath, Issue} from './position.js'
import {suggestion} from './suggest.js'

type Schema = Record<string, unknown>

/** `a string`, `a number (7)`, `a list`… for "got …" in messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  return `${typeof value === 'number' ? 'the number' : `the ${typeof value}`} ${String(value)}`
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping (key: value)',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
}

/** A message for one ajv error that is not part of a union. */
export function explainKeyword(error: ErrorObject, path: FieldPath): Issue {
  const params = error.params as Record<string, unknown>
  const last = path[path.length - 1]
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const known = Object.keys(((error.parentSchema as Schema | undefined)?.properties as Schema | undefined) ?? {})
      return {path: [...path, key], at: 'key', message: `unknown field "${key}"`, hint: suggestion(key, known)}
    }
    case 'required': {
      const key = String(params.missingProperty)
      const field = ((error.parentSchema as Schema | undefined)?.properties as Record<string, Schema> | undefined)?.[
        key
      ]
      const about = typeof field?.description === 'string' ? `: ${field.description}` : ''
      return {path: [...path, key], at: 'key', message: `missing required field "${key}"`, hint: `add ${key}${about}`}
    }
    case 'type':
      return explainType(error, path)
    case 'const':
      return explainConst(path, error.data, String(params.allowedValue))
    case 'pattern':
      return explainPattern(path, error.data, String(params.pattern))
    case 'minimum':
    case 'maximum':
      return explainRange(path, error.data, error.parentSchema as Schema)
    case 'minItems':
      return {
        path,
        at: 'value',
        message: `must list at least ${String(params.limit)} item${params.limit === 1 ? '' : 's'}`,
      }
    case 'minLength':
      return {path, at: 'value', message: 'must not be empty'}
    case 'maxLength':
      return {
        path,
        at: 'value',
        message: `must be at most ${String(params.limit)} characters (got ${String(error.data).length})`,
      }
    default:
      return {path, at: 'value', message: `${String(last ?? 'value')} ${error.message ?? 'is invalid'}`}
  }
}

/** A value of the wrong type: what type the field wants, and the fix YAML's typing usually calls for (quotes, or none). */
function explainType(error: ErrorObject, path: FieldPath): Issue {
  const params = error.params as Record<string, unknown>
  const pattern = (error.parentSchema as Schema | undefined)?.pattern
  if (typeof pattern === 'string' && pattern.includes('(ms|s|m|h)') && typeof error.data === 'number')
    return explainDuration(path, String(error.data))
  if (typeof pattern === 'string' && pattern.includes('/(s|m|h)') && typeof error.data === 'number')
    return explainRate(path, String(error.data))
  const types = String(params.type).split(',')
  const want = types.map(t => TYPE_WORDS[t] ?? t).join(' or ')
  const issue: Issue = {path, at: 'value', message: `must be ${want} (got ${describeValue(error.data)})`}
  // YAML reads `true`, `100` and `null` as non-strings: the fix is usually a pair of quotes.
  // Quoting is the fix only when the quoted value is then accepted; otherwise explain the pattern.
  if (types.includes('string') && ['boolean', 'number'].includes(typeof error.data)) {
    if (typeof pattern === 'string' && !new RegExp(pattern, 'u').test(String(error.data)))
      return {...explainPattern(path, error.data, pattern), message: issue.message}
    issue.hint = `quote it: "${String(error.data)}"`
  }
  if (
    (types.includes('number') || types.includes('integer')) &&
    typeof error.data === 'string' &&
    error.data.trim() !== '' &&
    !Number.isNaN(Number(error.data))
  )
    issue.hint = `remove the quotes: ${error.data}`
  return issue
}

function explainConst(path: FieldPath, value: unknown, allowed: string): Issue {
  const last = path[path.length - 1]
  if (last === 'apiVersion') {
    return {
      path,
      at: 'value',
      message: `apiVersion ${JSON.stringify(value)} is not supported`,
      hint: `set apiVersion: ${API_VERSION}`,
    }
  }
  return {
    path,
    at: 'value',
    message: `must be ${JSON.stringify(allowed)} (got ${describeValue(value)})`,
    hint: `set ${String(last)}: ${allowed}`,
  }
}

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'

function explainPattern(path: FieldPath, value: unknown, pattern: string): Issue {
  const text = String(value)
  if (pattern.includes('(ms|s|m|h)')) return explainDuration(path, text)
  if (pattern === DNS_LABEL) {
    const fixed = text
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} is not a DNS-1123 label: use lowercase letters, digits and '-', starting and ending with a letter or digit`,
      hint: fixed === '' ? 'for example: ratings-delay' : `for example: ${fixed}`,
    }
  }
  if (pattern.includes('/(s|m|h)')) return explainRate(path, text)
  if (pattern === '^[A-Z]+$') {
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} is not an HTTP method`,
      hint: `write it in uppercase, e.g. ${text.toUpperCase() || 'GET'}`,
    }
  }
  if (pattern.includes('_')) {
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} is not a valid name`,
      hint: 'use lowercase letters, digits, - and _ (e.g. targeted, control)',
    }
  }
  return {path, at: 'value', message: `${JSON.stringify(text)} does not match the pattern ${pattern}`}
}

/** Explains a rate the schema's pattern rejected: a bare number gets its unit suggested (5 → 5/s). */
export function explainRate(path: FieldPath, text: string): Issue {
  const n = text.trim()
  if (/^[0-9]+(\.[0-9]+)?$/.test(n)) {
    return Number(n) > 0
      ? {
          path,
          at: 'value',
          message: `rate ${n} has no unit`,
          hint: `write ${n}/s (requests per second), or per minute or hour: ${n}/m, ${n}/h`,
        }
      : {
          path,
          at: 'value',
          message: `rate ${n} has no unit and sends no requests`,
          hint: 'use a positive rate such as 20/s',
        }
  }
  if (/^-?[0-9.]+(\/(s|m|h))?$/.test(n))
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} is not a rate`,
      hint: 'use a positive rate such as 20/s',
    }
  return {
    path,
    at: 'value',
    message: `${JSON.stringify(text)} is not a rate`,
    hint: 'write requests per unit of time: 20/s, 600/m or 1000/h',
  }
}

/** Explains a duration the schema's pattern rejected, in Istio's terms where they apply. */
export function explainDuration(path: FieldPath, text: string): Issue {
  if (/^[0-9]+(\.[0-9]+)?$/.test(text.trim())) {
    return {
      path,
      at: 'value',
      message: `duration ${JSON.stringify(text)} has no unit`,
      hint: `write ${text.trim()}s or ${text.trim()}ms`,
    }
  }
  const ns = parseDurationNs(text)
  if (ns !== undefined && ns > 0) {
    const ms = ns / 1e6
    return Number.isInteger(ms)
      ? {
          path,
          at: 'value',
          message: `duration ${JSON.stringify(text)} uses a unit finer than ms`,
          hint: `write ${ms}ms`,
        }
      : {
          path,
          at: 'value',
          message: `duration ${JSON.stringify(text)}: only durations to ms precision are supported`,
          hint: `round to whole milliseconds, e.g. ${Math.max(1, Math.round(ms))}ms`,
        }
  }
  if (ns !== undefined)
    return {
      path,
      at: 'value',
      message: `duration ${JSON.stringify(text)} must be a valid duration greater than 1ms`,
      hint: 'use at least 1ms',
    }
  return {
    path,
    at: 'value',
    message: `${JSON.stringify(text)} is not a duration`,
    hint: 'write a duration such as 500ms, 7s, 1m30s or 2h',
  }
}

function explainRange(path: FieldPath, value: unknown, schema: Schema): Issue {
  const last = path[path.length - 1]
  const min = schema.minimum as number | undefined
  const max = schema.maximum as number | undefined
  if (last === 'percentage' || last === 'maxPercentage') {
    return {
      path,
      at: 'value',
      message: `percentage ${String(value)} is not in range [0.0001, 100]`,
      hint: 'percentages are of matching requests: 100 means all of them, 0.1 means 1 in 1000 (not 10%)',
    }
  }
  if (last === 'httpStatus') {
    return {
      path,
      at: 'value',
      message: `HTTP status ${String(value)} is not in range 200-599`,
      hint: 'use a status such as 503 or 500',
    }
  }
  const range =
    min !== undefined && max !== undefined
      ? `between ${min} and ${max}`
      : min !== undefined
        ? `at least ${min}`
        : `at most ${String(max)}`
  return {path, at: 'value', message: `must be ${range} (got ${String(value)})`}
}
