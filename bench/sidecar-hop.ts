/**
 * The sandbox sidecar hop on loopback: added latency (p50/p99) of one request through one sidecar vs
 * a direct call to the same upstream, and requests/s through one sidecar vs HAProxy (`mode http`,
 * `nbthread 1`), with wrk as the load generator. The proxy under test is pinned to CPU 0; the
 * upstream and the load generator share CPU 1. Bounded: every run has a fixed count or duration.
 *
 *   npx tsx bench/sidecar-hop.ts [--runs 5] [--duration 5] [--samples 5000] [--connections 32] [--compare <dir>[,<dir>…]]
 *
 * `--compare` also runs the sidecar of other checkouts of this repository (e.g. `git archive` of an
 * older commit, with `node_modules` linked in) as `sidecar@<dir name>`, so a change is measured
 * against its baseline in the same run rather than across runs.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import {cpus, tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {fileURLToPath} from 'node:url'


import {Pool} from 'undici'

import {Mesh} from '../src/sandbox/mesh/index.js'
import type {ConfigSource, Pod, Service, Topology} from '../src/sandbox/types.js'
import {freePort, waitListening} from './loopback.js'

const SELF = fileURLToPath(import.meta.url)
const HOST = 'upstream:9080'

function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}

function ready(port: number): void {
  process.stdout.write(`READY ${port}\n`)
}

/** Child roles: each prints `READY <port>` and serves until killed. */
async function serveRole(role: string, upstreamPort: number): Promise<void> {
  if (role === 'upstream') {
    const server = http.createServer((req, res) => {
      req.resume()
      res.writeHead(200, {'content-type': 'text/plain', 'content-length': '2'})
      res.end('ok')
    })
    server.keepAliveTimeout = 60_000
    server.listen(0, '127.0.0.1', () => ready((server.address() as net.AddressInfo).port))
    return
  }
  if (role === 'sidecar') {
    const service: Service = {name: 'upstream', namespace: 'default', port: 9080, selector: {app: 'upstream'}}
    const pod = (name: string, app: string, appPort: number): Pod => ({name, namespace: 'default', labels: {app, version: 'v1'}, serviceAccount: 'default', containers: [app, 'istio-proxy'], appPort})
    const upstream = pod('upstream-v1-5d9b6f7c8d-aaaaa', 'upstream', upstreamPort)
    const client = pod('client-v1-5d9b6f7c8d-bbbbb', 'client', 1)
    const topology: Topology = {services: () => [service], pods: () => [upstream, client], endpoints: () => [upstream]}
    const config: ConfigSource = {virtualServices: () => [], destinationRules: () => [], subscribe: () => () => undefined}
    const mesh = new Mesh({config, topology})
    await mesh.addSidecar(upstream)
    ready((await mesh.addSidecar(client)).outboundPort)
    return
  }
  // Naive reverse proxies, to compare upstream clients: node's http.Agent vs undici's Pool.
  const agent = new http.Agent({keepAlive: true, maxSockets: Infinity})
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, {connections: 256, pipelining: 1})
  const server = http.createServer((req, res) => {
    if (role === 'naive-agent') {
      const up = http.request({host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers, agent}, r => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      })
      req.pipe(up)
      return
    }
    req.resume()
    pool.request({path: req.url ?? '/', method: 'GET', headers: {host: req.headers.host ?? ''}}).then(r => {
      res.writeHead(r.statusCode, r.headers as http.OutgoingHttpHeaders)
      r.body.pipe(res)
    }, () => res.destroy())
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => ready((server.address() as net.AddressInfo).port))
}

