/**
 * The builtin load driver against its peers on one core: maximum requests/s with every request
 * recorded in the histograms (closed model, one connection per VU) next to `hey`, `wrk` and, when
 * it is on PATH (or in $K6_BINARY), `k6` with the same connection count and duration on the same
 * target; and how well the open model keeps 1k/s and 5k/s (arrival rate over the sending window,
 * send lag). The target is HAProxy answering `200 ok` itself (`http-request return`), pinned to
 * CPU 1; every generator is pinned to CPU 0 (`taskset`; hey also with `-cpus 1`, wrk with `-t1`).
 * Bounded: fixed durations, every child stopped at the end.
 *
 * `bench/run.ts` runs it as the `load` bench; on its own:
 *
 *   npx tsx bench/load-driver.ts [--runs 5] [--duration 4] [--connections 64] [--rate-runs 5]
 *                               [--rate-duration 6] [--warmup 1] [--only throughput|rate] [--compare <dir>[,<dir>…]]
 *
 * The Node children (this file run again with `--child <vus|rate|undici-floor|socket-floor> <n>
 * <seconds> <url> <warmup>`) first run `--warmup` seconds of the same load, unmeasured (JIT and
 * llhttp's WebAssembly compile on this core while the first requests run; hey, wrk and k6 are
 * compiled ahead). Each round runs every generator once, in an order rotated per round, so machine
 * noise hits all of them; the ratios are taken within a round and their median is reported. CPU
 * time (user+sys) per request is reported beside req/s: it depends much less than req/s on how
 * much of the core a busy machine left us (though it includes V8's compiler and GC threads). The
 * two floors of `bench/load-floors.ts` run in the same rounds. `--compare` also runs the builtin
 * driver of other checkouts of this repository (e.g. `git archive` of an older commit with
 * `node_modules` linked in) as `builtin@<dir name>`.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {BuiltinDriver} from '../src/load/builtin.js'
import {Recorder} from '../src/load/recorder.js'
import type {SendReport} from '../src/load/send-log.js'
import {
  type Bench,
  type BenchResult,
  flag,
  fmtStats,
  peerVersion,
  ratios,
  resultMarkdown,
  stats,
  type Table,
  type Target,
} from './harness.js'
import {socketFloor, undiciFloor} from './load-floors.js'
import {hey, k6, k6Binary, type Sample, wrk} from './load-peers.js'
import {freePort, waitListening} from './loopback.js'

const SELF = fileURLToPath(import.meta.url)
const TARGET = {hey: 1.0, wrk: 0.4, rateErrorPct: 1}
const RATES = [1000, 5000]

/** What one invocation measures. */
interface LoadConfig {
  runs: number
  /** Seconds of each throughput run. */
  seconds: number
  connections: number
  /** Seconds of the same load each Node child runs, unmeasured, before its measured run. */
  warmup: number
  rateRuns: number
  rateSeconds: number
  /** Other checkouts whose builtin driver runs beside this one's. */
  compare: string[]
  only?: 'throughput' | 'rate'
}

/** Full run, 5 rounds: ~3 min of throughput (~3.5 with k6) and ~1.5 min of rate accuracy. Smoke: ~20 s. */
const FULL = {seconds: 4, connections: 64, warmup: 1, rateSeconds: 6}
const SMOKE = {seconds: 1, connections: 64, warmup: 0.5, rateSeconds: 2}

