/**
 * Why a request failed, as one short label that is counted per traffic class and second
 * (`SecondStats.reasons`): the network error (`ENOTFOUND productpage`, `ECONNREFUSED 127.0.0.1:9080`,
 * `reset (ECONNRESET)`, `timeout`, `TLS CERT_HAS_EXPIRED`, `proxy ECONNREFUSED …`), or the HTTP status
 * with Envoy's response flag when the answer is an Envoy local reply (`503 UO`, `500 FI`, `504 UT`),
 * else the bare status (`503`). Both drivers use the same words: the builtin driver from undici's
 * error codes and the answer's headers and first body bytes, the k6 driver from k6's `error_code`
 * and `error` tags (grafana k6 docs, "Error codes") and, for an answer, the label its script
 * computes with this module's own functions and tables. Pure; labels are bounded (codes, the one host
 * of the run's URL), never free-form messages, so a run cannot grow an unbounded map.
 */

/** The fields of a Node/undici error that say what went wrong. */
export interface ErrorLike {
  code?: unknown
  hostname?: unknown
  address?: unknown
  port?: unknown
  message?: unknown
  cause?: unknown
}

import {type Recorder, secondsInWindow} from './recorder.js'

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA'])
const TIMEOUT_CODES: Record<string, string> = {
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  UND_ERR_BODY_TIMEOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout (connect)',
  ETIMEDOUT: 'timeout (connect)',
}
const RESET_CODES: Record<string, string> = {
  ECONNRESET: 'reset (ECONNRESET)',
  EPIPE: 'reset (EPIPE)',
  UND_ERR_SOCKET: 'reset (connection closed)',
  ECONNABORTED: 'reset (ECONNABORTED)',
}
const TLS_CODES =
  /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|HOSTNAME_MISMATCH$|EPROTO$)/

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined

/**
 * The reason for a request that got no HTTP answer. `host` is the host the request went to (the
 * proxy's when `viaProxy`), for errors that do not carry one. Connection-level failures through a
 * forward proxy are the proxy's: they read `proxy ECONNREFUSED 127.0.0.1:3128`.
 */
export function errorReason(err: ErrorLike | undefined, options: {host?: string; viaProxy?: boolean} = {}): string {
  // undici wraps some socket errors: the cause carries the system code.
  const inner =
    err?.cause !== undefined &&
    typeof err.cause === 'object' &&
    err.cause !== null &&
    str((err.cause as ErrorLike).code) !== undefined
      ? (err.cause as ErrorLike)
      : err
  const code = str(inner?.code) ?? str(err?.code)
  const proxy = options.viaProxy === true ? 'proxy ' : ''
  if (code === undefined) return 'error'
  // undici's ProxyAgent turns a proxy's 407 into an InvalidArgumentError (undici 7.30.2 proxy-agent.js).
  if (code === 'UND_ERR_INVALID_ARG' && /Proxy Authentication Required/.test(str(err?.message) ?? ''))
    return 'proxy 407 (Proxy Authentication Required)'
  if (DNS_CODES.has(code)) return `${proxy}${code} ${str(inner?.hostname) ?? options.host ?? ''}`.trimEnd()
  if (code === 'ECONNREFUSED') {
    const address = str(inner?.address)
    const port = str(inner?.port)
    return `${proxy}ECONNREFUSED${address === undefined ? (options.host === undefined ? '' : ` ${options.host}`) : ` ${address}${port === undefined ? '' : `:${port}`}`}`
  }
  const timeout = TIMEOUT_CODES[code]
  if (timeout !== undefined) return timeout === 'timeout' ? timeout : `${proxy}${timeout}`
  const reset = RESET_CODES[code]
  if (reset !== undefined) return reset
  if (TLS_CODES.test(code)) return `${proxy}TLS ${code}`
  return code === 'UND_ERR_ABORTED' ? 'aborted' : code
}

/** What the builtin driver notes of an answer with status ≥ 400: a few headers and the body's first bytes. */
export interface AnswerPeek {
  /** The `server` header (`envoy`, `istio-envoy` on gateways). */
  server?: string
  /** Envoy adds `x-envoy-upstream-service-time` to answers from upstream, never to its local replies. */
  upstreamServiceTime?: boolean
  /** `x-envoy-overloaded: true`: a circuit breaker refused the request. */
  overloaded?: boolean
  /** `x-faultline-proxy: refused`: the sandbox's forward proxy refused the request itself. */
  proxyRefused?: boolean
  /** `x-faultline-port-forward: <why>`: chaos's own port-forward (--entry portForward) reached no pod. */
  portForward?: string
  /** The first bytes of the body. */
  body?: string
}

/** How many body bytes are worth reading to tell Envoy's local replies apart. */
export const PEEK_BYTES = 200

/**
 * What tells a failed answer's reason apart: the `server` values of Envoy, the words chaos's
 * port-forward uses, Envoy's local-reply bodies. Data, so the k6 script carries these very tables
 * (src/load/k6-script.ts) and k6 labels an answer as the builtin driver does.
 */
