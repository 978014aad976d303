/**
 * Finds the cluster the way kubectl does: `--kubeconfig`, then `$KUBECONFIG`, then
 * `~/.kube/config`, then the in-cluster service account; `--context` and `--namespace` override.
 */
import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'

import {KubeConfig} from './client-node.js'

import {ClusterUnavailable, UsageError} from '../errors.js'
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

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

/** Which kubeconfig applies, or `in-cluster`, or undefined when there is none at all. */
export function findKubeconfig(opts: ConnectOptions = {}): string | 'in-cluster' | undefined {
  const env = opts.env ?? process.env
  if (opts.kubeconfig !== undefined) {
    if (!existsSync(opts.kubeconfig)) throw new UsageError(`--kubeconfig ${opts.kubeconfig}: no such file`, {hint: 'Pass the path of an existing kubeconfig, or omit the flag to use $KUBECONFIG or ~/.kube/config.'})
    return opts.kubeconfig
  }
  const fromEnv = (env['KUBECONFIG'] ?? '').split(':').filter(p => p !== '' && existsSync(p))
  if (fromEnv.length > 0) return fromEnv.join(':')
  const home = join(opts.home ?? homedir(), '.kube', 'config')
  if (existsSync(home)) return home
  if (env['KUBERNETES_SERVICE_HOST'] !== undefined && existsSync(join(SERVICE_ACCOUNT_DIR, 'token'))) return 'in-cluster'
  return undefined
}

/** Loads the kubeconfig and returns a connected `Cluster`, or undefined when no configuration exists. */
export function connect(opts: ConnectOptions = {}): Cluster | undefined {
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
    throw new ClusterUnavailable(`cannot load kubeconfig ${where}: ${(err as Error).message}`, {cause: err, hint: 'Check the file is a valid kubeconfig (kubectl config view).'})
  }
  if (opts.context !== undefined) {
    const names = kc.getContexts().map(c => c.name)
    if (!names.includes(opts.context)) throw new UsageError(`--context ${opts.context}: no such context in ${where}`, {hint: `Available contexts: ${names.join(', ') || '(none)'}.`})
    kc.setCurrentContext(opts.context)
  }
  const context = kc.getContextObject(kc.getCurrentContext())
  const server = kc.getCurrentCluster()?.server
  if (server === undefined) throw new ClusterUnavailable(`kubeconfig ${where} has no current cluster`, {hint: 'Select a context with --context, or set current-context in the kubeconfig.'})
  if (context?.name === SANDBOX_CONTEXT) source = 'sandbox'
  const user = kc.getCurrentUser()?.name
  return new KubeCluster(kc, {
    source,
    context: context?.name ?? 'in-cluster',
    server,
    namespace: namespace ?? context?.namespace ?? 'default',
    ...(user === undefined ? {} : {user}),
  })
}
