/**
 * Fault fidelity on the sandbox: does an abort at p % abort p % of targeted requests, and does a
 * delay of d add d — no more, no less?
 *
 * The sandbox runs in its own process (bench/sandbox-process.ts). A VirtualService on `details`
 * faults requests carrying `x-chaos-test: true` (bench/sandbox-process.ts `headerFault`); this
 * process sends targeted and control requests interleaved, at a fixed arrival rate, through the
 * sandbox's forward proxy to `GET http://details:9080/details/0`, and times each from dispatch to
 * the end of its body.
 *
 * - Abort (1 %, 10 %, 50 %, HTTP 500): the aborted share of ≥ 10,000 targeted requests must lie in
 *   the exact central 99 % interval of Binomial(n, p) — the 0.5 % and 99.5 % quantiles of the
 *   count, computed from the binomial distribution itself, not a normal approximation.
 * - Delay (100 ms, 1 s, at 100 %): the error at quantile q is
 *   q-quantile(targeted latency) − q-quantile(control latency, same round) − delay; bars on |error|
 *   at p50 (≤ 2 ms) and p99 (≤ 10 ms). Per request, |latency − control median − delay| is reported too.
 *
 * Control requests check that nothing leaks: none may be aborted (their latency is the baseline).
 */
import type {HTTPFaultInjection} from '@faultline/core/istio/types.js'
import {
  type Bench,
  type BenchOptions,
  type BenchResult,
  fmtStats,
  quantile,
  stats,
  type Table,
  type Target,
} from './harness.js'
import {headerFault, type SandboxProcess, startSandboxProcess, TARGET_HEADER} from './sandbox-process.js'
import {openLoop, type RequestKind, type Sample} from './sandbox-traffic.js'

const URL_ = 'http://details:9080/details/0'
const TARGETED: RequestKind = {url: URL_, headers: {[TARGET_HEADER.name]: TARGET_HEADER.value}}
const CONTROL: RequestKind = {url: URL_}
const ABORT_STATUS = 500

interface AbortCase {
  kind: 'abort'
  percent: number
}
interface DelayCase {
  kind: 'delay'
  ms: number
}
type Case = AbortCase | DelayCase

const CASES: Case[] = [
  {kind: 'abort', percent: 1},
  {kind: 'abort', percent: 10},
  {kind: 'abort', percent: 50},
  {kind: 'delay', ms: 100},
  {kind: 'delay', ms: 1000},
]

const caseName = (c: Case) =>
  c.kind === 'abort' ? `abort ${c.percent} %` : `delay ${c.ms < 1000 ? `${c.ms} ms` : `${c.ms / 1000} s`}`

/**
 * Arrivals per second (targeted and control together) and the mix. Aborts need one control per four
 * targeted (a leak check); a delay's baseline needs as many control requests as targeted ones. Rates
 * stay well below what the sandbox can serve, so what is measured is the fault, not a queue; the 1 s
 * delay runs slower so fewer requests wait at once (≈ 125 in flight).
 */
function shape(c: Case): {rate: number; mix: RequestKind[]} {
  if (c.kind === 'abort') return {rate: 1000, mix: [TARGETED, TARGETED, TARGETED, TARGETED, CONTROL]}
  return {rate: c.ms >= 1000 ? 250 : 500, mix: [TARGETED, CONTROL]}
}

function faultOf(c: Case): HTTPFaultInjection {
  return c.kind === 'abort'
    ? {abort: {httpStatus: ABORT_STATUS, percentage: {value: c.percent}}}
    : {delay: {fixedDelay: `${c.ms}ms`, percentage: {value: 100}}}
}

/** The central interval [lo, hi] of Binomial(n, p) with P(X < lo) ≤ α/2 and P(X > hi) ≤ α/2 (exact, from the pmf). */
export function binomialInterval(n: number, p: number, alpha: number): [number, number] {
  const logPmf: number[] = []
  let logC = 0
  for (let k = 0; k <= n; k++) {
    if (k > 0) logC += Math.log(n - k + 1) - Math.log(k)
    logPmf.push(logC + (k === 0 ? 0 : k * Math.log(p)) + (k === n ? 0 : (n - k) * Math.log1p(-p)))
  }
  let cdf = 0
  let lo = -1
  let hi = n
  for (let k = 0; k <= n; k++) {
    cdf += Math.exp(logPmf[k] as number)
    if (lo < 0 && cdf > alpha / 2) lo = k
    if (cdf >= 1 - alpha / 2) {
      hi = k
      break
    }
  }
  return [lo, hi]
}

