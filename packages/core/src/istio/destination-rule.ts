/**
 * What a real cluster checks before it accepts a DestinationRule's trafficPolicy: the API server's
 * CRD schema (`validateIstioObject`), then istiod's validating webhook for the parts `spec.setup`
 * writes — `validateConnectionPool` and `validateOutlierDetection` in
 * pkg/config/validation/validation.go (Istio 1.30.3), with Istio's own messages located by field path.
 */
import {validateIstioObject} from './crd.js'
import {ISTIO_GROUP, type DestinationRule} from './types.js'
import type {Violation} from './validate.js'
import {durationErrors} from './webhook-rules.js'

type Obj = Record<string, unknown>

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const negative = (v: unknown): boolean => typeof v === 'number' && v < 0

/** `validateConnectionPool`. */
function connectionPoolErrors(pool: unknown, path: string): Violation[] {
  if (!isObj(pool)) return []
  const out: Violation[] = []
  const add = (p: string, messages: string[]) => messages.forEach(message => out.push({path: p, message}))
  if (pool['http'] === undefined && pool['tcp'] === undefined)
    return [{path, message: 'connection pool must have at least one field'}]
  const http = pool['http']
  if (isObj(http)) {
    const at = `${path}.http`
    if (negative(http['http1MaxPendingRequests']))
      add(`${at}.http1MaxPendingRequests`, ['http1 max pending requests must be non-negative'])
    if (negative(http['http2MaxRequests'])) add(`${at}.http2MaxRequests`, ['http2 max requests must be non-negative'])
    if (negative(http['maxRequestsPerConnection']))
      add(`${at}.maxRequestsPerConnection`, ['max requests per connection must be non-negative'])
    if (negative(http['maxRetries'])) add(`${at}.maxRetries`, ['max retries must be non-negative'])
    if (http['idleTimeout'] !== undefined) add(`${at}.idleTimeout`, durationErrors(http['idleTimeout']))
    if (http['h2UpgradePolicy'] === 'UPGRADE' && http['useClientProtocol'] === true)
      add(`${at}.useClientProtocol`, ['use client protocol must not be true when H2UpgradePolicy is UPGRADE'])
    if (negative(http['maxConcurrentStreams']))
      add(`${at}.maxConcurrentStreams`, ['max concurrent streams must be non-negative'])
  }
  const tcp = pool['tcp']
  if (isObj(tcp)) {
    const at = `${path}.tcp`
    if (negative(tcp['maxConnections'])) add(`${at}.maxConnections`, ['max connections must be non-negative'])
    for (const field of ['connectTimeout', 'maxConnectionDuration'] as const)
      if (tcp[field] !== undefined) add(`${at}.${field}`, durationErrors(tcp[field]))
    // A 0s idle timeout turns the timeout off: Istio skips its check.
    if (tcp['idleTimeout'] !== undefined && !/^0+(\.0+)?(ms|s|m|h)$/.test(String(tcp['idleTimeout'])))
      add(`${at}.idleTimeout`, durationErrors(tcp['idleTimeout']))
    const ka = tcp['tcpKeepalive']
    if (isObj(ka))
      for (const field of ['time', 'interval'] as const)
        if (ka[field] !== undefined) add(`${at}.tcpKeepalive.${field}`, durationErrors(ka[field]))
  }
  return out
}

/** `validateOutlierDetection` (its deprecation warning for consecutiveErrors is not an error). */
function outlierDetectionErrors(outlier: unknown, path: string): Violation[] {
  if (!isObj(outlier)) return []
  const out: Violation[] = []
  const add = (p: string, messages: string[]) => messages.forEach(message => out.push({path: p, message}))
  if (outlier['baseEjectionTime'] !== undefined)
    add(`${path}.baseEjectionTime`, durationErrors(outlier['baseEjectionTime']))
  const localFailures = outlier['consecutiveLocalOriginFailures']
  if (outlier['splitExternalLocalOriginErrors'] !== true && typeof localFailures === 'number' && localFailures > 0) {
    add(`${path}.consecutiveLocalOriginFailures`, [
      'outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false',
    ])
  }
  if (outlier['interval'] !== undefined) add(`${path}.interval`, durationErrors(outlier['interval']))
  for (const field of ['maxEjectionPercent', 'minHealthPercent'] as const) {
    const v = outlier[field]
    if (typeof v === 'number' && (v < 0 || v > 100)) add(`${path}.${field}`, [`percentage ${v} is not in range 0..100`])
  }
  return out
}

/** istiod's webhook rules for a trafficPolicy's connectionPool and outlierDetection at `path`. */
export function trafficPolicyWebhookErrors(policy: unknown, path: string): Violation[] {
  if (!isObj(policy)) return []
  if (Object.values(policy).every(v => v === undefined || v === null))
    return [{path, message: 'traffic policy must have at least one field'}]
  return [
    ...connectionPoolErrors(policy['connectionPool'], `${path}.connectionPool`),
    ...outlierDetectionErrors(policy['outlierDetection'], `${path}.outlierDetection`),
  ]
}

/**
 * Every reason a cluster would reject this trafficPolicy patch: it is checked as the trafficPolicy
 * of a DestinationRule, strictly (a misspelt field is an error, as with `fieldValidation=Strict`),
 * schema first and alone, then the webhook. Paths start at `spec.trafficPolicy`.
 */
export function validateTrafficPolicyPatch(patch: Obj, version = 'v1'): Violation[] {
  const probe = {
    apiVersion: `${ISTIO_GROUP}/${version}`,
    kind: 'DestinationRule',
    spec: {host: 'patched', trafficPolicy: patch},
  }
  const schema = validateIstioObject(probe, {strict: true})
  if (schema.length > 0) return schema
  return trafficPolicyWebhookErrors(patch, 'spec.trafficPolicy')
}

/**
 * Every reason a cluster would reject the DestinationRule we are about to write: the CRD schema
 * over the whole object (fields of a newer Istio than our schemas are not held against it), then
 * the webhook's rules for its trafficPolicy.
 */
export function validateDestinationRule(dr: DestinationRule): Violation[] {
  const schema = validateIstioObject(dr)
  if (schema.length > 0) return schema
  const out: Violation[] = []
  if (typeof dr.spec.host !== 'string' || dr.spec.host === '')
    out.push({path: 'spec.host', message: 'host must be specified'})
  if (dr.spec.trafficPolicy !== undefined)
    out.push(...trafficPolicyWebhookErrors(dr.spec.trafficPolicy, 'spec.trafficPolicy'))
  return out
}
