/**
 * The building blocks of istiod's validating webhook (Istio 1.30.3 `pkg/config/validation`), with
 * its message texts: each returns the messages a value earns, empty when it is fine.
 */
import {parseDurationNs} from '../duration.js'
import {re2} from './routing.js'
import type {StringMatch} from './types.js'

const TCHARS = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status'])
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const WILDCARD_DNS1123_LABEL = /^(\*|(\*|\*-)?[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/

/** gRPC status names an abort may use (istio `pkg/util/grpc/codes.go`); the experiment model offers the same. */
export const GRPC_STATUSES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const

export const SUPPORTED_GRPC_STATUS: ReadonlySet<string> = new Set<string>(GRPC_STATUSES)

/** retryOn policies Envoy supports (besides HTTP status codes). */
export const SUPPORTED_RETRY_ON = new Set([
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'retriable-4xx',
  'refused-stream',
  'retriable-status-codes',
  'retriable-headers',
  'envoy-ratelimited',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
])

/** Status codes Go's `http.StatusText` knows: a numeric retryOn entry must be one of them. */
const GO_STATUS_CODES = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424,
  425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
])

/** Go's `%q` for a string (close enough: JSON string syntax). */
export function q(s: string): string {
  return JSON.stringify(s)
}

/** Whether a string is a DNS-1123 label (subset names, namespaces). */
export function isDns1123Label(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s)
}

/** `ValidateHTTPHeaderNameOrJwtClaimRoute`. */
export function headerNameErrors(name: string): string[] {
  if (name === '') return ['header name cannot be empty']
  if (isJwtClaimKey(name) || PSEUDO_HEADERS.has(name)) return []
  return TCHARS.test(name) ? [] : [`header name ${name} is not a valid header name`]
}

/** Whether a match key is JWT-claim routing (`@request.auth.claims.groups`). */
export function isJwtClaimKey(name: string): boolean {
  return name.startsWith('@request.auth.claims.') || name.startsWith('@request.auth.claims[')
}

/** `validateStringMatchRegexp`: length and RE2 syntax of a regex match. */
export function regexErrors(m: StringMatch | undefined, where: string): string[] {
  if (m?.regex === undefined) return []
  if (m.regex === '') return [`${q(where)}: regex string match should not be empty`]
  if (m.regex.length > 1024) return [`${q(where)}: regex is too large, max length allowed is 1024`]
  try {
    re2(m.regex)
    return []
  } catch (e) {
    return [
      `${q(where)}: ${e instanceof Error ? e.message : String(e)}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)`,
    ]
  }
}

/** `validateStringMatch`: no empty prefix, valid regex. */
export function stringMatchErrors(m: StringMatch | undefined, where: string): string[] {
  if (m?.prefix !== undefined && m.prefix === '') return [`${q(where)}: prefix string match should not be empty`]
  return regexErrors(m, where)
}

/** `agent.ValidateDuration` for a duration string (the CRD has already checked its syntax). */
export function durationErrors(text: unknown): string[] {
  if (typeof text !== 'string') return []
  const ns = parseDurationNs(text)
  if (ns === undefined) return [`invalid duration ${q(text)}`]
  if (ns < 1e6) return ['duration must be greater than 1ms']
  if (ns % 1e6 !== 0) return ['only durations to ms precision are supported']
  return []
}

/** `validatePercentage` for a fault's `percentage.value`. */
export function percentageErrors(p: {value?: unknown} | undefined): string[] {
  if (p === undefined || typeof p.value !== 'number') return []
  const v = p.value
  return v < 0 || v > 100 || (v > 0 && v < 0.0001)
    ? [`percentage ${v} is neither 0.0, nor in range [0.0001, 100.0]`]
    : []
}

/**
 * `validateHTTPStatus`. Istio's own check lets 600 through although its message says 200-599;
 * Envoy's FaultAbort rejects 600 (`lt: 600`), so we hold to the message and refuse 600 too.
 */
export function httpStatusErrors(status: unknown): string[] {
  if (typeof status !== 'number') return []
  return status < 200 || status > 599 ? [`HTTP status ${status} is not in range 200-599`] : []
}

