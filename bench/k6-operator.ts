/**
 * The k6-operator driver's two promises, measured: 1, 2 and 4 runners started with the operator's
 * command line (src/load/k6-operator-plan.ts runnerCommand: execution segments, --paused, tags)
 * and un-paused together as its starter does, writing to a real Prometheus by remote write, send
 * the target rate in aggregate (within 2 %); and the p99 PromQL computes from their native
 * histograms matches the builtin driver's HDR p99 on the same target (within 10 %). Runners are
 * K6_BINARY (a real k6) or the fake k6 of test/fixtures/k6; without Prometheus the bench says so.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer, request, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {BuiltinDriver} from '../src/load/builtin.js'
import type {LoadPlan} from '../src/load/driver.js'
import {remoteWriteEnv, RUNNER_ARGUMENTS, runnerCommand} from '../src/load/k6-operator-plan.js'
import {DURATION, instantValue, REQS, selector} from '../src/load/k6-operator-promql.js'
import {k6Script} from '../src/load/k6-script.js'
import {Recorder} from '../src/load/recorder.js'
import {findPrometheus} from '@faultline/sandbox/prometheus.js'
import {type Bench, type BenchOptions, type BenchResult, peerVersion} from './harness.js'

const FAKE_K6 = fileURLToPath(new URL('../test/fixtures/k6/k6', import.meta.url))

/** A target whose latency cycles through 20–70 ms, so any two runs see the same distribution. */
async function target(): Promise<{url: string; server: Server}> {
  let n = 0
  const server = createServer((_req, res) => {
    const ms = 20 + (n++ % 101) * 0.5
    setTimeout(() => res.writeHead(200, {'Content-Type': 'text/plain'}).end('ok'), ms)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server}
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const {port} = s.address() as AddressInfo
  await new Promise(resolve => s.close(resolve))
  return port
}

async function startPrometheus(binary: string, dir: string): Promise<{url: string; child: ChildProcess}> {
  const port = await freePort()
  await writeFile(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 15s\n')
  const child = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-remote-write-receiver',
      '--enable-feature=native-histograms',
      '--log.level=warn',
    ],
    {stdio: 'ignore'},
  )
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>(resolve =>
      request(`${url}/-/ready`, res => resolve(res.statusCode === 200))
        .on('error', () => resolve(false))
        .end(),
    )
    if (ok) return {url, child}
    await new Promise(r => setTimeout(r, 100))
  }
  child.kill('SIGKILL')
  throw new Error('Prometheus did not become ready')
}

function patch(port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) =>
    request(
      {host: '127.0.0.1', port, path: '/v1/status', method: 'PATCH', headers: {'Content-Type': 'application/json'}},
      res => {
        res.resume().on('end', () => resolve())
      },
    )
      .on('error', reject)
      .end(body),
  )
}