/** HAProxy answering every request itself, one thread on CPU 1. */
async function startTarget(dir: string): Promise<{child: ChildProcess; url: string}> {
  const port = await freePort()
  const cfg = join(dir, 'target.cfg')
  writeFileSync(
    cfg,
    [
      'global',
      '  nbthread 1',
      '  maxconn 8000',
      'defaults',
      '  mode http',
      '  timeout client 30s',
      '  timeout connect 5s',
      '  timeout server 30s',
      'frontend fe',
      `  bind 127.0.0.1:${port}`,
      '  http-request return status 200 content-type text/plain string ok',
      '',
    ].join('\n'),
  )
  const child = spawn('taskset', ['-c', '1', '/usr/sbin/haproxy', '-db', '-f', cfg], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  await waitListening(port).catch(err => {
    child.kill('SIGTERM')
    throw err
  })
  return {child, url: `http://127.0.0.1:${port}/`}
}

/** A builtin driver run: its sample and its send reports (JSON). */
interface BuiltinSample extends Sample {
  json: string
}

/**
 * A builtin driver (this checkout's or another's) or a floor, in a child pinned to CPU 0. Throws
 * when it sent nothing or most requests failed: the setup is broken, not the driver slow. A few
 * failures (seen once at 5k/s on a machine at load average 11) are reported instead.
 */
function builtin(script: string, url: string, mode: string, value: number, s: number, warmup: number): BuiltinSample {
  const r = spawnSync(
    'taskset',
    [
      '-c',
      '0',
      process.execPath,
      '--conditions=faultline-source',
      '--import',
      'tsx',
      script,
      '--child',
      mode,
      String(value),
      String(s),
      url,
      String(warmup),
    ],
    {encoding: 'utf8', timeout: (s + warmup + 60) * 1000, cwd: join(script, '..', '..')},
  )
  const m = /RESULT (\S+) (\S+) (\S+)(?: (\S+))?(?: (.*))?/.exec(r.stdout)
  const failed = Number(/^FAILED (\d+)$/m.exec(r.stdout)?.[1] ?? 0)
  const requests = Number(m?.[2] ?? 0)
  if (m === null || requests === 0 || failed > requests / 2)
    throw new Error(
      `${basename(script)} --child ${mode} ${value} failed (exit ${r.status ?? r.signal}; ${failed} of ${requests} requests failed): ${r.stdout}${r.stderr}`,
    )
  return {rps: Number(m[1]), requests, failed, cpuS: Number(m[4] ?? NaN), json: m[5] ?? '[]'}
}

/** Child: one driver run; prints `RESULT <req/s> <requests> <dropped> <cpu s> <send reports>`. */
async function child(): Promise<void> {
  const [, , , mode, value, seconds, url, warmup] = process.argv
  // Node compiles undici's code and its llhttp WebAssembly while the first requests run (on this
  // core, and counted in its CPU time); a steady run of minutes never sees it, so it is kept out.
  const warmupMs = Number(warmup ?? 0) * 1000
  if (mode === 'undici-floor' || mode === 'socket-floor') {
    const floor = mode === 'undici-floor' ? undiciFloor : socketFloor
    if (warmupMs > 0) await floor(url as string, Number(value), warmupMs)
    const cpu0 = process.cpuUsage()
    const started = performance.now()
    const n = await floor(url as string, Number(value), Number(seconds) * 1000)
    const cpu = process.cpuUsage(cpu0)
    return void process.stdout.write(
      `RESULT ${(n / ((performance.now() - started) / 1000)).toFixed(1)} ${n} 0 ${((cpu.user + cpu.system) / 1e6).toFixed(3)}\n`,
    )
  }
  const durationMs = Number(seconds) * 1000
  const traffic =
    mode === 'vus'
      ? {name: 'load', vus: Number(value), headers: {}}
      : {name: 'load', ratePerSecond: Number(value), headers: {}}
  const signals = {stop: new AbortController().signal, abort: new AbortController().signal}
  if (warmupMs > 0)
    await new BuiltinDriver().run(
      {url: url as string, method: 'GET', durationMs: warmupMs, requestTimeoutMs: 10_000, traffic: [traffic]},
      new Recorder(['load']),
      signals,
    )
  const recorder = new Recorder(['load'])
  const driver = new BuiltinDriver()
  const cpu0 = process.cpuUsage()
  const started = performance.now()
  await driver.run(
    {url: url as string, method: 'GET', durationMs, requestTimeoutMs: 10_000, traffic: [traffic]},
    recorder,
    signals,
  )
  const elapsed = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpu0)
  const w = recorder.summarise('load', 0, durationMs + 60_000)
  // Every request is in the histograms: the count they hold is the count reported. A failed one
  // (network error or timeout: the target answers 200 to everything) is not load it served, so
  // req/s counts only the others, and the failures are reported on their own line.
  process.stdout.write(`FAILED ${w.failed}\n`)
  process.stdout.write(
    `RESULT ${((w.duration.count - w.failed) / elapsed).toFixed(1)} ${w.requests} ${w.dropped} ${((cpu.user + cpu.system) / 1e6).toFixed(3)} ${JSON.stringify(driver.lastSendReport)}\n`,
  )
}

/** `names` rotated by `round`, so machine noise hits every one of them in turn. */
const rotated = (names: string[], round: number) => names.map((_, k) => names[(round + k) % names.length] as string)
const cpuPerRequest = (x: Sample) => (x.cpuS * 1e6) / x.requests

/** Every throughput sample by generator, and what became of k6. */
interface Throughput {
  names: string[]
  samples: Record<string, Sample[]>
  k6: {binary: string; version: string; failure?: string} | undefined
  /** Runs in which some requests failed (a starved machine), one line each. */
  failures: string[]
}

