/**
 * The built-in load driver: undici, an open model (constant arrival rate per traffic class, so a
 * slow target cannot slow the arrivals down and hide its latency — no coordinated omission) or a
 * closed model (`vus` loops). Latency is measured from each request's intended start.
 */
import {performance} from 'node:perf_hooks'

import {Agent, type Dispatcher, ProxyAgent} from 'undici'

import type {LoadDriver, LoadPlan, TrafficPlan} from './driver.js'
import type {Recorder} from './recorder.js'

/** In-flight requests per class beyond which new arrivals are dropped (k6's maxVUs). */
const MAX_IN_FLIGHT = 10_000
const TICK_MS = 5

/** The built-in driver. */
export class BuiltinDriver implements LoadDriver {
  readonly name = 'builtin'

  async version(): Promise<string> {
    const {version} = await import('../version.js')
    return `faultline builtin ${version} (undici, node ${process.version})`
  }

  async run(plan: LoadPlan, recorder: Recorder, {stop, abort}: {stop: AbortSignal; abort: AbortSignal}): Promise<void> {
    const connections = plan.traffic.reduce((n, t) => n + (t.vus ?? Math.ceil(t.ratePerSecond ?? 1)), 0)
    const options = {connections: Math.min(1024, Math.max(8, connections)), keepAliveTimeout: 10_000, headersTimeout: plan.requestTimeoutMs, bodyTimeout: plan.requestTimeoutMs}
    const dispatcher: Dispatcher = plan.proxy === undefined ? new Agent(options) : new ProxyAgent({uri: plan.proxy, proxyTunnel: false, ...options})
    const t0 = performance.now()
    // Graceful stop (no new requests) happens on either signal; a hard abort also fails in-flight requests at once.
    const stopper = new AbortController()
    const halt = () => stopper.abort()
    const kill = () => void dispatcher.destroy().catch(() => undefined)
    stop.addEventListener('abort', halt, {once: true})
    abort.addEventListener('abort', halt, {once: true})
    abort.addEventListener('abort', kill, {once: true})
    const run: Run = {plan, url: new URL(plan.url), dispatcher, recorder, now: () => performance.now() - t0, stop: stopper.signal, abort}
    const flusher = setInterval(() => recorder.flush(run.now()), 250)
    try {
      if (stop.aborted || abort.aborted) halt()
      await Promise.all(plan.traffic.map(t => t.vus === undefined ? openModel(run, t) : closedModel(run, t)))
    } finally {
      clearInterval(flusher)
      stop.removeEventListener('abort', halt)
      abort.removeEventListener('abort', halt)
      abort.removeEventListener('abort', kill)
      recorder.flush(run.now(), true)
      await dispatcher.destroy().catch(() => undefined)
    }
  }
}

/** One load run's shared state. */
interface Run {
  plan: LoadPlan
  url: URL
  dispatcher: Dispatcher
  recorder: Recorder
  /** Milliseconds since the load started. */
  now: () => number
  /** No new requests once aborted. */
  stop: AbortSignal
  /** In-flight requests were failed. */
  abort: AbortSignal
}

/**
 * Sends one request meant to start at `at`; resolves when it has completed (never rejects).
 * Uses undici's dispatch API directly: no response object or body stream is built for a body
 * we only drain, which nearly doubles the requests a core can send.
 */
function send(run: Run, t: TrafficPlan, at: number): Promise<void> {
  const {plan, url, recorder} = run
  recorder.started(t.name, at)
  return new Promise(resolve => {
    let status = 0
    const finish = (code: number) => {
      recorder.completed(t.name, at, run.now() - at, run.abort.aborted ? 0 : code)
      resolve()
    }
    try {
      run.dispatcher.dispatch({
        origin: url.origin, path: url.pathname + url.search, method: plan.method as Dispatcher.HttpMethod,
        headers: t.headers, ...(plan.body === undefined ? {} : {body: plan.body}),
        headersTimeout: plan.requestTimeoutMs, bodyTimeout: plan.requestTimeoutMs,
      }, {
        // undici's Client checks for this classic handler shape (its newer controller API is
        // only adapted by interceptors).
        onConnect: () => {},
        onHeaders: statusCode => {
          status = statusCode
          return true
        },
        onData: () => true,
        onComplete: () => finish(status),
        onError: () => finish(0),
      })
    } catch {
      finish(0)
    }
  })
}

async function openModel(run: Run, t: TrafficPlan): Promise<void> {
  const rate = t.ratePerSecond ?? 0
  const interval = 1000 / rate
  const total = Math.floor((run.plan.durationMs / 1000) * rate)
  const inFlight = new Set<Promise<void>>()
  let sent = 0
  while (sent < total && !run.stop.aborted) {
    const due = Math.min(total, Math.floor(run.now() / interval) + 1)
    for (; sent < due; sent++) {
      const at = sent * interval
      if (inFlight.size >= MAX_IN_FLIGHT) {
        run.recorder.dropped(t.name, at)
        continue
      }
      const p = send(run, t, at).finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    await sleep(Math.max(0, Math.min(TICK_MS, sent * interval - run.now())), run.stop)
  }
  await Promise.all(inFlight)
}

async function closedModel(run: Run, t: TrafficPlan): Promise<void> {
  const loop = async () => {
    while (!run.stop.aborted && run.now() < run.plan.durationMs) await send(run, t, run.now())
  }
  await Promise.all(Array.from({length: t.vus ?? 1}, loop))
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0) return new Promise(resolve => setImmediate(resolve))
  return new Promise(resolve => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, {once: true})
  })
}
