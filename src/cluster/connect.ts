/**
 * Finds the cluster the way kubectl does: `--kubeconfig`, then `$KUBECONFIG`, then
 * `~/.kube/config`, then the in-cluster service account; `--context` and `--namespace` override.
 * A cluster entry carrying the `faultline.dev/sandbox` extension (written by `chaos sandbox up`)
 * also says how load enters that mesh: the sandbox's forward proxy, and its Prometheus.
 */
import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {parse} from 'yaml'

import {KubeConfig} from './client-node.js'

import {ClusterUnavailable, UsageError} from '@faultline/core/errors.js'
import type {Cluster, ClusterTarget} from './cluster.js'
import {KubeCluster} from './kube.js'

/** Standard Kubernetes connection flags. */
export interface ConnectOptions {
  kubeconfig?: string
  context?: string
  namespace?: string
  /** For tests: the environment and home directory to look in. */
  env?: NodeJS.ProcessEnv
  home?: string
}

/** The context name `chaos sandbox up` writes into its kubeconfig. */
export const SANDBOX_CONTEXT = 'faultline-sandbox'

/** The cluster extension `chaos sandbox up` writes (packages/sandbox/src/kubeconfig.ts SANDBOX_EXTENSION). */
export const SANDBOX_EXTENSION = 'faultline.dev/sandbox'

/** How load and HTTP probes reach a sandbox's mesh, from its kubeconfig. */
export interface MeshAccess {
  /** The sandbox's forward proxy (through its chaos-client pod's sidecar). */
  proxy: string
  /** Its Prometheus, when it runs one. */
  prometheus?: string
  /** Its ingress gateway's address (`http://127.0.0.1:<port>`), when it runs one: where `--entry gateway` sends the load. */
  gateway?: string
}

/** A connected cluster, and how to reach its mesh when its kubeconfig says so. */
export interface Connection {
  cluster: Cluster
  sandbox?: MeshAccess
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** Which kubeconfig applies, or `in-cluster`, or undefined when there is none at all. */
export function findKubeconfig(opts: ConnectOptions = {}): string | 'in-cluster' | undefined {
  const env = opts.env ?? process.env
  if (opts.kubeconfig !== undefined) {
    if (!existsSync(opts.kubeconfig))
      throw new UsageError(`--kubeconfig ${opts.kubeconfig}: no such file`, {
        hint: 'Pass the path of an existing kubeconfig, or omit the flag to use $KUBECONFIG or ~/.kube/config.',
      })
    return opts.kubeconfig
  }
  const fromEnv = (env['KUBECONFIG'] ?? '').split(':').filter(p => p !== '' && existsSync(p))
  if (fromEnv.length > 0) return fromEnv.join(':')
  const home = join(opts.home ?? homedir(), '.kube', 'config')
  if (existsSync(home)) return home
  if (env['KUBERNETES_SERVICE_HOST'] !== undefined && existsSync(join(SERVICE_ACCOUNT_DIR, 'token')))
    return 'in-cluster'
  return undefined
}

const httpUrl = (v: unknown): string | undefined => {
  if (typeof v !== 'string') return undefined
  try {
    return ['http:', 'https:'].includes(new URL(v).protocol) ? v : undefined
  } catch {
    return undefined
  }
}

/**
 * The `faultline.dev/sandbox` extension of cluster `name`, read from the kubeconfig files as kubectl
 * merges them (the first file that defines the cluster wins). client-node drops extensions, so the
 * files are read again; one that cannot be read or carries no valid proxy URL has no extension.
 */
export function sandboxExtension(files: readonly string[], name: string): MeshAccess | undefined {
  for (const file of files) {
    let doc: unknown
    try {
      doc = parse(readFileSync(file, 'utf8'))
    } catch {
      continue
    }
    const clusters = (doc as {clusters?: unknown} | null)?.clusters
    const entry = Array.isArray(clusters)
      ? (clusters.find((c: {name?: unknown}) => c?.name === name) as {cluster?: {extensions?: unknown}} | undefined)
      : undefined
    if (entry === undefined) continue
    const extensions = entry.cluster?.extensions
    const ext = (
      Array.isArray(extensions)
        ? (extensions.find((e: {name?: unknown}) => e?.name === SANDBOX_EXTENSION) as
            {extension?: {proxy?: unknown; prometheus?: unknown; gateway?: unknown}} | undefined)
        : undefined
    )?.extension
    const proxy = httpUrl(ext?.proxy)
    if (proxy === undefined) return undefined
    const prometheus = httpUrl(ext?.prometheus)
    const gateway = httpUrl(ext?.gateway)
    return {proxy, ...(prometheus === undefined ? {} : {prometheus}), ...(gateway === undefined ? {} : {gateway})}
  }
  return undefined
}

/** Loads the kubeconfig and returns a connected `Cluster`, or undefined when no configuration exists. */
export function connect(opts: ConnectOptions = {}): Cluster | undefined {
  return connectWith(opts)?.cluster
}

/** Like `connect`, with how to reach the mesh when the chosen context's cluster carries the sandbox extension. */
export function connectWith(opts: ConnectOptions = {}): Connection | undefined {
  const where = findKubeconfig(opts)
  if (where === undefined) return undefined
  const kc = new KubeConfig()
  let source: ClusterTarget['source'] = 'kubeconfig'
  let namespace = opts.namespace
  try {
    if (where === 'in-cluster') {
      kc.loadFromCluster()
      source = 'in-cluster'
      namespace ??= readFileSync(join(SERVICE_ACCOUNT_DIR, 'namespace'), 'utf8').trim()
    } else {
      for (const [i, file] of where.split(':').entries()) {
        if (i === 0) kc.loadFromFile(file)
        else {
          const more = new KubeConfig()
          more.loadFromFile(file)
          kc.mergeConfig(more, true)
        }
      }
    }
  } catch (err) {
    throw new ClusterUnavailable(`cannot load kubeconfig ${where}: ${(err as Error).message}`, {
      cause: err,
      hint: 'Check the file is a valid kubeconfig (kubectl config view).',
    })
  }
  if (opts.context !== undefined) {
    const names = kc.getContexts().map(c => c.name)
    if (!names.includes(opts.context))
      throw new UsageError(`--context ${opts.context}: no such context in ${where}`, {
        hint: `Available contexts: ${names.join(', ') || '(none)'}.`,
      })
    kc.setCurrentContext(opts.context)
  }
  const context = kc.getContextObject(kc.getCurrentContext())
  const server = kc.getCurrentCluster()?.server
  if (server === undefined)
    throw new ClusterUnavailable(`kubeconfig ${where} has no current cluster`, {
      hint: 'Select a context with --context, or set current-context in the kubeconfig.',
    })
  const clusterName = kc.getCurrentCluster()?.name
  const sandbox =
    where === 'in-cluster' || clusterName === undefined ? undefined : sandboxExtension(where.split(':'), clusterName)
  if (context?.name === SANDBOX_CONTEXT || sandbox !== undefined) source = 'sandbox'
  const user = kc.getCurrentUser()?.name
  const cluster = new KubeCluster(kc, {
    source,
    context: context?.name ?? 'in-cluster',
    server,
    namespace: namespace ?? context?.namespace ?? 'default',
    ...(user === undefined ? {} : {user}),
  })
  return {cluster, ...(sandbox === undefined ? {} : {sandbox})}
}
