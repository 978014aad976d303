/**
 * Prometheus for the sandbox: one loopback metrics server exposing every sidecar's Prometheus text
 * at `/stats/prometheus/<namespace>/<pod>`, and, when a `prometheus` binary is on PATH, a Prometheus
 * scraping those paths every second with the target labels Istio's pod scraping gives
 * (`namespace`, `pod`, `app`, `version`) — so the runner's PromQL probes see `istio_requests_total`.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {accessSync, constants as fsConstants, createWriteStream} from 'node:fs'
import {mkdir, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import {type AddressInfo, createServer} from 'node:net'
import {delimiter, join} from 'node:path'

import {ClusterUnavailable} from '@faultline/core/errors.js'
import {logTail} from './state.js'
import type {Sidecar} from './types.js'

/** What the metrics server needs of a sidecar. */
export type ScrapedSidecar = Pick<Sidecar, 'pod' | 'metricsText'>

/** The loopback server exposing every sidecar's metrics. */
export interface MetricsEndpoint {
  readonly port: number
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  close(): Promise<void>
}

/** The path of a pod's metrics on the metrics server. */
export function metricsPath(pod: {namespace: string; name: string}): string {
  return `/stats/prometheus/${pod.namespace}/${pod.name}`
}

/** Serves each sidecar's `metricsText()` at its pod's path; `/` lists the paths. */
export async function startMetricsEndpoint(sidecars: readonly ScrapedSidecar[]): Promise<MetricsEndpoint> {
  const byPath = new Map(sidecars.map(s => [metricsPath(s.pod), s]))
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const sidecar = byPath.get(path)
    if (sidecar === undefined) {
      const body = [...byPath.keys()].join('\n') + '\n'
      res.writeHead(path === '/' ? 200 : 404, {'content-type': 'text/plain; charset=utf-8'}).end(body)
      return
    }
    sidecar.metricsText().then(
      text => res.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8'}).end(text),
      (err: unknown) => res.writeHead(500, {'content-type': 'text/plain'}).end(`metrics failed: ${String(err)}\n`),
    )
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/**
 * The Prometheus configuration: one job, one static target per pod, the pod's path in
 * `__metrics_path__`. Written as JSON, which Prometheus reads as the YAML subset it is.
 */
export function prometheusConfig(
  metricsPort: number,
  sidecars: readonly ScrapedSidecar[],
  scrapeIntervalS = DEFAULT_SCRAPE_INTERVAL_S,
): string {
  // Prometheus refuses a scrape_timeout above the interval; its own default timeout is 10s.
  const config = {
    global: {
      scrape_interval: `${scrapeIntervalS}s`,
      scrape_timeout: `${Math.min(scrapeIntervalS, 10)}s`,
      evaluation_interval: `${scrapeIntervalS}s`,
    },
    scrape_configs: [
      {
        job_name: 'envoy-stats',
        static_configs: sidecars.map(({pod}) => ({
          targets: [`127.0.0.1:${metricsPort}`],
          labels: {
            __metrics_path__: metricsPath(pod),
            namespace: pod.namespace,
            pod: pod.name,
            app: pod.labels.app ?? 'unknown',
            version: pod.labels.version ?? 'unknown',
          },
        })),
      },
    ],
  }
  return JSON.stringify(config, null, 2) + '\n'
}

/** The `prometheus` executable: `$PROMETHEUS_BINARY`, else the first on PATH. */
export function findPrometheus(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = env.PROMETHEUS_BINARY
  if (explicit !== undefined && explicit !== '') return explicit
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'prometheus')
    try {
      accessSync(candidate, fsConstants.X_OK)
      return candidate
    } catch {
      // not here; keep looking
    }
  }
  return undefined
}

/** A running Prometheus. */
export interface RunningPrometheus {
  /** `http://127.0.0.1:<port>`: the base URL for `/api/v1/query`. */
  readonly url: string
  readonly pid: number
  stop(): Promise<void>
}

