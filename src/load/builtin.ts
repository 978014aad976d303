/**
 * The built-in load driver: undici, an open model (constant arrival rate per traffic class, so a
 * slow target cannot slow the arrivals down and hide its latency — no coordinated omission) or a
 * closed model (`vus` loops). Latency is measured from each request's intended start.
 *
 * Per request it allocates one handler object and nothing else: no promise, no closure, one clock
 * read (at completion; the open model knows the intended start from the schedule, a VU reuses the
 * completion time of its previous request). One timer sends every class's due arrivals in a batch.
 */
import {performance} from 'node:perf_hooks'

import {Client, type Dispatcher, Pool} from 'undici'

import type {ConnectionPorts, CutConnection, LoadDriver, LoadPlan, TrafficPlan} from './driver.js'
import {type AnswerPeek, errorReason, PEEK_BYTES, PORT_FORWARD_CUT, statusReason} from './reasons.js'
import type {Recorder} from './recorder.js'
import {type SendReport, SendLog} from './send-log.js'

/** In-flight requests per class beyond which new arrivals are dropped (k6's maxVUs). */
const MAX_IN_FLIGHT = 10_000
/** Longest wait between scheduling passes, so a stop is noticed promptly. */
const MAX_TICK_MS = 50

/** The built-in driver. */
export class BuiltinDriver implements LoadDriver {
  readonly name = 'builtin'
  /** In-flight requests per open-model class beyond which arrivals are dropped, not sent. */
  readonly maxInFlight: number
  /** How well the last run kept its schedule (per open-model class), for benchmarks and the journal. */
  lastSendReport: SendReport[] = []
  /** The port-forwards being watched (a game day opens one per experiment up front). */
  private readonly cuts = new Set<CutConnection>()

  constructor(options: {maxInFlight?: number} = {}) {
    this.maxInFlight = options.maxInFlight ?? MAX_IN_FLIGHT
  }

  watchPortForward(cut: CutConnection): () => void {
    this.cuts.add(cut)
    return () => this.cuts.delete(cut)
  }

  async version(): Promise<string> {
    const {version} = await import('../version.js')
    return `faultline builtin ${version} (undici, node ${process.version})`
  }

  async run(plan: LoadPlan, recorder: Recorder, {stop, abort}: {stop: AbortSignal; abort: AbortSignal}): Promise<void> {
    // Checked up front: from inside a timer or a socket callback, an unknown class would crash the process.
    const unknown = plan.traffic.find(t => !recorder.classes.includes(t.name))
    if (unknown !== undefined)
      throw new Error(`unknown traffic class ${unknown.name}: the recorder has ${recorder.classes.join(', ')}`)
    const load = new Load(plan, recorder, abort, this.maxInFlight, this.cuts)
    // Graceful stop (no new requests) happens on either signal; a hard abort also fails in-flight requests at once.
    const halt = () => load.halt()
    const kill = () => load.kill()
    stop.addEventListener('abort', halt, {once: true})
    abort.addEventListener('abort', kill, {once: true})
    const flusher = setInterval(() => recorder.flush(load.now()), 250)
    try {
      if (abort.aborted) kill()
      else if (stop.aborted) halt()
      await load.run()
    } finally {
      clearInterval(flusher)
      stop.removeEventListener('abort', halt)
      abort.removeEventListener('abort', kill)
      recorder.flush(load.now(), true)
      this.lastSendReport = load.sendReports()
      await load.close()
    }
  }
}

/**
 * Where requests go: the target itself, or an HTTP forward proxy (absolute-form request target,
 * the target's `host` and any proxy credentials, as `ProxyAgent` without a tunnel sends them — but
 * over as many connections as the load needs, with the plan's timeouts).
 */
function connectionTarget(plan: LoadPlan): {origin: string; path: string; headers: Record<string, string>} {
  const url = new URL(plan.url)
  if (plan.proxy === undefined) return {origin: url.origin, path: url.pathname + url.search, headers: {}}
  const proxy = new URL(plan.proxy)
  const credentials =
    proxy.username === ''
      ? {}
      : {
          'proxy-authorization': `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`,
        }
  return {origin: proxy.origin, path: url.href, headers: {host: url.host, ...credentials}}
}

/** One load run: its classes, connections, schedule and the promise of its end. */
class Load {
  private readonly t0 = performance.now()
  private readonly origin: string
  private readonly clientOptions: Client.Options
  private readonly classes: TrafficLoad[]
  private readonly clients: Client[] = []
  /** Open-model classes share one pool of up to one connection per request/s (8–1024). */
  private pool: Pool | undefined
  private timer: NodeJS.Timeout | undefined
  private halted = false
  private inFlight = 0
  /** VU loops still going (a VU between a failure and its retry has nothing in flight). */
  private activeVus = 0
  private done: () => void = () => {}
  /** For failure reasons: the host connections go to (the proxy's, through one), and whether it is a proxy. */
  readonly errorTarget: {host: string; viaProxy: boolean}

