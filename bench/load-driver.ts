/**
 * The builtin load driver against the peers on one core: maximum requests/s with every request
 * recorded in the histograms (closed model, one connection per VU) next to `hey` and `wrk` with the
 * same connection count on the same target, and how well the open model keeps 1k/s and 5k/s
 * (arrival rate over the sending window, send lag). The target is HAProxy answering `200 ok` itself
 * (`http-request return`), pinned to CPU 1; every generator is pinned to CPU 0 (`taskset`; hey
 * also with `-cpus 1`, wrk with `-t1`). Bounded: fixed durations, every child stopped at the end.
 *
 *   npx tsx bench/load-driver.ts [--runs 5] [--duration 5] [--connections 64] [--rate-runs 3]
 *                               [--rate-duration 10] [--warmup 1] [--only throughput|rate] [--compare <dir>[,<dir>…]]
 *
 * The Node children first run `--warmup` seconds of the same load, unmeasured (JIT and llhttp's
 * WebAssembly compile on this core while the first requests run; hey and wrk are compiled ahead).
 * Each round runs every generator once, in an order rotated per round, so machine noise hits all
 * of them; the ratios are taken within a round and their median is reported. CPU time (user+sys)
 * per request is reported beside req/s: it depends much less than req/s on how much of the core a
 * busy machine left us (though it includes V8's compiler and GC threads). Two floors run beside
 * them: `undici-floor`, a bare loop of undici `Client.dispatch` calls that records nothing and
 * allocates nothing of its own per request (what any undici-based driver can reach here), and
 * `node-socket-floor`, one prebuilt request written per response seen on raw sockets with no HTTP
 * parsing at all (what Node's socket layer alone can reach; not a usable client). `--compare` also
 * runs the builtin driver of other checkouts of this repository (e.g. `git archive` of an older
 * commit with `node_modules` linked in) as `builtin@<dir name>`.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import net from 'node:net'
import {cpus, tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Client, type Dispatcher} from 'undici'

import {BuiltinDriver} from '../src/load/builtin.js'
import {Recorder} from '../src/load/recorder.js'
import {freePort, waitListening} from './loopback.js'

const SELF = fileURLToPath(import.meta.url)

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}
const stringArg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}

/** One generator run: requests/s over the run, and CPU seconds (user+sys) it used. */
interface Sample {
  rps: number
  cpuS: number
  requests: number
}

/** HAProxy answering every request itself, one thread on CPU 1. */
async function startTarget(dir: string): Promise<{child: ChildProcess; url: string}> {
  const port = await freePort()
  const cfg = join(dir, 'target.cfg')
  writeFileSync(cfg, ['global', '  nbthread 1', '  maxconn 8000', 'defaults', '  mode http', '  timeout client 30s', '  timeout connect 5s', '  timeout server 30s',
    'frontend fe', `  bind 127.0.0.1:${port}`, '  http-request return status 200 content-type text/plain string ok', ''].join('\n'))
  const child = spawn('taskset', ['-c', '1', '/usr/sbin/haproxy', '-db', '-f', cfg], {stdio: ['ignore', 'ignore', 'inherit']})
  await waitListening(port)
  return {child, url: `http://127.0.0.1:${port}/`}
}

/** Runs a peer on CPU 0 under GNU time, for its CPU seconds. */
function peer(command: string[], s: number): Sample {
  const r = spawnSync('/usr/bin/time', ['-f', 'CPUTIME %U %S', 'taskset', '-c', '0', ...command], {encoding: 'utf8', timeout: (s + 30) * 1000})
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0)
  const cpu = /CPUTIME ([\d.]+) ([\d.]+)/.exec(r.stderr)
  return {rps, cpuS: cpu === null ? NaN : Number(cpu[1]) + Number(cpu[2]), requests: rps * s}
}

const wrk = (url: string, c: number, s: number) => peer(['wrk', '-t1', `-c${c}`, `-d${s}s`, url], s)
const hey = (url: string, c: number, s: number) => peer(['hey', '-z', `${s}s`, '-c', String(c), '-cpus', '1', url], s)

/** A builtin driver (this checkout's or another's) in a child pinned to CPU 0. */
function builtin(script: string, url: string, mode: string, value: number, s: number): Sample & {json: string} {
  const warmup = arg('warmup', 1)
  const r = spawnSync('taskset', ['-c', '0', process.execPath, '--import', 'tsx', script, '--child', mode, String(value), String(s), url, String(warmup)], {encoding: 'utf8', timeout: (s + warmup + 60) * 1000, cwd: join(script, '..', '..')})
  const m = /RESULT (\S+) (\S+) (\S+)(?: (\S+))?(?: (.*))?/.exec(r.stdout)
  if (m === null) throw new Error(`builtin child failed: ${r.stderr}`)
  return {rps: Number(m[1]), requests: Number(m[2]), cpuS: Number(m[4] ?? NaN), json: m[5] ?? '{}'}
}

