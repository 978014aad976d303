/**
 * What the `chaos sandbox` commands do: run a sandbox in the foreground until a signal, start one
 * as a detached background process and wait for it to be ready, report on one, and stop one.
 */
import {spawn} from 'node:child_process'
import {closeSync, openSync} from 'node:fs'

import {ClusterUnavailable} from '@faultline/core/errors.js'
import type {Propagation} from './bookinfo/http.js'
import type {IstioVersion} from './mesh/profile.js'
import type {RunningSandbox, SandboxOptions} from './sandbox.js'
import {
  answers,
  cleanupStale,
  ensureStateDir,
  logTail,
  pidAlive,
  readSandboxState,
  readStateFile,
  type SandboxState,
  statePaths,
} from './state.js'

/** The outcome of `chaos sandbox up`. */
export interface UpResult {
  /** `started` by this command, or `already-running` (then nothing was started). */
  outcome: 'started' | 'already-running' | 'stopped'
  stateDir: string
  state: SandboxState
  /** Why Prometheus is not running (foreground only; a detached one records its absence in `state`). */
  prometheusSkipped?: string
  /** The detached process's log. */
  log?: string
}

/** How to re-run this CLI in a child process: the node binary, its flags and the entry script. */
export interface CliEntry {
  execPath: string
  args: string[]
}

/** The entry of the running CLI (`bin/chaos`, or `bin/dev.js` with `--import tsx`). */
export function currentCli(): CliEntry {
  return {execPath: process.execPath, args: [...process.execArgv, process.argv[1] ?? 'chaos']}
}

/** Options shared by foreground and detached starts. */
export interface UpOptions {
  stateDir: string
  prometheus: boolean
  /** The API server's fault mode, as `--api-faults` takes it (already validated). */
  apiFaults?: string
  /** Extra header propagation the apps model (`--propagate`, already validated). */
  propagate?: readonly Propagation[]
  /** The Istio release the mesh behaves like (`--istio`, already validated). */
  istio?: IstioVersion
  /** Seconds between Prometheus scrapes (`--scrape-interval`, already validated). */
  scrapeIntervalS?: number
}

/**
 * Runs a sandbox in this process until SIGINT or SIGTERM, then stops it. `onReady` is told what
 * runs where. A sandbox already running in the directory is reported, not duplicated. The reaper
 * runs when the caller passes `revertExpired` (the CLI passes `chaos revert --expired`).
 */
export async function runForeground(
  opts: UpOptions &
    Pick<SandboxOptions, 'revertExpired'> & {onReady: (result: UpResult) => void; log?: (line: string) => void},
): Promise<UpResult> {
  const existing = await readSandboxState(opts.stateDir)
  if (existing !== undefined) return {outcome: 'already-running', stateDir: opts.stateDir, state: existing}
  // Loaded on demand: the API server and mesh take a second to import, which status and down never need.
  const {startSandbox} = await import('./sandbox.js')
  const {parseApiFaults} = await import('./apiserver/faults.js')
  const sandbox = await startSandbox({
    stateDir: opts.stateDir,
    prometheus: opts.prometheus,
    ...(opts.log ? {log: opts.log} : {}),
    ...(opts.revertExpired === undefined ? {} : {revertExpired: opts.revertExpired}),
    ...(opts.apiFaults === undefined ? {} : {apiFaults: parseApiFaults(opts.apiFaults)}),
    ...(opts.propagate === undefined ? {} : {propagate: opts.propagate}),
    ...(opts.istio === undefined ? {} : {istio: opts.istio}),
    ...(opts.scrapeIntervalS === undefined ? {} : {scrapeIntervalS: opts.scrapeIntervalS}),
  })
  const result: UpResult = {
    outcome: 'started',
    stateDir: opts.stateDir,
    state: sandbox.state,
    ...(sandbox.prometheusSkipped === undefined ? {} : {prometheusSkipped: sandbox.prometheusSkipped}),
  }
  opts.onReady(result)
  await untilSignalled(sandbox)
  return {...result, outcome: 'stopped'}
}

