import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {
  assignReasons,
  FAILED,
  MAX_REASON_LABELS,
  type PendingReason,
  reasonStatus,
  SecondFeed,
} from '../../src/load/k6-operator-feed.js'
import {Recorder} from '../../src/load/recorder.js'

/** The run's load clock starts on a whole second: step T0 + k covers second k − 1. */
const T0 = 1_800_000_000
const RUN = 'faultline-k6-20261207-000000-abcd'

/** A cumulative series as Prometheus keeps it: its labels and its value at each step (k → value). */
interface Series {
  metric: Record<string, string>
  values: Record<number, number>
}

/**
 * A Prometheus whose range queries answer like the real one for the feed's three queries: the
 * series of the metric the query names, a sample per step inside [start, end], in the API's shape
 * (`{status, data: {resultType: 'matrix', result: [{metric, values: [[t, "v"]]}]}}`).
 */
async function fakePrometheus(
  series: Record<string, Series[]>,
): Promise<{url: string; server: Server; queries: string[]}> {
  const queries: string[] = []
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const query = url.searchParams.get('query') ?? ''
    queries.push(query)
    const start = Number(url.searchParams.get('start'))
    const end = Number(url.searchParams.get('end'))
    const metric = Object.keys(series).find(m => query.includes(`${m}{`))
    const result =
      url.pathname !== '/api/v1/query_range' || metric === undefined
        ? []
        : (series[metric] ?? []).map(s => ({
            metric: s.metric,
            values: Object.entries(s.values)
              .map(([k, v]) => [T0 + Number(k), String(v)] as [number, string])
              .filter(([t]) => t >= start && t <= end),
          }))
    res
      .writeHead(200, {'Content-Type': 'application/json'})
      .end(JSON.stringify({status: 'success', data: {resultType: 'matrix', result}}))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, queries}
}

const reqs = (traffic: string, status: number, values: Record<number, number>): Series => ({
  metric: {traffic, status: String(status), expected_response: String(status < 400)},
  values,
})
const failed = (traffic: string, reason: string, values: Record<number, number>): Series => ({
  metric: {traffic, reason},
  values,
})

/** Each sealed second of a class: [second, statuses, reasons]. */
function seconds(recorder: Recorder, traffic: string): [number, Record<string, number>, Record<string, number>][] {
  return recorder.seconds(traffic).map(s => [s.second, s.statuses, s.reasons ?? {}])
}

async function feedOnce(series: Record<string, Series[]>, classes: string[], polls: number[]) {
  const prometheus = await fakePrometheus(series)
  try {
    const recorder = new Recorder(classes)
    const feed = new SecondFeed(recorder, T0 * 1000, RUN, prometheus.url)
    for (const k of polls) await feed.poll(new Date((T0 + k) * 1000 + 300))
    recorder.flush(Infinity, true)
    return {recorder, queries: prometheus.queries}
  } finally {
    prometheus.server.close()
  }
}

