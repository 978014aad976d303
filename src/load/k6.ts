/**
 * The k6 load driver: writes the plan as a k6 script, runs `k6 run` (any xk6 build, from
 * K6_BINARY or PATH) and streams its `--out json` points into the recorder while it runs.
 */
import {type ChildProcess, execFile, spawn} from 'node:child_process'
import {mkdtemp, open, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {performance} from 'node:perf_hooks'
import {StringDecoder} from 'node:string_decoder'
import {promisify} from 'node:util'

import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import type {LoadDriver, LoadPlan} from './driver.js'
import {findK6, INSTALL_HINT, k6BinaryHint, K6Unavailable, spawnProblem} from './k6-binary.js'
import {K6PointFeed, LineSplitter} from './k6-points.js'
import {k6Script} from './k6-script.js'
import type {Recorder} from './recorder.js'

export {findK6, K6Unavailable, k6ProxyProblem} from './k6-binary.js'

/** How k6 v2 writes `--out json` (output/manager.go, internal/output/json/json.go). */
export const K6_JSON_OUTPUT = {batchMs: 50, flushMs: 200, bufferBytes: 4096}
/** How often the output file is read. */
export const POLL_MS = 100
/** Fewest bytes of JSON one request adds, with margin: the recording holds ~3.8 KB per request. */
const MIN_BYTES_PER_REQUEST = 2000
/** Never seal closer to the clock than this. */
export const MIN_LAG_MS = 1000

/**
 * How far behind the clock seconds are sealed at first. A point reaches the file 50 ms (k6's
 * output manager batches) + 200 ms (the JSON output's flush period) after it is stamped, plus
 * however long k6's 4 KiB write buffer takes to fill — at 10 req/s (the experiments' 5/s per
 * class) and the recording's ~3.8 KB per request that is ~100 ms — plus our poll: ~450 ms,
 * doubled. A request's start mark holds its second open until its own points arrive, so the lag
 * covers only this pipeline, not the request's duration. While k6 runs, the lag grows to twice
 * the longest delay seen (a starved k6; the fake k6 at 5/s per class measured 700 ms).
 */
export function initialLagMs(plan: LoadPlan): number {
  const perSecond = plan.traffic.reduce((n, t) => n + (t.ratePerSecond ?? t.vus ?? 0), 0)
  const fillMs = Math.min(
    plan.requestTimeoutMs,
    (K6_JSON_OUTPUT.bufferBytes / (MIN_BYTES_PER_REQUEST * Math.max(perSecond, 1e-3))) * 1000,
  )
  return Math.max(MIN_LAG_MS, 2 * (K6_JSON_OUTPUT.batchMs + K6_JSON_OUTPUT.flushMs + fillMs + POLL_MS))
}
/** After SIGINT, k6 interrupts its iterations and flushes its outputs: this is ample for that. */
const STOP_GRACE_MS = 15_000
/** k6's exit codes (go.k6.io/k6/errext/exitcodes) that we tell apart. */
const EXIT = {thresholdsCrossed: 99, externalAbort: 105, scriptException: 107}

/** k6 ran but failed: the script did not load, or k6 exited with an error. */
export class K6Failed extends FaultlineError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CouldNotRun, 'K6_FAILED', hint === undefined ? {} : {hint})
  }
}

/** Options for the k6 driver (tests point it at a fake k6). */
export interface K6DriverOptions {
  /** Environment to find k6 in (K6_BINARY, PATH) and to pass on; defaults to this process's. */
  env?: NodeJS.ProcessEnv
  /** Told about points that arrived too late to count. */
  warn?: (message: string) => void
  /** How long k6 gets to exit after SIGINT before it is killed (default 15 s). */
  stopGraceMs?: number
}

/** The k6 driver. */
export class K6Driver implements LoadDriver {
  readonly name = 'k6'
  private binary: string | undefined
  private versionLine: string | undefined

  constructor(private readonly options: K6DriverOptions = {}) {}