/** A VU of the undici floor: its own Client, one handler object reused for every request it sends. */
class FloorVu {
  completed = 0
  private readonly client: Client
  private readonly end: number

  constructor(origin: string, end: number, private readonly request: Dispatcher.DispatchOptions, private readonly done: () => void) {
    this.client = new Client(origin)
    this.end = end
  }

  send(): void {
    if (performance.now() >= this.end) return this.done()
    this.client.dispatch(this.request, this)
  }

  onConnect(): void {}
  onHeaders(): boolean {
    return true
  }
  onData(): boolean {
    return true
  }
  onComplete(): void {
    this.completed++
    this.send()
  }
  onError(): void {
    setImmediate(() => this.send())
  }

  close(): Promise<void> {
    return this.client.destroy()
  }
}

/** undici with nothing on top: one Client per connection, each sending again when a response ends. */
async function undiciFloor(url: string, connections: number, durationMs: number): Promise<number> {
  const origin = new URL(url).origin
  const end = performance.now() + durationMs
  const request: Dispatcher.DispatchOptions = {origin, path: '/', method: 'GET'}
  let vus: FloorVu[] = []
  await new Promise<void>(resolve => {
    let looping = connections
    const done = () => void (--looping === 0 && resolve())
    vus = Array.from({length: connections}, () => new FloorVu(origin, end, request, done))
    for (const vu of vus) vu.send()
  })
  await Promise.all(vus.map(vu => vu.close()))
  return vus.reduce((n, vu) => n + vu.completed, 0)
}

/** Node's socket layer with no HTTP at all: a prebuilt request written for every status line read. */
async function socketFloor(url: string, connections: number, durationMs: number): Promise<number> {
  const {hostname, port, host} = new URL(url)
  const request = Buffer.from(`GET / HTTP/1.1\r\nhost: ${host}\r\n\r\n`)
  const end = performance.now() + durationMs
  let completed = 0
  await new Promise<void>(resolve => {
    let open = connections
    for (let i = 0; i < connections; i++) {
      const socket = net.connect(Number(port), hostname, () => socket.write(request)).setNoDelay(true)
      socket.on('data', chunk => {
        for (let at = chunk.indexOf('HTTP/1.1 '); at >= 0; at = chunk.indexOf('HTTP/1.1 ', at + 1)) completed++
        if (performance.now() < end) socket.write(request)
        else socket.destroy()
      })
      socket.on('close', () => --open === 0 && resolve())
    }
  })
  return completed
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
    return void process.stdout.write(`RESULT ${(n / ((performance.now() - started) / 1000)).toFixed(1)} ${n} 0 ${((cpu.user + cpu.system) / 1e6).toFixed(3)}\n`)
  }
  const durationMs = Number(seconds) * 1000
  const traffic = mode === 'vus' ? {name: 'load', vus: Number(value), headers: {}} : {name: 'load', ratePerSecond: Number(value), headers: {}}
  const signals = {stop: new AbortController().signal, abort: new AbortController().signal}
  if (warmupMs > 0) await new BuiltinDriver().run({url: url as string, method: 'GET', durationMs: warmupMs, requestTimeoutMs: 10_000, traffic: [traffic]}, new Recorder(['load']), signals)
  const recorder = new Recorder(['load'])
  const driver = new BuiltinDriver()
  const cpu0 = process.cpuUsage()
  const started = performance.now()
  await driver.run({url: url as string, method: 'GET', durationMs, requestTimeoutMs: 10_000, traffic: [traffic]}, recorder, signals)
  const elapsed = (performance.now() - started) / 1000
  const cpu = process.cpuUsage(cpu0)
  const w = recorder.summarise('load', 0, durationMs + 60_000)
  // Every request is in the histograms: the count they hold is the count reported.
  process.stdout.write(`RESULT ${(w.duration.count / elapsed).toFixed(1)} ${w.requests} ${w.dropped} ${((cpu.user + cpu.system) / 1e6).toFixed(3)} ${JSON.stringify(driver.lastSendReport)}\n`)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
