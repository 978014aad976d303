/**
 * The sandbox API server's fault mode: it fails, conflicts and lags like a loaded control plane, so
 * the runner's apply and revert paths can be tested against the errors a real cluster produces —
 * 429 TooManyRequests from priority-and-fairness, 500 InternalError and 503 ServiceUnavailable
 * (nothing written), 409 Conflict after someone else's write, and the worst case for a revert: a
 * 504 Timeout for a write that was applied but whose answer was lost. Decisions come from a seeded
 * generator, so a test with `seed=N` sees the same faults for the same sequence of requests.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {parseDurationMs} from '@faultline/core/duration.js'
import {UsageError} from '@faultline/core/errors.js'
import {RESOURCES, type ObjectStore} from '../store.js'
import {flag, readBody, sendJson} from './http.js'
import type {IstioTarget} from './istio.js'
import {badRequest, conflict, type KubeStatus, methodNotAllowed} from './status.js'

/** What the API server does wrong, and how often. Percentages are 0–100. */
export interface ApiFaultSpec {
  /** Writes to VirtualServices/DestinationRules refused with 429, 500 or 503 (nothing written). */
  writeError: number
  /** Writes answered 409 Conflict after a concurrent write bumped the object's resourceVersion. */
  conflict: number
  /** Writes that are applied, but answered 504 Timeout: the client cannot know they landed. */
  lostResponse: number
  /** GETs and LISTs (not watches) of VirtualServices/DestinationRules refused with 429, 500 or 503. */
  readError: number
  /** Every API request waits this long (± `jitterMs`) before it is served; health checks and pods/exec upgrades do not. */
  latencyMs: number
  jitterMs: number
  /** Makes the fault decisions reproducible; random when absent. */
  seed?: number
}

/** The API server behaving. */
export const NO_API_FAULTS: ApiFaultSpec = {
  writeError: 0,
  conflict: 0,
  lostResponse: 0,
  readError: 0,
  latencyMs: 0,
  jitterMs: 0,
}

/** The accepted syntax, for error messages and help. */
export const API_FAULTS_SYNTAX =
  'comma-separated write-error=P%, conflict=P%, lost-response=P%, read-error=P%, latency=D or latency=D±J (e.g. 300ms±100ms), seed=N; or "none"'

const PERCENT_KEYS = {
  'write-error': 'writeError',
  conflict: 'conflict',
  'lost-response': 'lostResponse',
  'read-error': 'readError',
} as const

function bad(token: string, why: string): UsageError {
  return new UsageError(`--api-faults: ${JSON.stringify(token)} ${why}`, {hint: `accepted: ${API_FAULTS_SYNTAX}`})
}

function percent(token: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(value)
  const n = m === null ? Number.NaN : Number(m[1])
  if (!(n >= 0 && n <= 100)) throw bad(token, 'is not a percentage between 0% and 100% (e.g. 20%)')
  return n
}

function duration(token: string, value: string): number {
  const ms = parseDurationMs(value)
  if (ms === undefined || ms < 0 || ms > 60_000)
    throw bad(token, 'is not a duration between 0 and 60s (e.g. 300ms, 1.5s)')
  return ms
}

/** Parses `write-error=20%,conflict=10%,latency=300ms±100ms,seed=7`; throws a UsageError (exit 2) naming the bad token. */
export function parseApiFaults(text: string): ApiFaultSpec {
  const trimmed = text.trim()
  if (trimmed === '' || trimmed === 'none') return {...NO_API_FAULTS}
  const spec: ApiFaultSpec = {...NO_API_FAULTS}
  const seen = new Set<string>()
  for (const raw of trimmed.split(',')) {
    const token = raw.trim()
    const eq = token.indexOf('=')
    if (eq <= 0) throw bad(token, 'is not key=value')
    const key = token.slice(0, eq).trim()
    const value = token.slice(eq + 1).trim()
    if (seen.has(key)) throw bad(token, `repeats ${key}`)
    seen.add(key)
    if (key in PERCENT_KEYS) spec[PERCENT_KEYS[key as keyof typeof PERCENT_KEYS]] = percent(token, value)
    else if (key === 'latency') {
      const [base = '', jitter, ...more] = value.split(/±|\+-/)
      if (more.length > 0) throw bad(token, 'has more than one ±')
      spec.latencyMs = duration(token, base)
      spec.jitterMs = jitter === undefined ? 0 : duration(token, jitter)
      if (spec.jitterMs > spec.latencyMs) throw bad(token, 'has a jitter larger than its latency')
    } else if (key === 'seed') {
      if (!/^\d{1,9}$/.test(value)) throw bad(token, 'is not a seed (a non-negative integer)')
      spec.seed = Number(value)
    } else throw bad(token, `has an unknown key ${JSON.stringify(key)}`)
  }
  if (spec.writeError + spec.conflict + spec.lostResponse > 100) {
    throw bad(
      trimmed,
      'asks for more than 100% of writes to fail: write-error + conflict + lost-response must be at most 100%',
    )
  }
  return spec
}

