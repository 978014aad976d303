/**
 * A route's retry policy as Istio compiles it for Envoy (istio `route/retry/retry.go` ConvertPolicy)
 * and the router's retry decisions (Envoy `retry_state_impl.cc`, router filter `x-envoy-retry-on` docs).
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import type {HTTPRetry} from '@faultline/core/istio/types.js'

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
 * Istio's default when a route has no `retries` (and the mesh sets no defaultHttpRetryPolicy):
 * istio/istio 1.30.3 `pilot/pkg/networking/core/route/retry/retry.go` cachedDefaultPolicy — 2
 * retries on `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes` with NO
 * retriable status codes (so `retriable-status-codes` matches nothing and a 503 is not retried),
 * the previous_hosts predicate, 5 host-selection attempts. Up to 1.23 it listed 503
 * (`RetriableStatusCodes: []uint32{http.StatusServiceUnavailable}`); 1.24.0 dropped it
 * (EXCLUDE_UNSAFE_503_FROM_DEFAULT_RETRY, default true, #52111). test/reference/SEMANTICS.md (a)13.
 */
export const ISTIO_DEFAULT_RETRY: RetryPolicy = {
  numRetries: 2,
  perTryTimeoutMs: undefined,
  retryOn: new Set(['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes']),
  retriableStatusCodes: new Set(),
  backoffBaseMs: 25,
}

/** Istio ≤ 1.23's default (`--istio 1.22`): the same with 503 retriable. */
export const ISTIO_122_DEFAULT_RETRY: RetryPolicy = {...ISTIO_DEFAULT_RETRY, retriableStatusCodes: new Set([503])}

/** `attempts: 0`: ConvertPolicy returns nil, no retry policy (one shared object: this runs per request). */
const NO_RETRIES: RetryPolicy = {...ISTIO_DEFAULT_RETRY, numRetries: 0}

/**
 * Go's `http.StatusText(code) != ""` (net/http status.go): only these numbers in `retryOn` become
 * retriable status codes (retry.go parseRetryOn); any other number stays a retry_on token.
 */
const GO_STATUS_TEXT = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400,
  401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425,
  426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
])

/**
 * Compiles `HTTPRoute.retries` as retry.go ConvertPolicy does: absent → the default policy;
 * `attempts` ≤ 0 → none; otherwise the default's `retry_on` and status codes (1.30: none, so
 * `attempts: 3` alone does not retry a 503 either; 1.22's ConvertPolicy started from DefaultPolicy
 * and kept 503) with `numRetries = attempts`; a non-empty `retryOn` replaces
 * `retry_on`, its HTTP status codes becoming retriable codes (+ `retriable-status-codes`).
 */
export function retryPolicyFor(
  retries: HTTPRetry | undefined,
  defaultPolicy: RetryPolicy = ISTIO_DEFAULT_RETRY,
): RetryPolicy {
  if (retries === undefined) return defaultPolicy
  const attempts = retries.attempts ?? 0
  if (attempts <= 0) return NO_RETRIES
  let retryOn = defaultPolicy.retryOn
  let codes = defaultPolicy.retriableStatusCodes
  if (retries.retryOn !== undefined && retries.retryOn !== '') {
    const on = new Set<string>()
    const statusCodes = new Set<number>()
    for (const token of retries.retryOn
      .split(',')
      .map(t => t.trim())
      .filter(t => t !== '')) {
      if (/^[+-]?\d+$/.test(token) && GO_STATUS_TEXT.has(Number(token))) statusCodes.add(Number(token))
      else on.add(token)
    }
    // "If user has just specified HTTP status codes in retryOn but have not specified "retriable-status-codes", let us add it."
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

const GRPC_RETRY_ON: Readonly<Record<string, number>> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
}

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
        for (const [cond, code] of Object.entries(GRPC_RETRY_ON))
          if (on.has(cond) && failure.grpcStatus === code) return true
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
