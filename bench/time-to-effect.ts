/**
 * Time to effect and to revert on the sandbox: from the API write that adds a fault to the first
 * faulted response, and from the API write that removes it to the last faulted response.
 *
 * The sandbox runs in its own process (bench/sandbox-process.ts). This process keeps a steady
 * stream of targeted probes going through the sandbox's forward proxy — a new request every
 * millisecond, at most 8 in flight (an arrival due beyond that is skipped, not queued), each timed
 * on `performance.now()` — and meanwhile writes the
 * fault with the product's cluster client the way the runner does for a service without a
 * VirtualService: create a VirtualService whose targeted route aborts every request (HTTP 500, so
 * a faulted response is immediate and not smeared by a delay), then delete it. Each cycle:
 *
 *   effect = first faulted answer − when the create was sent   (also: − when its answer came back)
 *   revert = last faulted answer − when the delete was sent    (also: − when its answer came back)
 *
 * The resolution is the probe spacing plus one probe round trip (both reported), and each cycle
 * brackets the moment routing changed: after the send of the last probe that saw the old routing,
 * no later than the answer of the first that saw the new.
 */
import {performance} from 'node:perf_hooks'

import {type Bench, type BenchOptions, type BenchResult, fmtStats, quantile, stats, type Stats} from './harness.js'
import {headerFault, type SandboxProcess, startSandboxProcess, TARGET_HEADER} from './sandbox-process.js'
import {openLoop, type Sample} from './sandbox-traffic.js'

const PROBE = {url: 'http://details:9080/details/0', headers: {[TARGET_HEADER.name]: TARGET_HEADER.value}}
/** Probes per second: one every millisecond. */
const PROBE_RATE = 1000
/** Probes in flight at most: an arrival due beyond this is skipped, so a slow moment never builds a queue that would delay what the probes see. */
const PROBE_CONCURRENCY = 8
const BAR_MS = 100
/** How long to wait for the first (or past the last) faulted answer before calling the sandbox broken. */
const GIVE_UP_MS = 5000
/** Quiet time around each write, so each cycle starts and ends with settled routing. */
const SETTLE_MS = 300

/** One apply/revert cycle, in ms. */
interface Cycle {
  effectFromSend: number
  effectFromAnswer: number
  revertFromSend: number
  revertFromAnswer: number
  /** How long the API took to answer the create and the delete. */
  applyAnswerMs: number
  revertAnswerMs: number
  /** How closely the probes pinned down when routing changed (see `cycle`). */
  effectWindowMs: number
  revertWindowMs: number
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/** Waits until `check` holds, polling every millisecond; throws with `message()` after GIVE_UP_MS. */
async function until(check: () => boolean, message: () => string): Promise<void> {
  const deadline = performance.now() + GIVE_UP_MS
  while (!check()) {
    if (performance.now() > deadline) throw new Error(message())
    await sleep(1)
  }
}

/**
 * What the probe stream has shown so far, updated as each answer arrives (answers arrive in the
 * order of `doneAt`, so nothing needs scanning).
 */
class ProbeWatch {
  /** The first faulted, and the first unfaulted, answer at or after `from`. */
  firstFaulted: number | undefined
  firstOk: number | undefined
  private from = Infinity
  /** The latest faulted answer, and when the latest probe answered with a fault was sent. */
  lastFaulted = -Infinity
  lastFaultedSentAt = -Infinity
  /** When the latest probe that got an unfaulted 200 was sent. */
  lastOkSentAt = -Infinity
  count = 0

  /** For error messages: what the stream has seen. */
  describe(now: number): string {
    const ago = (t: number) => (Number.isFinite(t) ? `${(now - t).toFixed(0)} ms ago` : 'never')
    return `${this.count} answers so far; last faulted answer ${ago(this.lastFaulted)}; last probe answered 200 sent ${ago(this.lastOkSentAt)}`
  }

  readonly onSample = (s: Sample): void => {
    this.count++
    if (s.faultAbort) {
      this.lastFaulted = s.doneAt
      this.lastFaultedSentAt = Math.max(this.lastFaultedSentAt, s.sentAt)
      if (this.firstFaulted === undefined && s.doneAt >= this.from) this.firstFaulted = s.doneAt
    } else if (s.status === 200) {
      this.lastOkSentAt = Math.max(this.lastOkSentAt, s.sentAt)
      if (this.firstOk === undefined && s.doneAt >= this.from) this.firstOk = s.doneAt
    }
  }

