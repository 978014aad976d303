/**
 * The sandbox sidecar hop on loopback: added latency (p50/p99) of one request through one sidecar vs
 * a direct call to the same upstream, and requests/s through one sidecar vs HAProxy (`mode http`,
 * `nbthread 1`), with wrk as the load generator, plus the proxy's CPU time per request (from
 * /proc). The proxy under test is pinned to CPU 0; the upstream and the load generator share CPU 1.
 * Each round measures every path's latency and every proxy's throughput, in an order rotated per
 * round; ratios and the added latency are taken within a round. Bounded: every run has a fixed
 * count or duration, every child is stopped at the end.
 *
 * `bench/run.ts` runs it as the `sidecar` bench; on its own:
 *
 *   npx tsx bench/sidecar-hop.ts [--runs 5] [--duration 5] [--warmup 2] [--samples 5000] [--connections 32]
 *                                [--compare <dir>[,<dir>…]]
 *
 * `--compare` also runs the sidecar of other checkouts of this repository (e.g. `git archive` of an
 * older commit, with `node_modules` linked in) as `sidecar@<dir name>`, so a change is measured
 * against its baseline in the same run rather than across runs. Children are this file run again
 * with `--role <upstream|sidecar|naive-agent|naive-undici> <upstream port>`.
 */
import {type ChildProcess, spawn, spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {Pool} from 'undici'

import {Mesh} from '@faultline/sandbox/mesh/index.js'
import type {ConfigSource, Pod, Service, Topology} from '@faultline/sandbox/types.js'
import {
  type Bench,
  type BenchResult,
  cpuSeconds,
  flag,
  fmtStats,
  peerVersion,
  quantile,
  ratios,
  resultMarkdown,
  stats,
  type Target,
} from './harness.js'
import {freePort, waitListening} from './loopback.js'

const SELF = fileURLToPath(import.meta.url)
const HOST = 'upstream:9080'
const TARGET = {ratio: 0.5, addedP50Ms: 0.15}

/** What one invocation measures. */
interface HopConfig {
  runs: number
  /** Seconds of each wrk run. */
  seconds: number
  /** Seconds of unmeasured wrk load per proxy before the first round. */
  warmup: number
  /** Sequential requests per path and round (after a fifth as many to warm up, once). */
  samples: number
  connections: number
  /** Other checkouts whose sidecar runs beside this one's. */
  compare: string[]
}

/** Full run: 5 rounds take ~2.5 min; smoke: ~15 s. */
const FULL = {seconds: 5, warmup: 2, samples: 5000, connections: 32}
const SMOKE = {seconds: 1, warmup: 1, samples: 500, connections: 32}

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
    const pod = (name: string, app: string, appPort: number): Pod => ({
      name,
      namespace: 'default',
      labels: {app, version: 'v1'},
      serviceAccount: 'default',
      containers: [app, 'istio-proxy'],
      appPort,
    })
    const upstream = pod('upstream-v1-5d9b6f7c8d-aaaaa', 'upstream', upstreamPort)
    const client = pod('client-v1-5d9b6f7c8d-bbbbb', 'client', 1)
    const topology: Topology = {services: () => [service], pods: () => [upstream, client], endpoints: () => [upstream]}
    const config: ConfigSource = {
      virtualServices: () => [],
      destinationRules: () => [],
      subscribe: () => () => undefined,
    }
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
      const up = http.request(
        {host: '127.0.0.1', port: upstreamPort, path: req.url, method: req.method, headers: req.headers, agent},
        r => {
          res.writeHead(r.statusCode ?? 502, r.headers)
          r.pipe(res)
        },
      )
      req.pipe(up)
      return
    }
    req.resume()
    pool.request({path: req.url ?? '/', method: 'GET', headers: {host: req.headers.host ?? ''}}).then(
      r => {
        res.writeHead(r.statusCode, r.headers as http.OutgoingHttpHeaders)
        r.body.pipe(res)
      },
      () => res.destroy(),
    )
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => ready((server.address() as net.AddressInfo).port))
}

/** A process serving on a port (the upstream or a proxy): its pid for its CPU time. */
interface Proxy {
  pid: number
  port: number
}

