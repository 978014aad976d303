import {Flags} from '@oclif/core'

import {BaseCommand} from '../../cli/base.js'
import {type DownResult, loadSandbox} from '../../runner/sandbox.js'

/** `chaos sandbox down`: stops a sandbox started with `up --detach`. */
export default class SandboxDown extends BaseCommand {
  static override summary = 'Stop the sandbox running in the state directory.'
  static override description =
    'Sends it SIGTERM, waits until it has stopped everything (SIGKILL after 20s), and removes its record. Says so when none runs.'
  static override examples = [
    '<%= config.bin %> sandbox down',
    '<%= config.bin %> sandbox down --state-dir /tmp/chaos-sandbox',
  ]
  static override flags = {
    'state-dir': Flags.string({description: "the sandbox's state directory", env: 'CHAOS_SANDBOX_DIR'}),
  }

  static override enableJsonFlag = true

  async run(): Promise<DownResult> {
    const {resolveStateDir, stopSandbox} = await loadSandbox()
    const {flags} = await this.parse(SandboxDown)
    const result = await stopSandbox(resolveStateDir(flags['state-dir']))
    this.log(
      result.outcome === 'stopped'
        ? `Stopped the sandbox (pid ${result.pid}) in ${result.stateDir}.`
        : `No sandbox is running in ${result.stateDir}.`,
    )
    return result
  }
}