/** `validateGRPCStatus`. */
export function grpcStatusErrors(status: unknown): string[] {
  if (typeof status !== 'string' || SUPPORTED_GRPC_STATUS.has(status)) return []
  return [
    `gRPC status ${q(status)} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'`,
  ]
}

/** `agent.ValidatePort`. */
export function portErrors(port: unknown): string[] {
  if (typeof port !== 'number') return []
  return port >= 1 && port <= 65535 ? [] : [`port number ${port} must be in the range 1..65535`]
}

function dns1123LabelsErrors(domain: string): string[] {
  const parts = domain.split('.')
  const tld = parts[parts.length - 1] ?? ''
  if (/^[+-]?[0-9]+$/.test(tld))
    return [`domain name ${q(domain)} invalid (top level domain ${q(tld)} cannot be all-numeric)`]
  for (const [i, label] of parts.entries()) {
    if (i === parts.length - 1 && label === '') return []
    if (!isDns1123Label(label)) return [`domain name ${q(domain)} invalid (label ${q(label)} invalid)`]
  }
  return []
}

/** `agent.ValidateWildcardDomain`: an FQDN that may start with a wildcard label. */
export function wildcardDomainErrors(domain: string): string[] {
  if (domain.length > 255) return [`domain name ${q(domain)} too long (max 255)`]
  if (domain.length === 0) return ['empty domain name not allowed']
  const dot = domain.indexOf('.')
  const first = dot < 0 ? domain : domain.slice(0, dot)
  if (first.length > 63 || !WILDCARD_DNS1123_LABEL.test(first))
    return [`domain name ${q(domain)} invalid (label ${q(first)} invalid)`]
  return dot < 0 ? [] : dns1123LabelsErrors(domain.slice(dot + 1))
}

/** `agent.ValidateFQDN`. */
export function fqdnErrors(domain: string): string[] {
  if (domain.length > 255) return [`domain name ${q(domain)} too long (max 255)`]
  if (domain.length === 0) return ['empty domain name not allowed']
  return dns1123LabelsErrors(domain)
}

/** Whether a string is an IPv4 or IPv6 address (hosts may be IPs). */
export function isIpAddress(s: string): boolean {
  if (/^(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}$/.test(s)) return true
  return s.includes(':') && /^[0-9A-Fa-f:.]+$/.test(s)
}

/** `validateHTTPRetry` on the retryOn list: comma-separated, no trimming (as Istio). */
export function retryOnErrors(retryOn: string): string[] {
  return retryOn.split(',').flatMap(policy => {
    const code = /^[+-]?[0-9]+$/.test(policy) ? Number(policy) : 0
    return GO_STATUS_CODES.has(code) || SUPPORTED_RETRY_ON.has(policy)
      ? []
      : [`${q(policy)} is not a valid retryOn policy`]
  })
}

/** Istio host.Name.Matches: two hosts overlap (equal, or a wildcard covers the other). */
export function hostsOverlap(a: string, b: string): boolean {
  if (a === b) return true
  const covers = (w: string, h: string) => w === '*' || (w.startsWith('*') && h.endsWith(w.slice(1)))
  return covers(a, b) || covers(b, a)
}

/** `validateGatewayNames` (errors only; the legacy-format warning is not an error). */
export function gatewayNameErrors(name: string): string[] {
  const slash = name.indexOf('/')
  if (slash < 0) return fqdnErrors(name)
  const ns = name.slice(0, slash)
  const gw = name.slice(slash + 1)
  const out: string[] = []
  if (ns === '' || gw === '') out.push('config namespace and gateway name cannot be empty')
  if (!isDns1123Label(ns)) out.push(`invalid value for namespace: ${q(ns)}`)
  if (!isDns1123Label(gw)) out.push(`invalid value for gateway name: ${q(gw)}`)
  return out
}

/** `ValidateHTTPHeaderValue`: no control characters. */
export function headerValueErrors(value: unknown): string[] {
  if (typeof value !== 'string') return []
  // eslint-disable-next-line no-control-regex
  return /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/.test(value) ? [] : [`header value configuration ${value} is invalid`]
}
