/**
 * Kubernetes label selectors (`app=reviews,version in (v2,v3),!canary`) and the one field selector
 * the sandbox supports (`metadata.name`, `metadata.namespace`), parsed as apimachinery does.
 */
import {badRequest} from './status.js'

type Requirement = {op: 'in' | 'notin'; key: string; values: string[]} | {op: 'exists' | '!'; key: string}

/** A parsed selector: true when every requirement holds. */
export type Selector = (labels: Record<string, string> | undefined) => boolean

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

/** Splits on commas that are not inside `( … )`. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') depth++
    else if (s[i] === ')') depth--
    else if (s[i] === ',' && depth === 0) {
      parts.push(s.slice(start, i))
      start = i + 1
    }
  }
  parts.push(s.slice(start))
  return parts.map(p => p.trim())
}

function checkKey(key: string, selector: string): string {
  if (!KEY.test(key))
    throw badRequest(
      `unable to parse requirement: found '${key}', expected: valid label key in selector ${JSON.stringify(selector)}`,
    )
  return key
}

function checkValue(value: string, selector: string): string {
  if (value.length > 63 || !VALUE.test(value))
    throw badRequest(
      `unable to parse requirement: invalid label value: ${JSON.stringify(value)} in selector ${JSON.stringify(selector)}`,
    )
  return value
}

function parseRequirement(term: string, selector: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(term)
  if (set !== null) {
    const values = (set[3] ?? '').split(',').map(v => checkValue(v.trim(), selector))
    return {op: set[2] as 'in' | 'notin', key: checkKey(set[1] ?? '', selector), values}
  }
  const eq = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(term)
  if (eq !== null) {
    const key = checkKey(eq[1] ?? '', selector)
    const value = checkValue(eq[3] ?? '', selector)
    return {op: eq[2] === '!=' ? 'notin' : 'in', key, values: [value]}
  }
  if (term.startsWith('!')) return {op: '!', key: checkKey(term.slice(1).trim(), selector)}
  return {op: 'exists', key: checkKey(term, selector)}
}

/** Parses a `labelSelector` query value; an empty one selects everything. 400 BadRequest when malformed. */
export function parseLabelSelector(selector: string | null | undefined): Selector {
  if (selector === null || selector === undefined || selector.trim() === '') return () => true
  const reqs = splitTopLevel(selector).map(t => {
    if (t === '')
      throw badRequest(
        `unable to parse requirement: found '', expected: identifier in selector ${JSON.stringify(selector)}`,
      )
    return parseRequirement(t, selector)
  })
  return labels =>
    reqs.every(r => {
      const v = labels?.[r.key]
      switch (r.op) {
        case 'in':
          return v !== undefined && r.values.includes(v)
        case 'notin':
          return v === undefined || !r.values.includes(v)
        case 'exists':
          return v !== undefined
        case '!':
          return v === undefined
      }
    })
}

/** Parses a `fieldSelector` over `metadata.name` / `metadata.namespace` (`=`, `==`, `!=`). */
export function parseFieldSelector(
  selector: string | null | undefined,
): (meta: {name: string; namespace?: string}) => boolean {
  if (selector === null || selector === undefined || selector.trim() === '') return () => true
  const reqs = selector.split(',').map(term => {
    const m = /^\s*(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*?)\s*$/.exec(term)
    if (m === null) throw badRequest(`field label not supported: ${term.split(/[=!]/)[0]?.trim() ?? term}`)
    return {
      field: m[1] === 'metadata.name' ? ('name' as const) : ('namespace' as const),
      negate: m[2] === '!=',
      value: m[3] ?? '',
    }
  })
  return meta => reqs.every(r => ((meta[r.field] ?? '') === r.value) !== r.negate)
}
