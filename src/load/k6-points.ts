/**
 * k6's `--out json` points into the Recorder. k6 stamps a request's points with the time the
 * request *ended* (its Trail's EndTime) and writes them late and out of start order, so each
 * request is keyed back to its start: the generated script marks every iteration's start with a
 * counter point carrying the iteration number as metadata, and the request's own points carry the
 * same number. Without the mark (a k6 without VU metadata, or a recording) the start is the end
 * less `http_req_duration`, which undercounts by the connection's blocked/connect time (µs–ms).
 *
 * A failed answer's reason comes from the script too: a counter point tagged `reason` that the
 * same iteration adds right after its request, so it follows the request's points in the file
 * (k6 pushes both from the VU's goroutine into one channel that one goroutine drains into the
 * outputs, output/manager.go, k6 v2.2.0). The request waits for it, its second held open by its
 * start mark; without it (an iteration interrupted in between, a recording) the reason is k6's
 * status or error code alone.
 */
import {FAILED_METRIC, ITERATION_KEY, STARTED_METRIC} from './k6-script.js'
import {k6Reason} from './reasons.js'
import type {Recorder} from './recorder.js'

/** One line of k6's JSON output that carries a sample. */
interface Point {
  type: 'Point'
  metric: string
  data: {time: string; value: number; tags?: Record<string, string> | null; metadata?: Record<string, string>}
}

/** A failed answer's request waiting for its reason point. */
interface AwaitingReason {
  traffic: string
  /** Intended start, ms since t0. */
  at: number
  durationMs: number
  status: number
  tags: Record<string, string>
  /** When k6 stamped the request's points (its end), ms since t0. */
  endAt: number
}

/**
 * How long, in k6's time, a failed answer waits for its reason point: a point stamped this long
 * after the request's end was pushed after the reason would have been (the script adds it within
 * microseconds), so none is coming.
 */
export const REASON_WAIT_MS = 2000

/** What the feed did with the points it was given. */
export interface FeedCounts {
  /** Requests passed to the recorder. */
  requests: number
  /** Dropped iterations passed to the recorder. */
  dropped: number
  /** Points for a second that was already sealed: left out so they cannot change sealed stats. */
  late: number
  /** Lines that are not JSON, or points of an unknown traffic class. */
  ignored: number
  /** Requests without a start mark, keyed by their end less their duration. */
  unmarked: number
}

/** Parses k6's RFC 3339 time with nanoseconds (`…:08.38322456Z`, or a `+01:00` offset) to epoch ms. */
export function parseK6Time(time: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$/.exec(time)
  if (m === null) return Number.NaN
  return Date.parse(`${m[1]}${m[3]}`) + Number(`0${m[2] ?? ''}`) * 1000
}

/** Feeds one k6 run's points into a recorder; times are mapped to ms since `t0WallMs` (epoch ms). */
export class K6PointFeed {
  /** Every point handled so far, by outcome. */
  readonly counts: FeedCounts = {requests: 0, dropped: 0, late: 0, ignored: 0, unmarked: 0}
  /** The longest a point took from its time stamp to being fed (ms): how late k6's output runs. */
  maxDelayMs = 0
  /** `class\0iteration` → intended start (ms since t0) of a started request not yet completed. */
  private readonly started = new Map<string, number>()
  /** Started requests whose second was already sealed: their completion is late too. */
  private readonly startedLate = new Set<string>()
  private readonly sealed = new Map<string, Set<number>>()
  /** `class\0iteration` → a failed answer waiting for its reason, oldest first. */
  private readonly awaiting = new Map<string, AwaitingReason>()

  /** `scenarios`: k6 scenario name → traffic class, for points that lack the `traffic` tag. */
  constructor(
    private readonly recorder: Recorder,
    private readonly t0WallMs: number,
    private readonly scenarios: ReadonlyMap<string, string> = new Map(),
  ) {
    for (const c of recorder.classes) this.sealed.set(c, new Set())
    recorder.onSecond(s => this.sealed.get(s.traffic)?.add(s.second))
  }

  /** Feeds one line of output; `readAtMs` (ms since t0) is when it was read, for the delay measure. */
  line(text: string, readAtMs?: number): void {
    if (text.trim() === '') return
    let point: Point
    try {
      point = JSON.parse(text) as Point
    } catch {
      this.counts.ignored++
      return
    }
    if (point.type !== 'Point') return
    const handler = this.handlers[point.metric]
    if (handler === undefined) return
    const traffic = this.trafficOf(point.data.tags ?? {})
    const at = parseK6Time(point.data.time) - this.t0WallMs
    if (traffic === undefined || !Number.isFinite(at)) {
      this.counts.ignored++
      return
    }
    if (readAtMs !== undefined) this.maxDelayMs = Math.max(this.maxDelayMs, readAtMs - at)
    this.expireAwaiting(at)
    handler(traffic, at, point.data)
  }

