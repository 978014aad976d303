/**
 * The sandbox is a package of its own (`@faultline/sandbox`, packages/sandbox) that a development
 * install has and the runtime image does not. The CLI reaches it only here, on demand: `chaos
 * sandbox …` and runs on the sandbox (`--sandbox`, or no kubeconfig) load it; everything else runs
 * without it. The sandbox's reaper gets `chaos revert --expired` from here, so the sandbox never
 * imports the runner.
 */
import {ClusterUnavailable} from '@faultline/core/errors.js'

import {connect} from '../cluster/connect.js'
import {type CleanupReport, revertLeftovers} from './leftovers.js'

/** The sandbox package's API (packages/sandbox/src/index.ts). */
export type SandboxPackage = typeof import('@faultline/sandbox')

const PACKAGE = '@faultline/sandbox'

/** The sandbox is not installed here (the runtime image, or `npm ci --omit=dev`). */
export class SandboxAbsent extends ClusterUnavailable {
  constructor(cause: unknown) {
    super(
      'the sandbox is not part of this installation (the runtime image installs only what runs against a real cluster)',
      {
        cause,
        hint: 'Run against a cluster (--kubeconfig, --context, or in-cluster), or use the sandbox from a clone of the repository (npm ci, then bin/chaos), where the package @faultline/sandbox is installed.',
      },
    )
  }
}

/** Whether `err` says that the sandbox package itself cannot be found (not a module it imports). */
function isAbsent(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException
  return (
    (e?.code === 'ERR_MODULE_NOT_FOUND' || e?.code === 'MODULE_NOT_FOUND') &&
    typeof e.message === 'string' &&
    e.message.includes(`'${PACKAGE}'`)
  )
}

/** The sandbox package, or undefined when this installation has none. */
export async function sandboxIfInstalled(): Promise<SandboxPackage | undefined> {
  try {
    return (await import(PACKAGE)) as SandboxPackage
  } catch (err) {
    if (isAbsent(err)) return undefined
    throw err
  }
}

/** The sandbox package, or `SandboxAbsent` (exit 4) saying that this installation has none. */
export async function loadSandbox(): Promise<SandboxPackage> {
  try {
    return (await import(PACKAGE)) as SandboxPackage
  } catch (err) {
    throw isAbsent(err) ? new SandboxAbsent(err) : err
  }
}

/**
 * What the sandbox's reaper runs in a namespace: `chaos revert --expired` (no selection: only faults
 * past their expiry), through a client of the API server the kubeconfig names — the sandbox's own.
 */
export function expiredReverter(kubeconfig: string): (namespace: string, now: Date) => Promise<CleanupReport> {
  const cluster = connect({kubeconfig})
  if (cluster === undefined) throw new Error(`the sandbox's kubeconfig ${kubeconfig} cannot be loaded`)
  return (namespace, now) => revertLeftovers(cluster, namespace, {}, now)
}

/** What `chaos sandbox up` returns (the package's `UpResult`). */
export type UpResult = Awaited<ReturnType<SandboxPackage['startDetached']>>
/** What `chaos sandbox down` returns. */
export type DownResult = Awaited<ReturnType<SandboxPackage['stopSandbox']>>
/** What `chaos sandbox status` returns. */
export type StatusResult = Awaited<ReturnType<SandboxPackage['sandboxStatus']>>
/** An Istio release the sandbox's mesh behaves like (`--istio`). */
export type IstioVersion = SandboxPackage['ISTIO_VERSIONS'][number]
/** Header propagation beyond real bookinfo's (`--propagate`). */
export type Propagation = SandboxPackage['PROPAGATIONS'][number]
