/**
 * Requests to sandbox services through the sandbox's forward proxy, for benchmarks that need every
 * request's own outcome (the product's Recorder keeps per-second histograms, not requests): an open
 * model at a fixed arrival rate, each request timed from its dispatch to the end of its body on
 * `performance.now()`, so callers can line samples up with other events in this process.
 */
import {performance} from 'node:perf_hooks'

import {ProxyAgent} from 'undici'

/** One request as sent and answered. */
export interface Sample {
  /** Which of the caller's request kinds (index into `requests`). */
  kind: number
  /** `performance.now()` when it was handed to undici, and when its body ended. */
  sentAt: number
  doneAt: number
  /** HTTP status; 0 when the request failed (the error is in `error`). */
  status: number
  /** Whether the answer is the fault filter's own (`fault filter abort`), not the service's. */
  faultAbort: boolean
  error?: string
}

/** What to send: the URL and headers of each kind, sent round-robin. */
export interface RequestKind {
  url: string
  headers?: Record<string, string>
}

/** An open-model run. */
export interface OpenLoopOptions {
  proxy: string
  requests: readonly RequestKind[]
  /** Arrivals per second, all kinds together. */
  rate: number
  /** Stop after this many requests, or when `stop` aborts, whichever comes first. */
  count: number
  stop?: AbortSignal
  /** In flight beyond this means the target cannot keep up: the run throws rather than measure a queue. */
  maxInFlight?: number
  /**
   * At most this many in flight: an arrival due while that many are outstanding is skipped, not
   * queued (for probe streams, where a queue would delay what they observe). Default: no limit.
   */
  concurrency?: number
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number
  /** Called with each sample as it completes. */
  onSample?: (s: Sample) => void
}

const FAULT_ABORT_BODY = 'fault filter abort'

/** An undici dispatcher that sends absolute-form requests to the sandbox's forward proxy (no CONNECT). */
export function sandboxAgent(proxy: string): ProxyAgent {
  return new ProxyAgent({uri: proxy, proxyTunnel: false, keepAliveTimeout: 30_000})
}

/**
 * Sends `count` requests at `rate` per second (kinds interleaved) and resolves with every sample
 * once all have completed, in order of sending (without the arrivals `concurrency` skipped). A timer pass every millisecond sends whatever is
 * due, so arrivals keep their schedule even when answers are slow.
 */
export async function openLoop(opts: OpenLoopOptions): Promise<Sample[]> {
  const agent = sandboxAgent(opts.proxy)
  const samples: Sample[] = []
  const pending: Promise<void>[] = []
  const maxInFlight = opts.maxInFlight ?? 5000
  const timeoutMs = opts.timeoutMs ?? 30_000
  const concurrency = opts.concurrency ?? Infinity
  let inFlight = 0
  let overload: Error | undefined
  const send = async (i: number): Promise<void> => {
    const kind = i % opts.requests.length
    const req = opts.requests[kind] as RequestKind
    const sentAt = performance.now()
    inFlight++
    let sample: Sample
    try {
      const res = await agent.request({
        origin: new URL(req.url).origin,
        path: new URL(req.url).pathname,
        method: 'GET',
        headers: req.headers ?? {},
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      })
      const body = await res.body.text()
      sample = {kind, sentAt, doneAt: performance.now(), status: res.statusCode, faultAbort: body === FAULT_ABORT_BODY}
    } catch (err) {
      sample = {kind, sentAt, doneAt: performance.now(), status: 0, faultAbort: false, error: (err as Error).message}
    }
    inFlight--
    samples[i] = sample
    opts.onSample?.(sample)
  }
  const start = performance.now()
  let sent = 0
  try {
    while (sent < opts.count && opts.stop?.aborted !== true && overload === undefined) {
      const due = Math.min(opts.count, Math.floor(((performance.now() - start) * opts.rate) / 1000) + 1)
      for (; sent < due; sent++) {
        if (inFlight >= concurrency) continue
        pending.push(send(sent))
      }
      if (inFlight > maxInFlight)
        overload = new Error(
          `more than ${maxInFlight} requests in flight at ${opts.rate}/s: the sandbox is not keeping up (lower the rate or check the machine's load)`,
        )
      await new Promise(resolve => setTimeout(resolve, 1))
    }
    await Promise.all(pending)
  } finally {
    await agent.close()
  }
  if (overload !== undefined) throw overload
  return samples.slice(0, sent).filter(s => s !== undefined)
}