describe('k6-operator feed: failure reasons from k6_faultline_request_failed_total', () => {
  it("is the series k6 remote-writes for the script's Counter (k6_<name>_total)", () => {
    assert.equal(FAILED, 'k6_faultline_request_failed_total')
  })

  it('reads the status a label names; labels naming none fit any status', () => {
    for (const [reason, status] of [
      ['500 FI', 500],
      ['503 UO,URX', 503],
      ['503 envoy', 503],
      ['404', 404],
      ['proxy refused 503', 503],
      ['port-forward lost: no ready pod', undefined],
      ['ECONNREFUSED 127.0.0.1:9080', undefined],
      ['5000 requests', undefined],
    ] as const)
      assert.equal(reasonStatus(reason), status, reason)
  })

  describe("assignReasons: a step's reasons to its failures, never more than there are", () => {
    const cases: {
      name: string
      failed: [number, number][]
      pending: [string, number][]
      labels: Record<number, Record<string, number>>
      left: number[]
    }[] = [
      {
        name: 'as many as failed',
        failed: [[500, 3]],
        pending: [['500 FI', 3]],
        labels: {500: {'500 FI': 3}},
        left: [0],
      },
      {
        name: 'more reasons than failures: the rest waits',
        failed: [[500, 2]],
        pending: [['500 FI', 3]],
        labels: {500: {'500 FI': 2}},
        left: [1],
      },
      {
        name: 'fewer: the rest keeps its bare status',
        failed: [[503, 4]],
        pending: [['503 UO', 1]],
        labels: {503: {'503 UO': 1}},
        left: [0],
      },
      {
        name: "another status's reason labels nothing",
        failed: [[500, 1]],
        pending: [['503 UO', 1]],
        labels: {},
        left: [1],
      },
      {
        name: 'by status, then labels naming none take what is left',
        failed: [
          [502, 2],
          [500, 1],
        ],
        pending: [
          ['port-forward lost: no ready pod', 3],
          ['500 FI', 1],
        ],
        labels: {500: {'500 FI': 1}, 502: {'port-forward lost: no ready pod': 2}},
        left: [1, 0],
      },
      {
        name: 'oldest first',
        failed: [[503, 1]],
        pending: [
          ['503 UO', 1],
          ['503 UH', 1],
        ],
        labels: {503: {'503 UO': 1}},
        left: [0, 1],
      },
      {
        name: 'proxy refused',
        failed: [[503, 1]],
        pending: [['proxy refused 503', 1]],
        labels: {503: {'proxy refused 503': 1}},
        left: [0],
      },
    ]
    for (const c of cases)
      it(c.name, () => {
        const pending: PendingReason[] = c.pending.map(([reason, n]) => ({reason, n, step: 0}))
        const labels = assignReasons(new Map(c.failed), pending)
        assert.deepEqual(Object.fromEntries([...labels].map(([s, m]) => [s, Object.fromEntries(m)])), c.labels)
        assert.deepEqual(
          pending.map(p => p.n),
          c.left,
        )
      })
  })

  it("records each second's reasons per class, bounded by its failures; a reason pushed a step late labels the next failure", async () => {
    const {recorder, queries} = await feedOnce(
      {
        k6_http_reqs_total: [
          reqs('targeted', 200, {0: 0, 1: 3, 2: 6, 3: 9, 4: 12}),
          reqs('targeted', 500, {1: 2, 2: 4, 3: 5, 4: 5}),
          reqs('control', 200, {1: 5, 2: 9, 3: 14, 4: 19}),
          reqs('control', 503, {2: 1, 3: 1, 4: 1}),
        ],
        [FAILED]: [
          // Second 1: one of its two reasons reaches Prometheus only with second 2's push.
          failed('targeted', '500 FI', {1: 2, 2: 3, 3: 5, 4: 5}),
          failed('control', '503 UO', {2: 1, 3: 1, 4: 1}),
          failed('other', '500 FI', {1: 7}),
        ],
      },
      ['targeted', 'control'],
      [2, 4],
    )
    assert.deepEqual(seconds(recorder, 'targeted'), [
      [0, {200: 3, 500: 2}, {'500 FI': 2}],
      [1, {200: 3, 500: 2}, {'500 FI': 1, 500: 1}],
      [2, {200: 3, 500: 1}, {'500 FI': 1}],
      [3, {200: 3}, {}],
    ])
    assert.deepEqual(seconds(recorder, 'control'), [
      [0, {200: 5}, {}],
      [1, {200: 4, 503: 1}, {'503 UO': 1}],
      [2, {200: 5}, {}],
      [3, {200: 5}, {}],
    ])
    assert.ok(
      queries.includes(`sum by (traffic, reason) (k6_faultline_request_failed_total{testrun_name="${RUN}"})`),
      queries.join('\n'),
    )
  })

  it('a reason no failure of its status takes within two steps is dropped, not charged to a later one', async () => {
    const {recorder} = await feedOnce(
      {
        k6_http_reqs_total: [reqs('t', 200, {1: 1, 2: 2, 3: 3, 4: 4}), reqs('t', 503, {1: 1, 2: 1, 3: 1, 4: 2})],
        [FAILED]: [failed('t', '503 UO', {1: 2, 2: 2, 3: 2, 4: 2})],
      },
      ['t'],
      [4],
    )
    assert.deepEqual(seconds(recorder, 't'), [
      [0, {200: 1, 503: 1}, {'503 UO': 1}],
      [1, {200: 1}, {}],
      [2, {200: 1}, {}],
      [3, {200: 1, 503: 1}, {503: 1}],
    ])
  })

  it(`accepts at most ${MAX_REASON_LABELS} distinct labels a run: past them, failures keep their bare status`, async () => {
    const labels = Array.from({length: MAX_REASON_LABELS + 6}, (_, i) => `500 X${i}`)
    const {recorder} = await feedOnce(
      {
        k6_http_reqs_total: [reqs('t', 500, {1: labels.length})],
        [FAILED]: [...labels.map(l => failed('t', l, {1: 1})), failed('t', 'x'.repeat(200), {1: 1})],
      },
      ['t'],
      [1],
    )
    const [second] = recorder.seconds('t')
    assert.equal(second?.failed, labels.length)
    assert.equal(Object.keys(second?.reasons ?? {}).length, MAX_REASON_LABELS + 1)
    assert.equal(second?.reasons?.['500'], 6)
  })
})