/** Starts a child pinned to a CPU (kept in `children` at once, so it is stopped even if it never gets ready); resolves with the port it reports. */
function startChild(children: ChildProcess[], cpu: number, command: string, args: string[]): Promise<Proxy> {
  const child = spawn('taskset', ['-c', String(cpu), command, ...args], {stdio: ['ignore', 'pipe', 'inherit']})
  children.push(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start within 20 s`)), 20_000)
    let out = ''
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /READY (\d+)/.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({pid: child.pid as number, port: Number(m[1])})
      }
    })
    child.on('exit', code => {
      clearTimeout(timer)
      reject(new Error(`${args.join(' ')} exited with ${code}`))
    })
  })
}

function nodeRole(
  children: ChildProcess[],
  cpu: number,
  role: string,
  upstreamPort = 0,
  script = SELF,
): Promise<Proxy> {
  return startChild(children, cpu, process.execPath, [
    '--conditions=faultline-source',
    '--import',
    'tsx',
    script,
    '--role',
    role,
    String(upstreamPort),
  ])
}

/** HAProxy in `mode http` with one thread, keep-alive to the upstream. */
async function startHaproxy(children: ChildProcess[], dir: string, upstreamPort: number): Promise<Proxy> {
  const port = await freePort()
  const cfg = join(dir, 'haproxy.cfg')
  writeFileSync(
    cfg,
    [
      'global',
      '  nbthread 1',
      '  maxconn 4096',
      'defaults',
      '  mode http',
      '  option http-keep-alive',
      '  http-reuse always',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      `frontend fe`,
      `  bind 127.0.0.1:${port}`,
      '  default_backend be',
      'backend be',
      `  server up 127.0.0.1:${upstreamPort}`,
      '',
    ].join('\n'),
  )
  const child = spawn('taskset', ['-c', '0', '/usr/sbin/haproxy', '-db', '-f', cfg], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  children.push(child)
  await waitListening(port)
  return {pid: child.pid as number, port}
}

/** Sequential keep-alive requests on one raw socket; per-request latencies in ms. Throws on anything but 200 or a 10 s silence. */
async function sequentialLatency(port: number, samples: number): Promise<number[]> {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  const request = `GET /r HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`
  const out: number[] = []
  let buffer = ''
  let pending: {resolve: () => void; reject: (err: Error) => void} | undefined
  socket.on('error', err => pending?.reject(err))
  socket.on('data', (c: Buffer) => {
    buffer += c.toString('latin1')
    const end = buffer.indexOf('\r\n\r\n')
    if (end < 0) return
    const head = buffer.slice(0, end)
    const need = end + 4 + Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
    if (buffer.length < need) return
    buffer = buffer.slice(need)
    if (!head.startsWith('HTTP/1.1 200 ')) pending?.reject(new Error(`port ${port} answered ${head.split('\r\n')[0]}`))
    else pending?.resolve()
  })
  try {
    await new Promise<void>((resolve, reject) => {
      pending = {resolve, reject}
      socket.once('connect', () => resolve())
    })
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now()
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer on port ${port} within 10 s`)), 10_000)
        pending = {resolve: () => (clearTimeout(timer), resolve()), reject: err => (clearTimeout(timer), reject(err))}
        socket.write(request)
      })
      out.push(performance.now() - t0)
    }
  } finally {
    socket.destroy()
  }
  return out
}

/** One throughput run: requests/s, requests, and the proxy's CPU seconds over it. */
interface Sample {
  rps: number
  requests: number
  cpuS: number
}

/** One wrk run through a proxy, with the proxy's CPU time over it. */
function wrk(proxy: Proxy, seconds: number, connections: number): Sample {
  const cpu0 = cpuSeconds(proxy.pid)
  const r = spawnSync(
    'taskset',
    [
      '-c',
      '1',
      'wrk',
      '-t1',
      `-c${connections}`,
      `-d${seconds}s`,
      '-H',
      `Host: ${HOST}`,
      `http://127.0.0.1:${proxy.port}/r`,
    ],
    {encoding: 'utf8', timeout: (seconds + 30) * 1000},
  )
  const cpuS = cpuSeconds(proxy.pid) - cpu0
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)
  const requests = /(\d+) requests in/.exec(r.stdout)
  if (rps === null || requests === null || Number(requests[1]) === 0)
    throw new Error(`wrk through port ${proxy.port} failed: ${r.stdout}${r.stderr}${r.error?.message ?? ''}`)
  if (/Non-2xx/.test(r.stdout)) throw new Error(`non-2xx responses through port ${proxy.port}:\n${r.stdout}`)
  return {rps: Number(rps[1]), requests: Number(requests[1]), cpuS}
}

/** Each round's p50 and p99 per path, and each round's throughput sample per proxy. */
interface Measured {
  p50: Record<string, number[]>
  p99: Record<string, number[]>
  throughput: Record<string, Sample[]>
}

/** `names` rotated by `round`, so machine noise hits every one of them in turn. */
const rotated = (names: string[], round: number) => names.map((_, k) => names[(round + k) % names.length] as string)

