/**
 * Field-level rules the schema cannot express, worded like the Istio webhook where Istio has the
 * same rule (test/reference/SEMANTICS.md (c)): durations to whole milliseconds, header names, RE2 regexes, URLs.
 */
import {RE2JS} from 're2js'

import {parseDurationMs} from '@faultline/core/duration.js'
import type {FieldPath, Issue} from './position.js'

/** Istio's limit on a StringMatch regex. */
export const MAX_REGEX_LENGTH = 1024

/** Milliseconds of a duration that passed the schema's pattern; undefined when it is unusable. */
export function durationMs(text: string): number | undefined {
  const ms = parseDurationMs(text)
  if (ms === undefined) return undefined
  // Decimal fractions (1.001s) carry float error; whole milliseconds are what Istio accepts.
  const rounded = Math.round(ms)
  return Math.abs(ms - rounded) < 1e-6 ? rounded : ms
}

/** A duration of at least `minMs`, to whole milliseconds. */
export function checkDuration(path: FieldPath, text: string, minMs = 1, what = 'duration'): Issue | undefined {
  const ms = durationMs(text)
  if (ms === undefined)
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} is not a duration`,
      hint: 'write a duration such as 500ms, 7s, 1m30s or 2h',
    }
  if (!Number.isInteger(ms)) {
    return {
      path,
      at: 'value',
      message: `${what} ${text}: only durations to ms precision are supported`,
      hint: `round to whole milliseconds, e.g. ${Math.max(1, Math.round(ms))}ms`,
    }
  }
  if (ms < minMs) {
    return minMs === 1
      ? {
          path,
          at: 'value',
          message: `${what} ${text} must be a valid duration greater than 1ms`,
          hint: 'use at least 1ms',
        }
      : {
          path,
          at: 'value',
          message: `${what} ${text} is shorter than the minimum of ${minMs / 1000}s`,
          hint: `use at least ${minMs / 1000}s`,
        }
  }
  return undefined
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** A header name Istio can match: a lowercase RFC 7230 token. Located at the name (the key). */
export function checkHeaderName(path: FieldPath, name: string): Issue | undefined {
  if (name === '') return {path, at: 'key', message: 'header name cannot be empty'}
  if (!TOKEN.test(name)) {
    return {
      path,
      at: 'key',
      message: `header name ${name} is not a valid header name`,
      hint: "a header name is letters, digits and !#$%&'*+-.^_`|~ (RFC 7230 token), no spaces or colons",
    }
  }
  if (name !== name.toLowerCase()) {
    return {
      path,
      at: 'key',
      message: `header name ${name} must be lowercase`,
      hint: `write ${name.toLowerCase()}: Envoy sees header names in lowercase, so Istio never matches an uppercase name`,
    }
  }
  return undefined
}

/** Why a regex is not RE2 syntax, worded as istiod words it; undefined when it compiles. */
export function checkRegex(path: FieldPath, regex: string): Issue | undefined {
  const at = 'value' as const
  if (regex.length > MAX_REGEX_LENGTH) {
    return {
      path,
      at,
      message: `${JSON.stringify(regex.slice(0, 40) + '…')}: regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`,
      hint: 'shorten the regex, or match on a prefix instead',
    }
  }
  try {
    RE2JS.compile(regex)
    return undefined
  } catch (error) {
    const reason = (error as Error).message
    return {
      path,
      at,
      message: `${JSON.stringify(regex)}: ${reason}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`,
      hint: regexHint(regex),
    }
  }
}

function regexHint(regex: string): string {
  if (/\(\?<?[=!]/.test(regex))
    return 'RE2 has no look-ahead or look-behind: match the text itself, or use withoutHeaders for "must not match"'
  if (/\\[1-9]/.test(regex)) return 'RE2 has no back-references: spell the repeated part out'
  return 'see https://github.com/google/re2/wiki/Syntax; the regex must match the whole value'
}

/** An http(s) URL with a host. */
export function checkHttpUrl(path: FieldPath, text: string): Issue | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} is not a URL`,
      hint: 'write a full URL, e.g. http://productpage:9080/productpage',
    }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} is not an http(s) URL (scheme ${url.protocol.slice(0, -1)})`,
      hint: 'use http:// or https://',
    }
  }
  if (url.hostname === '')
    return {
      path,
      at: 'value',
      message: `${JSON.stringify(text)} has no host`,
      hint: 'e.g. http://productpage:9080/productpage',
    }
  return undefined
}
