/**
 * `${namespace}`: the run's resolved target namespace (`--namespace`, a GameDay entry's, then
 * `spec.target.namespace`, then the context's), written in the strings that name things inside
 * it — Envoy stat patterns, PromQL queries, HTTP probe and load URLs — so one experiment file runs
 * in any namespace. `withNamespace` substitutes once, before the run (pure); `placeholderIssues`
 * is what `chaos validate` says about placeholders.
 */
import type {Experiment} from './model.js'
import type {FieldPath, Issue} from './position.js'

/** The one placeholder. */
export const NAMESPACE_PLACEHOLDER = '${namespace}'

/** The fields `${namespace}` is substituted in, relative to an experiment (`*`: any index). */
export const NAMESPACE_FIELDS: ReadonlyArray<readonly string[]> = [
  ['spec', 'load', 'url'],
  ['spec', 'steadyState', '*', 'prometheus', 'query'],
  ['spec', 'steadyState', '*', 'envoy', 'stat'],
  ['spec', 'steadyState', '*', 'http', 'url'],
  ['spec', 'guardrails', 'abortWhen', '*', 'prometheus', 'query'],
  ['spec', 'guardrails', 'abortWhen', '*', 'envoy', 'stat'],
]

const FIELDS_TEXT =
  "spec.load.url and the steadyState and guardrails.abortWhen probes' prometheus.query, envoy.stat and http.url"

/** Whether `path` (relative to the experiment) is one of NAMESPACE_FIELDS. */
function substituted(path: FieldPath): boolean {
  return NAMESPACE_FIELDS.some(
    field =>
      field.length === path.length &&
      field.every((segment, i) => (segment === '*' ? typeof path[i] === 'number' : segment === path[i])),
  )
}

/** The experiment with `${namespace}` replaced by `namespace` in NAMESPACE_FIELDS; the argument is not changed. */
export function withNamespace(experiment: Experiment, namespace: string): Experiment {
  const copy = structuredClone(experiment)
  const visit = (
    value: unknown,
    path: Array<string | number>,
    parent: Record<string | number, unknown> | undefined,
  ): void => {
    if (typeof value === 'string') {
      if (parent !== undefined && substituted(path))
        parent[path[path.length - 1] as string | number] = value.replaceAll(NAMESPACE_PLACEHOLDER, namespace)
      return
    }
    if (Array.isArray(value))
      value.forEach((v, i) => visit(v, [...path, i], value as unknown as Record<number, unknown>))
    else if (value !== null && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) visit(v, [...path, k], value as Record<string, unknown>)
  }
  visit(copy.spec, ['spec'], undefined)
  return copy
}

/** `${…}` and an unclosed `${`, as written. */
const PLACEHOLDER = /\$\{([^}]*)\}|\$\{/g

/**
 * Placeholders `chaos validate` refuses, at `base` (empty for a file, the entry's path for a
 * GameDay's inline experiment): anything but `${namespace}` in NAMESPACE_FIELDS, and any `${…}`
 * elsewhere under `spec` (nothing else is substituted; metadata is free text).
 */
export function placeholderIssues(experiment: unknown, base: FieldPath = []): Issue[] {
  const issues: Issue[] = []
  const visit = (value: unknown, path: Array<string | number>): void => {
    if (typeof value === 'string') {
      const issue = placeholderIssue(value, path)
      if (issue !== undefined) issues.push({...issue, path: [...base, ...path]})
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, [...path, i]))
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, [...path, k])
    }
  }
  if (experiment !== null && typeof experiment === 'object' && 'spec' in experiment) visit(experiment.spec, ['spec'])
  return issues
}

function placeholderIssue(text: string, path: FieldPath): Issue | undefined {
  const inField = substituted(path)
  for (const m of text.matchAll(PLACEHOLDER)) {
    const written = m[0]
    if (m[1] === undefined) {
      // An unclosed `${` is only a mistake where placeholders are substituted; elsewhere it is text.
      if (!inField) continue
      return {
        path,
        at: 'value',
        message: `the placeholder at "${text.slice(m.index, m.index + 20)}" is not closed`,
        hint: `write ${NAMESPACE_PLACEHOLDER}`,
      }
    }
    if (written === NAMESPACE_PLACEHOLDER && inField) continue
    if (written === NAMESPACE_PLACEHOLDER) {
      return {
        path,
        at: 'value',
        message: `${NAMESPACE_PLACEHOLDER} is not substituted in this field`,
        hint: `it is substituted only in ${FIELDS_TEXT}; write the value itself here`,
      }
    }
    return {
      path,
      at: 'value',
      message: `unknown placeholder ${written}: the only placeholder is ${NAMESPACE_PLACEHOLDER}`,
      hint: inField
        ? `write ${NAMESPACE_PLACEHOLDER} for the run's target namespace, or the value itself`
        : `${NAMESPACE_PLACEHOLDER} (the run's target namespace) is substituted only in ${FIELDS_TEXT}; write the value itself here`,
    }
  }
  return undefined
}
