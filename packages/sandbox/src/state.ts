/**
 * Where a running sandbox is recorded: `<stateDir>/sandbox.json` (what runs where), the kubeconfig
 * beside it, a start lock, and the detached process's log. Other commands (`status`, `down`, and
 * the runner) find "the sandbox" by reading this, after checking it is really alive.
 */
import {execFileSync} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {mkdir, open, readFile, rename, rm, writeFile} from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import {homedir} from 'node:os'
import {join, resolve} from 'node:path'

import {parse as parseYaml} from 'yaml'

import {UsageError} from '@faultline/core/errors.js'

/** The schema version of `sandbox.json`. */
export const STATE_VERSION = 1

/** One pod as recorded for `status` and the runner. */
export interface RecordedPod {
  name: string
  app: string
  version: string
  serviceAccount: string
  /** Where the application listens (its "pod IP:port"). */
  appPort: number
  /** The sidecar's outbound listener (an HTTP proxy that sends requests from this pod). */
  outboundPort: number
  /** The pod's address for clients without a sidecar: its inbound sidecar, which resets plaintext under STRICT mTLS. */
  inboundPort?: number
}

/** `sandbox.json`: a ready sandbox's addresses. Written only once everything answers. */
export interface SandboxState {
  version: typeof STATE_VERSION
  /** The process that runs the sandbox (the one `down` signals). */
  pid: number
  /** The Kubernetes API server's URL. */
  apiServer: string
  /** The kubeconfig that reaches it (0600; holds the bearer token). */
  kubeconfig: string
  /** The HTTP forward proxy, the value for `HTTP_PROXY`. */
  proxy: string
  /**
   * The ingress gateway (`istio-system/istio-ingressgateway`, serving bookinfo-gateway.yaml):
   * `http://127.0.0.1:<port>`, the `GATEWAY_URL` of Istio's bookinfo task; absent in records of older sandboxes.
   */
  gateway?: string
  /** Every sidecar's Prometheus text, one path per pod. */
  metrics: string
  /** Prometheus's base URL, when one runs. */
  prometheus?: string
  /** Prometheus's pid, so a crashed sandbox's orphan can be stopped. */
  prometheusPid?: number
  /** How often the reaper reverts expired faults; absent when it is off. */
  reaperIntervalMs?: number
  /** The API server's fault mode (`--api-faults`, canonical form); absent when it behaves. */
  apiFaults?: string
  /** Extra header propagation the apps model (`--propagate`, e.g. `baggage`); absent: exactly real bookinfo's. */
  propagate?: string[]
  /** The Istio release the mesh behaves like (`--istio`); absent in records of older sandboxes (1.30). */
  istio?: string
  namespace: string
  startedAt: string
  pods: RecordedPod[]
}

/**
 * The default state directory: `$CHAOS_SANDBOX_DIR`, else `$XDG_STATE_HOME/faultline/sandbox`
 * (`~/.local/state/faultline/sandbox`). Per user, not per checkout, because a sandbox is a
 * machine-wide thing: `chaos run` from any directory finds the one `chaos sandbox up` started.
 */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CHAOS_SANDBOX_DIR !== undefined && env.CHAOS_SANDBOX_DIR !== '') return resolve(env.CHAOS_SANDBOX_DIR)
  const stateHome =
    env.XDG_STATE_HOME !== undefined && env.XDG_STATE_HOME !== ''
      ? env.XDG_STATE_HOME
      : join(homedir(), '.local', 'state')
  return resolve(stateHome, 'faultline', 'sandbox')
}

/** `--state-dir` if given, else the default. */
export function resolveStateDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag === undefined ? defaultStateDir(env) : resolve(flag)
}

/** Paths inside a state directory. */
export const statePaths = (dir: string) => ({
  state: join(dir, 'sandbox.json'),
  kubeconfig: join(dir, 'kubeconfig'),
  lock: join(dir, 'sandbox.lock'),
  log: join(dir, 'sandbox.log'),
  prometheus: join(dir, 'prometheus'),
})

/** The last lines of a log file, for error messages about a child that failed. */
export function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** Creates the state directory, private to the user (it holds a token). */
export async function ensureStateDir(dir: string): Promise<void> {
  await mkdir(dir, {recursive: true, mode: 0o700})
}

/** Writes `sandbox.json` atomically (readers never see half a file). */
export async function writeSandboxState(dir: string, state: SandboxState): Promise<void> {
  const file = statePaths(dir).state
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(state, null, 2) + '\n', {mode: 0o600})
  await rename(tmp, file)
}

/** Reads `sandbox.json` as recorded, without checking it; `undefined` if absent or unreadable. */
export async function readStateFile(dir: string): Promise<SandboxState | undefined> {
  try {
    const parsed = JSON.parse(await readFile(statePaths(dir).state, 'utf8')) as Partial<SandboxState>
    if (parsed.version !== STATE_VERSION || typeof parsed.pid !== 'number' || typeof parsed.apiServer !== 'string')
      return undefined
    return parsed as SandboxState
  } catch {
    return undefined
  }
}

