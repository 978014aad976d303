/**
 * A real Prometheus Pushgateway (Debian `prometheus-pushgateway`) on a free loopback port, memory
 * only, for the telemetry tests and the CLI's integration test.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {createServer} from 'node:net'

/** The installed binary, if any. */
export const PUSHGATEWAY_BINARY = [
  '/usr/bin/prometheus-pushgateway',
  '/usr/local/bin/pushgateway',
  '/usr/bin/pushgateway',
].find(existsSync)

/** Why Pushgateway tests are skipped here, or undefined. */
export const PUSHGATEWAY_PROBLEM =
  PUSHGATEWAY_BINARY === undefined
    ? 'no Pushgateway binary; install the Debian package prometheus-pushgateway'
    : undefined

/** A port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise(resolve => server.close(resolve))
  return port
}

/** Polls `probeFn` until it gives a value, bounded by `timeoutMs`. */
export async function until<T>(probeFn: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probeFn().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** The Pushgateway's exposition, as `series → value` for the lines of our job. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text()
  return new Map(
    text
      .split('\n')
      .filter(l => l.includes('job="faultline"'))
      .map(l => {
        const i = l.lastIndexOf(' ')
        return [l.slice(0, i), Number(l.slice(i + 1))] as const
      }),
  )
}

/** A running Pushgateway. */
export interface Gateway {
  url: string
  process: ChildProcess
  stop(): Promise<void>
}

/** Starts a Pushgateway (the binary must exist: check PUSHGATEWAY_PROBLEM first). */
export async function startPushgateway(): Promise<Gateway> {
  if (PUSHGATEWAY_BINARY === undefined) throw new Error(PUSHGATEWAY_PROBLEM)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  let log = ''
  // An empty persistence file keeps metrics in memory only: nothing written outside the test.
  const child = spawn(
    PUSHGATEWAY_BINARY,
    [`--web.listen-address=127.0.0.1:${port}`, '--persistence.file=', '--log.level=warn'],
    {stdio: ['ignore', 'ignore', 'pipe']},
  )
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  await until(
    async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined),
    10_000,
    `the Pushgateway to be ready (${log})`,
  )
  return {
    url,
    process: child,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}
