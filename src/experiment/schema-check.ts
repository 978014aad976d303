/**
 * Structural validation against the JSON Schema generated from the model (ajv), turning ajv's
 * errors into readable issues: unknown fields with "did you mean", missing fields at their
 * parent's key, and unions explained by the alternative the user evidently meant instead of
 * every branch's complaints.
 */
import {Ajv, type ErrorObject, type ValidateFunction} from 'ajv'

import {describeValue, explainKeyword} from './schema-messages.js'
import {documentSchema} from './schema.js'
import type {FieldPath, Issue} from './position.js'
import {closest, suggestion} from './suggest.js'

type Schema = Record<string, unknown>

let validators: {experiment: ValidateFunction; gameday: ValidateFunction} | undefined

function compiled(): {experiment: ValidateFunction; gameday: ValidateFunction} {
  if (validators !== undefined) return validators
  const ajv = new Ajv({allErrors: true, strict: false, verbose: true})
  const defs = (documentSchema().$defs ?? {}) as Record<string, Schema>
  // Inline GameDay experiments are validated on their own (see load.ts), so errors inside them
  // are explained exactly like those of an experiment file.
  const gameday = structuredClone(defs.GameDay) as Schema
  const entry = (((gameday.properties as Schema).spec as Schema).properties as Schema).experiments as Schema
  ;((entry.items as Schema).properties as Schema).experiment = {type: 'object', description: 'An inline experiment.'}
  validators = {experiment: ajv.compile(defs.Experiment as Schema), gameday: ajv.compile(gameday)}
  return validators
}

/** Schema issues of an experiment value (the document of `kind: Experiment`). */
export function experimentSchemaIssues(value: unknown, base: FieldPath = []): Issue[] {
  return run(compiled().experiment, value, base)
}

/** Schema issues of a GameDay value (inline experiments excluded: check them with experimentSchemaIssues). */
export function gameDaySchemaIssues(value: unknown): Issue[] {
  return run(compiled().gameday, value, [])
}

function run(validate: ValidateFunction, value: unknown, base: FieldPath): Issue[] {
  if (validate(value)) return []
  return explain(validate.errors ?? []).map(issue => ({...issue, path: [...base, ...issue.path]}))
}

/** Converts a JSON pointer to a field path. */
export function pointerToPath(pointer: string): FieldPath {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map(s => {
      const segment = s.replaceAll('~1', '/').replaceAll('~0', '~')
      return /^(0|[1-9][0-9]*)$/.test(segment) ? Number(segment) : segment
    })
}

function belongsTo(error: ErrorObject, union: ErrorObject): boolean {
  return (
    error !== union &&
    error.schemaPath.startsWith(union.schemaPath + '/') &&
    (error.instancePath === union.instancePath || error.instancePath.startsWith(union.instancePath + '/'))
  )
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}

const isUnion = (e: ErrorObject) => e.keyword === 'anyOf' || e.keyword === 'oneOf'

/**
 * Splits errors into those outside any union and, per outermost union, the errors of its
 * branches. Unions are indexed by instance path and found by walking up each error's path, so
 * a file with thousands of mistakes is explained in linear time, not quadratic.
 */
function groupByUnion(errors: readonly ErrorObject[]): {plain: ErrorObject[]; unions: Map<ErrorObject, ErrorObject[]>} {
  const unionsAt = new Map<string, ErrorObject[]>()
  for (const e of errors) if (isUnion(e)) append(unionsAt, e.instancePath, e)
  const outermost = (e: ErrorObject): ErrorObject | undefined => {
    let found: ErrorObject | undefined
    for (let p = e.instancePath; ; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
      for (const u of unionsAt.get(p) ?? [])
        if (belongsTo(e, u) && (found === undefined || u.schemaPath.length < found.schemaPath.length)) found = u
      if (p === '') return found
    }
  }
  const plain: ErrorObject[] = []
  const unions = new Map<ErrorObject, ErrorObject[]>()
  for (const e of errors) {
    const owner = outermost(e)
    if (owner !== undefined) append(unions, owner, e)
    else if (isUnion(e)) unions.set(e, unions.get(e) ?? [])
    else plain.push(e)
  }
  return {plain, unions}
}

function explain(errors: readonly ErrorObject[]): Issue[] {
  const {plain, unions} = groupByUnion(errors)
  const misspelt = misspeltRequired(plain)
  const issues = plain.filter(e => !misspelt.has(e)).map(e => explainKeyword(e, pointerToPath(e.instancePath)))
  for (const [union, branchErrors] of unions) for (const issue of explainUnion(union, branchErrors)) issues.push(issue)
  return dedupe(issues)
}