  private get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env
  }

  /** `k6 version`'s first line; throws K6Unavailable (exit 4) when k6 cannot be found or run. */
  async version(): Promise<string> {
    if (this.versionLine !== undefined) return this.versionLine
    const binary = await this.resolve()
    try {
      const {stdout} = await promisify(execFile)(binary, ['version'], {env: this.env, timeout: 15_000})
      const line = stdout
        .split('\n')
        .find(l => l.trim() !== '')
        ?.trim()
      if (line === undefined) throw new Error('it printed nothing')
      this.versionLine = line
      return line
    } catch (err) {
      throw versionFailed(binary, err, this.env.K6_BINARY === binary)
    }
  }

  private async resolve(): Promise<string> {
    this.binary ??= await findK6(this.env)
    return this.binary
  }

  async run(plan: LoadPlan, recorder: Recorder, {stop, abort}: {stop: AbortSignal; abort: AbortSignal}): Promise<void> {
    const binary = await this.resolve()
    const t0 = performance.now()
    const t0Wall = performance.timeOrigin + t0
    const now = () => performance.now() - t0
    const script = k6Script(plan)
    const dir = await mkdtemp(join(tmpdir(), 'faultline-k6-'))
    const feed = new K6PointFeed(recorder, t0Wall, script.scenarios)
    let child: ChildProcess | undefined
    let proc: Proc | undefined
    const disarm: (() => void)[] = []
    try {
      await writeFile(join(dir, 'script.js'), script.source)
      if (stop.aborted || abort.aborted) return
      const out = join(dir, 'points.jsonl')
      // Its own process group: a Ctrl-C at the terminal reaches chaos, which stops k6 its own way
      // (a second SIGINT from the terminal would make k6 exit without writing its last points).
      child = spawn(binary, ['run', '--no-usage-report', '--quiet', '--out', `json=${out}`, join(dir, 'script.js')], {
        env: k6Env(this.env, plan.proxy),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      })
      proc = watch(child, binary, this.env.K6_BINARY === binary)
      disarm.push(...stopOn(child, proc, stop, abort, this.options.stopGraceMs ?? STOP_GRACE_MS))
      await stream(out, feed, recorder, proc, now, plan, this.options.warn)
      const {code, signal} = await proc.exited
      checkExit(code, signal, proc, abort.aborted)
      if (feed.counts.late > 0)
        this.options.warn?.(`k6: ${feed.counts.late} point(s) arrived after their second was sealed and were left out`)
    } catch (err) {
      await killNow(child, proc)
      // A run that failed before the runner awaits it would be an unhandled rejection: hold the
      // error until the runner stops the load (it awaits the promise right after).
      if (!stop.aborted && !abort.aborted) await untilAborted(stop, abort)
      throw err
    } finally {
      for (const d of disarm) d()
      await killNow(child, proc)
      recorder.flush(now(), true)
      await rm(dir, {recursive: true, force: true})
    }
  }
}

async function killNow(child: ChildProcess | undefined, proc: Proc | undefined): Promise<void> {
  if (child === undefined || proc === undefined || proc.done()) return
  child.kill('SIGKILL')
  await proc.exited.catch(() => undefined)
}

/** A running k6: its exit, and the tails of its output for error messages. */
interface Proc {
  exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>
  done: () => boolean
  stderr: () => string
  stdout: () => string
  /** Set once we asked k6 to stop (SIGINT): it then exits 105, which is no failure. */
  interrupted: boolean
}

function watch(child: ChildProcess, binary: string, fromK6Binary: boolean): Proc {
  const tails = {stdout: '', stderr: ''}
  for (const which of ['stdout', 'stderr'] as const) {
    child[which]?.setEncoding('utf8').on('data', (d: string) => {
      tails[which] = (tails[which] + d).slice(-16_384)
    })
  }
  let done = false
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve, reject) => {
    child.once('error', err => {
      done = true
      reject(
        new K6Unavailable(
          `could not start k6: ${spawnProblem(binary, err)}${fromK6Binary ? ' (from K6_BINARY)' : ''}`,
          {hint: fromK6Binary ? k6BinaryHint(binary) : INSTALL_HINT, cause: err},
        ),
      )
    })
    child.once('close', (code, signal) => {
      done = true
      resolve({code, signal})
    })
  })
  exited.catch(() => undefined)
  return {exited, done: () => done, stderr: () => tails.stderr, stdout: () => tails.stdout, interrupted: false}
}

/**
 * `stop`: one SIGINT — k6 stops starting iterations, interrupts the running ones and flushes its
 * outputs; a second SIGINT would make it exit at once without flushing, so we never send one and
 * escalate to SIGKILL only if k6 has not exited after `graceMs`. `abort`: SIGKILL now. An exit
 * of this process (however it happens) kills k6 too.
 */
function stopOn(
  child: ChildProcess,
  proc: Proc,
  stop: AbortSignal,
  abort: AbortSignal,
  graceMs: number,
): (() => void)[] {
  let graceTimer: NodeJS.Timeout | undefined
  const interrupt = () => {
    if (proc.done() || proc.interrupted) return
    proc.interrupted = true
    child.kill('SIGINT')
    graceTimer = setTimeout(() => child.kill('SIGKILL'), graceMs)
  }
  const kill = () => {
    if (!proc.done()) child.kill('SIGKILL')
  }
  stop.addEventListener('abort', interrupt, {once: true})
  abort.addEventListener('abort', kill, {once: true})
  process.once('exit', kill)
  if (abort.aborted) kill()
  else if (stop.aborted) interrupt()
  return [
    () => stop.removeEventListener('abort', interrupt),
    () => abort.removeEventListener('abort', kill),
    () => process.removeListener('exit', kill),
    () => clearTimeout(graceTimer),
  ]
}

/**
 * Tails k6's JSON output into the feed while k6 runs, sealing seconds a lag behind the clock. A
 * k6 that writes no start marks (older than v0.45) leaves a request invisible until it ends, so
 * then the lag also covers the longest a request may take.
 */
