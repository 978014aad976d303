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

  async run(plan: LoadPlan, recorder: Recorder, signal: AbortSignal): Promise<void> {
    const connections = plan.traffic.reduce((n, t) => n + (t.vus ?? Math.ceil(t.ratePerSecond ?? 1)), 0)
    const options = {connections: Math.min(1024, Math.max(8, connections)), keepAliveTimeout: 10_000, headersTimeout: plan.requestTimeoutMs, bodyTimeout: plan.requestTimeoutMs}
    const dispatcher: Dispatcher = plan.proxy === undefined ? new Agent(options) : new ProxyAgent({uri: plan.proxy, proxyTunnel: false, ...options})
    const url = new URL(plan.url)
    const t0 = performance.now()
    const now = () => performance.now() - t0
    const flusher = setInterval(() => recorder.flush(now()), 250)
    // One listener for the whole run: destroying the dispatcher fails every in-flight request at once.
    const stop = () => void dispatcher.destroy().catch(() => undefined)
    signal.addEventListener('abort', stop, {once: true})
    try {
      await Promise.all(plan.traffic.map(t => t.vus === undefined
        ? openModel(t, plan, url, dispatcher, recorder, now, signal)
        : closedModel(t, plan, url, dispatcher, recorder, now, signal)))
    } finally {
      clearInterval(flusher)
      signal.removeEventListener('abort', stop)
      recorder.flush(now(), true)
      await dispatcher.destroy().catch(() => undefined)
    }
  }
}

type Clock = () => number

/** Sends one request meant to start at `at`; resolves when it has completed (never rejects). */
async function send(t: TrafficPlan, at: number, plan: LoadPlan, url: URL, dispatcher: Dispatcher, recorder: Recorder, now: Clock, signal: AbortSignal): Promise<void> {
  recorder.started(t.name, at)
  let status = 0
  try {
    const res = await dispatcher.request({
      origin: url.origin, path: url.pathname + url.search, method: plan.method as Dispatcher.HttpMethod,
      headers: t.headers, ...(plan.body === undefined ? {} : {body: plan.body}),
    })
    await res.body.dump()
    status = res.statusCode
  } catch {
    status = 0
  }
  if (signal.aborted) return recorder.completed(t.name, at, now() - at, 0)
  recorder.completed(t.name, at, now() - at, status)
}

async function openModel(t: TrafficPlan, plan: LoadPlan, url: URL, dispatcher: Dispatcher, recorder: Recorder, now: Clock, signal: AbortSignal): Promise<void> {
  const rate = t.ratePerSecond ?? 0
  const interval = 1000 / rate
  const total = Math.floor((plan.durationMs / 1000) * rate)
  const inFlight = new Set<Promise<void>>()
  let sent = 0
  while (sent < total && !signal.aborted) {
    const due = Math.min(total, Math.floor(now() / interval) + 1)
    for (; sent < due; sent++) {
      const at = sent * interval
      if (inFlight.size >= MAX_IN_FLIGHT) {
        recorder.dropped(t.name, at)
        continue
      }
      const p = send(t, at, plan, url, dispatcher, recorder, now, signal).finally(() => inFlight.delete(p))
      inFlight.add(p)
    }
    const next = sent * interval - now()
    await sleep(Math.max(0, Math.min(TICK_MS, next)), signal)
  }
  await Promise.all(inFlight)
}

async function closedModel(t: TrafficPlan, plan: LoadPlan, url: URL, dispatcher: Dispatcher, recorder: Recorder, now: Clock, signal: AbortSignal): Promise<void> {
  const loop = async () => {
    while (!signal.aborted && now() < plan.durationMs) await send(t, now(), plan, url, dispatcher, recorder, now, signal)
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