interface AbortRound {
  n: number
  aborted: number
}
interface DelayRound {
  targeted: number[]
  control: number[]
}

/** Latency in ms of each sample of the mix's targeted and control kinds. */
function split(samples: readonly Sample[], mix: readonly RequestKind[]): {targeted: Sample[]; control: Sample[]} {
  return {
    targeted: samples.filter(s => mix[s.kind] === TARGETED),
    control: samples.filter(s => mix[s.kind] === CONTROL),
  }
}

/** Throws on what means the sandbox or the bench is broken, not that fidelity is poor. */
function checkSane(c: Case, samples: readonly Sample[], mix: readonly RequestKind[]): void {
  const failed = samples.filter(s => s.status === 0)
  if (failed.length > 0)
    throw new Error(
      `${caseName(c)}: ${failed.length} of ${samples.length} requests failed (first: ${failed[0]?.error}); is the sandbox overloaded?`,
    )
  const odd = samples.filter(s => s.status !== 200 && !(s.status === ABORT_STATUS && s.faultAbort))
  if (odd.length > 0)
    throw new Error(
      `${caseName(c)}: ${odd.length} answers were neither 200 nor the fault's ${ABORT_STATUS} (first: ${odd[0]?.status}); see the sandbox log`,
    )
  const {targeted, control} = split(samples, mix)
  if (control.some(s => s.faultAbort))
    throw new Error(`${caseName(c)}: control requests were aborted; the fault leaks past its header match`)
  if (c.kind === 'delay') {
    const early = targeted.filter(s => s.doneAt - s.sentAt < c.ms)
    if (early.length > 0)
      throw new Error(
        `${caseName(c)}: ${early.length} targeted requests answered in under ${c.ms} ms; the delay was not in effect`,
      )
  }
}

/** Applies the case's fault, sends its requests, and returns the round's raw outcome. */
async function runCase(sandbox: SandboxProcess, c: Case, targetedCount: number): Promise<AbortRound | DelayRound> {
  // The API server answers after the mesh has recompiled (same process, same tick), so the fault is live on return.
  await sandbox.applyVirtualService(headerFault('details', faultOf(c)))
  const {rate, mix} = shape(c)
  const perCycle = mix.filter(k => k === TARGETED).length
  const samples = await openLoop({
    proxy: sandbox.proxy,
    requests: mix,
    rate,
    count: Math.ceil(targetedCount / perCycle) * mix.length,
  })
  checkSane(c, samples, mix)
  const {targeted, control} = split(samples, mix)
  if (c.kind === 'abort') {
    const round = {n: targeted.length, aborted: targeted.filter(s => s.faultAbort).length}
    // Outside even a 1 − 10⁻⁶ interval is not chance: the fault is not what was configured.
    const [lo, hi] = binomialInterval(round.n, c.percent / 100, 1e-6)
    if (round.aborted < lo || round.aborted > hi)
      throw new Error(
        `${caseName(c)}: ${round.aborted} of ${round.n} targeted requests aborted, outside [${lo}, ${hi}] (p < 10⁻⁶ by chance): the fault is not applied as configured`,
      )
    return round
  }
  const ms = (s: Sample) => s.doneAt - s.sentAt
  return {targeted: targeted.map(ms), control: control.map(ms)}
}

/** error_q = q-quantile(targeted) − q-quantile(control) − delay. */
const errorAt = (r: DelayRound, q: number, delay: number) => quantile(r.targeted, q) - quantile(r.control, q) - delay

/** |latency − control median − delay| per targeted request, at q. */
function perRequestError(r: DelayRound, q: number, delay: number): number {
  const base = quantile(r.control, 0.5)
  return quantile(
    r.targeted.map(t => Math.abs(t - base - delay)),
    q,
  )
}