  /** The output has ended: failed answers still waiting for their reason count under k6's tags alone. */
  end(): void {
    this.expireAwaiting(Infinity)
  }

  private expireAwaiting(now: number): void {
    for (const [key, w] of this.awaiting) {
      if (w.endAt + REASON_WAIT_MS > now) return
      this.awaiting.delete(key)
      this.complete(w, undefined)
    }
  }

  /** Records a request; a failed one under `reason` (the script's), else k6's status or error code. */
  private complete(r: AwaitingReason, reason: string | undefined): void {
    const failed = r.status < 200 || r.status >= 400
    const why = failed ? (reason ?? k6Reason(r.status, r.tags)) : undefined
    this.recorder.completed(r.traffic, r.at, r.durationMs, r.status, why)
    this.counts.requests++
  }

  private readonly handlers: Record<string, ((traffic: string, at: number, data: Point['data']) => void) | undefined> =
    {
      [STARTED_METRIC]: (traffic, at, data) => {
        const key = iterationKey(traffic, data)
        if (key === undefined) return
        if (this.isSealed(traffic, at)) {
          this.startedLate.add(key)
          this.counts.late++
          return
        }
        this.started.set(key, at)
        this.recorder.started(traffic, at)
      },
      http_req_duration: (traffic, endAt, data) => {
        const key = iterationKey(traffic, data)
        if (key !== undefined && this.startedLate.delete(key)) return
        const startedAt = key === undefined ? undefined : this.started.get(key)
        if (key !== undefined) this.started.delete(key)
        const at = startedAt ?? endAt - data.value
        if (startedAt === undefined) this.counts.unmarked++
        if (startedAt === undefined && this.isSealed(traffic, at)) {
          this.counts.late++
          return
        }
        // k6 tags a request that got no response (refused, reset, timed out) with status 0.
        const tags = data.tags ?? {}
        const code = Number(tags.status ?? 0)
        const status = Number.isInteger(code) ? code : 0
        const request = {traffic, at, durationMs: data.value, status, tags, endAt}
        // An answer ≥ 400 has its reason in the script's point that follows; no answer has k6's error code.
        if (status >= 400 && key !== undefined && startedAt !== undefined) this.awaiting.set(key, request)
        else this.complete(request, undefined)
      },
      [FAILED_METRIC]: (traffic, _at, data) => {
        const key = iterationKey(traffic, data)
        const request = key === undefined ? undefined : this.awaiting.get(key)
        if (key === undefined || request === undefined) return
        this.awaiting.delete(key)
        this.complete(request, data.tags?.reason)
      },
      dropped_iterations: (traffic, at) => {
        if (this.isSealed(traffic, at)) {
          this.counts.late++
          return
        }
        this.recorder.dropped(traffic, at)
        this.counts.dropped++
      },
    }

  private trafficOf(tags: Record<string, string>): string | undefined {
    const name = tags.traffic ?? (tags.scenario === undefined ? undefined : this.scenarios.get(tags.scenario))
    return name !== undefined && this.sealed.has(name) ? name : undefined
  }

  /** Mirrors the recorder's keying: negative times count in second 0. */
  private isSealed(traffic: string, at: number): boolean {
    return this.sealed.get(traffic)?.has(Math.max(0, Math.floor(at / 1000))) ?? false
  }
}

function iterationKey(traffic: string, data: Point['data']): string | undefined {
  const iteration = data.metadata?.[ITERATION_KEY]
  return iteration === undefined ? undefined : `${traffic}\0${iteration}`
}

/** Splits a growing stream of text into whole lines; the unfinished tail waits for the next chunk. */
export class LineSplitter {
  private rest = ''

  /** Appends a chunk and returns the lines it completed. */
  push(chunk: string): string[] {
    const text = this.rest + chunk
    const end = text.lastIndexOf('\n')
    if (end < 0) {
      this.rest = text
      return []
    }
    this.rest = text.slice(end + 1)
    return text.slice(0, end).split('\n')
  }

  /** The unfinished tail once the stream has ended (k6 ends its last line, but a killed k6 may not). */
  end(): string {
    const rest = this.rest
    this.rest = ''
    return rest
  }
}