/** The canonical text of a spec (what sandbox.json records and `status` shows); `none` when it does nothing. */
export function formatApiFaults(spec: ApiFaultSpec): string {
  const parts: string[] = []
  if (spec.writeError > 0) parts.push(`write-error=${spec.writeError}%`)
  if (spec.conflict > 0) parts.push(`conflict=${spec.conflict}%`)
  if (spec.lostResponse > 0) parts.push(`lost-response=${spec.lostResponse}%`)
  if (spec.readError > 0) parts.push(`read-error=${spec.readError}%`)
  if (spec.latencyMs > 0) parts.push(`latency=${spec.latencyMs}ms${spec.jitterMs > 0 ? `±${spec.jitterMs}ms` : ''}`)
  if (parts.length === 0) return 'none'
  if (spec.seed !== undefined) parts.push(`seed=${spec.seed}`)
  return parts.join(',')
}

/** mulberry32: small, fast and good enough to spread fault decisions; returns [0, 1). */
function generator(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

/** How many requests each fault hit since the spec was last set. */
export interface ApiFaultCounts {
  writeErrors: number
  conflicts: number
  lostResponses: number
  readErrors: number
  delayed: number
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])
const CONFLICT_MANAGER = 'sandbox-concurrent-writer'

/** The three ways a loaded kube-apiserver refuses a request it did not carry out. */
const OVERLOADED: {status: KubeStatus; retryAfter?: string}[] = [
  {status: failure(429, 'TooManyRequests', 'Too many requests, please try again later.', 1), retryAfter: '1'},
  {status: failure(500, 'InternalError', 'Internal error occurred: etcdserver: leader changed')},
  {
    status: failure(503, 'ServiceUnavailable', 'the server is currently unable to handle the request', 1),
    retryAfter: '1',
  },
]
const LOST = failure(
  504,
  'Timeout',
  'Timeout: request did not complete within requested timeout - context deadline exceeded',
)

function failure(code: number, reason: string, message: string, retryAfterSeconds?: number): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(retryAfterSeconds === undefined ? {} : {details: {retryAfterSeconds}}),
    code,
  }
}

/** Decides, per request, which fault (if any) the API server plays; changeable while it runs. */
export class ApiFaultInjector {
  private current: ApiFaultSpec = {...NO_API_FAULTS}
  private decide: () => number = Math.random
  private jitter: () => number = Math.random
  private lastConcurrentWrite = 0
  /** What each fault did since the last `set`. */
  counts: ApiFaultCounts = {writeErrors: 0, conflicts: 0, lostResponses: 0, readErrors: 0, delayed: 0}

  constructor(spec: ApiFaultSpec = NO_API_FAULTS) {
    this.set(spec)
  }

  /** The spec in force. */
  get spec(): ApiFaultSpec {
    return {...this.current}
  }

  /** Switches to `spec`; a seed restarts its sequence, so the same requests meet the same faults. */
  set(spec: ApiFaultSpec): void {
    this.current = {...spec}
    const seed = spec.seed ?? Math.floor(Math.random() * 2 ** 31)
    this.decide = generator(seed)
    this.jitter = generator(seed ^ 0x5bd1e995)
    this.counts = {writeErrors: 0, conflicts: 0, lostResponses: 0, readErrors: 0, delayed: 0}
  }

  /** Waits the configured latency (every API request but health checks pays it). */
  async delay(): Promise<void> {
    const {latencyMs, jitterMs} = this.current
    if (latencyMs <= 0) return
    const ms = Math.max(0, latencyMs + (this.jitter() * 2 - 1) * jitterMs)
    this.counts.delayed++
    await new Promise(resolve => setTimeout(resolve, ms))
  }