/** Starts a child pinned to a CPU and resolves with the port it reports. */
function startChild(cpu: number, command: string, args: string[]): Promise<{child: ChildProcess; port: number}> {
  const child = spawn('taskset', ['-c', String(cpu), command, ...args], {stdio: ['ignore', 'pipe', 'inherit']})
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start within 20 s`)), 20_000)
    let out = ''
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /READY (\d+)/.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({child, port: Number(m[1])})
      }
    })
    child.on('exit', code => reject(new Error(`${args.join(' ')} exited with ${code}`)))
  })
}

function nodeRole(cpu: number, role: string, upstreamPort = 0, script = SELF): Promise<{child: ChildProcess; port: number}> {
  return startChild(cpu, process.execPath, ['--import', 'tsx', script, '--role', role, String(upstreamPort)])
}

/** HAProxy in `mode http` with one thread, keep-alive to the upstream. */
async function startHaproxy(dir: string, upstreamPort: number): Promise<{child: ChildProcess; port: number}> {
  const port = await freePort()
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(cfg, [
    'global', '  nbthread 1', '  maxconn 4096', 'defaults', '  mode http', '  option http-keep-alive', '  http-reuse always',
    '  timeout connect 5s', '  timeout client 30s', '  timeout server 30s',
    `frontend fe`, `  bind 127.0.0.1:${port}`, '  default_backend be',
    'backend be', `  server up 127.0.0.1:${upstreamPort}`, '',
  ].join('\n'))
  const child = spawn('taskset', ['-c', '0', '/usr/sbin/haproxy', '-db', '-f', cfg], {stdio: ['ignore', 'ignore', 'inherit']})
  await waitListening(port)
  return {child, port}
}

/** Sequential keep-alive requests on one raw socket; returns per-request latencies in ms. */
async function sequentialLatency(port: number, samples: number): Promise<number[]> {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>(resolve => socket.once('connect', () => resolve()))
  const request = `GET /r HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`
  const out: number[] = []
  let buffer = ''
  let pending: (() => void) | undefined
  socket.on('data', (c: Buffer) => {
    buffer += c.toString('latin1')
    const end = buffer.indexOf('\r\n\r\n')
    if (end < 0) return
    const m = /content-length: (\d+)/i.exec(buffer.slice(0, end))
    const need = end + 4 + Number(m?.[1] ?? 0)
    if (buffer.length < need) return
    buffer = buffer.slice(need)
    pending?.()
  })
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now()
    await new Promise<void>(resolve => {
      pending = resolve
      socket.write(request)
    })
    out.push(performance.now() - t0)
  }
  socket.destroy()
  return out
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2
}

/** One wrk run against a port; returns requests/s. */
function wrk(port: number, seconds: number, connections: number): number {
  const r = spawnSync('taskset', ['-c', '1', 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '-H', `Host: ${HOST}`, `http://127.0.0.1:${port}/r`], {encoding: 'utf8', timeout: (seconds + 30) * 1000})
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)
  if (m === null) throw new Error(`wrk failed: ${r.stdout}${r.stderr}`)
  if (/Non-2xx/.test(r.stdout)) throw new Error(`non-2xx responses through port ${port}:\n${r.stdout}`)
  return Number(m[1])
}

async function main(): Promise<void> {
  const runs = arg('runs', 5)
  const seconds = arg('duration', 5)
  const samples = arg('samples', 5000)
  const connections = arg('connections', 32)
  const compare = (stringArg('compare') ?? '').split(',').filter(d => d !== '')
  const proxies = ['sidecar', ...compare.map(d => `sidecar@${basename(d)}`), 'haproxy', 'naive-agent', 'naive-undici']
  const dir = mkdtempSync(join(tmpdir(), 'sidecar-hop-'))
  const children: ChildProcess[] = []
  try {
    const upstream = await nodeRole(1, 'upstream')
    children.push(upstream.child)
    const targets: Record<string, number> = {direct: upstream.port}
    for (const role of ['sidecar', 'naive-agent', 'naive-undici']) {
      const c = await nodeRole(0, role, upstream.port)
      children.push(c.child)
      targets[role] = c.port
    }
    for (const dir of compare) {
      const c = await nodeRole(0, 'sidecar', upstream.port, join(dir, 'bench', 'sidecar-hop.ts'))
      children.push(c.child)
      targets[`sidecar@${basename(dir)}`] = c.port
    }
    const haproxy = await startHaproxy(dir, upstream.port)
    children.push(haproxy.child)
    targets['haproxy'] = haproxy.port

    console.log(`machine: ${cpus().length} CPUs, ${cpus()[0]?.model ?? 'unknown'}, node ${process.version}`)
    console.log(`\nsequential latency, ${samples} requests each after ${samples / 5} warm-up (ms):`)
    const p50: Record<string, number> = {}
    for (const [name, port] of Object.entries(targets)) {
      await sequentialLatency(port, samples / 5)
      const lat = (await sequentialLatency(port, samples)).sort((a, b) => a - b)
      p50[name] = quantile(lat, 0.5)
      console.log(`  ${name.padEnd(20)} p50 ${quantile(lat, 0.5).toFixed(3)}  p99 ${quantile(lat, 0.99).toFixed(3)}`)
    }
    for (const name of proxies) console.log(`  added p50 by ${name}: ${((p50[name] ?? 0) - (p50['direct'] ?? 0)).toFixed(3)} ms`)

    console.log(`\nthroughput: wrk -t1 -c${connections} -d${seconds}s, ${runs} runs each, proxy pinned to CPU 0 (req/s):`)
    const rps: Record<string, number[]> = {}
    for (let i = 0; i < runs; i++) {
      for (const name of proxies) (rps[name] ??= []).push(wrk(targets[name] as number, seconds, connections))
    }
    for (const [name, xs] of Object.entries(rps)) {
      console.log(`  ${name.padEnd(20)} median ${median(xs).toFixed(0)}  min ${Math.min(...xs).toFixed(0)}  max ${Math.max(...xs).toFixed(0)}`)
    }
    for (const name of proxies.filter(n => n.startsWith('sidecar'))) {
      console.log(`  ${name} / haproxy = ${(median(rps[name] ?? []) / median(rps['haproxy'] ?? [])).toFixed(2)}`)
    }
  } finally {
    for (const c of children) c.kill('SIGTERM')
    rmSync(dir, {recursive: true, force: true})
  }
}

const roleAt = process.argv.indexOf('--role')
// Exit cleanly on SIGINT/SIGTERM so `node --cpu-prof` can write its profile.
if (roleAt >= 0) for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))
if (roleAt >= 0) void serveRole(process.argv[roleAt + 1] as string, Number(process.argv[roleAt + 2]))
else await main()