async function throughput(url: string, cfg: LoadConfig, log: (line: string) => void): Promise<Throughput> {
  const {seconds: s, connections: c, warmup} = cfg
  const k6At = await k6Binary()
  const k6Peer: Throughput['k6'] =
    k6At === undefined ? undefined : {binary: k6At, version: peerVersion(k6At, ['version']) ?? 'k6 (version unknown)'}
  const generators: Record<string, () => Sample> = {
    builtin: () => builtin(SELF, url, 'vus', c, s, warmup),
    ...Object.fromEntries(
      cfg.compare.map(d => [
        `builtin@${basename(d)}`,
        () => builtin(join(d, 'bench', 'load-driver.ts'), url, 'vus', c, s, warmup),
      ]),
    ),
    hey: () => hey(url, c, s),
    wrk: () => wrk(url, c, s),
    ...(k6At === undefined ? {} : {k6: () => k6(k6At, url, c, s)}),
    'undici-floor': () => builtin(SELF, url, 'undici-floor', c, s, warmup),
    'node-socket-floor': () => builtin(SELF, url, 'socket-floor', c, s, warmup),
  }
  const names = Object.keys(generators)
  const samples: Record<string, Sample[]> = Object.fromEntries(names.map(n => [n, []]))
  const failures: string[] = []
  for (let i = 0; i < cfg.runs; i++) {
    for (const name of rotated(names, i)) {
      const generate = generators[name]
      if (generate === undefined) continue
      let sample: Sample
      try {
        sample = generate()
      } catch (err) {
        // k6 is an optional peer: a k6 that fails is reported, and the other generators still measured.
        if (name !== 'k6' || k6Peer === undefined) throw err
        k6Peer.failure = (err as Error).message
        delete generators[name]
        log(`round ${i + 1} k6 failed, left out: ${(err as Error).message}`)
        continue
      }
      samples[name]?.push(sample)
      if (sample.failed > 0)
        failures.push(
          `${name}, round ${i + 1}: ${sample.failed} of ${sample.requests} requests failed (not counted in its req/s)`,
        )
      log(
        `round ${i + 1} ${name.padEnd(18)} ${sample.rps.toFixed(0).padStart(6)} req/s  ${cpuPerRequest(sample).toFixed(1)} µs CPU/req`,
      )
    }
  }
  return {names, samples, k6: k6Peer, failures}
}

function throughputTables(t: Throughput, cfg: LoadConfig): Table[] {
  const get = (name: string) => t.samples[name] ?? []
  const generators: Table = {
    caption: `Max throughput, ${cfg.connections} connections, ${cfg.seconds} s, generator pinned to CPU 0; median (min–max) of ${cfg.runs} round(s):`,
    headers: [`generator (CPU 0, ${cfg.connections} connections)`, 'req/s', 'µs CPU per request'],
    rows: t.names.map(name => [
      name === 'builtin' ? '**builtin** (every request recorded)' : name,
      fmtStats(stats(get(name).map(x => x.rps))),
      fmtStats(stats(get(name).map(cpuPerRequest)), 1),
    ]),
  }
  const ours = get('builtin')
  const peers = t.names.filter(n => n !== 'builtin' && get(n).length > 0)
  const bars: Record<string, string> = {hey: ` (target ≥ ${TARGET.hey.toFixed(1)}×)`, wrk: ` (target ≥ ${TARGET.wrk}×)`}
  const vs: Table = {
    caption: 'Same-round ratios, builtin vs each generator (per round, then median and min–max):',
    headers: ['builtin vs', 'req/s', 'requests per CPU-second'],
    rows: peers.map(name => {
      const theirs = get(name)
      const perCpu = ours.map((x, i) => (theirs[i] === undefined ? NaN : cpuPerRequest(theirs[i]) / cpuPerRequest(x)))
      return [
        `${name}${bars[name] ?? ''}`,
        fmtStats(
          ratios(
            ours.map(x => x.rps),
            theirs.map(x => x.rps),
          ),
          2,
          '×',
        ),
        fmtStats(stats(perCpu), 2, '×'),
      ]
    }),
  }
  return [generators, vs]
}

