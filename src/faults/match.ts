/**
 * AND-ing an existing route's match block with a fault's match, in Istio's vocabulary. One
 * HTTPMatchRequest can hold one StringMatch per field, so when both sides constrain the same field
 * we either find the one condition equal to the conjunction, prove the conjunction empty, or give up
 * (and the compiler refuses rather than guess).
 */
import {re2} from '@faultline/core/istio/routing.js'
import type {HTTPMatchRequest, StringMatch} from '@faultline/core/istio/types.js'

/** The fault-side match: the subset of HTTPMatchRequest an experiment may use. */
export interface FaultMatchRequest {
  headers?: Record<string, StringMatch>
  withoutHeaders?: Record<string, StringMatch>
  uri?: StringMatch
  method?: StringMatch
  queryParams?: Record<string, StringMatch>
  authority?: StringMatch
}

/** The outcome of AND-ing two conditions. */
export type Conjunction<T> = {kind: 'match'; value: T} | {kind: 'never'} | {kind: 'conflict'; field: string}

/** Whether a StringMatch only checks presence (`{}` or regex `*`). */
export function isPresenceMatch(m: StringMatch): boolean {
  return m.exact === undefined && m.prefix === undefined && (m.regex === undefined || m.regex === '*')
}

function regexFullMatch(pattern: string, value: string): boolean | undefined {
  try {
    return re2(pattern).matches(value)
  } catch {
    return undefined
  }
}

function sameMatch(a: StringMatch, b: StringMatch): boolean {
  return a.exact === b.exact && a.prefix === b.prefix && a.regex === b.regex
}

/** Whether every value `a` accepts is accepted by `b` (only the cases we can prove). */
export function implies(a: StringMatch, b: StringMatch): boolean {
  if (isPresenceMatch(b)) return true
  if (isPresenceMatch(a)) return false
  if (a.exact !== undefined) {
    if (b.exact !== undefined) return a.exact === b.exact
    if (b.prefix !== undefined) return a.exact.startsWith(b.prefix)
    return b.regex !== undefined && regexFullMatch(b.regex, a.exact) === true
  }
  if (a.prefix !== undefined) return b.prefix !== undefined && a.prefix.startsWith(b.prefix)
  return a.regex !== undefined && a.regex === b.regex
}

/** Whether no value satisfies both (only the cases we can prove). */
export function disjoint(a: StringMatch, b: StringMatch): boolean {
  if (isPresenceMatch(a) || isPresenceMatch(b)) return false
  const [x, y] = a.exact !== undefined ? [a, b] : [b, a]
  if (x.exact !== undefined) {
    if (y.exact !== undefined) return x.exact !== y.exact
    if (y.prefix !== undefined) return !x.exact.startsWith(y.prefix)
    if (y.regex !== undefined) return regexFullMatch(y.regex, x.exact) === false
  }
  if (a.prefix !== undefined && b.prefix !== undefined)
    return !a.prefix.startsWith(b.prefix) && !b.prefix.startsWith(a.prefix)
  return false
}

/** The single StringMatch equal to `a AND b`, or proof that nothing matches, or a conflict. */
export function andStringMatch(a: StringMatch, b: StringMatch, field: string): Conjunction<StringMatch> {
  if (sameMatch(a, b) || implies(a, b)) return {kind: 'match', value: a}
  if (implies(b, a)) return {kind: 'match', value: b}
  if (disjoint(a, b)) return {kind: 'never'}
  return {kind: 'conflict', field}
}

function andMaps(
  route: Record<string, StringMatch> | undefined,
  fault: Record<string, StringMatch> | undefined,
  field: string,
  exactOnly: boolean,
): Conjunction<Record<string, StringMatch> | undefined> {
  if (fault === undefined || Object.keys(fault).length === 0) return {kind: 'match', value: route}
  const merged: Record<string, StringMatch> = {...route}
  for (const [key, m] of Object.entries(fault)) {
    const existing = merged[key]
    if (existing === undefined) {
      merged[key] = m
      continue
    }
    // withoutHeaders negate (and treat a missing header as ""), so implication and disjointness
    // do not carry over: only an identical condition is safe to merge.
    if (exactOnly) {
      if (!sameMatch(existing, m)) return {kind: 'conflict', field: `${field}.${key}`}
      continue
    }
    const c = andStringMatch(existing, m, `${field}.${key}`)
    if (c.kind !== 'match') return c
    merged[key] = c.value
  }
  return {kind: 'match', value: merged}
}

function andField(
  route: HTTPMatchRequest,
  fault: StringMatch | undefined,
  field: 'uri' | 'method' | 'authority',
): Conjunction<StringMatch | undefined> {
  if (fault === undefined) return {kind: 'match', value: route[field]}
  // ignoreUriCase would silently widen the fault's own uri condition: refuse instead.
  if (field === 'uri' && route.ignoreUriCase === true) {
    return route.uri !== undefined && sameMatch(route.uri, fault)
      ? {kind: 'match', value: route.uri}
      : {kind: 'conflict', field: 'uri (ignoreUriCase)'}
  }
  const existing = route[field]
  return existing === undefined ? {kind: 'match', value: fault} : andStringMatch(existing, fault, field)
}

/**
 * `route AND fault` as one match block. `never` when they cannot both hold (the block is dropped);
 * `conflict` names the field whose conjunction one StringMatch cannot express.
 */
export function andMatchBlock(route: HTTPMatchRequest, fault: FaultMatchRequest): Conjunction<HTTPMatchRequest> {
  const out: HTTPMatchRequest = {...route}
  for (const field of ['uri', 'method', 'authority'] as const) {
    const c = andField(route, fault[field], field)
    if (c.kind !== 'match') return c
    if (c.value !== undefined) out[field] = c.value
  }
  const maps = [
    ['headers', andMaps(route.headers, fault.headers, 'headers', false)],
    ['queryParams', andMaps(route.queryParams, fault.queryParams, 'queryParams', false)],
    ['withoutHeaders', andMaps(route.withoutHeaders, fault.withoutHeaders, 'withoutHeaders', true)],
  ] as const
  for (const [field, c] of maps) {
    if (c.kind !== 'match') return c
    if (c.value !== undefined) out[field] = c.value
  }
  return {kind: 'match', value: out}
}