  constructor(
    readonly plan: LoadPlan,
    readonly recorder: Recorder,
    readonly abort: AbortSignal,
    readonly maxInFlight: number,
    private readonly cuts: ReadonlySet<CutConnection>,
  ) {
    const target = connectionTarget(plan)
    this.origin = target.origin
    this.errorTarget = {host: new URL(target.origin).hostname, viaProxy: plan.proxy !== undefined}
    this.clientOptions = {
      keepAliveTimeout: 10_000,
      headersTimeout: plan.requestTimeoutMs,
      bodyTimeout: plan.requestTimeoutMs,
    }
    this.classes = plan.traffic.map(
      t =>
        new TrafficLoad(this, t, {
          origin: target.origin,
          path: target.path,
          method: plan.method as Dispatcher.HttpMethod,
          headers: {...t.headers, ...target.headers},
          ...(plan.body === undefined ? {} : {body: plan.body}),
        }),
    )
  }

  /** Milliseconds since the load started. */
  now(): number {
    return performance.now() - this.t0
  }

  /** Resolves when the schedule is over (or halted) and every request has completed. */
  run(): Promise<void> {
    const finished = new Promise<void>(resolve => {
      this.done = resolve
    })
    for (const c of this.classes) {
      if (c.traffic.vus === undefined) continue
      for (let i = 0; i < c.traffic.vus; i++) {
        // One connection per VU, as k6, hey and wrk do; a VU waits for its response (closed model).
        const client = new Client(this.origin, this.clientOptions)
        this.clients.push(client)
        if (this.halted) continue
        this.activeVus++
        c.send(client, this.now(), client)
      }
    }
    if (!this.halted) this.tick()
    this.settle()
    return finished
  }

  /** The dispatcher for the open-model classes, made on first use. */
  openPool(): Pool {
    // No connection cap (undici opens them on demand; the in-flight limit bounds them): an open
    // model's arrival must never wait for a connection held by another class's slow request, or
    // a delay on targeted traffic shows up as latency on control traffic (seen: control p99
    // 37 ms → 1.4 s with a 7 s fault on targeted requests and a 10-connection pool).
    this.pool ??= new Pool(this.origin, {...this.clientOptions, connections: null})
    return this.pool
  }

  /** Sends every open-model arrival that is due, then sleeps until the next one. */
  private readonly tick = (): void => {
    this.timer = undefined
    if (this.halted) return this.settle()
    const now = this.now()
    let next = Infinity
    for (const c of this.classes) next = Math.min(next, c.sendDue(now))
    if (next === Infinity) return this.settle()
    this.timer = setTimeout(this.tick, Math.min(MAX_TICK_MS, Math.max(0, next - this.now())))
  }

  /**
   * The reason for a request that got no (whole) answer. A connection closed mid-answer (undici's
   * SocketError, with the socket's ports) that a watched port-forward says it cut is the forward's
   * doing, not the target's.
   */
  failureReason(err: Error & {socket?: ConnectionPorts}): string {
    if (this.cuts.size > 0 && (err as {code?: unknown}).code === 'UND_ERR_SOCKET' && err.socket !== undefined)
      for (const cut of this.cuts) if (cut(err.socket)) return PORT_FORWARD_CUT
    return errorReason(err, this.errorTarget)
  }

  /** Counts a request in. */
  begin(): void {
    this.inFlight++
  }

  /** Counts a request out; the run ends once nothing is scheduled, in flight or looping. */
  end(): void {
    this.inFlight--
    this.settle()
  }

  /** Whether a VU should send another request at `now`. */
  vuContinues(now: number): boolean {
    return !this.halted && now < this.plan.durationMs
  }

  /** A VU's loop is over. */
  vuEnded(): void {
    this.activeVus--
    this.settle()
  }

  private settle(): void {
    if (this.timer === undefined && this.inFlight === 0 && this.activeVus === 0) this.done()
  }

  /** Graceful stop: no new requests; in-flight ones complete. */
  halt(): void {
    this.halted = true
    if (this.timer !== undefined) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    this.settle()
  }

  /** Hard abort: stop, and cancel every in-flight request now (each is recorded as cancelled, not failed). */
  kill(): void {
    this.halt()
    for (const d of this.dispatchers()) void d.destroy().catch(() => undefined)
  }

  /** Releases every connection (after the run; nothing is in flight). */
  async close(): Promise<void> {
    await Promise.all(this.dispatchers().map(d => d.destroy().catch(() => undefined)))
  }

  private dispatchers(): Dispatcher[] {
    return this.pool === undefined ? this.clients : [...this.clients, this.pool]
  }

  sendReports(): SendReport[] {
    return this.classes.flatMap(c => (c.log === undefined ? [] : [c.log.report(c.traffic.name)]))
  }
}

/** One traffic class: its request, its arrival schedule (open model) and its in-flight count. */
class TrafficLoad {
  inFlight = 0
  private sent = 0
  private readonly interval: number
  private readonly total: number
  /** Intended vs actual send times (open model only: a VU sends when it is ready, by definition). */
  readonly log: SendLog | undefined

