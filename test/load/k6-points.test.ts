import assert from 'node:assert/strict'
import {readFileSync, statSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {initialLagMs, K6_JSON_OUTPUT, MIN_LAG_MS, POLL_MS} from '../../src/load/k6.js'
import {K6PointFeed, LineSplitter, parseK6Time, REASON_WAIT_MS} from '../../src/load/k6-points.js'
import {FAILED_METRIC, ITERATION_KEY, STARTED_METRIC} from '../../src/load/k6-script.js'
import {Recorder} from '../../src/load/recorder.js'

const REFERENCE = fileURLToPath(new URL('../reference/k6/', import.meta.url))
const RECORDED = `${REFERENCE}points.jsonl`

interface Raw {
  type: string
  metric?: string
  data: {time: string; value: number; tags: Record<string, string>}
}
/** The recording, parsed here without the code under test. */
const raw = (): Raw[] =>
  readFileSync(RECORDED, 'utf8')
    .split('\n')
    .filter(l => l.trim() !== '')
    .map(l => JSON.parse(l) as Raw)

/** A k6 point line shaped like the recorded ones, at `ms` since the epoch. */
function line(metric: string, ms: number, value: number, tags: Record<string, string>, iteration?: number): string {
  const time = `${new Date(Math.floor(ms)).toISOString().slice(0, -1)}${String(Math.round((ms % 1) * 1e6)).padStart(6, '0')}Z`
  return JSON.stringify({
    metric,
    type: 'Point',
    data: {time, value, tags, ...(iteration === undefined ? {} : {metadata: {[ITERATION_KEY]: String(iteration)}})},
  })
}

describe('k6 points into the recorder', () => {
  it('parses k6 times to the nanosecond, in UTC or with an offset', () => {
    assert.equal(parseK6Time('2026-11-24T09:21:08.38322456Z'), Date.UTC(2026, 10, 24, 9, 21, 8) + 383.22456)
    assert.equal(parseK6Time('2026-11-24T10:21:08.5+01:00'), Date.UTC(2026, 10, 24, 9, 21, 8) + 500)
    assert.equal(parseK6Time('2026-11-24T09:21:08Z'), Date.UTC(2026, 10, 24, 9, 21, 8))
    assert.ok(Number.isNaN(parseK6Time('yesterday')))
  })

  it("a point is stamped with the request's end: time − duration falls on the 50 ms arrival grid (recording)", () => {
    const d = raw().filter(p => p.type === 'Point' && p.metric === 'http_req_duration')
    const starts = d.map(p => parseK6Time(p.data.time) - p.data.value)
    // 20/s per class: every start is a multiple of 50 ms after the others, within a few ms of
    // iteration overhead (a stamp at the start would spread over the 2–200 ms durations instead).
    const ref = starts[1] ?? 0
    for (const s of starts) {
      const off = (((s - ref) % 50) + 50) % 50
      assert.ok(off < 5 || off > 45, `start ${(s - ref).toFixed(1)} ms from another is off the 50 ms grid`)
    }
    const ends = d.map(p => parseK6Time(p.data.time))
    assert.ok(
      starts.some((s, i) => i > 0 && s < (starts[i - 1] ?? 0)),
      'the file is in end order, not start order',
    )
    assert.deepEqual(
      ends,
      [...ends].sort((a, b) => a - b),
    )
  })

  it('feeds the recorded points.jsonl: every request, status and class, in the second it started', () => {
    const points = raw().filter(p => p.type === 'Point' && p.metric === 'http_req_duration')
    const t0 = Math.floor(parseK6Time(points[0]?.data.time ?? '') - 1000)
    const expected = new Map<
      string,
      {requests: number; statuses: Record<string, number>; seconds: Map<number, number>}
    >()
    for (const p of points) {
      const c = expected.get(p.data.tags.traffic ?? '') ?? {
        requests: 0,
        statuses: {},
        seconds: new Map<number, number>(),
      }
      c.requests++
      c.statuses[p.data.tags.status ?? ''] = (c.statuses[p.data.tags.status ?? ''] ?? 0) + 1
      const second = Math.floor((parseK6Time(p.data.time) - p.data.value - t0) / 1000)
      c.seconds.set(second, (c.seconds.get(second) ?? 0) + 1)
      expected.set(p.data.tags.traffic ?? '', c)
    }
    assert.deepEqual([...expected.keys()].sort(), ['control', 'targeted'])

    const recorder = new Recorder(['targeted', 'control'])
    const feed = new K6PointFeed(recorder, t0)
    for (const l of readFileSync(RECORDED, 'utf8').split('\n')) feed.line(l)
    recorder.flush(0, true)
    assert.deepEqual(feed.counts, {requests: points.length, dropped: 0, late: 0, ignored: 0, unmarked: points.length})
    for (const [traffic, c] of expected) {
      const seconds = recorder.seconds(traffic)
      assert.equal(
        seconds.reduce((n, s) => n + s.requests, 0),
        c.requests,
        traffic,
      )
      assert.deepEqual(new Map(seconds.map(s => [s.second, s.requests])), c.seconds, traffic)
      const statuses: Record<string, number> = {}
      for (const s of seconds) for (const [k, v] of Object.entries(s.statuses)) statuses[k] = (statuses[k] ?? 0) + v
      assert.deepEqual(statuses, c.statuses, traffic)
      assert.equal(
        seconds.reduce((n, s) => n + s.failed, 0),
        c.statuses['503'] ?? 0,
      )
    }
    // The 200 ms responses of targeted traffic are in its tail, control's are not.
    const summary = (traffic: string) => recorder.summarise(traffic, 0, 10_000).duration
    assert.ok(summary('targeted').max > 200 && summary('control').max < 20)
  })

  it('whole lines only: the recording read in arbitrary chunks gives the same result', () => {
    const text = readFileSync(RECORDED, 'utf8')
    const feedAll = (chunks: string[]) => {
      const recorder = new Recorder(['targeted', 'control'])
      const feed = new K6PointFeed(recorder, 0)
      const lines = new LineSplitter()
      for (const c of chunks) for (const l of lines.push(c)) feed.line(l)
      feed.line(lines.end())
      recorder.flush(0, true)
      return {
        counts: feed.counts,
        seconds: recorder.classes.map(c => recorder.seconds(c).map(s => [s.second, s.requests, s.statuses])),
      }
    }
    const chunks: string[] = []
    for (let i = 0, n = 1; i < text.length; i += n, n = ((n * 7919) % 4096) + 1) chunks.push(text.slice(i, i + n))
    assert.ok(chunks.length > 50)
    assert.deepEqual(feedAll(chunks), feedAll([text]))
  })

  it("a start mark holds its second open until the request's own points arrive, however slow", () => {
    const recorder = new Recorder(['targeted'])
    const feed = new K6PointFeed(recorder, 0)
    const tags = {traffic: 'targeted', scenario: 't0_targeted'}
    feed.line(line(STARTED_METRIC, 990, 1, tags, 7))
    recorder.flush(5000)
    assert.deepEqual(recorder.seconds('targeted'), [], 'second 0 is not sealed while its request is in flight')
    feed.line(line('http_req_duration', 6990, 6000, {...tags, status: '200'}, 7))
    recorder.flush(5000)
    const [s0] = recorder.seconds('targeted')
    assert.deepEqual([s0?.second, s0?.requests, s0?.statuses], [0, 1, {200: 1}])
    assert.ok(Math.abs((s0?.max ?? 0) - 6000) < 10)
  })

  it('a point for a second already sealed is left out and counted, never a second copy of that second', () => {
    const recorder = new Recorder(['control'])
    const feed = new K6PointFeed(recorder, 0)
    const tags = {traffic: 'control', status: '200'}
    feed.line(line('http_req_duration', 500, 5, tags))
    recorder.flush(1000)
    feed.line(line('http_req_duration', 600, 5, tags))
    feed.line(line(STARTED_METRIC, 700, 1, tags, 1))
    feed.line(line('http_req_duration', 710, 10, tags, 1))
    feed.line(line('dropped_iterations', 800, 1, {traffic: 'control'}))
    recorder.flush(5000, true)
    assert.deepEqual(
      recorder.seconds('control').map(s => [s.second, s.requests]),
      [[0, 1]],
    )
    assert.equal(feed.counts.late, 3)
  })

  it('dropped iterations count in their class (by tag or by scenario); unknown classes and junk are ignored', () => {
    const recorder = new Recorder(['control'])
    const feed = new K6PointFeed(recorder, 0, new Map([['t0_control', 'control']]))
    feed.line(line('dropped_iterations', 1500, 1, {scenario: 't0_control'}))
    feed.line(line('dropped_iterations', 1600, 1, {traffic: 'control', scenario: 't0_control'}))
    feed.line(line('http_req_duration', 1600, 1, {traffic: 'other', status: '200'}))
    feed.line('{"metric":"http_req_duration","type":"Poi')
    feed.line(line('http_req_blocked', 1600, 1, {traffic: 'control'}))
    recorder.flush(0, true)
    assert.deepEqual(
      recorder.seconds('control').map(s => [s.second, s.dropped, s.requests]),
      [[1, 2, 0]],
    )
    assert.deepEqual(feed.counts, {requests: 0, dropped: 2, late: 0, ignored: 2, unmarked: 0})
  })

  it('a request with no response (status 0) is a failure, as k6 counts it', () => {
    const recorder = new Recorder(['control'])
    const feed = new K6PointFeed(recorder, 0)
    feed.line(line('http_req_duration', 100, 0, {traffic: 'control', status: '0', error_code: '1212'}))
    recorder.flush(0, true)
    assert.deepEqual(
      recorder.seconds('control').map(s => [s.failed, s.statuses, s.reasons]),
      [[1, {error: 1}, {ECONNREFUSED: 1}]],
    )
  })

  describe("a failed answer's reason from the script's point that follows its request", () => {
    const tags = {traffic: 'targeted', scenario: 't0_targeted'}
    const failedAt = (feed: K6PointFeed, iteration: number, startMs: number, status: string, extra = {}) => {
      feed.line(line(STARTED_METRIC, startMs, 1, tags, iteration))
      feed.line(line('http_req_duration', startMs + 20, 20, {...tags, status, ...extra}, iteration))
    }
    const reasons = (recorder: Recorder) => recorder.seconds('targeted').map(s => [s.second, s.statuses, s.reasons])

    it('waits for it, its second held open, and counts the request under it', () => {
      const recorder = new Recorder(['targeted'])
      const feed = new K6PointFeed(recorder, 0)
      failedAt(feed, 1, 100, '503')
      feed.line(line(STARTED_METRIC, 150, 1, tags, 2))
      feed.line(line('http_req_duration', 160, 10, {...tags, status: '200'}, 2))
      recorder.flush(5000)
      assert.deepEqual(recorder.seconds('targeted'), [], 'second 0 waits for the reason')
      assert.equal(feed.counts.requests, 1)
      feed.line(line(FAILED_METRIC, 120.01, 1, {...tags, reason: '503 UO'}, 1))
      recorder.flush(5000)
      assert.deepEqual(reasons(recorder), [[0, {200: 1, 503: 1}, {'503 UO': 1}]])
      assert.equal(feed.counts.requests, 2)
    })

    it("without it, k6's status alone: once a point stamped later shows none is coming, or when the output ends", () => {
      const recorder = new Recorder(['targeted'])
      const feed = new K6PointFeed(recorder, 0)
      failedAt(feed, 1, 100, '503')
      failedAt(feed, 2, 1100, '502')
      feed.line(line(STARTED_METRIC, 120 + REASON_WAIT_MS - 1, 1, tags, 3))
      recorder.flush(1000)
      assert.deepEqual(recorder.seconds('targeted'), [], 'still waiting')
      feed.line(line(STARTED_METRIC, 120 + REASON_WAIT_MS + 1, 1, tags, 4))
      recorder.flush(1000)
      assert.deepEqual(reasons(recorder), [[0, {503: 1}, {503: 1}]])
      feed.line(line(FAILED_METRIC, 130, 1, {...tags, reason: '503 UO'}, 1))
      feed.end()
      recorder.flush(10_000, true)
      assert.deepEqual(reasons(recorder), [
        [0, {503: 1}, {503: 1}],
        [1, {502: 1}, {502: 1}],
        [2, {}, {}],
      ])
      assert.equal(feed.counts.requests, 2, 'the late reason point is no second request')
    })

    it("a request with no answer does not wait: k6's error code names it", () => {
      const recorder = new Recorder(['targeted'])
      const feed = new K6PointFeed(recorder, 0)
      failedAt(feed, 1, 100, '0', {error_code: '1212', error: 'dial tcp 127.0.0.1:9080: connect: connection refused'})
      recorder.flush(5000)
      assert.deepEqual(reasons(recorder), [[0, {error: 1}, {'ECONNREFUSED 127.0.0.1:9080': 1}]])
    })

    it('without start marks (k6 before v0.45) nothing can pair them: the status alone, at once', () => {
      const recorder = new Recorder(['targeted'])
      const feed = new K6PointFeed(recorder, 0)
      feed.line(line('http_req_duration', 120, 20, {...tags, status: '503'}))
      feed.line(line(FAILED_METRIC, 121, 1, {...tags, reason: '503 UO'}))
      recorder.flush(5000)
      assert.deepEqual(reasons(recorder), [[0, {503: 1}, {503: 1}]])
    })

    it('two requests of the same second keep their own reasons', () => {
      const recorder = new Recorder(['targeted'])
      const feed = new K6PointFeed(recorder, 0)
      failedAt(feed, 1, 100, '503')
      failedAt(feed, 2, 200, '500')
      feed.line(line(FAILED_METRIC, 221, 1, {...tags, reason: '500 FI'}, 2))
      feed.line(line(FAILED_METRIC, 121, 1, {...tags, reason: '503 UO'}, 1))
      feed.line(line(FAILED_METRIC, 122, 1, {...tags, reason: 'stray'}, 9))
      recorder.flush(5000)
      assert.deepEqual(reasons(recorder), [[0, {500: 1, 503: 1}, {'500 FI': 1, '503 UO': 1}]])
    })
  })

  it("the sealing lag covers k6's output pipeline at the experiments' rates (measured on the recording)", () => {
    const requests = raw().filter(p => p.type === 'Point' && p.metric === 'http_req_duration').length
    const bytesPerRequest = statSync(RECORDED).size / requests
    assert.ok(bytesPerRequest > 3000 && bytesPerRequest < 5000, `${bytesPerRequest} B of JSON per request`)
    const plan = (perSecond: number) => ({
      url: 'http://x/',
      method: 'GET',
      durationMs: 1000,
      requestTimeoutMs: 60_000,
      traffic: [
        {name: 'a', ratePerSecond: perSecond / 2, headers: {}},
        {name: 'b', ratePerSecond: perSecond / 2, headers: {}},
      ],
    })
    for (const perSecond of [0.5, 2, 10, 1000]) {
      // The recorded bytes per request fill k6's 4 KiB buffer this fast at this rate.
      const fillMs = (K6_JSON_OUTPUT.bufferBytes / (bytesPerRequest * perSecond)) * 1000
      const pipelineMs = K6_JSON_OUTPUT.batchMs + K6_JSON_OUTPUT.flushMs + fillMs + POLL_MS
      const lag = initialLagMs(plan(perSecond))
      assert.ok(
        lag >= 2 * pipelineMs && lag >= MIN_LAG_MS,
        `${perSecond}/s: lag ${lag.toFixed(0)} ms for a ${pipelineMs.toFixed(0)} ms pipeline`,
      )
    }
    assert.ok(
      initialLagMs(plan(10)) <= 1200,
      "at the experiments' 10/s in all, the live view stays about a second behind",
    )
  })
})
