/**
 * `spec.setup` beyond the schema: each trafficPolicy patch checked as Istio would check it inside
 * a DestinationRule (its CRD schema, strictly, then istiod's webhook rules), every problem located
 * at the experiment's own field, with the fix. Whether the DestinationRule exists is a fact of the
 * cluster: preflight checks it (exit 4), and `chaos plan --existing` when the manifests show it.
 */
import {validateTrafficPolicyPatch} from '@faultline/core/istio/destination-rule.js'
import type {Setup} from './model.js'
import type {FieldPath, Issue} from './position.js'
import {closest} from './suggest.js'

/** Istio's fields under each part a setup may write, for "did you mean" on a misspelt one. */
const KNOWN_FIELDS: Record<string, string[]> = {
  connectionPool: ['tcp', 'http'],
  'connectionPool.tcp': ['maxConnections', 'connectTimeout', 'tcpKeepalive', 'maxConnectionDuration', 'idleTimeout'],
  'connectionPool.http': [
    'http1MaxPendingRequests',
    'http2MaxRequests',
    'maxRequestsPerConnection',
    'maxRetries',
    'idleTimeout',
    'h2UpgradePolicy',
    'useClientProtocol',
    'maxConcurrentStreams',
  ],
  outlierDetection: [
    'consecutive5xxErrors',
    'consecutiveGatewayErrors',
    'consecutiveLocalOriginFailures',
    'splitExternalLocalOriginErrors',
    'interval',
    'baseEjectionTime',
    'maxEjectionPercent',
    'minHealthPercent',
  ],
}

/** `spec.trafficPolicy.connectionPool.tcp.maxConnections` → ['connectionPool', 'tcp', 'maxConnections']. */
function policyPath(path: string): (string | number)[] {
  const rest = path.replace(/^spec\.trafficPolicy\.?/, '')
  if (rest === '') return []
  return rest.split('.').flatMap(part => {
    const m = /^([^[]*)((\[[0-9]+\])*)$/.exec(part)
    if (m === null) return [part]
    const indexes = [...(m[2] ?? '').matchAll(/\[([0-9]+)\]/g)].map(x => Number(x[1]))
    return [...(m[1] === '' ? [] : [m[1] as string]), ...indexes]
  })
}

function hintFor(message: string, field: (string | number)[]): string {
  const name = String(field.at(-1) ?? '')
  const parent = field.slice(0, -1).join('.')
  if (message === 'field not declared in schema') {
    const known = KNOWN_FIELDS[parent]
    const near = known === undefined ? undefined : closest(name, known)
    return `${near === undefined ? 'remove it' : `did you mean ${near}?`}${known === undefined ? '' : ` Istio's ${parent} fields: ${known.join(', ')}`}`
  }
  if (/must be of type integer/.test(message)) return 'write a whole number, e.g. 5'
  if (/must be of type string/.test(message)) return 'write a string, e.g. a duration such as 10s'
  if (/non-negative|not in range 0\.\.100/.test(message)) return 'use a value of 0 or more (percentages 0–100)'
  if (/duration/.test(message)) return 'write a duration of at least 1ms in whole milliseconds, e.g. 10s or 500ms'
  if (message === 'connection pool must have at least one field')
    return 'give tcp and/or http, e.g. {tcp: {maxConnections: 5}, http: {http1MaxPendingRequests: 5}}'
  if (/split external local origin errors/.test(message))
    return 'set splitExternalLocalOriginErrors: true, or drop consecutiveLocalOriginFailures'
  if (/Unsupported value/.test(message)) return 'use one of the values listed'
  return "fix the value as Istio's DestinationRule reference describes it; the API server would refuse this patch"
}

/** Problems in `spec.setup` (its schema already checked at `path`). */
export function setupIssues(setup: Setup, path: FieldPath): Issue[] {
  const issues: Issue[] = []
  const seen = new Map<string, number>()
  setup.destinationRules.forEach((dr, i) => {
    const at = [...path, 'destinationRules', i]
    const first = seen.get(dr.name)
    if (first !== undefined) {
      issues.push({
        path: [...at, 'name'],
        at: 'value',
        message: `DestinationRule ${dr.name} is patched twice (also at destinationRules[${first}])`,
        hint: 'merge the two entries into one trafficPolicy',
      })
    } else seen.set(dr.name, i)
    for (const v of validateTrafficPolicyPatch(dr.trafficPolicy as Record<string, unknown>)) {
      const field = policyPath(v.path)
      issues.push({
        path: [...at, 'trafficPolicy', ...field],
        at: v.message === 'field not declared in schema' ? 'key' : 'value',
        message: `${v.message} (DestinationRule ${dr.name}, trafficPolicy.${field.join('.')})`,
        hint: hintFor(v.message, field),
      })
    }
  })
  return issues
}
