/**
 * A sandbox for benchmarks, in its own process: `chaos sandbox up` (from src/, through tsx) started
 * detached in a fresh state directory, so the bench's load generator and the sandbox's mesh never
 * share an event loop and one cannot distort the latency the other measures. The bench gets the
 * sandbox's addresses, a `Cluster` on its kubeconfig (the product's own client) to write
 * VirtualServices with, and `stop()`, which brings it down and removes the directory.
 *
 * Bounded even when the bench dies without stopping it: a watchdog (its own process group) sends
 * the sandbox SIGTERM after `maxLifetimeMs`, and a normal exit or SIGINT/SIGTERM of the bench
 * stops it too.
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Cluster} from '../src/cluster/cluster.js'
import {connect} from '../src/cluster/connect.js'
import type {HTTPFaultInjection, VirtualService} from '@faultline/core/istio/types.js'
import {startDetached, stopSandbox} from '@faultline/sandbox/daemon.js'
import {REAPER_INTERVAL_ENV} from '@faultline/sandbox/reaper.js'
import type {SandboxState} from '@faultline/sandbox/state.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))

/** How to start the sandbox. */
export interface SandboxProcessOptions {
  /** Start Prometheus when a binary is on PATH (default false: most benches need only the mesh). */
  prometheus?: boolean
  /** The expired-fault reaper's interval; 0 turns it off (default: the sandbox's own, 5 s). */
  reaperIntervalMs?: number
  /** The API server's fault mode, as `--api-faults` takes it. */
  apiFaults?: string
  /** After this long the watchdog stops the sandbox whatever the bench does (default 1 h). */
  maxLifetimeMs?: number
}

/** A running sandbox process. */
export interface SandboxProcess {
  readonly stateDir: string
  /** Its `sandbox.json`: API server, proxy, metrics, pods. */
  readonly state: SandboxState
  readonly kubeconfig: string
  /** The forward proxy (`http://127.0.0.1:<port>`): requests through it leave from the client pod's sidecar. */
  readonly proxy: string
  /** The namespace bookinfo runs in. */
  readonly namespace: string
  /** The product's cluster client on the sandbox's kubeconfig. */
  readonly cluster: Cluster
  /** Creates the VirtualService, or replaces it at its current resourceVersion; resolves with what was stored. */
  applyVirtualService(vs: VirtualService): Promise<VirtualService>
  /** Deletes a VirtualService (absent is fine). */
  deleteVirtualService(name: string, namespace?: string): Promise<void>
  /** Stops the sandbox and removes its state directory; safe to call twice. */
  stop(): Promise<void>
}

/** The CLI from source: node with tsx's loader (resolved here, so any working directory does) and bin/dev.js. */
function sourceCli(env: Record<string, string>): {execPath: string; args: string[]} {
  const node = [
    process.execPath,
    '--conditions=faultline-source',
    '--import',
    import.meta.resolve('tsx'),
    join(REPO, 'bin', 'dev.js'),
  ]
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  // Through env(1), which execs node in place: the pid the sandbox records is the one spawned.
  return vars.length === 0
    ? {execPath: node[0] as string, args: node.slice(1)}
    : {execPath: '/usr/bin/env', args: [...vars, ...node]}
}

/** A process group that sends SIGTERM to `pid` after `ms` unless it is killed first. */
function watchdog(pid: number, ms: number): ChildProcess {
  const child = spawn('sh', ['-c', `sleep ${Math.ceil(ms / 1000)}; kill -TERM ${pid} 2>/dev/null`], {
    detached: true,
    stdio: 'ignore',
  })
  child.unref()
  return child
}

/** Starts a sandbox in a new temporary state directory and waits until it is ready. */
export async function startSandboxProcess(opts: SandboxProcessOptions = {}): Promise<SandboxProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), 'faultline-bench-sandbox-'))
  const env =
    opts.reaperIntervalMs === undefined
      ? {}
      : {[REAPER_INTERVAL_ENV]: opts.reaperIntervalMs === 0 ? '0' : `${opts.reaperIntervalMs}ms`}
  let up
  try {
    up = await startDetached({
      stateDir,
      prometheus: opts.prometheus ?? false,
      cli: sourceCli(env),
      ...(opts.apiFaults === undefined ? {} : {apiFaults: opts.apiFaults}),
    })
  } catch (err) {
    await stopSandbox(stateDir).catch(() => undefined)
    rmSync(stateDir, {recursive: true, force: true})
    throw err
  }
  const {state} = up
  const guard = watchdog(state.pid, opts.maxLifetimeMs ?? 3_600_000)
  // Last resort when the bench exits or is interrupted without calling stop().
  const killNow = (): void => {
    try {
      process.kill(state.pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    killNow()
    release()
    process.kill(process.pid, signal)
  }
  const release = (): void => {
    process.off('exit', killNow)
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
  process.once('exit', killNow)
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)

  const cluster = connect({kubeconfig: state.kubeconfig})
  if (cluster === undefined) throw new Error(`the sandbox's kubeconfig ${state.kubeconfig} cannot be loaded`)
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      try {
        await stopSandbox(stateDir)
      } finally {
        release()
        if (guard.pid !== undefined) {
          try {
            process.kill(-guard.pid, 'SIGTERM')
          } catch {
            // the watchdog already fired
          }
        }
        rmSync(stateDir, {recursive: true, force: true})
      }
    })())
  return {
    stateDir,
    state,
    kubeconfig: state.kubeconfig,
    proxy: state.proxy,
    namespace: state.namespace,
    cluster,
    async applyVirtualService(vs) {
      const namespace = vs.metadata.namespace ?? state.namespace
      const current = await cluster.getVirtualService(namespace, vs.metadata.name)
      const desired = {...vs, metadata: {...vs.metadata, namespace}}
      if (current === undefined) return cluster.createVirtualService(desired)
      return cluster.replaceVirtualService({
        ...desired,
        metadata: {...desired.metadata, resourceVersion: current.metadata.resourceVersion ?? ''},
      })
    },
    deleteVirtualService: (name, namespace = state.namespace) => cluster.deleteVirtualService(namespace, name),
    stop,
  }
}

/** The header the bench VirtualServices match: requests carrying it are targeted, the rest are control. */
export const TARGET_HEADER = {name: 'x-chaos-test', value: 'true'}

/**
 * The smallest VirtualService that faults a service for targeted requests only: a route matching
 * `TARGET_HEADER` with the fault (none: the same routes without it), then the plain route, both to
 * the service itself.
 */
export function headerFault(service: string, fault: HTTPFaultInjection | undefined): VirtualService {
  const route = [{destination: {host: service}}]
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {name: service},
    spec: {
      hosts: [service],
      http: [
        {
          name: 'targeted',
          match: [{headers: {[TARGET_HEADER.name]: {exact: TARGET_HEADER.value}}}],
          ...(fault === undefined ? {} : {fault}),
          route,
        },
        {name: 'default', route},
      ],
    },
  }
}