/** Missing fields whose misspelling is present: the unknown-field error already says "did you mean". */
function misspeltRequired(errors: readonly ErrorObject[]): Set<ErrorObject> {
  const unknownAt = new Map<string, string[]>()
  for (const e of errors) {
    if (e.keyword !== 'additionalProperties') continue
    append(unknownAt, e.instancePath, String((e.params as {additionalProperty?: unknown}).additionalProperty))
  }
  return new Set(
    errors.filter(e => {
      if (e.keyword !== 'required') return false
      const missing = String((e.params as {missingProperty?: unknown}).missingProperty)
      return (unknownAt.get(e.instancePath) ?? []).some(key => closest(key, [missing]) === missing)
    }),
  )
}

function dedupe(issues: Issue[]): Issue[] {
  const seen = new Set<string>()
  return issues.filter(i => {
    const key = `${i.path.join('/')}|${i.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** Keys required by one branch and by no other: what tells the alternatives apart. */
function distinguishingKeys(branches: readonly Schema[]): string[][] {
  const required = branches.map(b => (Array.isArray(b.required) ? (b.required as string[]) : []))
  return required.map((keys, i) => keys.filter(k => required.every((other, j) => j === i || !other.includes(k))))
}

function explainUnion(union: ErrorObject, branchErrors: readonly ErrorObject[]): Issue[] {
  const path = pointerToPath(union.instancePath)
  const branches = (union.schema as Schema[]) ?? []
  const value = union.data
  if (branches.length > 0 && branches.every(b => 'const' in b)) {
    return [
      explainChoice(
        path,
        value,
        branches.map(b => String(b.const)),
      ),
    ]
  }
  const keys = distinguishingKeys(branches)
  const allKeys = keys.flat()
  if (allKeys.length === 0 || keys.some(k => k.length === 0)) {
    return [{path, at: 'value', message: `does not match any allowed form (${branchErrors[0]?.message ?? 'invalid'})`}]
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [
      {path, at: 'value', message: `must be a mapping with one of ${allKeys.join(', ')} (got ${describeValue(value)})`},
    ]
  }
  const present = Object.keys(value)
  const chosen = keys.map((k, i) => (k.some(key => present.includes(key)) ? i : -1)).filter(i => i >= 0)
  if (chosen.length === 1) {
    const index = chosen[0] as number
    const prefix = `${union.schemaPath}/${index}/`
    return explain(branchErrors.filter(e => e.schemaPath.startsWith(prefix)))
  }
  if (chosen.length > 1) {
    const found = allKeys.filter(k => present.includes(k))
    return [
      {
        path,
        at: 'value',
        message: `set exactly one of ${allKeys.join(', ')} (found ${found.join(' and ')})`,
        hint: `keep one of ${found.join(', ')} and remove the others`,
      },
    ]
  }
  const known = new Set(branches.flatMap(b => Object.keys((b.properties as Schema | undefined) ?? {})))
  const unknown = present.filter(k => !known.has(k))
  const issues: Issue[] = unknown.map(k => ({
    path: [...path, k],
    at: 'key' as const,
    message: `unknown field "${k}"`,
    hint: suggestion(k, [...known]),
  }))
  const fromUnknown = unknown.flatMap(k => allKeys.filter(a => suggestion(k, [a]).startsWith('did you mean')))
  if (fromUnknown.length === 0) issues.push({path, at: 'value', message: `set one of ${allKeys.join(', ')}`})
  return issues
}

function explainChoice(path: FieldPath, value: unknown, allowed: string[]): Issue {
  const last = path[path.length - 1]
  const got = typeof value === 'string' ? value : describeValue(value)
  if (last === 'grpcStatus') {
    return {
      path,
      at: 'value',
      message: `gRPC status ${JSON.stringify(got)} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`,
      hint:
        typeof value === 'string'
          ? `${suggestion(value, allowed)} (use the status name, e.g. UNAVAILABLE, not its number)`
          : 'use the status name, e.g. UNAVAILABLE, not its number',
    }
  }
  const hint = typeof value === 'string' ? suggestion(value, allowed) : `allowed: ${allowed.join(', ')}`
  return {path, at: 'value', message: `must be one of ${allowed.join(', ')} (got ${JSON.stringify(got)})`, hint}
}
