import {Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {connectionFlags, targetFlags} from '../cli/flags.js'
import {ClusterUnavailable, ExitCode} from '@faultline/core/errors.js'
import {type CleanupReport, cannotCheck, revertLeftovers} from '../runner/leftovers.js'
import {NoTarget, resolveTarget} from '../runner/target.js'

/** `chaos revert`: restore every VirtualService a run left behind (after a crash, kill -9 or a failed revert). */
export default class Revert extends BaseCommand {
  static override summary = 'Revert faults left behind by runs that died or could not revert.'
  static override description = `Finds Faultline's faults in the namespace from the objects' own labels and annotations, and restores each VirtualService exactly (or, if someone edited it since, removes only Faultline's routes and marks; objects Faultline created are deleted).

By default only faults past their expiry are reverted (their run is gone); a run that may still be live is listed and left alone unless you name it with --run or pass --all. With nothing to do it says so and exits 0; exit 5 when a revert failed.`
  static override examples = [
    '<%= config.bin %> revert',
    '<%= config.bin %> revert --run 20261126-013010-c9b3 --namespace default',
    '<%= config.bin %> revert --all --dry-run',
  ]
  static override flags = {
    run: Flags.string({description: 'revert only this run id'}),
    all: Flags.boolean({description: 'also revert runs that have not expired yet'}),
    expired: Flags.boolean({description: 'only faults past their expiry (the default)', exclusive: ['all']}),
    'dry-run': Flags.boolean({description: 'show what would be reverted; change nothing'}),
    ...connectionFlags,
  }
  static override enableJsonFlag = true

  async run(): Promise<CleanupReport> {
    const {flags} = await this.parse(Revert)
    let target
    try {
      target = await resolveTarget({...targetFlags(flags), ephemeral: false}, undefined, line => this.logToStderr(line))
    } catch (err) {
      // Unreachable is not empty: its run's "nothing was injected" hint would be wrong here.
      if (err instanceof ClusterUnavailable && !(err instanceof NoTarget)) throw cannotCheck(err.message, err)
      if (!(err instanceof NoTarget)) throw err
      this.log(`Nothing to revert: ${err.message}.`)
      return {namespace: flags.namespace ?? 'default', found: [], reverted: [], skipped: []}
    }
    try {
      const report = await revertLeftovers(target.cluster, target.namespace, {
        ...(flags.run === undefined ? {} : {runId: flags.run}),
        all: flags.all,
        dryRun: flags['dry-run'],
      })
      if (report.found.length === 0)
        this.log(`Nothing to revert: no Faultline faults in namespace ${report.namespace} (${target.note}).`)
      for (const note of report.notes ?? []) this.logToStderr(`note: ${note}`)
      for (const r of report.reverted)
        this.log(
          `${r.ok ? '✓' : '✗'} ${r.kind === undefined ? '' : `${r.kind} `}${r.namespace}/${r.name}: ${r.ok ? r.action : 'FAILED'} — ${r.message}`,
        )
      for (const s of report.skipped)
        this.log(
          `- ${s.kind === undefined ? '' : `${s.kind} `}${report.namespace}/${s.name} (run ${s.runId}): left alone — ${s.reason}`,
        )
      if (report.found.length > 0 && report.reverted.length === 0 && report.skipped.length === 0)
        this.log(
          `Nothing matched: faults found are of runs ${[...new Set(report.found.map(f => f.runId))].join(', ')}.`,
        )
      process.exitCode = report.reverted.every(r => r.ok) ? ExitCode.Held : ExitCode.RevertFailed
      return report
    } finally {
      await target.close()
    }
  }
}