export interface AnswerRules {
  /** `server` header values (lower case) of Envoy: `istio-envoy` on gateways. */
  envoyServers: readonly string[]
  /** What chaos's port-forward says in `x-faultline-port-forward` (src/cli/port-forward.ts LOST_WHY); anything else is not a label. */
  portForwardWhy: readonly string[]
  /** Envoy's local-reply bodies → their response flag (packages/sandbox/src/mesh/README.md, envoy-response-flags.csv). */
  localReplies: readonly (readonly [RegExp, string])[]
  /** `upstream connect error or disconnect/reset before headers. [retried and the latest ]reset reason: …` */
  resetReply: RegExp
  /** `resetReply`'s reset reason → flag. */
  resetReasons: readonly (readonly [RegExp, string])[]
}

/** The rules both drivers (and the reachability check) label failed answers by. */
export const ANSWER_RULES: AnswerRules = {
  envoyServers: ['envoy', 'istio-envoy'],
  portForwardWhy: ['no ready pod', 'stream failed'],
  localReplies: [
    [/^fault filter abort/, 'FI'],
    [/^no healthy upstream/, 'UH'],
    [/^upstream request timeout/, 'UT'],
    [/^upstream max stream duration reached/, 'UMSDR'],
    [/^local_rate_limited/, 'RL'],
    [/^RBAC: access denied/, 'RBAC'],
  ],
  resetReply:
    /^upstream connect error or disconnect\/reset before headers\. (retried and the latest )?reset reason: (.*)/,
  resetReasons: [
    [/overflow/, 'UO'],
    [/connection failure|connection timeout|connect error: 111/, 'UF'],
    [/connection termination/, 'UC'],
    [/local reset/, 'LR'],
    [/remote reset|remote refused stream reset/, 'UR'],
    [/protocol error/, 'UPE'],
  ],
}

// answerPeek, localReplyFlag and answerReason are embedded in the k6 script by their own source
// (Function.prototype.toString, src/load/k6-script.ts): one copy of the rules for both drivers.
// So each reads nothing but its arguments (a bundler may rename this module's names), declares no
// function inside it (tsx's esbuild wraps those in a `__name` helper that k6 lacks), and keeps to
// the syntax the rest of the script uses (no `?.`, `??` or `includes`), for every k6 the driver runs.

/** An answer's peek from its headers (names in lower case) and its body's first bytes. Embedded in the k6 script. */
export function answerPeek(headers: Readonly<Record<string, string | undefined>>, body?: string): AnswerPeek {
  const peek: AnswerPeek = {}
  const server = headers['server']
  if (server !== undefined) peek.server = server.toLowerCase()
  if (headers['x-envoy-upstream-service-time'] !== undefined) peek.upstreamServiceTime = true
  if (headers['x-envoy-overloaded'] !== undefined) peek.overloaded = true
  if (headers['x-faultline-proxy'] !== undefined) peek.proxyRefused = true
  const portForward = headers['x-faultline-port-forward']
  if (portForward !== undefined) peek.portForward = portForward
  if (body !== undefined) peek.body = body
  return peek
}

/** Envoy's flag for a local reply, from its body (and status, when the body is empty). Embedded in the k6 script. */
export function localReplyFlag(status: number, body: string, rules: AnswerRules): string | undefined {
  for (const [re, flag] of rules.localReplies) if (re.test(body)) return flag
  const reset = rules.resetReply.exec(body)
  if (reset !== null) {
    for (const [re, flag] of rules.resetReasons)
      if (re.test(reset[2] || '')) return reset[1] === undefined ? flag : `${flag},URX`
    return undefined
  }
  if (body.trim() === '') return status === 404 ? 'NR' : status === 503 ? 'NC' : undefined
  return undefined
}

/**
 * The reason for an answer with status ≥ 400: the sandbox proxy's own refusal, chaos's own
 * port-forward reaching no pod (`port-forward lost: no ready pod`), an Envoy local reply with its
 * flag (`503 UO`, by `flagOf`), an Envoy local reply whose flag the body does not tell
 * (`503 envoy`), or the bare status (the application answered it, through the mesh or not).
 * Embedded in the k6 script, which passes the same rules and `localReplyFlag`.
 */
export function answerReason(
  status: number,
  peek: AnswerPeek,
  rules: AnswerRules,
  flagOf: (status: number, body: string, rules: AnswerRules) => string | undefined,
): string {
  if (peek.proxyRefused === true) return `proxy refused ${status}`
  if (peek.portForward !== undefined)
    return `port-forward lost: ${rules.portForwardWhy.indexOf(peek.portForward) >= 0 ? peek.portForward : 'unknown'}`
  if (peek.overloaded === true) return `${status} UO`
  const envoy = peek.server !== undefined && rules.envoyServers.indexOf(peek.server) >= 0
  if (!envoy || peek.upstreamServiceTime === true) return String(status)
  const flag = flagOf(status, peek.body === undefined ? '' : peek.body, rules)
  return `${status} ${flag === undefined ? 'envoy' : flag}`
}

