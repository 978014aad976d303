/**
 * Where a run goes: the cluster from the standard Kubernetes flags, or the sandbox — the one
 * running in the default state dir, else an ephemeral one started for this run — when asked for
 * with `--sandbox` or when there is no kubeconfig at all.
 */
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ProxyAgent, request} from 'undici'

import type {Cluster} from '../cluster/cluster.js'
import {connect, connectWith} from '../cluster/connect.js'
import {ClusterUnavailable} from '@faultline/core/errors.js'
import {loadSandbox} from './sandbox.js'

/** The standard connection flags. */
export interface TargetFlags {
  kubeconfig?: string
  context?: string
  namespace?: string
  sandbox?: boolean
  /** The sandbox state dir to look in (default: the documented one). */
  stateDir?: string
  /** Start an ephemeral sandbox when none runs (default true; `chaos revert` has no use for a fresh one). */
  ephemeral?: boolean
}

/** There is no cluster to talk to: no kubeconfig and no running sandbox (and none may be started). */
export class NoTarget extends ClusterUnavailable {}

/** A resolved target. */
export interface Target {
  cluster: Cluster
  namespace: string
  /** The sandbox's forward proxy: load and HTTP probes enter the mesh through it. */
  proxy?: string
  /** The sandbox's Prometheus. */
  prometheusUrl?: string
  /** The sandbox's ingress gateway address, when its kubeconfig names one (`--entry gateway` sends the load there). */
  gateway?: string
  /** Why this target was chosen, for the console. */
  note: string
  /** Stops what was started for this run (an ephemeral sandbox). */
  close(): Promise<void>
}

async function sandboxTarget(flags: TargetFlags, why: string, log: (line: string) => void): Promise<Target> {
  // Not installed in the runtime image: SandboxAbsent (exit 4) says so.
  const {readSandboxState, resolveStateDir, startDetached, stopSandbox} = await loadSandbox()
  const stateDir = resolveStateDir(flags.stateDir)
  const running = await readSandboxState(stateDir)
  if (running !== undefined) {
    const cluster = connect({kubeconfig: running.kubeconfig}) as Cluster
    return {
      cluster,
      namespace: flags.namespace ?? running.namespace,
      proxy: running.proxy,
      ...(running.prometheus === undefined ? {} : {prometheusUrl: running.prometheus}),
      ...(running.gateway === undefined ? {} : {gateway: running.gateway}),
      note: `${why}: using the sandbox running in ${stateDir}`,
      close: async () => {},
    }
  }
  if (flags.ephemeral === false)
    throw new NoTarget(`${why}, and no sandbox is running in ${stateDir}`, {
      hint: 'Pass --kubeconfig/--context, or start one with chaos sandbox up.',
    })
  const dir = await mkdtemp(join(tmpdir(), 'faultline-sandbox-'))
  log(`${why}: starting an ephemeral sandbox for this run (chaos sandbox up keeps one running)…`)
  // Its own process, so the mesh and bookinfo do not share an event loop with the load and probes.
  const {state} = await startDetached({stateDir: dir, prometheus: true})
  await warmUp(state.proxy)
  const cluster = connect({kubeconfig: state.kubeconfig}) as Cluster
  return {
    cluster,
    namespace: flags.namespace ?? state.namespace,
    proxy: state.proxy,
    ...(state.prometheus === undefined ? {} : {prometheusUrl: state.prometheus}),
    ...(state.gateway === undefined ? {} : {gateway: state.gateway}),
    note: `${why}: using an ephemeral sandbox (bookinfo on 127.0.0.1, pid ${state.pid})${state.prometheus === undefined ? '; no Prometheus on PATH' : ''}`,
    close: async () => {
      await stopSandbox(dir)
      await rm(dir, {recursive: true, force: true})
    },
  }
}

/**
 * A few requests through bookinfo before the baseline: a real mesh is warm, and a fresh sandbox's
 * first requests (cold code paths, new connections) would otherwise fail a strict baseline.
 */
async function warmUp(proxy: string): Promise<void> {
  const dispatcher = new ProxyAgent({uri: proxy, proxyTunnel: false})
  try {
    for (let i = 0; i < 20; i++) {
      const res = await request('http://productpage:9080/productpage', {
        dispatcher,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      }).catch(() => undefined)
      await res?.body.dump()
    }
  } finally {
    await dispatcher.close()
  }
}

/** Resolves the target of a run from its flags and the experiment's `spec.target.namespace`. */
export async function resolveTarget(
  flags: TargetFlags,
  experimentNamespace: string | undefined,
  log: (line: string) => void,
): Promise<Target> {
  if (flags.sandbox === true)
    return sandboxTarget(
      {
        ...flags,
        ...(experimentNamespace === undefined || flags.namespace !== undefined ? {} : {namespace: experimentNamespace}),
      },
      '--sandbox',
      log,
    )
  const connection = connectWith({
    ...flags,
    ...(flags.namespace === undefined && experimentNamespace !== undefined ? {namespace: experimentNamespace} : {}),
  })
  if (connection === undefined)
    return sandboxTarget(flags, 'no kubeconfig found ($KUBECONFIG, ~/.kube/config, in-cluster)', log)
  const {cluster, sandbox} = connection
  try {
    await cluster.istioVersion()
  } catch (err) {
    throw new ClusterUnavailable(
      `cannot reach the cluster ${cluster.target.server} (context ${cluster.target.context}): ${(err as Error).message}`,
      {
        cause: err,
        hint: 'Check the kubeconfig and that the API server is reachable, or use --sandbox to run on the built-in sandbox. Nothing was injected.',
      },
    )
  }
  // A sandbox's kubeconfig names its proxy and Prometheus: load and HTTP probes enter its mesh as with --sandbox.
  if (sandbox !== undefined) {
    return {
      cluster,
      namespace: cluster.target.namespace,
      proxy: sandbox.proxy,
      ...(sandbox.prometheus === undefined ? {} : {prometheusUrl: sandbox.prometheus}),
      ...(sandbox.gateway === undefined ? {} : {gateway: sandbox.gateway}),
      note: `context ${cluster.target.context}: a sandbox (its kubeconfig's faultline.dev/sandbox extension); unless --entry or spec.load.entry names another way in, load enters the mesh through its proxy ${sandbox.proxy}`,
      close: async () => {},
    }
  }
  return {
    cluster,
    namespace: cluster.target.namespace,
    note: `context ${cluster.target.context}`,
    close: async () => {},
  }
}