function throughputTargets(t: Throughput): Target[] {
  const rps = (name: string) => (t.samples[name] ?? []).map(x => x.rps)
  const vs = (name: string) => ratios(rps('builtin'), rps(name))
  const targets: Target[] = [
    {
      name: 'builtin vs hey (req/s, one core)',
      target: `≥ ${TARGET.hey.toFixed(1)}× (same round)`,
      value: fmtStats(vs('hey'), 2, '×'),
      met: vs('hey').median >= TARGET.hey,
    },
    {
      name: 'builtin vs wrk (req/s, one core)',
      target: `≥ ${TARGET.wrk}× (same round)`,
      value: fmtStats(vs('wrk'), 2, '×'),
      met: vs('wrk').median >= TARGET.wrk,
    },
  ]
  const k6Bar = 'measured in the same round when on PATH (no ratio set)'
  if (t.k6 === undefined)
    targets.push({name: 'builtin vs k6 (req/s, one core)', target: k6Bar, value: 'k6 not on PATH', met: undefined})
  else if (rps('k6').length === 0)
    targets.push({
      name: 'builtin vs k6 (req/s, one core)',
      target: k6Bar,
      value: `k6 failed: ${t.k6.failure?.split('\n')[0] ?? 'no result'}`,
      met: undefined,
    })
  else
    targets.push({name: 'builtin vs k6 (req/s, one core)', target: k6Bar, value: fmtStats(vs('k6'), 2, '×'), met: true})
  return targets
}

/** One open-model run at a rate: its sample and its send report. */
interface RateRun {
  sample: BuiltinSample
  report: SendReport | undefined
}

function rateAccuracy(url: string, cfg: LoadConfig, log: (line: string) => void): Map<number, RateRun[]> {
  const out = new Map<number, RateRun[]>()
  for (const rate of RATES) {
    out.set(
      rate,
      Array.from({length: cfg.rateRuns}, (_, i) => {
        const x = builtin(SELF, url, 'rate', rate, cfg.rateSeconds, cfg.warmup)
        const report = (JSON.parse(x.json) as SendReport[])[0]
        log(
          `rate ${rate}/s run ${i + 1}: arrival rate ${report?.arrivalRate.toFixed(1)}/s, send lag p99 ${report?.lag.p99.toFixed(2)} ms, ${x.requests} requests recorded`,
        )
        return {sample: x, report}
      }),
    )
  }
  return out
}

const errorPct = (r: RateRun, rate: number) => (Math.abs((r.report?.arrivalRate ?? NaN) - rate) / rate) * 100

function rateTable(runs: Map<number, RateRun[]>, cfg: LoadConfig): Table {
  return {
    caption: `Open model, ${cfg.rateRuns} run(s) of ${cfg.rateSeconds} s per rate; median (min–max):`,
    headers: [
      'rate',
      'arrival rate over the sending window',
      'error',
      'send lag p50',
      'send lag p99',
      'requests recorded of scheduled',
      'failed',
      'µs CPU per request',
    ],
    rows: [...runs].map(([rate, xs]) => [
      `${rate.toLocaleString('en-US')}/s`,
      fmtStats(stats(xs.map(x => x.report?.arrivalRate ?? NaN)), 1, '/s'),
      fmtStats(stats(xs.map(x => errorPct(x, rate))), 3, ' %'),
      fmtStats(stats(xs.map(x => x.report?.lag.p50 ?? NaN)), 2, ' ms'),
      fmtStats(stats(xs.map(x => x.report?.lag.p99 ?? NaN)), 1, ' ms'),
      `${xs.map(x => x.sample.requests).join(', ')} of ${rate * cfg.rateSeconds}`,
      xs.map(x => x.sample.failed).join(', '),
      fmtStats(stats(xs.map(x => cpuPerRequest(x.sample))), 0),
    ]),
  }
}

function rateTargets(runs: Map<number, RateRun[]>): Target[] {
  return [...runs].map(([rate, xs]) => {
    const err = stats(xs.map(x => errorPct(x, rate)))
    return {
      name: `rate accuracy at ${rate.toLocaleString('en-US')}/s`,
      target: `within ${TARGET.rateErrorPct} % (every run)`,
      value: `${fmtStats(err, 3, ' %')} off`,
      met: err.n === xs.length && err.max <= TARGET.rateErrorPct,
    }
  })
}

