/** The standard Kubernetes connection flags, shared by every command that talks to a cluster. */
import {Flags} from '@oclif/core'

import type {TargetFlags} from '../runner/target.js'

/** `--kubeconfig`, `--context`, `-n/--namespace`, `--sandbox`, `--state-dir`. */
export const connectionFlags = {
  kubeconfig: Flags.string({description: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)'}),
  context: Flags.string({description: 'kubeconfig context'}),
  namespace: Flags.string({
    char: 'n',
    description: "namespace (default: spec.target.namespace for run, else the context's)",
  }),
  sandbox: Flags.boolean({
    description: 'use the built-in sandbox (the running one; chaos run starts an ephemeral one if none runs)',
  }),
  'state-dir': Flags.string({description: 'sandbox state directory to look in', env: 'CHAOS_SANDBOX_DIR'}),
}

/** The parsed connection flags as `resolveTarget` takes them (absent flags left out). */
export function targetFlags(flags: {
  kubeconfig?: string | undefined
  context?: string | undefined
  namespace?: string | undefined
  sandbox?: boolean | undefined
  'state-dir'?: string | undefined
}): TargetFlags {
  return {
    ...(flags.kubeconfig === undefined ? {} : {kubeconfig: flags.kubeconfig}),
    ...(flags.context === undefined ? {} : {context: flags.context}),
    ...(flags.namespace === undefined ? {} : {namespace: flags.namespace}),
    ...(flags['state-dir'] === undefined ? {} : {stateDir: flags['state-dir']}),
    sandbox: flags.sandbox === true,
  }
}