async function stream(
  file: string,
  feed: K6PointFeed,
  recorder: Recorder,
  proc: Proc,
  now: () => number,
  plan: LoadPlan,
  warn?: (message: string) => void,
): Promise<void> {
  const initialLag = initialLagMs(plan)
  let warned = false
  const lines = new LineSplitter()
  const decoder = new StringDecoder('utf8')
  const buffer = Buffer.alloc(1 << 16)
  let handle: Awaited<ReturnType<typeof open>> | undefined
  let offset = 0
  const drain = async () => {
    handle ??= await open(file, 'r').catch(() => undefined)
    if (handle === undefined) return
    for (;;) {
      const {bytesRead} = await handle.read(buffer, 0, buffer.length, offset)
      if (bytesRead === 0) return
      offset += bytesRead
      const readAt = now()
      for (const l of lines.push(decoder.write(buffer.subarray(0, bytesRead)))) feed.line(l, readAt)
    }
  }
  try {
    while (!proc.done()) {
      await Promise.race([proc.exited.catch(() => undefined), new Promise(r => setTimeout(r, POLL_MS))])
      await drain()
      if (feed.counts.unmarked > 0 && !warned) {
        warned = true
        warn?.(
          `k6 wrote no start marks (k6 older than v0.45?): live figures run ${Math.round(plan.requestTimeoutMs / 1000)}s (the request timeout) behind`,
        )
      }
      const lag = Math.max(initialLag, 2 * feed.maxDelayMs) + (feed.counts.unmarked > 0 ? plan.requestTimeoutMs : 0)
      recorder.flush(now() - lag)
    }
    await drain()
    feed.line(lines.end() + decoder.end())
    feed.end()
  } finally {
    await handle?.close()
  }
}

function checkExit(code: number | null, signal: NodeJS.Signals | null, proc: Proc, aborted: boolean): void {
  if (code === 0 || code === EXIT.thresholdsCrossed) return
  if (aborted && signal === 'SIGKILL') return
  if (proc.interrupted && (code === EXIT.externalAbort || signal === 'SIGINT' || signal === 'SIGKILL')) return
  const tail = lastLines(proc.stderr().trim() === '' ? proc.stdout() : proc.stderr(), TAIL_LINES)
  if (code === EXIT.scriptException)
    throw new K6Failed(
      `k6 could not load the generated script (exit 107): ${tail}`,
      'This is a bug in chaos or a k6 too old for the script (it needs the k6/execution module, k6 v0.34 or newer); run with --driver builtin meanwhile.',
    )
  throw new K6Failed(
    `k6 exited with ${signal === null ? `code ${String(code)}` : `signal ${signal}`}: ${tail}`,
    "k6's last lines above say why it failed; fix that, or run with --driver builtin.",
  )
}

/** How many of k6's last output lines an error quotes. */
const TAIL_LINES = 10

/** `k6 version` failed: what it said on stderr (its last lines), or why it could not be started. */
function versionFailed(binary: string, err: unknown, fromK6Binary: boolean): K6Unavailable {
  const e = err as {
    message?: string
    syscall?: string
    stderr?: string
    stdout?: string
    killed?: boolean
    signal?: string | null
    code?: number | string
  }
  const hint = fromK6Binary ? k6BinaryHint(binary) : INSTALL_HINT
  if (typeof e.code === 'string' && e.syscall?.startsWith('spawn') === true)
    return new K6Unavailable(
      `could not start k6: ${spawnProblem(binary, err as NodeJS.ErrnoException)}${fromK6Binary ? ' (from K6_BINARY)' : ''}`,
      {hint, cause: err},
    )
  const how =
    e.killed === true
      ? 'timed out'
      : typeof e.code === 'number'
        ? `exited with code ${e.code}`
        : e.signal != null
          ? `was killed by ${e.signal}`
          : 'failed'
  const said = (e.stderr ?? '').trim() !== '' ? (e.stderr ?? '') : (e.stdout ?? '')
  return new K6Unavailable(
    `\`${binary} version\` ${how}: ${said.trim() === '' ? (e.message ?? String(err)).split('\n')[0] : lastLines(said, TAIL_LINES)}`,
    {hint, cause: err},
  )
}

function lastLines(text: string, n: number): string {
  const lines = text
    .replace(/\r/g, '')
    .split('\n')
    .filter(l => l.trim() !== '')
    .slice(-n)
  return lines.length === 0 ? '(no output)' : lines.join('\n')
}

/**
 * The environment k6 runs in. Go (k6's HTTP client) takes its proxy from HTTP_PROXY/http_proxy
 * (HTTPS_PROXY for https URLs) and NO_PROXY: set them all so the load goes exactly where the
 * builtin driver sends it — through the plan's proxy, or direct when there is none.
 */
export function k6Env(base: NodeJS.ProcessEnv, proxy: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...base, K6_NO_USAGE_REPORT: 'true'}
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'ALL_PROXY']) {
    delete env[name]
    delete env[name.toLowerCase()]
  }
  if (proxy !== undefined)
    Object.assign(env, {HTTP_PROXY: proxy, http_proxy: proxy, HTTPS_PROXY: proxy, https_proxy: proxy})
  return env
}

function untilAborted(stop: AbortSignal, abort: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    stop.addEventListener('abort', () => resolve(), {once: true})
    abort.addEventListener('abort', () => resolve(), {once: true})
  })
}
