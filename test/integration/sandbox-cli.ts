/**
 * Helpers for the sandbox integration tests: the real CLI, kubectl and curl as child processes, and
 * the two sandboxes they drive — a detached one started with the CLI, or the API server in-process.
 */
import {execFile} from 'node:child_process'
import {readdirSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {UpResult} from '@faultline/sandbox/daemon.js'
import {writeKubeconfig} from '@faultline/sandbox/kubeconfig.js'
import type {SandboxState} from '@faultline/sandbox/state.js'
import {builtCliProblem, chaos, type Ran, REPO, sh} from '../cli.js'
import {type Fixture, startFixture} from '../../packages/sandbox/test/apiserver/fakes.js'

export {builtCliProblem, chaos, REPO, type Ran, sh} from '../cli.js'

/**
 * Phases for a test that needs ratings-delay to deviate (exit 1), as its own 30 s fault phase does.
 * Whether it deviates is a matter of chance, as on a real mesh: productpage's sidecar balances reviews
 * by LEAST_REQUEST (Istio's default), so the fast reviews-v1 wins most picks while v2 and v3 hold
 * delayed requests; a targeted page takes over 4 s only when its first try lands on v2 (which waits
 * for ratings past productpage's 3 s) and its retry on v2 or v3 (v3 gives up on ratings at 2.5 s).
 * In 8 s that happened for none of the ~40 targeted pages in a CI run (5 first tries on v2, every
 * retry on v1), so it held; in two 30 s fault phases 14 and 10 of the 30 seconds sent a page that
 * took over 4 s, where p(99) over ~150 pages needs two.
 */
export const DEVIATION_PHASES = 'baseline=4s,fault=30s,recovery=4s'

/** Istio's bookinfo networking samples, beside the repository. */
export const SAMPLES = fileURLToPath(new URL('../reference/istio-samples/bookinfo-networking/', import.meta.url))

/**
 * The VirtualServices every sandbox starts with: `bookinfo` of Istio's bookinfo-gateway.yaml, bound
 * to the ingress gateway (packages/sandbox/src/gateway-sample.ts). "Nothing left behind" means nothing else.
 */
export const SAMPLE_VIRTUAL_SERVICES: readonly string[] = ['bookinfo']

/** `kubectl get vs -o name` output → the names besides the sandbox's sample VirtualServices. */
export function besidesSample(kubectlNames: string): string[] {
  return kubectlNames
    .split('\n')
    .map(l => l.trim())
    .filter(l => l !== '' && !SAMPLE_VIRTUAL_SERVICES.includes(l.slice(l.lastIndexOf('/') + 1)))
}

/** What curl saw. */
export interface Curl {
  status: number
  body: string
  seconds: number
}

/** `curl -x <proxy> [headers] <url>`. */
export async function curlVia(proxy: string, url: string, headers: Record<string, string> = {}): Promise<Curl> {
  const h = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`])
  const r = await sh('curl', ['-s', '--max-time', '30', '-x', proxy, ...h, '-w', '\n%{http_code} %{time_total}', url])
  const i = r.stdout.lastIndexOf('\n')
  const [status = '0', seconds = '0'] = r.stdout.slice(i + 1).split(' ')
  return {status: Number(status), seconds: Number(seconds), body: r.stdout.slice(0, i)}
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect({host: '127.0.0.1', port})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** Whether a program is on PATH (for kubectl: one new enough to exec over WebSocket, ≥ 1.30). */
export async function have(program: string): Promise<boolean> {
  if (program === 'kubectl') return (await kubectlProblem()) === undefined
  return (await sh(program, ['--version'])).code === 0
}

/**
 * Why the kubectl on PATH cannot drive the sandbox, or undefined when it can. The sandbox serves
 * exec over WebSocket only, which kubectl uses from 1.30 on (older ones speak SPDY), so an old
 * kubectl (Debian bookworm ships 1.20) is skipped with this message rather than failing.
 */
export async function kubectlProblem(): Promise<string | undefined> {
  const r = await sh('kubectl', ['version', '--client', '-o', 'json'])
  if (r.code !== 0) return 'kubectl is not on PATH'
  const minor = Number.parseInt(
    (JSON.parse(r.stdout) as {clientVersion?: {minor?: string}}).clientVersion?.minor ?? '0',
    10,
  )
  return minor >= 30 ? undefined : `kubectl 1.${minor} is older than 1.30 (exec over WebSocket)`
}

/** The sandbox's own sources (what `chaos sandbox` runs), relative to the repository. */
export function sandboxSources(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(REPO, dir), {withFileTypes: true})
      // Declaration files (.d.ts) compile to nothing, so they have no built .js to be stale against.
      .flatMap(e =>
        e.isDirectory()
          ? walk(join(dir, e.name))
          : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')
            ? [join(dir, e.name)]
            : [],
      )
  return [...walk('packages/sandbox/src'), ...walk('src/commands/sandbox')]
}

/** Every port a sandbox records: API, proxy, metrics, Prometheus, the ingress gateway, and each pod's app and sidecar (outbound, inbound). */
export function recordedPorts(state: SandboxState): number[] {
  const urls = [
    state.apiServer,
    state.proxy,
    state.metrics,
    ...(state.prometheus === undefined ? [] : [state.prometheus]),
    ...(state.gateway === undefined ? [] : [state.gateway]),
  ]
  return [
    ...urls.map(u => Number(new URL(u).port)),
    ...state.pods.flatMap(p => [p.appPort, p.outboundPort, ...(p.inboundPort === undefined ? [] : [p.inboundPort])]),
  ]
}

/** Why the sandbox tests of `sources` cannot run here (dist/ stale, or no kubectl that drives the sandbox), or undefined. */
export async function sandboxTestProblem(sources: string[]): Promise<string | undefined> {
  return builtCliProblem(sources) ?? (await kubectlProblem())
}

/** kubectl's arguments → what it printed and its exit code. */
export type Kubectl = (...args: string[]) => Promise<Ran>

/** No kubectl call in these tests takes longer; a hung one fails its test instead of the whole suite's timeout. */
const KUBECTL_TIMEOUT_MS = 30_000

/**
 * kubectl on `kubeconfig`, run from the repository root. With `home`, kubectl gets a private HOME
 * and discovery cache there, so the cache does not leak between runs or into the user's.
 */
export function kubectlFor(kubeconfig: string, home?: string): Kubectl {
  const env = home === undefined ? process.env : {...process.env, HOME: home, KUBECACHEDIR: join(home, 'cache')}
  return (...args) =>
    new Promise(resolve => {
      execFile(
        'kubectl',
        ['--kubeconfig', kubeconfig, ...args],
        {cwd: REPO, env, timeout: KUBECTL_TIMEOUT_MS, maxBuffer: 16 << 20},
        (err, stdout, stderr) => {
          resolve({code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr})
        },
      )
    })
}

/** A sandbox of a test file, and what the tests use to drive and stop it. */
export interface TestSandbox {
  /** A fresh temporary directory: the detached sandbox's state directory, or the fixture's kubeconfig and scratch files. */
  dir: string
  kubectl: Kubectl
  /** Stops the sandbox and removes `dir`. */
  stop: () => Promise<void>
}

/** A sandbox started with `chaos sandbox up --detach`. */
export interface DetachedSandbox extends TestSandbox {
  state: SandboxState
}

/** How many requests warm a fresh sandbox's mesh. */
const WARM_UP_REQUESTS = 30

/**
 * `chaos sandbox up --detach --no-prometheus --json` in a fresh state directory named after
 * `name`, with `env` added to the CLI's environment (e.g. `CHAOS_SANDBOX_REAPER_INTERVAL`).
 * No Prometheus: these tests do not query it, and its start-up competes for the CPU with the
 * baseline. A real mesh is warm, so the first requests through the fresh sandbox, which compile its
 * code paths, are sent here. A sandbox that does not start throws with the CLI's output, leaving
 * nothing behind.
 */
export async function startDetachedSandbox(name: string, env: Record<string, string> = {}): Promise<DetachedSandbox> {
  const dir = await mkdtemp(join(tmpdir(), `faultline-${name}-`))
  const stop = async () => {
    await chaos(['sandbox', 'down', '--state-dir', dir])
    await rm(dir, {recursive: true, force: true})
  }
  try {
    const up = await sh(
      process.execPath,
      ['bin/chaos', 'sandbox', 'up', '--detach', '--no-prometheus', '--state-dir', dir, '--json'],
      {...process.env, NO_COLOR: '1', ...env},
    )
    if (up.code !== 0) throw new Error(`chaos sandbox up --detach exited ${up.code}:\n${up.stderr}${up.stdout}`)
    const {state} = JSON.parse(up.stdout) as UpResult
    for (let i = 0; i < WARM_UP_REQUESTS; i++) await curlVia(state.proxy, 'http://productpage:9080/productpage')
    return {dir, state, kubectl: kubectlFor(state.kubeconfig), stop}
  } catch (err) {
    await stop()
    throw err
  }
}

/** The sandbox's API server in-process (packages/sandbox/test/apiserver/fakes.ts), for kubectl. */
export interface KubectlFixture extends TestSandbox {
  fixture: Fixture
}

/** Starts the in-process API server and writes its kubeconfig (`<dir>/kubeconfig`); kubectl keeps its cache in `dir`. */
async function startKubectlFixture(name: string): Promise<KubectlFixture> {
  const fixture = await startFixture()
  const dir = await mkdtemp(join(tmpdir(), `faultline-${name}-`))
  const stop = async () => {
    await fixture.close()
    await rm(dir, {recursive: true, force: true})
  }
  const kubeconfig = join(dir, 'kubeconfig')
  try {
    await writeKubeconfig(kubeconfig, {
      server: fixture.server.url,
      token: fixture.token,
      certificateAuthority: fixture.server.certificateAuthority,
    })
  } catch (err) {
    await stop()
    throw err
  }
  return {dir, fixture, kubectl: kubectlFor(kubeconfig, dir), stop}
}

/**
 * Registers `before`/`after` hooks in the calling `describe`: skips it, printing why, when
 * `problem()` names a reason; else starts a sandbox with `start`, stopped after. Returns how the
 * tests reach the started sandbox (it throws before `before` has run).
 */
function sandboxForSuite<T extends TestSandbox>(
  problem: () => Promise<string | undefined>,
  start: () => Promise<T>,
): () => T {
  let sandbox: T | undefined
  before(async function () {
    const why = await problem()
    if (why !== undefined) {
      console.log(`      (skipped: ${why})`)
      return this.skip()
    }
    sandbox = await start()
  })
  after(() => sandbox?.stop())
  return () => {
    if (sandbox === undefined) throw new Error("the suite's sandbox is read before its before hook started it")
    return sandbox
  }
}

/**
 * A detached sandbox (`startDetachedSandbox`) for the calling `describe`, skipped when dist/ is
 * older than `sources` or kubectl cannot drive the sandbox. `kubectl` may be taken at once; the
 * other fields are read inside tests.
 */
export function withDetachedSandbox(
  name: string,
  sources: string[],
  env: Record<string, string> = {},
): DetachedSandbox {
  const started = sandboxForSuite(
    () => sandboxTestProblem(sources),
    () => startDetachedSandbox(name, env),
  )
  return {
    get dir() {
      return started().dir
    },
    get state() {
      return started().state
    },
    kubectl: (...args) => started().kubectl(...args),
    stop: () => started().stop(),
  }
}

/** The in-process API server with kubectl (`startKubectlFixture`) for the calling `describe`, skipped without a kubectl that drives it. */
export function withKubectlFixture(name: string): KubectlFixture {
  const started = sandboxForSuite(kubectlProblem, () => startKubectlFixture(name))
  return {
    get dir() {
      return started().dir
    },
    get fixture() {
      return started().fixture
    },
    kubectl: (...args) => started().kubectl(...args),
    stop: () => started().stop(),
  }
}