  /** Serves one VirtualService/DestinationRule request through `serve`, or plays a fault instead. */
  async around(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    store: ObjectStore,
    target: IstioTarget,
    serve: () => Promise<void>,
  ): Promise<void> {
    const method = req.method ?? 'GET'
    const spec = this.current
    if (method === 'GET' && !flag(query, 'watch')) {
      if (spec.readError > 0 && this.decide() * 100 < spec.readError) {
        this.counts.readErrors++
        return this.refuse(res)
      }
      return serve()
    }
    if (!WRITES.has(method) || spec.writeError + spec.conflict + spec.lostResponse === 0) return serve()
    const roll = this.decide() * 100
    if (roll < spec.writeError) {
      this.counts.writeErrors++
      return this.refuse(res)
    }
    if (roll < spec.writeError + spec.conflict && method !== 'POST' && this.concurrentWrite(store, target)) {
      this.counts.conflicts++
      const status = conflict(RESOURCES[target.kind], target.name ?? '').status
      return sendJson(res, status.code, status)
    }
    if (roll >= spec.writeError + spec.conflict && roll < spec.writeError + spec.conflict + spec.lostResponse) {
      return this.loseResponse(res, serve)
    }
    return serve()
  }

  private refuse(res: ServerResponse): void {
    const pick = OVERLOADED[Math.floor(this.decide() * OVERLOADED.length)] ?? OVERLOADED[0]
    if (pick === undefined) return
    sendJson(res, pick.status.code, pick.status, pick.retryAfter === undefined ? {} : {'Retry-After': pick.retryAfter})
  }

  /**
   * Another writer updates the object first (a managedFields entry, as a controller's no-op apply
   * leaves), so its resourceVersion moves on and a client's retry must read it again. False when
   * there is no such object (a create, or a delete of something absent): there is nothing to race.
   */
  private concurrentWrite(store: ObjectStore, target: IstioTarget): boolean {
    if (target.namespace === undefined || target.name === undefined) return false
    const current = store.get(target.kind, target.namespace, target.name)
    if (current === undefined) return false
    // Seconds, as managedFields times are; never the same twice, so the write is never a no-op.
    this.lastConcurrentWrite = Math.max(Math.floor(Date.now() / 1000) * 1000, this.lastConcurrentWrite + 1000)
    const entry = {
      manager: CONFLICT_MANAGER,
      operation: 'Update',
      apiVersion: current.apiVersion,
      time: new Date(this.lastConcurrentWrite).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      fieldsType: 'FieldsV1',
      fieldsV1: {'f:metadata': {}},
    }
    const others = ((current.metadata as {managedFields?: {manager?: string}[]}).managedFields ?? []).filter(
      f => f.manager !== CONFLICT_MANAGER,
    )
    store.update({...current, metadata: {...current.metadata, managedFields: [...others, entry]}} as typeof current)
    return true
  }

  /**
   * Runs the write for real, then answers 504 in place of its success. A write the server refused
   * anyway (404, 409, 422…) keeps its own answer: only a landed write can have a lost answer.
   */
  private async loseResponse(res: ServerResponse, serve: () => Promise<void>): Promise<void> {
    const writeHead = res.writeHead.bind(res)
    const end = res.end.bind(res)
    let head: {code: number; headers: Record<string, string | string[]>} = {code: 0, headers: {}}
    // Every handler answers with writeHead(code, headers) + end(body): hold both until the code is known.
    res.writeHead = ((code: number, headers?: Record<string, string | string[]>) => {
      head = {code, headers: headers ?? {}}
      return res
    }) as typeof res.writeHead
    res.end = ((body?: string | Buffer) => {
      res.writeHead = writeHead
      res.end = end
      if (head.code >= 200 && head.code < 300) {
        this.counts.lostResponses++
        sendJson(res, LOST.code, LOST)
        return res
      }
      writeHead(head.code, head.headers)
      return body === undefined ? end() : end(body)
    }) as typeof res.end
    await serve()
  }
}

/** Where a running sandbox's fault mode is read (GET) and changed (PUT, the spec as the body); behind the API token. */
export const API_FAULTS_PATH = '/faultline/v1/api-faults'

/** What `GET /faultline/v1/api-faults` answers. */
export interface ApiFaultsAnswer {
  spec: string
  counts: ApiFaultCounts
}

/** Serves the admin endpoint: GET shows the spec and counts, PUT `<spec>` switches to it (400 on a bad spec). */
export async function handleApiFaults(
  req: IncomingMessage,
  res: ServerResponse,
  injector: ApiFaultInjector,
): Promise<void> {
  if (req.method === 'PUT') {
    const text = (await readBody(req)).toString('utf8')
    try {
      injector.set(parseApiFaults(text))
    } catch (err) {
      if (!(err instanceof UsageError)) throw err
      throw badRequest(`${err.message} (${err.hint ?? API_FAULTS_SYNTAX})`)
    }
  } else if (req.method !== 'GET') throw methodNotAllowed(req.method ?? '')
  const answer: ApiFaultsAnswer = {spec: formatApiFaults(injector.spec), counts: injector.counts}
  sendJson(res, 200, answer)
}