/** Whether a process exists (signal 0 checks without signalling; EPERM means it exists). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Whether the API server answers at `url` within `timeoutMs`. Any HTTP status counts (it may want a
 * token); its certificate is self-signed per start, so it is not verified here — only liveness is.
 */
export function answers(url: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise(resolve => {
    const target = new URL('/healthz', url)
    const client = target.protocol === 'https:' ? https : http
    // No keep-alive: an idle pooled socket would hold a short-lived CLI process open for seconds.
    const req = client.get(target, {rejectUnauthorized: false, timeout: timeoutMs, agent: false}, res => {
      res.destroy()
      resolve(true)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', () => resolve(false))
  })
}

/**
 * The sandbox running in `dir`, or `undefined`. A record whose process is gone or whose API does
 * not answer is stale (a crash, a reboot, kill -9): it is cleaned up and reported as not running.
 */
export async function readSandboxState(dir: string): Promise<SandboxState | undefined> {
  const state = await readStateFile(dir)
  if (state === undefined) return undefined
  if (pidAlive(state.pid) && (await answers(state.apiServer))) return state
  if (pidAlive(state.pid)) return undefined // alive but not answering: starting or stopping; leave it be
  await cleanupStale(dir, state)
  return undefined
}

/** Removes a dead sandbox's record and stops its Prometheus if that outlived it. */
export async function cleanupStale(dir: string, state: SandboxState): Promise<void> {
  if (state.prometheusPid !== undefined && isOurPrometheus(state.prometheusPid, dir)) {
    try {
      process.kill(state.prometheusPid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  await removeSandboxState(dir)
}

/** Whether a pid is a prometheus started for this state dir (guards against pid reuse). */
function isOurPrometheus(pid: number, dir: string): boolean {
  if (!pidAlive(pid)) return false
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline.includes(statePaths(dir).prometheus)
  } catch {
    // No /proc (macOS): ask ps, and only trust an exact path match.
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], {encoding: 'utf8'}).includes(
        statePaths(dir).prometheus,
      )
    } catch {
      return false
    }
  }
}

/** Removes what describes a running sandbox (keeps the log for post-mortems). */
export async function removeSandboxState(dir: string): Promise<void> {
  const paths = statePaths(dir)
  await Promise.all([paths.state, paths.kubeconfig, paths.lock].map(f => rm(f, {force: true})))
}

/**
 * Takes the start lock, so two `up`s on one directory cannot both start. A lock left by a dead
 * process is taken over. Returns the release function.
 */
export async function acquireStartLock(dir: string): Promise<() => Promise<void>> {
  const file = statePaths(dir).lock
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(file, 'wx', 0o600)
      await handle.writeFile(String(process.pid))
      await handle.close()
      return () => rm(file, {force: true})
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim())
      if (pidAlive(holder)) {
        throw new UsageError(`a sandbox is already starting or running in ${dir} (pid ${holder})`, {
          hint: `see it with: chaos sandbox status --state-dir ${dir}`,
        })
      }
      await rm(file, {force: true})
    }
  }
  throw new UsageError(`could not take the start lock ${file}`, {hint: 'remove the file if no sandbox runs'})
}

/** The path of a running sandbox's fault-mode endpoint (served by `apiserver/faults.ts`). */
const API_FAULTS_ENDPOINT = '/faultline/v1/api-faults'

/**
 * Switches a running sandbox's API fault mode (`chaos sandbox up --api-faults` on a running one):
 * PUTs the spec to its API server with the kubeconfig's token, then records the canonical spec the
 * server answers in `sandbox.json`. Throws the server's message when it refuses the spec.
 */
export async function switchApiFaults(dir: string, state: SandboxState, spec: string): Promise<SandboxState> {
  const config = parseYaml(await readFile(state.kubeconfig, 'utf8')) as {
    users?: {user?: {token?: string}}[]
    clusters?: {cluster?: Record<string, string>}[]
  }
  const token = config.users?.[0]?.user?.token ?? ''
  const caData = config.clusters?.[0]?.cluster?.['certificate-authority-data']
  const answer = await new Promise<{code: number; body: string}>((done, fail) => {
    const req = https.request(
      new URL(API_FAULTS_ENDPOINT, state.apiServer),
      {
        method: 'PUT',
        agent: false,
        timeout: 10_000,
        headers: {Authorization: `Bearer ${token}`, 'Content-Type': 'text/plain'},
        ...(caData === undefined ? {rejectUnauthorized: false} : {ca: Buffer.from(caData, 'base64').toString('utf8')}),
      },
      res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => done({code: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8')}))
      },
    )
    req.on('timeout', () => req.destroy(new Error('no answer within 10s')))
    req.on('error', fail)
    req.end(spec)
  })
  const body = JSON.parse(answer.body) as {spec?: string; message?: string}
  if (answer.code !== 200 || body.spec === undefined)
    throw new UsageError(body.message ?? `the sandbox refused the fault mode (HTTP ${answer.code})`)
  const {apiFaults: _previous, ...rest} = state
  const updated: SandboxState = body.spec === 'none' ? rest : {...rest, apiFaults: body.spec}
  await writeSandboxState(dir, updated)
  return updated
}