/** How to start Prometheus. */
export interface PrometheusOptions {
  binary: string
  /** Its own directory (config, data, log); wiped at start and at stop. */
  dir: string
  metrics: MetricsEndpoint
  sidecars: readonly ScrapedSidecar[]
  /** How long to wait for readiness and the first successful scrape (default 30s). */
  readyTimeoutMs?: number
  /** Seconds between scrapes (`chaos sandbox up --scrape-interval`); default 5. */
  scrapeIntervalS?: number
}

/**
 * The sandbox's default scrape interval. Real meshes scrape every 15 s (istio 1.30.3
 * samples/addons/prometheus.yaml: global scrape_interval 15s) or more; 5 s keeps short sandbox runs observable; `--scrape-interval
 * 15s` reproduces the usual lag of a real dashboard.
 */
export const DEFAULT_SCRAPE_INTERVAL_S = 5

/** A free loopback port (Prometheus cannot be told to pick one and report it). */
async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
  const port = (probe.address() as AddressInfo).port
  await new Promise<void>(resolve => probe.close(() => resolve()))
  return port
}

/** Waits for a child to exit, killing it after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(timer)
}

/** Starts Prometheus and waits until it is ready and has scraped every sidecar once. */
export async function startPrometheus(opts: PrometheusOptions): Promise<RunningPrometheus> {
  await rm(opts.dir, {recursive: true, force: true})
  await mkdir(join(opts.dir, 'data'), {recursive: true, mode: 0o700})
  const configFile = join(opts.dir, 'prometheus.json.yml')
  const logFile = join(opts.dir, 'prometheus.log')
  await writeFile(configFile, prometheusConfig(opts.metrics.port, opts.sidecars, opts.scrapeIntervalS))
  const port = await freePort()
  const log = createWriteStream(logFile)
  await new Promise(resolve => log.once('open', resolve))
  const child = spawn(
    opts.binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(opts.dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1d',
      // k6-operator runners write their metrics here (k6's experimental-prometheus-rw, trends as
      // native histograms): the remote-write receiver and native histograms must be on.
      '--web.enable-remote-write-receiver',
      '--enable-feature=native-histograms',
      '--log.level=warn',
    ],
    {stdio: ['ignore', log, log]},
  )
  const url = `http://127.0.0.1:${port}`
  // If this process dies without stopping the sandbox (an uncaught error), take Prometheus with it.
  const killOnExit = (): void => void child.kill('SIGTERM')
  process.once('exit', killOnExit)
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit)
    await stopChild(child)
    log.end()
    await rm(join(opts.dir, 'data'), {recursive: true, force: true})
  }
  try {
    await waitUntilScraping(url, child, opts.sidecars.length, opts.readyTimeoutMs ?? 30_000)
  } catch (err) {
    await stop()
    throw new ClusterUnavailable(
      `Prometheus (${opts.binary}) did not start: ${(err as Error).message}\n${logTail(logFile, 8)}`,
      {
        hint: 'start the sandbox with --no-prometheus, or see the log above',
        cause: err,
      },
    )
  }
  return {url, pid: child.pid ?? 0, stop}
}

/** Polls `/-/ready`, then `/api/v1/targets` until `expected` targets are up; fails fast if the child exits. */
async function waitUntilScraping(url: string, child: ChildProcess, expected: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exit: string | undefined
  child.once('exit', (code, signal) => (exit = `exited with ${signal ?? code}`))
  child.once('error', err => (exit = err.message))
  let last = 'not ready'
  while (Date.now() < deadline) {
    if (exit !== undefined) throw new Error(exit)
    last = await targetsUp(url, expected).catch((err: Error) => err.message)
    if (last === '') return
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`timed out after ${timeoutMs}ms (${last})`)
}

/** '' when ready with `expected` healthy targets, else what is missing. */
async function targetsUp(url: string, expected: number): Promise<string> {
  const ready = await fetch(`${url}/-/ready`)
  await ready.arrayBuffer()
  if (!ready.ok) return `/-/ready answered ${ready.status}`
  const res = await fetch(`${url}/api/v1/targets?state=active`)
  const body = (await res.json()) as {data?: {activeTargets?: {health: string}[]}}
  const targets = body.data?.activeTargets ?? []
  const up = targets.filter(t => t.health === 'up').length
  return up >= expected ? '' : `${up}/${expected} targets up`
}