  /** Starts looking for the first faulted and unfaulted answers from `t` on. */
  watchFrom(t: number): void {
    this.from = t
    this.firstFaulted = undefined
    this.firstOk = undefined
  }
}

/**
 * One cycle against a running probe stream. Besides the figures, it brackets the moment routing
 * changed: after the send of the last probe that saw the old routing (it passed the sidecar after
 * it was sent) and no later than the answer of the first that saw the new.
 */
async function cycle(sandbox: SandboxProcess, watch: ProbeWatch): Promise<Cycle> {
  const vs = headerFault('details', {abort: {httpStatus: 500, percentage: {value: 100}}})
  await sleep(SETTLE_MS)
  const applySent = performance.now()
  watch.watchFrom(applySent)
  await sandbox.cluster.createVirtualService({...vs, metadata: {...vs.metadata, namespace: sandbox.namespace}})
  const applyAnswered = performance.now()
  await until(
    () => watch.firstFaulted !== undefined,
    () =>
      `no faulted answer within ${GIVE_UP_MS} ms of creating the VirtualService: the fault never took effect (${watch.describe(performance.now())})`,
  )
  const first = watch.firstFaulted as number
  await sleep(SETTLE_MS)
  const lastUnfaultedSent = watch.lastOkSentAt
  const revertSent = performance.now()
  watch.watchFrom(revertSent)
  await sandbox.cluster.deleteVirtualService(sandbox.namespace, 'details')
  const revertAnswered = performance.now()
  // The revert has taken effect once a probe sent after the delete's answer gets an unfaulted 200.
  await until(
    () => watch.lastOkSentAt > revertAnswered,
    () =>
      `no unfaulted answer within ${GIVE_UP_MS} ms of deleting the VirtualService: the revert never took effect (${watch.describe(performance.now())})`,
  )
  await sleep(SETTLE_MS)
  // Probes run every millisecond, so the last faulted answer lands right around the revert; slightly
  // negative means the last one arrived just before the delete was sent, within the resolution.
  const last = watch.lastFaulted
  return {
    effectFromSend: first - applySent,
    effectFromAnswer: first - applyAnswered,
    revertFromSend: last - revertSent,
    revertFromAnswer: last - revertAnswered,
    applyAnswerMs: applyAnswered - applySent,
    revertAnswerMs: revertAnswered - revertSent,
    effectWindowMs: first - lastUnfaultedSent,
    revertWindowMs: (watch.firstOk as number) - watch.lastFaultedSentAt,
  }
}

const ms = (s: Stats) => fmtStats(s, 1, ' ms')

async function run(opts: BenchOptions): Promise<BenchResult> {
  const cycles = Math.max(5, opts.runs)
  const sandbox = await startSandboxProcess({reaperIntervalMs: 0})
  const watch = new ProbeWatch()
  const stop = new AbortController()
  const measured: Cycle[] = []
  let probes: Promise<Sample[]> | undefined
  let samples: Sample[] = []
  try {
    // Bounded however the cycles go: the stream ends after (cycles + a warm-up) × 4 s at most.
    probes = openLoop({
      proxy: sandbox.proxy,
      requests: [PROBE],
      rate: PROBE_RATE,
      concurrency: PROBE_CONCURRENCY,
      count: (cycles + 1) * 4 * PROBE_RATE + 60 * PROBE_RATE,
      stop: stop.signal,
      onSample: watch.onSample,
    })
    // The first cycle warms the API client (discovery, TLS) and the mesh's compile path; it is not counted.
    await cycle(sandbox, watch)
    for (let i = 1; i <= cycles; i++) {
      const c = await cycle(sandbox, watch)
      measured.push(c)
      opts.log(
        `cycle ${i}/${cycles}: effect ${c.effectFromSend.toFixed(1)} ms after the write was sent (${c.effectFromAnswer.toFixed(1)} after its answer), revert ${c.revertFromSend.toFixed(1)} ms (${c.revertFromAnswer.toFixed(1)})`,
      )
    }
  } finally {
    stop.abort()
    samples = (await probes?.catch(() => undefined)) ?? []
    await sandbox.stop()
  }
  const failed = samples.filter(s => s.status === 0)
  if (failed.length > 0)
    throw new Error(
      `${failed.length} of ${samples.length} probes failed (first: ${failed[0]?.error}); is the sandbox overloaded?`,
    )
  const seconds = (Math.max(...samples.map(x => x.doneAt)) - Math.min(...samples.map(x => x.sentAt))) / 1000
  const sent = samples.map(x => x.sentAt).sort((a, b) => a - b)
  const gaps = sent.slice(1).map((t, i) => t - (sent[i] as number))
  const rtt = samples.map(x => x.doneAt - x.sentAt)
  const resolution = `${Math.round(samples.length / seconds)} probes/s sent (longest gap ${quantile(gaps, 1).toFixed(1)} ms), round trip p50 ${quantile(rtt, 0.5).toFixed(1)} ms, p99 ${quantile(rtt, 0.99).toFixed(1)} ms`
  const pick = (f: (c: Cycle) => number) => stats(measured.map(f))
  const effect = pick(c => c.effectFromSend)
  const revert = pick(c => c.revertFromSend)
  return {
    method: [
      'npm run bench -- --only effect',
      'sandbox: chaos sandbox up --detach --no-prometheus (from src/, reaper off) in its own process',
      `probes: GET ${PROBE.url} with ${TARGET_HEADER.name}: ${TARGET_HEADER.value} through the sandbox's forward proxy, ${PROBE_RATE}/s open model with at most ${PROBE_CONCURRENCY} in flight (arrivals beyond skipped), answers timed on performance.now()`,
      "write: create VirtualService details (targeted route aborts 100 % with HTTP 500) with the product's cluster client; revert: delete it",
      `${cycles} apply/revert cycles after one warm-up cycle, ${SETTLE_MS} ms of settled routing around each write`,
    ],
    tables: [
      {
        caption: `Median (min–max) over ${cycles} cycles. "Sent": from handing the write to the API client; "answered": from its answer coming back (negative: the mesh acted before the answer arrived).`,
        headers: [
          'figure',
          'from write sent',
          'from write answered',
          'API answer took',
          'routing change pinned to within',
        ],
        rows: [
          [
            'first faulted answer after the apply',
            ms(effect),
            ms(pick(c => c.effectFromAnswer)),
            ms(pick(c => c.applyAnswerMs)),
            ms(pick(c => c.effectWindowMs)),
          ],
          [
            'last faulted answer after the revert',
            ms(revert),
            ms(pick(c => c.revertFromAnswer)),
            ms(pick(c => c.revertAnswerMs)),
            ms(pick(c => c.revertWindowMs)),
          ],
        ],
      },
    ],
    targets: [
      {
        name: 'time to effect (API write sent → first faulted response)',
        target: `≤ ${BAR_MS} ms`,
        value: `${ms(effect)}, median (min–max) of ${cycles} cycles`,
        met: effect.median <= BAR_MS,
      },
      {
        name: 'time to revert (revert sent → last faulted response)',
        target: `≤ ${BAR_MS} ms`,
        value: `${ms(revert)}, median (min–max) of ${cycles} cycles`,
        met: revert.median <= BAR_MS,
      },
    ],
    notes: [
      `Resolution: ${resolution}. A faulted answer trails the moment routing changed by up to one probe interval plus one round trip; the last column brackets that moment per cycle: after the send of the last probe that saw the old routing, no later than the answer of the first that saw the new.`,
      'The bar is judged on the median over cycles; the maximum is in the table.',
      "The runner measures the same two figures on a real cluster by polling the calling sidecars' fault counters (first evidence: every 250 ms; after the revert: every 200 ms), so its figures are upper bounds at that resolution plus the time one poll takes; the run console and journal say so.",
      ...(opts.smoke
        ? ['smoke run on a shared machine: the numbers show the bench works, not how fast the sandbox is']
        : []),
    ],
  }
}

const bench: Bench = {
  name: 'effect',
  title: 'Time to effect and to revert',
  what: 'On the sandbox: from the API write that adds an abort fault to the first faulted response, and from the write that removes it to the last faulted response, under a steady stream of probes.',
  run,
}

export default bench
