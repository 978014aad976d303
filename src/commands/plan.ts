import {userInfo} from 'node:os'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {type PlanResult, planFromFiles} from '../faults/plan-files.js'
import {PLAN_FORMATS, renderPlan} from '../faults/render.js'

/** The local user, recorded as the owner of what a run writes. */
function currentUser(): string {
  try {
    return userInfo().username
  } catch {
    return process.env['USER'] ?? 'unknown'
  }
}

/** `chaos plan <file>`: shows the VirtualServices a run would write, without touching a cluster. */
export default class Plan extends BaseCommand {
  static override summary = 'Show the VirtualServices a run would write, without touching a cluster.'
  static override description = 'Compiles the experiment\'s faults against the VirtualServices given with --existing (none: every target gets a new one) and prints what a run would apply: YAML with a header per object, a kubectl List as JSON, or a unified diff from the existing objects. Works offline.'
  static override examples = [
    '<%= config.bin %> plan experiments/ratings-delay.yaml',
    '<%= config.bin %> plan experiments/ratings-delay.yaml --existing <(kubectl get virtualservices -o yaml) -o diff',
    '<%= config.bin %> plan experiments/ratings-delay.yaml --existing samples/virtual-service-all-v1.yaml -o json',
  ]
  static override args = {
    file: Args.string({description: 'experiment file', required: true}),
  }
  static override flags = {
    existing: Flags.string({description: 'manifest file with the VirtualServices that exist now (repeatable; multi-document YAML or a List)', multiple: true, default: []}),
    output: Flags.string({char: 'o', description: 'output format', options: [...PLAN_FORMATS], default: 'yaml'}),
    namespace: Flags.string({char: 'n', description: 'target namespace (overrides spec.target.namespace)'}),
    'run-id': Flags.string({description: 'run id to write into route names and annotations (default: a new one)'}),
  }
  static override enableJsonFlag = true

  async run(): Promise<PlanResult> {
    const {args, flags} = await this.parse(Plan)
    const result = await planFromFiles({
      file: args.file,
      existingFiles: flags.existing,
      owner: currentUser(),
      ...(flags.namespace === undefined ? {} : {namespace: flags.namespace}),
      ...(flags['run-id'] === undefined ? {} : {runId: flags['run-id']}),
    })
    if (!this.jsonEnabled()) {
      for (const note of result.notes) this.logToStderr(`note: ${note}`)
      // YAML carries the per-object notes as comments; the other formats would lose them.
      if (flags.output !== 'yaml') {
        for (const o of result.plan.objects) for (const note of o.notes) this.logToStderr(`note: ${o.desired.metadata.name}: ${note}`)
      }
      process.stdout.write(renderPlan(result.plan, flags.output as (typeof PLAN_FORMATS)[number], result.experiment.spec.faults))
    }
    return result
  }
}
