/**
 * The fault filter's decisions for a route's HTTPFaultInjection, as Istio translates it and Envoy
 * evaluates it (test/reference/SEMANTICS.md (b); istio route.go TranslateFault, envoy fault_filter.cc).
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import type {HTTPFaultInjection} from '@faultline/core/istio/types.js'

/** gRPC status names Istio accepts, with their codes (istio pkg/util/grpc/codes.go). */
export const GRPC_CODES: Readonly<Record<string, number>> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
}

/** An injected abort: an HTTP status, or HTTP 200 carrying a grpc-status. */
export interface AbortFault {
  status: number
  grpcStatus: number | undefined
}

/**
 * Istio's `FractionalPercent` numerator per million: `uint32(percentage.value * 10000)` (truncated);
 * the deprecated int `delay.percent` is per hundred; neither set → 0 (nothing injected).
 */
export function perMillion(percentage: {value: number} | undefined, percent?: number): number {
  if (percentage !== undefined) return Math.max(0, Math.trunc(percentage.value * 10000))
  if (percent !== undefined) return Math.max(0, Math.trunc(percent)) * 10000
  return 0
}

/** Envoy's draw against a fraction per million: `random % 1e6 < numerator`. */
function fires(numeratorPerMillion: number, random: () => number): boolean {
  return numeratorPerMillion > 0 && Math.floor(random() * 1_000_000) < numeratorPerMillion
}

/** The delay to inject in ms, or undefined (no delay configured, or the draw said no). */
export function drawDelay(fault: HTTPFaultInjection | undefined, random: () => number): number | undefined {
  const delay = fault?.delay
  if (delay?.fixedDelay === undefined) return undefined
  const ms = parseDurationMs(delay.fixedDelay)
  if (ms === undefined) return undefined
  return fires(perMillion(delay.percentage, delay.percent), random) ? ms : undefined
}

/** The abort to inject, or undefined. Drawn independently of the delay, after it (postDelayInjection). */
export function drawAbort(fault: HTTPFaultInjection | undefined, random: () => number): AbortFault | undefined {
  const abort = fault?.abort
  if (abort === undefined) return undefined
  let status: number
  let grpcStatus: number | undefined
  if (abort.httpStatus !== undefined) status = abort.httpStatus
  else if (abort.grpcStatus !== undefined && GRPC_CODES[abort.grpcStatus] !== undefined) {
    status = 200
    grpcStatus = GRPC_CODES[abort.grpcStatus]
  } else return undefined // "abort configured, but error type not set": Istio emits no abort
  return fires(perMillion(abort.percentage), random) ? {status, grpcStatus} : undefined
}
