/** Helpers for the sandbox integration tests: the real CLI, kubectl and curl as child processes. */
import {readdirSync} from 'node:fs'
import {connect} from 'node:net'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {SandboxState} from '../../src/sandbox/state.js'
import {REPO, sh} from '../cli.js'

export {builtCliProblem, chaos, REPO, type Ran, sh} from '../cli.js'

/** Istio's bookinfo networking samples, beside the repository. */
export const SAMPLES = fileURLToPath(new URL('../../../shared/reference/istio-samples/bookinfo-networking/', import.meta.url))

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
  const minor = Number.parseInt((JSON.parse(r.stdout) as {clientVersion?: {minor?: string}}).clientVersion?.minor ?? '0', 10)
  return minor >= 30 ? undefined : `kubectl 1.${minor} is older than 1.30 (exec over WebSocket)`
}

/** The sandbox's own sources (what `chaos sandbox` runs), relative to the repository. */
export function sandboxSources(): string[] {
  const walk = (dir: string): string[] => readdirSync(join(REPO, dir), {withFileTypes: true})
    .flatMap(e => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
  return [...walk('src/sandbox'), ...walk('src/commands/sandbox')]
}

/** Every port a sandbox records: API, proxy, metrics, Prometheus, and each pod's app and sidecar. */
export function recordedPorts(state: SandboxState): number[] {
  const urls = [state.apiServer, state.proxy, state.metrics, ...(state.prometheus === undefined ? [] : [state.prometheus])]
  return [...urls.map(u => Number(new URL(u).port)), ...state.pods.flatMap(p => [p.appPort, p.outboundPort])]
}