const f1 = (x: number) => x.toFixed(1)
const pct = (x: number) => `${(x * 100).toFixed(2)} %`

function abortResults(c: AbortCase, rounds: AbortRound[], smoke: boolean): {row: string[]; target: Target} {
  const p = c.percent / 100
  const inside = rounds.filter(r => {
    const [lo, hi] = binomialInterval(r.n, p, 0.01)
    return r.aborted >= lo && r.aborted <= hi
  }).length
  const n = rounds.reduce((a, r) => a + r.n, 0)
  const aborted = rounds.reduce((a, r) => a + r.aborted, 0)
  const [lo, hi] = binomialInterval(n, p, 0.01)
  const [lo1, hi1] = binomialInterval(rounds[0]?.n ?? 0, p, 0.01)
  const ok = aborted >= lo && aborted <= hi
  const value = `${pct(aborted / n)} of ${n.toLocaleString('en-US')} (interval ${pct(lo / n)}–${pct(hi / n)}); rounds inside ${inside}/${rounds.length}`
  return {
    row: [
      caseName(c),
      fmtStats(stats(rounds.map(r => (r.aborted / r.n) * 100)), 2, ' %'),
      `${pct(lo1 / (rounds[0]?.n ?? 1))}–${pct(hi1 / (rounds[0]?.n ?? 1))}`,
      `${inside}/${rounds.length}`,
      pct(aborted / n),
      `${pct(lo / n)}–${pct(hi / n)}`,
      ok ? 'yes' : '**no**',
    ],
    target: {
      name: `${caseName(c)}: aborted share of targeted requests`,
      target: 'inside the exact 99 % binomial interval (pooled over rounds)',
      value: smoke ? `${value} — smoke counts too small to judge` : value,
      met: smoke ? undefined : ok,
    },
  }
}

function delayResults(c: DelayCase, rounds: DelayRound[], smoke: boolean): {row: string[]; target: Target} {
  const p50 = stats(rounds.map(r => errorAt(r, 0.5, c.ms)))
  const p99 = stats(rounds.map(r => errorAt(r, 0.99, c.ms)))
  const pooled: DelayRound = {targeted: rounds.flatMap(r => r.targeted), control: rounds.flatMap(r => r.control)}
  const worst = (s: typeof p50) => Math.max(Math.abs(s.min), Math.abs(s.max))
  const ok = Math.abs(p50.median) <= 2 && Math.abs(p99.median) <= 10
  const value = `error p50 ${f1(p50.median)} ms, p99 ${f1(p99.median)} ms (median of ${rounds.length} round(s); worst round |error| ${f1(worst(p50))} / ${f1(worst(p99))} ms)`
  return {
    row: [
      caseName(c),
      fmtStats(p50, 2, ' ms'),
      fmtStats(p99, 2, ' ms'),
      `${f1(errorAt(pooled, 0.5, c.ms))} / ${f1(errorAt(pooled, 0.99, c.ms))} ms`,
      `${f1(perRequestError(pooled, 0.5, c.ms))} / ${f1(perRequestError(pooled, 0.99, c.ms))} ms`,
      `${f1(quantile(pooled.control, 0.5))} / ${f1(quantile(pooled.control, 0.99))} ms`,
      pooled.targeted.length.toLocaleString('en-US'),
    ],
    target: {
      name: `${caseName(c)}: injected extra latency error`,
      target: '|p50| ≤ 2 ms and |p99| ≤ 10 ms',
      value: smoke ? `${value} — smoke counts too small to judge` : value,
      met: smoke ? undefined : ok,
    },
  }
}

