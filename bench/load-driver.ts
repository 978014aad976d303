/**
 * The builtin load driver against the peers on one core: maximum requests/s with every request
 * recorded in the histograms (closed model, many VUs) next to `hey` and `wrk` on the same target,
 * and open-model rate accuracy at 1k/s and 5k/s. The target is HAProxy answering `200 ok` itself
 * (`http-request return`), pinned to CPU 1 so it is never the bottleneck of one load generator
 * pinned to CPU 0. Bounded: fixed durations, every child stopped at the end.
 *
 *   npx tsx bench/load-driver.ts [--runs 5] [--duration 5] [--connections 64]
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, tmpdir} from 'node:os'
import {join} from 'node:path'


import {BuiltinDriver} from '../src/load/builtin.js'
import {Recorder} from '../src/load/recorder.js'
import {freePort, waitListening} from './loopback.js'

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
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

function wrk(url: string, c: number, s: number): number {
  const r = spawnSync('taskset', ['-c', '0', 'wrk', '-t1', `-c${c}`, `-d${s}s`, url], {encoding: 'utf8', timeout: (s + 30) * 1000})
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0)
}

function hey(url: string, c: number, s: number): number {
  const r = spawnSync('taskset', ['-c', '0', 'hey', '-z', `${s}s`, '-c', String(c), '-cpus', '1', url], {encoding: 'utf8', timeout: (s + 30) * 1000})
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0)
}

/** The builtin driver in a child pinned to CPU 0 (so it gets one core like the others). */
function builtin(url: string, mode: string, value: number, s: number): {rps: number; sent: number; dropped: number} {
  const r = spawnSync('taskset', ['-c', '0', process.execPath, '--import', 'tsx', new URL(import.meta.url).pathname, '--child', mode, String(value), String(s), url], {encoding: 'utf8', timeout: (s + 60) * 1000})
  const m = /RESULT (\S+) (\S+) (\S+)/.exec(r.stdout)
  if (m === null) throw new Error(`builtin child failed: ${r.stderr}`)
  return {rps: Number(m[1]), sent: Number(m[2]), dropped: Number(m[3])}
}

async function child(): Promise<void> {
  const [, , , mode, value, seconds, url] = process.argv
  const recorder = new Recorder(['load'])
  const durationMs = Number(seconds) * 1000
  const traffic = mode === 'vus' ? {name: 'load', vus: Number(value), headers: {}} : {name: 'load', ratePerSecond: Number(value), headers: {}}
  const started = performance.now()
  await new BuiltinDriver().run({url: url as string, method: 'GET', durationMs, requestTimeoutMs: 10_000, traffic: [traffic]}, recorder, {stop: new AbortController().signal, abort: new AbortController().signal})
  const elapsed = (performance.now() - started) / 1000
  const w = recorder.summarise('load', 0, durationMs + 60_000)
  // Every request is in the histograms: the count they hold is the count reported. Over the
  // whole wall time, so a driver that falls behind its schedule shows as a lower rate.
  process.stdout.write(`RESULT ${(w.duration.count / elapsed).toFixed(1)} ${w.requests} ${w.dropped}\n`)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

async function main(): Promise<void> {
  const runs = arg('runs', 5)
  const seconds = arg('duration', 5)
  const c = arg('connections', 64)
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-load-'))
  const target = await startTarget(dir)
  try {
    console.log(`machine: ${cpus().length} CPUs, ${cpus()[0]?.model.trim()}, node ${process.version}`)
    const results: Record<string, number[]> = {builtin: [], hey: [], wrk: []}
    for (let i = 0; i < runs; i++) {
      results['builtin']?.push(builtin(target.url, 'vus', c, seconds).rps)
      results['hey']?.push(hey(target.url, c, seconds))
      results['wrk']?.push(wrk(target.url, c, seconds))
    }
    console.log(`\nmax throughput, ${c} connections, ${seconds}s, ${runs} interleaved runs, generator pinned to CPU 0 (req/s):`)
    for (const [name, xs] of Object.entries(results)) console.log(`  ${name.padEnd(8)} median ${median(xs).toFixed(0)}  min ${Math.min(...xs).toFixed(0)}  max ${Math.max(...xs).toFixed(0)}`)
    const b = median(results['builtin'] ?? [])
    console.log(`  builtin / hey = ${(b / median(results['hey'] ?? [])).toFixed(2)}   builtin / wrk = ${(b / median(results['wrk'] ?? [])).toFixed(2)}`)
    console.log('\nrate accuracy, open model, 10s each:')
    for (const rate of [1000, 5000]) {
      const xs = Array.from({length: Math.max(3, Math.floor(runs / 2))}, () => builtin(target.url, 'rate', rate, 10))
      const achieved = xs.map(x => x.rps)
      const err = achieved.map(a => Math.abs(a - rate) / rate * 100)
      console.log(`  ${rate}/s: achieved median ${median(achieved).toFixed(1)}/s (error ${median(err).toFixed(2)}%, max ${Math.max(...err).toFixed(2)}%), dropped ${xs.reduce((n, x) => n + x.dropped, 0)}`)
    }
  } finally {
    target.child.kill('SIGTERM')
    rmSync(dir, {recursive: true, force: true})
  }
}

if (process.argv[2] === '--child') await child()
else await main()
