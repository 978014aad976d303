/**
 * A kubeconfig for the sandbox, so kubectl, client-node and `chaos run` reach it like any cluster:
 * one cluster, user and context, all named `faultline-sandbox`, authenticated by a bearer token over
 * TLS (kubectl will not send a token to an `http://` server).
 */
import {chmod, writeFile} from 'node:fs/promises'

import {stringify} from 'yaml'

/** The cluster, user and context name in every sandbox kubeconfig. */
export const SANDBOX_CONTEXT = 'faultline-sandbox'

/**
 * The name of the cluster extension that says how to reach the sandbox's mesh: `chaos run
 * --kubeconfig <state-dir>/kubeconfig` (or KUBECONFIG, --context) finds the forward proxy and
 * Prometheus there, as `--sandbox` finds them in sandbox.json (src/cluster/connect.ts reads it).
 */
export const SANDBOX_EXTENSION = 'faultline.dev/sandbox'

/** What the `faultline.dev/sandbox` extension carries. */
export interface SandboxExtension {
  /** The forward proxy into the mesh (through the chaos-client pod's sidecar), `http://127.0.0.1:<port>`. */
  proxy: string
  /** The sandbox's Prometheus, when it runs one. */
  prometheus?: string
  /** Its ingress gateway, `http://127.0.0.1:<port>`: where `--entry gateway` sends the load (src/cli/entry.ts gatewayAddress). */
  gateway?: string
}

/** What a sandbox kubeconfig points at. */
export interface KubeconfigOptions {
  /** The API server URL (`https://127.0.0.1:<port>`). */
  server: string
  token: string
  /**
   * The server's PEM certificate (`startApiServer(...).certificateAuthority`). Without it an https
   * server is trusted blindly (`insecure-skip-tls-verify`), which only a loopback sandbox can afford.
   */
  certificateAuthority?: string
  /** The context's default namespace (default `default`). */
  namespace?: string
  /** The context name (default `faultline-sandbox`). */
  context?: string
  /** The sandbox's proxy and Prometheus, written as the cluster's `faultline.dev/sandbox` extension. */
  sandbox?: SandboxExtension
}

function tlsOf(opts: KubeconfigOptions): Record<string, unknown> {
  if (opts.certificateAuthority !== undefined)
    return {'certificate-authority-data': Buffer.from(opts.certificateAuthority).toString('base64')}
  return opts.server.startsWith('https:') ? {'insecure-skip-tls-verify': true} : {}
}

/** The kubeconfig YAML text. */
export function kubeconfigYaml(opts: KubeconfigOptions): string {
  const name = opts.context ?? SANDBOX_CONTEXT
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [
      {
        name,
        cluster: {
          server: opts.server,
          ...tlsOf(opts),
          // kubectl keeps and ignores extensions it does not know (clientcmd's NamedExtension).
          ...(opts.sandbox === undefined ? {} : {extensions: [{name: SANDBOX_EXTENSION, extension: opts.sandbox}]}),
        },
      },
    ],
    users: [{name, user: {token: opts.token}}],
    contexts: [{name, context: {cluster: name, user: name, namespace: opts.namespace ?? 'default'}}],
    'current-context': name,
  })
}

/** Writes the kubeconfig readable by its owner only (it holds the token). */
export async function writeKubeconfig(file: string, opts: KubeconfigOptions): Promise<void> {
  await writeFile(file, kubeconfigYaml(opts), {mode: 0o600})
  // writeFile's mode applies only when it creates the file; an existing one may be wider.
  await chmod(file, 0o600)
}