  constructor(
    readonly load: Load,
    readonly traffic: TrafficPlan,
    readonly request: Dispatcher.DispatchOptions,
  ) {
    const rate = traffic.ratePerSecond ?? 0
    this.interval = 1000 / rate
    this.total = traffic.vus === undefined ? Math.floor((load.plan.durationMs / 1000) * rate) : 0
    this.log = traffic.vus === undefined ? new SendLog() : undefined
  }

  /** Sends the arrivals due by `now`; returns when the next one is due (Infinity when none is left). */
  sendDue(now: number): number {
    if (this.sent >= this.total) return Infinity
    const due = Math.min(this.total, Math.floor(now / this.interval) + 1)
    const pool = this.load.openPool()
    for (; this.sent < due; this.sent++) {
      const at = this.sent * this.interval
      this.log?.sent(at, now)
      if (this.inFlight >= this.load.maxInFlight) this.load.recorder.dropped(this.traffic.name, at)
      else this.send(pool, at)
    }
    return this.sent >= this.total ? Infinity : this.sent * this.interval
  }

  /** Sends one request meant to start at `at`; `vu` is the VU's own connection (closed model). */
  send(dispatcher: Dispatcher, at: number, vu?: Client): void {
    this.inFlight++
    this.load.begin()
    this.load.recorder.started(this.traffic.name, at)
    // undici reports synchronous failures through onError too (dispatch returns false, no throw).
    dispatcher.dispatch(this.request, new Exchange(this, at, vu))
  }

  /** Records a finished request (a failed one with its reason) and, for a VU, sends its next one. */
  finish(exchange: Exchange, status: number, failed: boolean, reason?: string): void {
    const load = this.load
    const now = load.now()
    this.inFlight--
    // A hard stop destroys the connections: those requests were cancelled by us, not failed by the mesh.
    if (failed && load.abort.aborted) load.recorder.cancelled(this.traffic.name, exchange.at)
    else load.recorder.completed(this.traffic.name, exchange.at, now - exchange.at, status, reason)
    const vu = exchange.vu
    // The VU's next request starts now, before the count drops, so the run cannot look finished.
    if (vu !== undefined && load.vuContinues(now)) {
      // After a failure, wait a loop turn: a dispatch that fails synchronously must not recurse.
      if (failed) setImmediate(() => this.resume(vu))
      else this.send(vu, now, vu)
    } else if (vu !== undefined) {
      load.vuEnded()
    }
    load.end()
  }

  private resume(vu: Client): void {
    const now = this.load.now()
    if (this.load.vuContinues(now)) this.send(vu, now, vu)
    else this.load.vuEnded()
  }
}

/**
 * What an answer ≥ 400 says about who gave it (undici's raw headers: name, value, name, value…):
 * an Envoy local reply (`server: envoy` without `x-envoy-upstream-service-time`), a circuit
 * breaker (`x-envoy-overloaded`), the sandbox proxy's own refusal. Only failed answers pay for this.
 */
function peekHeaders(raw: readonly (Buffer | string)[] | null | undefined): AnswerPeek {
  const peek: AnswerPeek = {}
  if (raw === null || raw === undefined) return peek
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = String(raw[i]).toLowerCase()
    if (name === 'server') peek.server = String(raw[i + 1]).toLowerCase()
    else if (name === 'x-envoy-upstream-service-time') peek.upstreamServiceTime = true
    else if (name === 'x-envoy-overloaded') peek.overloaded = true
    else if (name === 'x-faultline-proxy') peek.proxyRefused = true
    else if (name === 'x-faultline-port-forward') peek.portForward = String(raw[i + 1])
  }
  return peek
}

/** Whether the body's first bytes can tell more: an Envoy local reply, whose body names its flag. */
const wantsBody = (peek: AnswerPeek) =>
  peek.body === undefined &&
  peek.upstreamServiceTime !== true &&
  (peek.server === 'envoy' || peek.server === 'istio-envoy')

/** undici's handler for one request (its classic callback shape, which `Client` calls directly). */
class Exchange implements Dispatcher.DispatchHandler {
  private status = 0
  /** Set for an answer ≥ 400 only, so a successful request pays nothing for failure reasons. */
  private peek: AnswerPeek | undefined

  constructor(
    private readonly traffic: TrafficLoad,
    readonly at: number,
    readonly vu: Client | undefined,
  ) {}

  onConnect(): void {}

  onHeaders(statusCode: number, headers?: (Buffer | string)[] | null): boolean {
    this.status = statusCode
    if (statusCode >= 400) this.peek = peekHeaders(headers)
    return true
  }

  onData(chunk: Buffer): boolean {
    const peek = this.peek
    if (peek !== undefined && wantsBody(peek))
      peek.body = chunk.toString('latin1', 0, Math.min(chunk.length, PEEK_BYTES))
    return true
  }

  onComplete(): void {
    this.traffic.finish(
      this,
      this.status,
      false,
      this.peek === undefined ? undefined : statusReason(this.status, this.peek),
    )
  }

  onError(err: Error): void {
    this.traffic.finish(this, 0, true, this.traffic.load.failureReason(err))
  }
}