async function measure(
  cfg: HopConfig,
  targets: Map<string, Proxy>,
  proxies: string[],
  log: (line: string) => void,
): Promise<Measured> {
  const m: Measured = {p50: {}, p99: {}, throughput: {}}
  const at = (name: string): Proxy => {
    const t = targets.get(name)
    if (t === undefined) throw new Error(`no process started for ${name}`)
    return t
  }
  // Unmeasured: the Node proxies compile their hot paths under the first few thousand requests.
  for (const {port} of targets.values()) await sequentialLatency(port, Math.ceil(cfg.samples / 5))
  for (const name of proxies) wrk(at(name), cfg.warmup, cfg.connections)
  log(`warmed up: ${Math.ceil(cfg.samples / 5)} sequential requests per path, ${cfg.warmup} s of wrk per proxy`)
  for (let i = 0; i < cfg.runs; i++) {
    for (const name of rotated([...targets.keys()], i)) {
      const lat = await sequentialLatency(at(name).port, cfg.samples)
      ;(m.p50[name] ??= []).push(quantile(lat, 0.5))
      ;(m.p99[name] ??= []).push(quantile(lat, 0.99))
    }
    for (const name of rotated(proxies, i)) {
      const s = wrk(at(name), cfg.seconds, cfg.connections)
      ;(m.throughput[name] ??= []).push(s)
      log(
        `round ${i + 1} ${name.padEnd(20)} p50 ${m.p50[name]?.at(-1)?.toFixed(3)} ms  ${s.rps.toFixed(0).padStart(6)} req/s  ${((s.cpuS * 1e6) / s.requests).toFixed(1)} µs CPU/req`,
      )
    }
  }
  return m
}

const LABELS: Record<string, string> = {
  direct: 'direct (no proxy)',
  sidecar: '**sidecar** (this checkout)',
  haproxy: 'HAProxy',
  'naive-agent': 'naive Node proxy (http.Agent)',
  'naive-undici': 'naive Node proxy (undici Pool)',
}
const label = (name: string) => LABELS[name] ?? name

function report(cfg: HopConfig, m: Measured, proxies: string[]): BenchResult {
  const direct = m.p50['direct'] ?? []
  const added = (name: string) => stats((m.p50[name] ?? []).map((x, i) => x - (direct[i] ?? NaN)))
  const latency = {
    caption: `Sequential latency, one keep-alive connection, ${cfg.samples} requests per path and round; median (min–max) of ${cfg.runs} round(s):`,
    headers: ['path', 'p50', 'p99', 'added p50 vs direct (same round)'],
    rows: ['direct', ...proxies].map(name => [
      label(name),
      fmtStats(stats(m.p50[name] ?? []), 3, ' ms'),
      fmtStats(stats(m.p99[name] ?? []), 2, ' ms'),
      name === 'direct' ? '—' : fmtStats(added(name), 3, ' ms'),
    ]),
  }
  const rps = (name: string) => (m.throughput[name] ?? []).map(s => s.rps)
  const throughput = {
    caption: `Throughput, \`wrk -t1 -c${cfg.connections} -d${cfg.seconds}s\`, proxy pinned to CPU 0; median (min–max) of ${cfg.runs} round(s):`,
    headers: ['proxy (1 core)', 'req/s', 'vs HAProxy (same round)', 'µs CPU per request (proxy)'],
    rows: proxies.map(name => [
      label(name),
      fmtStats(stats(rps(name))),
      name === 'haproxy' ? '1×' : fmtStats(ratios(rps(name), rps('haproxy')), 2, '×'),
      fmtStats(stats((m.throughput[name] ?? []).map(s => (s.cpuS * 1e6) / s.requests)), 1),
    ]),
  }
  const ratio = ratios(rps('sidecar'), rps('haproxy'))
  const addedP50 = added('sidecar')
  const targets: Target[] = [
    {
      name: 'sidecar throughput vs HAProxy',
      target: `≥ ${TARGET.ratio}× (median of same-round ratios)`,
      value: fmtStats(ratio, 2, '×'),
      met: ratio.median >= TARGET.ratio,
    },
    {
      name: 'sidecar added p50 latency',
      target: `≤ ${TARGET.addedP50Ms} ms`,
      value: fmtStats(addedP50, 3, ' ms'),
      met: addedP50.median <= TARGET.addedP50Ms,
    },
  ]
  return {method: method(cfg), tables: [latency, throughput], targets, notes: notes(cfg)}
}

