/**
 * A route's retry policy as Istio compiles it for Envoy (istio `route/retry/retry.go` ConvertPolicy)
 * and the router's retry decisions (Envoy `retry_state_impl.cc`, router filter `x-envoy-retry-on` docs).
 */
import {parseDurationMs} from '../../duration.js'
import type {HTTPRetry} from '../../istio/types.js'

/** One route's compiled retry policy. */
export interface RetryPolicy {
  numRetries: number
  perTryTimeoutMs: number | undefined
  retryOn: ReadonlySet<string>
  retriableStatusCodes: ReadonlySet<number>
  backoffBaseMs: number
}

/** Why an upstream attempt failed, in the terms retry_on conditions are written in. */
export type AttemptFailure =
  | {kind: 'response'; status: number; grpcStatus: number | undefined}
  | {kind: 'connect-failure'}
  | {kind: 'reset'}
  | {kind: 'per-try-timeout'}

/**
 * Istio's default when a route has no `retries`: 2 retries on
 * `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes` with retriable code
 * 503 and the previous_hosts predicate (retry.go DefaultPolicy; the mesh defaultHttpRetryPolicy as
 * seen in `istioctl proxy-config route` dumps: `retriableStatusCodes: [503]`). test/reference/SEMANTICS.md (a)13 quotes
 * the API text, which omits `retriable-status-codes`; the generated config includes it.
 */
export const ISTIO_DEFAULT_RETRY: RetryPolicy = {
  numRetries: 2,
  perTryTimeoutMs: undefined,
  retryOn: new Set(['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']),
  retriableStatusCodes: new Set([503]),
  backoffBaseMs: 25,
}

/** `attempts: 0`: Istio's default conditions with no retries (one shared object: this runs per request). */
const NO_RETRIES: RetryPolicy = {...ISTIO_DEFAULT_RETRY, numRetries: 0}

/** Compiles `HTTPRoute.retries`: absent → Istio's default; `attempts: 0` → no retries. */
export function retryPolicyFor(retries: HTTPRetry | undefined): RetryPolicy {
  if (retries === undefined) return ISTIO_DEFAULT_RETRY
  const attempts = retries.attempts ?? 0
  if (attempts <= 0) return NO_RETRIES
  let retryOn = ISTIO_DEFAULT_RETRY.retryOn
  let codes = ISTIO_DEFAULT_RETRY.retriableStatusCodes
  if (retries.retryOn !== undefined && retries.retryOn.trim() !== '') {
    const on = new Set<string>()
    const statusCodes = new Set<number>()
    for (const token of retries.retryOn.split(',').map(t => t.trim()).filter(t => t !== '')) {
      if (/^\d+$/.test(token)) statusCodes.add(Number(token))
      else on.add(token)
    }
    // Istio turns numeric entries into retriable_status_codes and adds the condition that uses them.
    if (statusCodes.size > 0) on.add('retriable-status-codes')
    retryOn = on
    codes = statusCodes
  }
  const backoff = typeof retries['backoff'] === 'string' ? parseDurationMs(retries['backoff']) : undefined
  return {
    numRetries: attempts,
    perTryTimeoutMs: retries.perTryTimeout === undefined ? undefined : parseDurationMs(retries.perTryTimeout),
    retryOn,
    retriableStatusCodes: codes,
    backoffBaseMs: backoff ?? 25,
  }
}

const GRPC_RETRY_ON: Readonly<Record<string, number>> = {cancelled: 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, internal: 13, unavailable: 14}

/** Whether a failed attempt is retriable under the policy's `retry_on` conditions. */
export function isRetriable(policy: RetryPolicy, failure: AttemptFailure): boolean {
  const on = policy.retryOn
  switch (failure.kind) {
    case 'connect-failure':
      return on.has('connect-failure') || on.has('5xx') || on.has('gateway-error') || on.has('reset')
    case 'reset':
    case 'per-try-timeout':
      return on.has('5xx') || on.has('gateway-error') || on.has('reset')
    case 'response': {
      const s = failure.status
      if (on.has('5xx') && s >= 500) return true
      if (on.has('gateway-error') && s >= 502 && s <= 504) return true
      if (on.has('retriable-4xx') && s === 409) return true
      if (on.has('retriable-status-codes') && policy.retriableStatusCodes.has(s)) return true
      if (failure.grpcStatus !== undefined) {
        for (const [cond, code] of Object.entries(GRPC_RETRY_ON)) if (on.has(cond) && failure.grpcStatus === code) return true
      }
      return false
    }
  }
}

/** Envoy's jittered exponential back-off: retry n (1-based) waits uniformly in [0, base × (2^n − 1)), capped at 10 × base. */
export function backoffMs(policy: RetryPolicy, retryNumber: number, random: () => number): number {
  const ceiling = Math.min(policy.backoffBaseMs * (2 ** retryNumber - 1), policy.backoffBaseMs * 10)
  return Math.floor(random() * ceiling)
}