/** Runs `n` runners of the plan as the operator would, un-paused together; resolves when all exited. */
async function runRunners(
  k6: string,
  plan: LoadPlan,
  n: number,
  testRun: string,
  prometheus: string,
  dir: string,
): Promise<void> {
  const script = join(dir, `${testRun}.js`)
  await writeFile(script, k6Script(plan, n).source)
  const env: NodeJS.ProcessEnv = {...process.env, FAKE_K6_HTTP: '1', K6_NO_USAGE_REPORT: 'true'}
  for (const v of remoteWriteEnv(`${prometheus}/api/v1/write`)) env[v.name] = v.value
  for (const name of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy']) delete env[name]
  const ports: number[] = []
  const exits: Promise<unknown>[] = []
  for (let i = 1; i <= n; i++) {
    const port = await freePort()
    ports.push(port)
    const argv = runnerCommand({testRun, index: i, parallelism: n, arguments: RUNNER_ARGUMENTS, script, scuttle: false})
      .slice(1)
      .map(a => (a === '--address=0.0.0.0:6565' ? `--address=127.0.0.1:${port}` : a))
    const child = spawn(k6, argv, {env, stdio: 'ignore'})
    exits.push(new Promise(resolve => child.once('exit', resolve)))
  }
  // Every runner answers its REST API, then the starter's PATCHes, back to back.
  for (const port of ports) {
    for (let i = 0; i < 100; i++) {
      const up = await new Promise<boolean>(resolve =>
        request({host: '127.0.0.1', port, path: '/v1/status'}, res => resolve(res.resume() !== undefined))
          .on('error', () => resolve(false))
          .end(),
      )
      if (up) break
      await new Promise(r => setTimeout(r, 100))
    }
  }
  await Promise.all(
    ports.map(port =>
      patch(port, JSON.stringify({data: {attributes: {paused: false}, id: 'default', type: 'status'}})),
    ),
  )
  await Promise.all(exits)
}

const bench: Bench = {
  name: 'k6-operator',
  title: 'k6-operator driver: aggregate rate across runners, PromQL p99 against the builtin driver',
  what: "1, 2 and 4 runners started with the operator's command line and un-paused together send the target rate in aggregate (counted from the remote-written k6_http_reqs_total); the p99 histogram_quantile computes from their native histograms matches the builtin driver's HDR p99 on the same 20–70 ms target.",
  async run(opts: BenchOptions): Promise<BenchResult> {
    const binary = findPrometheus()
    const k6 = process.env.K6_BINARY !== undefined && process.env.K6_BINARY !== '' ? process.env.K6_BINARY : FAKE_K6
    const rate = opts.smoke ? 20 : 120
    const seconds = opts.smoke ? 5 : 30
    const method = [
      `npm run bench -- --only k6-operator${opts.smoke ? ' --smoke' : ''}`,
      `target ${rate}/s for ${seconds} s, runners: ${k6 === FAKE_K6 ? 'the fake k6 (test/fixtures/k6)' : `the k6 of $K6_BINARY (${peerVersion(k6, ['version'], /k6 v\S+/) ?? 'version unknown'})`}`,
    ]
    if (binary === undefined)
      return {
        method,
        tables: [],
        targets: [
          {name: 'aggregate rate', target: 'within 2 %', value: 'not measured: no prometheus on PATH', met: undefined},
        ],
        notes: ["Prometheus is needed: the runners' metrics come back only through it."],
      }
    const dir = await mkdtemp(join(tmpdir(), 'faultline-bench-k6op-'))
    const t = await target()
    const prom = await startPrometheus(binary, dir)
    try {
      const plan: LoadPlan = {
        url: t.url,
        method: 'GET',
        durationMs: seconds * 1000,
        requestTimeoutMs: 10_000,
        traffic: [{name: 'load', ratePerSecond: rate, headers: {}}],
      }
      const rows: string[][] = []
      const targets = []
      let promP99: number | undefined
      for (const n of [1, 2, 4]) {
        const testRun = `bench-${n}-${Date.now()}`
        opts.log(`${n} runner(s)…`)
        await runRunners(k6, plan, n, testRun, prom.url, dir)
        await new Promise(r => setTimeout(r, 2500)) // the last push lands
        const total = await instantValue(prom.url, `sum(${REQS}${selector(testRun)})`, new Date())
        // The runners' last write (within the default 5 min lookback) holds the whole run's histogram.
        const p99 = await instantValue(
          prom.url,
          `histogram_quantile(0.99, sum(${DURATION}${selector(testRun)})) * 1000`,
          new Date(),
        )
        const achieved = (total ?? 0) / seconds
        const error = Math.abs(achieved - rate) / rate
        rows.push([
          String(n),
          `${rate}/s`,
          `${achieved.toFixed(2)}/s`,
          `${(error * 100).toFixed(2)} %`,
          p99 === undefined ? '-' : `${p99.toFixed(1)} ms`,
        ])
        targets.push({
          name: `aggregate rate, ${n} runner${n === 1 ? '' : 's'}`,
          target: 'within 2 % of the target rate',
          value: `${achieved.toFixed(2)}/s of ${rate}/s (${(error * 100).toFixed(2)} %)`,
          met: error <= 0.02,
        })
        if (n === 1) promP99 = p99
      }
      opts.log('builtin driver on the same target…')
      const recorder = new Recorder(['load'])
      const stop = new AbortController()
      const abort = new AbortController()
      const timer = setTimeout(() => stop.abort(), seconds * 1000)
      await new BuiltinDriver().run({...plan, durationMs: seconds * 1000}, recorder, {
        stop: stop.signal,
        abort: abort.signal,
      })
      clearTimeout(timer)
      recorder.flush(Number.MAX_SAFE_INTEGER, true)
      // Its first second opens connections (the runners' k6 had theirs warm by then too): left out.
      const builtinP99 = recorder.summarise('load', 1000, seconds * 1000).duration.p(99)
      const diff = promP99 === undefined ? undefined : Math.abs(promP99 - builtinP99) / builtinP99
      targets.push({
        name: "PromQL p99 against the builtin driver's",
        target: 'within 10 %',
        value:
          promP99 === undefined
            ? 'no PromQL p99'
            : `${promP99.toFixed(1)} ms vs ${builtinP99.toFixed(1)} ms (${((diff ?? 0) * 100).toFixed(1)} %)`,
        met: diff === undefined ? false : diff <= 0.1,
      })
      return {
        method,
        tables: [
          {
            caption: 'Runners against the target rate',
            headers: ['runners', 'target', 'achieved (k6_http_reqs_total)', 'error', 'PromQL p99'],
            rows,
          },
        ],
        targets,
        notes: [
          'The rate is counted from what the runners wrote (their cumulative k6_http_reqs_total), so it includes every request each execution segment sent; the p99 is histogram_quantile over the native histogram (schema 5 in the fake k6: buckets ~2.2 % wide).',
        ],
      }
    } finally {
      prom.child.kill('SIGTERM')
      t.server.close()
      await new Promise(r => setTimeout(r, 300))
      await rm(dir, {recursive: true, force: true})
    }
  },
}

export default bench
