import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base.js'
import {formatDuration} from '@faultline/core/duration.js'
import {loadSandbox, type StatusResult} from '../../runner/sandbox.js'

/** `chaos sandbox status`: whether a sandbox runs, and where its parts listen. */
export default class SandboxStatus extends BaseCommand {
  static override summary = 'Show whether the sandbox is running, its URLs, pods and uptime.'
  static override description =
    'Exit code 0 either way; use --json and read "running" in scripts. A record left by a crashed sandbox is cleaned up and reported as not running.'
  static override examples = ['<%= config.bin %> sandbox status', '<%= config.bin %> sandbox status --json']
  static override flags = {
    'state-dir': Flags.string({description: "the sandbox's state directory", env: 'CHAOS_SANDBOX_DIR'}),
  }

  static override enableJsonFlag = true

  async run(): Promise<StatusResult> {
    const {resolveStateDir, sandboxStatus} = await loadSandbox()
    const {flags} = await this.parse(SandboxStatus)
    const status = await sandboxStatus(resolveStateDir(flags['state-dir']))
    const {state} = status
    if (state === undefined) {
      this.log(`No sandbox is running in ${status.stateDir}. Start one with: chaos sandbox up --detach`)
      return status
    }
    this.log(
      [
        `Sandbox running (pid ${state.pid}, up ${formatDuration((status.uptimeSeconds ?? 0) * 1000)}) in ${status.stateDir}`,
        `  API server  ${state.apiServer}`,
        `  kubeconfig  ${state.kubeconfig}`,
        `  proxy       ${state.proxy}`,
        ...(state.gateway === undefined
          ? []
          : [`  gateway     ${state.gateway} (istio-system/istio-ingressgateway, bookinfo-gateway.yaml)`]),
        `  metrics     ${state.metrics}`,
        `  Prometheus  ${state.prometheus ?? 'not running'}`,
        `  reaper      ${state.reaperIntervalMs === undefined ? 'off' : `every ${formatDuration(state.reaperIntervalMs)}, reverts faults past their expiry (chaos revert --expired)`}`,
        `  API faults  ${state.apiFaults ?? 'none'}`,
        `  namespace   ${state.namespace}`,
        '  pods:',
        ...state.pods.map(p => `    ${p.name.padEnd(36)} app=${p.app} version=${p.version}`),
      ].join('\n'),
    )
    return status
  }
}