function method(cfg: HopConfig): string[] {
  const haproxy = peerVersion('haproxy', ['-v'], /HAProxy version \S+/) ?? 'HAProxy (version unknown)'
  const wrkVersion = peerVersion('wrk', ['-v'], /wrk \S+/) ?? 'wrk (version unknown)'
  return [
    'Upstream: a Node HTTP server answering `200 ok` (content-length 2), pinned to CPU 1 with the load generator; every proxy under test pinned to CPU 0 (`taskset`).',
    "Sidecar: one sandbox sidecar (`packages/sandbox/src/mesh/`), default route, no VirtualService, Istio's default retry policy, full stats and Istio metrics recording.",
    `Peers: ${haproxy} (\`mode http\`, \`nbthread 1\`, keep-alive to the upstream); two naive Node reverse proxies (node \`http.Agent\`, undici \`Pool\`) showing the cost of Node's HTTP stack itself.`,
    `Latency: one raw keep-alive socket, sequential \`GET\`s, ${Math.ceil(cfg.samples / 5)} warm-up requests per path once, then ${cfg.samples} measured per path and round.`,
    `Throughput: ${wrkVersion}, \`wrk -t1 -c${cfg.connections} -d${cfg.seconds}s\` after ${cfg.warmup} s of the same load per proxy, unmeasured; the proxy's CPU seconds (user + system, all threads) from \`/proc/<pid>/stat\` around each run.`,
    `${cfg.runs} round(s), each measuring every path then every proxy in an order rotated per round; ratios and added latency are taken within a round.`,
  ]
}

function notes(cfg: HopConfig): string[] {
  return [
    "The naive Node proxies bound what any Node proxy reaches on this machine: the sidecar near them means what remains is Node's HTTP stack, not the mesh (see `docs/performance.md`).",
    ...(cfg.compare.length > 0
      ? [`\`sidecar@<dir>\`: the sidecar of another checkout (${cfg.compare.join(', ')}), run in the same rounds.`]
      : []),
  ]
}

async function run(cfg: HopConfig, log: (line: string) => void): Promise<BenchResult> {
  const compared = Object.fromEntries(
    cfg.compare.map(d => [`sidecar@${basename(d)}`, join(d, 'bench', 'sidecar-hop.ts')]),
  )
  const proxies = ['sidecar', ...Object.keys(compared), 'haproxy', 'naive-agent', 'naive-undici']
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-sidecar-'))
  const children: ChildProcess[] = []
  try {
    const upstream = await nodeRole(children, 1, 'upstream')
    const starting: Record<string, Promise<Proxy>> = {
      haproxy: startHaproxy(children, dir, upstream.port),
      ...Object.fromEntries(
        ['sidecar', 'naive-agent', 'naive-undici'].map(role => [role, nodeRole(children, 0, role, upstream.port)]),
      ),
      ...Object.fromEntries(
        Object.entries(compared).map(([name, script]) => [
          name,
          nodeRole(children, 0, 'sidecar', upstream.port, script),
        ]),
      ),
    }
    const started = await Promise.all(Object.entries(starting).map(async ([name, p]) => [name, await p] as const))
    log(`upstream and ${started.length} proxies listening`)
    return report(cfg, await measure(cfg, new Map([['direct', upstream], ...started]), proxies, log), proxies)
  } finally {
    for (const c of children) c.kill('SIGTERM')
    rmSync(dir, {recursive: true, force: true})
  }
}

const bench: Bench = {
  name: 'sidecar',
  title: 'Sandbox sidecar hop against HAProxy',
  what: "One request through one sandbox sidecar against a direct call to the same upstream (added p50/p99), and requests/s through one sidecar on one core against HAProxy with one thread, with the proxy's CPU time per request.",
  run: opts => run({runs: opts.runs, ...(opts.smoke ? SMOKE : FULL), compare: []}, opts.log),
}
export default bench

/** Standalone: the same measurement, printed. */
async function main(): Promise<void> {
  const num = (name: string, fallback: number) => Number(flag(name) ?? fallback)
  const cfg: HopConfig = {
    runs: num('runs', 5),
    seconds: num('duration', FULL.seconds),
    warmup: num('warmup', FULL.warmup),
    samples: num('samples', FULL.samples),
    connections: num('connections', FULL.connections),
    compare: (flag('compare') ?? '').split(',').filter(d => d !== ''),
  }
  const result = await run(cfg, line => console.log(line))
  console.log(`\n${resultMarkdown(result)}`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const roleAt = process.argv.indexOf('--role')
  if (roleAt >= 0) {
    // Exit cleanly on SIGINT/SIGTERM so `node --cpu-prof` can write its profile.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0))
    await serveRole(process.argv[roleAt + 1] as string, Number(process.argv[roleAt + 2]))
  } else {
    await main()
  }
}