/** Waits for SIGINT/SIGTERM, then stops the sandbox; a second signal gives up waiting. */
async function untilSignalled(sandbox: RunningSandbox): Promise<void> {
  await new Promise<void>(resolve => {
    const onSignal = (): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      // A second Ctrl-C while stopping means "now": nothing else would end a hung shutdown.
      const force = (): never => process.exit(130)
      process.once('SIGINT', force)
      process.once('SIGTERM', force)
      resolve()
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
  await sandbox.stop()
}

/**
 * Starts a sandbox as a detached child running `chaos sandbox up` in the foreground (its output
 * in `<stateDir>/sandbox.log`) and waits until its `sandbox.json` names it and its API answers.
 */
export async function startDetached(opts: UpOptions & {cli?: CliEntry; timeoutMs?: number}): Promise<UpResult> {
  const existing = await readSandboxState(opts.stateDir)
  if (existing !== undefined) return {outcome: 'already-running', stateDir: opts.stateDir, state: existing}
  await ensureStateDir(opts.stateDir)
  const {log} = statePaths(opts.stateDir)
  const logFd = openSync(log, 'w', 0o600)
  const cli = opts.cli ?? currentCli()
  const args = [
    ...cli.args,
    'sandbox',
    'up',
    '--state-dir',
    opts.stateDir,
    ...(opts.prometheus ? [] : ['--no-prometheus']),
    ...(opts.apiFaults === undefined ? [] : ['--api-faults', opts.apiFaults]),
    ...(opts.propagate === undefined || opts.propagate.length === 0 ? [] : ['--propagate', opts.propagate.join(',')]),
    ...(opts.istio === undefined ? [] : ['--istio', opts.istio]),
    ...(opts.scrapeIntervalS === undefined ? [] : ['--scrape-interval', `${opts.scrapeIntervalS}s`]),
  ]
  const child = spawn(cli.execPath, args, {detached: true, stdio: ['ignore', logFd, logFd]})
  closeSync(logFd)
  let exited: string | undefined
  child.once('exit', (code, signal) => (exited = signal ?? String(code)))
  child.once('error', err => (exited = err.message))
  try {
    const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
    while (Date.now() < deadline) {
      if (exited !== undefined) {
        throw new ClusterUnavailable(`the sandbox exited during start-up (${exited}):\n${logTail(log)}`, {
          hint: `full log: ${log}`,
        })
      }
      const state = await readStateFile(opts.stateDir)
      if (state !== undefined && state.pid === child.pid && (await answers(state.apiServer))) {
        return {outcome: 'started', stateDir: opts.stateDir, state, log}
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    child.kill('SIGTERM')
    throw new ClusterUnavailable(
      `the sandbox did not become ready within ${(opts.timeoutMs ?? 60_000) / 1000}s:\n${logTail(log)}`,
      {hint: `full log: ${log}`},
    )
  } finally {
    child.unref()
  }
}

/** The outcome of `chaos sandbox down`. */
export interface DownResult {
  stateDir: string
  /** `stopped` a running sandbox; `not-running` (a stale record, if any, was removed). */
  outcome: 'stopped' | 'not-running'
  pid?: number
}

/** Stops the sandbox recorded in `stateDir`: SIGTERM, wait for exit (SIGKILL after `graceMs`), remove its record. */
export async function stopSandbox(stateDir: string, graceMs = 20_000): Promise<DownResult> {
  const state = await readStateFile(stateDir)
  if (state === undefined) return {stateDir, outcome: 'not-running'}
  if (!pidAlive(state.pid)) {
    await cleanupStale(stateDir, state)
    return {stateDir, outcome: 'not-running'}
  }
  process.kill(state.pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (pidAlive(state.pid) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  if (pidAlive(state.pid)) process.kill(state.pid, 'SIGKILL')
  await cleanupStale(stateDir, state)
  return {stateDir, outcome: 'stopped', pid: state.pid}
}

/** The outcome of `chaos sandbox status`. */
export interface StatusResult {
  stateDir: string
  running: boolean
  state?: SandboxState
  uptimeSeconds?: number
}

/** Whether a sandbox runs in `stateDir`, and what it is. */
export async function sandboxStatus(stateDir: string, now: () => number = Date.now): Promise<StatusResult> {
  const state = await readSandboxState(stateDir)
  if (state === undefined) return {stateDir, running: false}
  return {
    stateDir,
    running: true,
    state,
    uptimeSeconds: Math.max(0, Math.round((now() - Date.parse(state.startedAt)) / 1000)),
  }
}