const range = (xs: number[], digits = 0) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`

async function throughput(url: string, compare: string[]): Promise<void> {
  const runs = arg('runs', 5)
  const s = arg('duration', 5)
  const c = arg('connections', 64)
  const generators: Record<string, () => Sample> = {
    builtin: () => builtin(SELF, url, 'vus', c, s),
    ...Object.fromEntries(compare.map(d => [`builtin@${basename(d)}`, () => builtin(join(d, 'bench', 'load-driver.ts'), url, 'vus', c, s)])),
    hey: () => hey(url, c, s),
    wrk: () => wrk(url, c, s),
    'undici-floor': () => builtin(SELF, url, 'undici-floor', c, s),
    'node-socket-floor': () => builtin(SELF, url, 'socket-floor', c, s),
  }
  const names = Object.keys(generators)
  const samples: Record<string, Sample[]> = Object.fromEntries(names.map(n => [n, []]))
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length] as string
      const sample = (generators[name] as () => Sample)()
      samples[name]?.push(sample)
      console.log(`  round ${i + 1} ${name.padEnd(16)} ${sample.rps.toFixed(0).padStart(6)} req/s  ${(sample.cpuS * 1e6 / sample.requests).toFixed(1)} µs CPU/req`)
    }
  }
  console.log(`\nmax throughput, ${c} connections, ${s}s, ${runs} rounds, generator pinned to CPU 0:`)
  console.log('  generator         median req/s  (min–max)        µs CPU/request (min–max)')
  for (const name of names) {
    const xs = samples[name] ?? []
    const cpu = xs.map(x => x.cpuS * 1e6 / x.requests)
    console.log(`  ${name.padEnd(16)}  ${median(xs.map(x => x.rps)).toFixed(0).padStart(6)}  (${range(xs.map(x => x.rps))})  ${median(cpu).toFixed(1).padStart(6)} (${range(cpu, 1)})`)
  }
  const ours = samples['builtin'] ?? []
  for (const peerName of ['hey', 'wrk', 'undici-floor', 'node-socket-floor', ...compare.map(d => `builtin@${basename(d)}`)]) {
    const theirs = samples[peerName] ?? []
    const ratios = ours.map((x, i) => x.rps / (theirs[i]?.rps ?? NaN))
    const cpuRatios = ours.map((x, i) => (theirs[i] === undefined ? NaN : (theirs[i].cpuS / theirs[i].requests) / (x.cpuS / x.requests)))
    console.log(`  builtin / ${peerName}: req/s ratio per round median ${median(ratios).toFixed(2)} (${range(ratios, 2)}); requests per CPU-second ratio median ${median(cpuRatios).toFixed(2)} (${range(cpuRatios, 2)})`)
  }
}

async function rateAccuracy(url: string): Promise<void> {
  const runs = arg('rate-runs', 3)
  const s = arg('rate-duration', 10)
  console.log(`\nrate accuracy, open model, ${s}s each, ${runs} runs:`)
  for (const rate of [1000, 5000]) {
    const xs = Array.from({length: runs}, () => builtin(SELF, url, 'rate', rate, s))
    const reports = xs.map(x => (JSON.parse(x.json) as {arrivalRate: number; sent: number; lag: {p50: number; p99: number; max: number}}[])[0])
    const achieved = reports.map(r => r?.arrivalRate ?? NaN)
    const err = achieved.map(a => (Math.abs(a - rate) / rate) * 100)
    const recorded = xs.map(x => x.requests)
    console.log(`  ${rate}/s: arrival rate over the sending window median ${median(achieved).toFixed(1)}/s (error median ${median(err).toFixed(3)}%, max ${Math.max(...err).toFixed(3)}%); ` +
      `send lag p50 ${median(reports.map(r => r?.lag.p50 ?? NaN)).toFixed(2)} ms, p99 ${median(reports.map(r => r?.lag.p99 ?? NaN)).toFixed(2)} ms (max of runs ${Math.max(...reports.map(r => r?.lag.max ?? NaN)).toFixed(2)} ms); ` +
      `requests recorded ${recorded.join(', ')} of ${rate * s} scheduled; µs CPU/request ${median(xs.map(x => x.cpuS * 1e6 / x.requests)).toFixed(1)}`)
  }
}

async function main(): Promise<void> {
  const only = stringArg('only')
  const compare = (stringArg('compare') ?? '').split(',').filter(d => d !== '')
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-load-'))
  const target = await startTarget(dir)
  try {
    console.log(`machine: ${cpus().length} CPUs, ${cpus()[0]?.model.trim()}, node ${process.version}; target ${target.url}`)
    if (only !== 'rate') await throughput(target.url, compare)
    if (only !== 'throughput') await rateAccuracy(target.url)
  } finally {
    target.child.kill('SIGTERM')
    rmSync(dir, {recursive: true, force: true})
  }
}

if (process.argv[2] === '--child') await child()
else await main()