async function run(opts: BenchOptions): Promise<BenchResult> {
  const perCase = opts.smoke ? 500 : 10_000
  const sandbox = await startSandboxProcess({reaperIntervalMs: 0})
  const rounds = new Map<Case, (AbortRound | DelayRound)[]>(CASES.map(c => [c, []]))
  try {
    // Warm-up: connections, JIT and the mesh's first compile, outside any measurement.
    await sandbox.applyVirtualService(headerFault('details', undefined))
    await openLoop({proxy: sandbox.proxy, requests: [TARGETED, CONTROL], rate: 500, count: opts.smoke ? 1000 : 5000})
    for (let round = 1; round <= opts.runs; round++) {
      for (const c of CASES) {
        const r = await runCase(sandbox, c, perCase)
        rounds.get(c)?.push(r)
        opts.log(
          `round ${round}/${opts.runs} ${caseName(c)}: ${'aborted' in r ? `${r.aborted}/${r.n} aborted` : `error p50 ${f1(errorAt(r, 0.5, (c as DelayCase).ms))} ms, p99 ${f1(errorAt(r, 0.99, (c as DelayCase).ms))} ms`}`,
        )
      }
    }
    await sandbox.deleteVirtualService('details')
  } finally {
    await sandbox.stop()
  }
  const aborts = CASES.filter((c): c is AbortCase => c.kind === 'abort').map(c =>
    abortResults(c, rounds.get(c) as AbortRound[], opts.smoke),
  )
  const delays = CASES.filter((c): c is DelayCase => c.kind === 'delay').map(c =>
    delayResults(c, rounds.get(c) as DelayRound[], opts.smoke),
  )
  const tables: Table[] = [
    {
      caption: `Aborts (HTTP ${ABORT_STATUS}): aborted share of ${perCase.toLocaleString('en-US')} targeted requests per round — median (min–max) of ${opts.runs} round(s), the round's exact 99 % interval, and the pooled result.`,
      headers: [
        'case',
        'observed per round',
        '99 % interval (one round)',
        'rounds inside',
        'pooled',
        'pooled 99 % interval',
        'pooled inside',
      ],
      rows: aborts.map(a => a.row),
    },
    {
      caption:
        'Delays: error = quantile(targeted) − quantile(control, same round) − delay, per round median (min–max); pooled over rounds; per request |latency − control median − delay|.',
      headers: [
        'case',
        'error p50',
        'error p99',
        'pooled error p50 / p99',
        'per-request |error| p50 / p99',
        'control p50 / p99',
        'targeted requests',
      ],
      rows: delays.map(d => d.row),
    },
  ]
  return {
    method: [
      'npm run bench -- --only fidelity',
      `sandbox: chaos sandbox up --detach --no-prometheus (from src/, reaper off) in its own process; this process only sends requests`,
      `route: VirtualService details, route "targeted" matching ${TARGET_HEADER.name}: ${TARGET_HEADER.value} with the fault, route "default" without; GET ${URL_} through the sandbox's forward proxy (undici ProxyAgent, absolute form)`,
      'aborts: 1000 requests/s, 4 targeted to 1 control; delays: 500/s (100 ms) and 250/s (1 s), 1 targeted to 1 control, interleaved',
      `${perCase.toLocaleString('en-US')} targeted requests per case per round, ${opts.runs} round(s); latency from dispatch to end of body`,
      'abort interval: exact central 99 % interval of Binomial(n, p) (0.5 % and 99.5 % quantiles of the count, summed from the pmf); the bar is judged on the pooled count',
      "delay error at q: q-quantile(targeted) − q-quantile(control) − delay; the bar is judged on the median over rounds of each quantile's error",
    ],
    tables,
    targets: [...aborts.map(a => a.target), ...delays.map(d => d.target)],
    notes: [
      ...(opts.smoke
        ? [`smoke run: ${perCase} targeted requests per case, too few to judge fidelity (the targets are not assessed)`]
        : []),
      'Each round has a 1 % chance of falling outside its 99 % interval by chance alone; "rounds inside" shows how many did.',
      'Every round checks what would mean a broken sandbox rather than poor fidelity, and fails the bench if it sees one: a transport error, an answer that is neither 200 nor the abort, a control request aborted, a targeted request faster than its delay, an aborted share outside even the 1 − 10⁻⁶ interval.',
      "The error includes everything the delay adds besides its own length: the sidecar's timer firing late under load, and the event-loop work of holding the delayed requests.",
    ],
  }
}

const bench: Bench = {
  name: 'fidelity',
  title: 'Fault fidelity',
  what: 'Aborts at 1 %, 10 %, 50 % and delays of 100 ms and 1 s on the sandbox: the aborted share against its binomial interval, and the extra latency a delay adds beyond its configured length.',
  run,
}

export default bench