function method(cfg: LoadConfig, t: Throughput | undefined): string[] {
  const version = (pkg: string) => peerVersion('dpkg-query', ['-W', '-f=${Version}', pkg]) ?? 'version unknown'
  const k6 =
    t?.k6 === undefined
      ? []
      : [
          `k6: \`${t.k6.version}\`, \`k6 run --no-usage-report --quiet --summary-export=… load.js\` with one \`constant-vus\` scenario of ${cfg.connections} VUs for ${cfg.seconds} s (GET, responses discarded); req/s and count from the summary's \`http_reqs\`.`,
        ]
  return [
    `Target: ${peerVersion('haproxy', ['-v'], /HAProxy version \S+/) ?? 'HAProxy'}, \`nbthread 1\`, answering \`http-request return status 200 … string ok\`, under \`taskset -c 1\`.`,
    `Generators, each under \`taskset -c 0\` and GNU \`time\` (CPU seconds): \`wrk -t1 -c${cfg.connections} -d${cfg.seconds}s URL\` (wrk ${version('wrk')}); \`hey -z ${cfg.seconds}s -c ${cfg.connections} -cpus 1 URL\` (hey ${version('hey')}); \`node --import tsx bench/load-driver.ts --child vus ${cfg.connections} ${cfg.seconds} URL ${cfg.warmup}\` (${process.version}; \`process.cpuUsage()\` over the measured run, after ${cfg.warmup} s of the same load unmeasured).`,
    ...k6,
    'Floors in the same rounds (`bench/load-floors.ts`): `undici-floor`, a bare loop of undici `Client.dispatch` that records nothing; `node-socket-floor`, a prebuilt request per status line on raw sockets, no HTTP parsing (not a usable client).',
    `${cfg.runs} round(s), each running every generator once in an order rotated per round; ratios are taken within a round.`,
    `Open model: \`--child rate <1000|5000> ${cfg.rateSeconds} URL ${cfg.warmup}\`, ${cfg.rateRuns} run(s) per rate; the arrival rate is over the sending window (first to last send, the driver's \`lastSendReport\`), send lag is actual − intended send time.`,
  ]
}

function notes(t: Throughput | undefined): string[] {
  const out = [
    "CPU per request moves much less with the machine's noise than req/s; the Node children's includes V8's compiler and GC threads on the same core.",
  ]
  if (t !== undefined && t.failures.length > 0)
    out.push(
      `Failed requests (network errors or 10 s timeouts; the target answers 200 to everything): ${t.failures.join('; ')}.`,
    )
  if (t?.k6 === undefined)
    out.push('k6 was not measured: neither `k6` on PATH nor $K6_BINARY. Install k6 and re-run to fill the "vs k6" row.')
  else if (t.k6.failure !== undefined)
    out.push(`k6 (${t.k6.binary}) was left out after it failed: ${t.k6.failure.replaceAll('\n', ' ')}`)
  return out
}

async function run(cfg: LoadConfig, log: (line: string) => void): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-load-'))
  try {
    const target = await startTarget(dir)
    try {
      log(`target ${target.url}`)
      const t = cfg.only === 'rate' ? undefined : await throughput(target.url, cfg, log)
      const rates = cfg.only === 'throughput' ? undefined : rateAccuracy(target.url, cfg, log)
      return {
        method: method(cfg, t),
        tables: [
          ...(t === undefined ? [] : throughputTables(t, cfg)),
          ...(rates === undefined ? [] : [rateTable(rates, cfg)]),
        ],
        targets: [...(t === undefined ? [] : throughputTargets(t)), ...(rates === undefined ? [] : rateTargets(rates))],
        notes: notes(t),
      }
    } finally {
      target.child.kill('SIGTERM')
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

const bench: Bench = {
  name: 'load',
  title: 'Load driver (builtin) against hey, wrk and k6',
  what: "The builtin driver's maximum requests/s on one core while recording every request, against hey, wrk and (when on PATH) k6 with the same connections on the same target in the same rounds, with CPU time per request; and how closely its open model keeps 1k/s and 5k/s.",
  run: opts => {
    const sizes = opts.smoke ? SMOKE : FULL
    return run({runs: opts.runs, rateRuns: opts.runs, ...sizes, compare: []}, opts.log)
  },
}
export default bench

/** Standalone: the same measurement, printed. */
async function main(): Promise<void> {
  const num = (name: string, fallback: number) => Number(flag(name) ?? fallback)
  const only = flag('only')
  if (only !== undefined && only !== 'throughput' && only !== 'rate')
    throw new Error(`--only takes throughput or rate, got ${only}`)
  const runs = num('runs', 5)
  const cfg: LoadConfig = {
    runs,
    seconds: num('duration', FULL.seconds),
    connections: num('connections', FULL.connections),
    warmup: num('warmup', FULL.warmup),
    rateRuns: num('rate-runs', runs),
    rateSeconds: num('rate-duration', FULL.rateSeconds),
    compare: (flag('compare') ?? '').split(',').filter(d => d !== ''),
    ...(only === undefined ? {} : {only}),
  }
  const result = await run(cfg, line => console.log(line))
  console.log(`\n${resultMarkdown(result)}`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv[2] === '--child') await child()
  else await main()
}