/** Envoy's flag for a local reply, from its body (and status, when the body is empty). */
export function envoyFlag(status: number, body: string, overloaded = false): string | undefined {
  return overloaded ? 'UO' : localReplyFlag(status, body, ANSWER_RULES)
}

/** The reason for an answer with status ≥ 400, by `answerReason` and the rules above. */
export function statusReason(status: number, peek: AnswerPeek = {}): string {
  return answerReason(status, peek, ANSWER_RULES, localReplyFlag)
}

/** A request whose connection chaos's port-forward closed because the pod's stream broke mid-answer (the builtin driver asks the forwarder). */
export const PORT_FORWARD_CUT = 'port-forward lost: cut mid-answer'

/** The reason a failed request is counted under when its driver gave none. */
export function defaultReason(status: number): string {
  return status === 0 ? 'error' : String(status)
}

/**
 * k6's tags of a failed request → the same words as the builtin driver's. k6's error codes (grafana
 * k6 docs, "Error codes"): 1000 generic, 1020 invalid URL, 1050 request timeout, 1100 DNS, 1101 no
 * IP found for the host, 1110/1111 blocked IP/host, 1200–1202 TCP (1201 broken pipe), 1210–1213
 * dial (1211 timeout, 1212 refused), 1220 reset by peer, 1300 TLS (1310 unknown authority, 1311
 * hostname mismatch), 1400–1599 HTTP 4xx/5xx, 1600+ HTTP/2.
 */
export function k6Reason(status: number, tags: {error_code?: string; error?: string; url?: string}): string {
  if (status >= 400) return String(status)
  const code = Number(tags.error_code)
  const error = tags.error ?? ''
  const host = /lookup ([^\s:]+)/.exec(error)?.[1] ?? hostOf(tags.url)
  const address = /dial tcp ([^\s:]+:\d+)/.exec(error)?.[1] ?? /(\d+\.\d+\.\d+\.\d+:\d+)/.exec(error)?.[1]
  switch (code) {
    case 1020:
      return 'invalid URL'
    case 1050:
      return 'timeout'
    case 1100:
      return `DNS error${host === undefined ? '' : ` ${host}`}`
    case 1101:
      return `ENOTFOUND${host === undefined ? '' : ` ${host}`}`
    case 1110:
    case 1111:
      return `DNS blocked${host === undefined ? '' : ` ${host}`}`
    case 1201:
      return 'reset (EPIPE)'
    case 1211:
      return 'timeout (connect)'
    case 1212:
      return `ECONNREFUSED${address === undefined ? '' : ` ${address}`}`
    case 1220:
      return 'reset (ECONNRESET)'
    case 1310:
      return 'TLS unknown authority'
    case 1311:
      return 'TLS hostname mismatch'
    default:
      if (code >= 1300 && code < 1400) return `TLS error (k6 ${code})`
      if (code >= 1600 && code < 1700) return `HTTP/2 error (k6 ${code})`
      if (Number.isInteger(code) && code > 0) return `error (k6 ${code})`
      return defaultReason(status)
  }
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  try {
    return new URL(url).hostname
  } catch {
    return undefined
  }
}

/** Adds `from`'s counts into `into`. */
export function addReasons(
  into: Record<string, number>,
  from: Readonly<Record<string, number>> | undefined,
): Record<string, number> {
  if (from !== undefined) for (const [reason, n] of Object.entries(from)) into[reason] = (into[reason] ?? 0) + n
  return into
}

/** The reasons of some seconds together (seconds of old journals have none). */
export function sumReasons(seconds: readonly {reasons?: Readonly<Record<string, number>>}[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of seconds) addReasons(out, s.reasons)
  return out
}

/** The most frequent reasons first (ties by name), at most `n`. */
export function topReasons(reasons: Readonly<Record<string, number>>, n = 3): [string, number][] {
  return Object.entries(reasons)
    .filter(([, c]) => c > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
}

/** `ENOTFOUND productpage × 50, 503 UO × 3` (and `+2 more` when there are more than `n`). */
export function reasonsText(reasons: Readonly<Record<string, number>>, n = 3): string {
  const top = topReasons(reasons, n)
  const more = Object.values(reasons).filter(c => c > 0).length - top.length
  return top.map(([r, c]) => `${r} × ${c}`).join(', ') + (more > 0 ? `, +${more} more` : '')
}

/**
 * Each class's top reasons over [fromMs, toMs) on the load clock, in words:
 * `targeted: ENOTFOUND productpage × 50; control: ENOTFOUND productpage × 50` (empty when nothing failed).
 */
export function windowReasonsText(
  recorder: Pick<Recorder, 'classes' | 'seconds'>,
  fromMs: number,
  toMs: number,
): string {
  return recorder.classes
    .flatMap(c => {
      const text = reasonsText(sumReasons(secondsInWindow(recorder.seconds(c), fromMs, toMs)))
      return text === '' ? [] : [`${c}: ${text}`]
    })
    .join('; ')
}
