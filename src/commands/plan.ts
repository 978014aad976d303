import {Args, Flags} from '@oclif/core'

import {BaseCommand, ExitCode} from '../cli/base.js'
import {connectionFlags, targetFlags} from '../cli/flags.js'
import {currentUser} from '../cli/user.js'
import {openWayIn} from '../cli/way-in.js'
import type {ClusterTarget} from '../cluster/cluster.js'
import {loadExperiment} from '../experiment/load.js'
import {withNamespace} from '../experiment/namespace.js'
import {type LivePlan, planAgainstCluster} from '../runner/live-plan.js'
import {resolveTarget} from '../runner/target.js'
import {type PlanResult, planFromFiles} from '../faults/plan-files.js'
import {PLAN_FORMATS, renderPlan} from '../faults/render.js'

/** `chaos plan <file>`: shows the VirtualServices a run would write, offline or against a live cluster. */
export default class Plan extends BaseCommand {
  static override summary =
    'Show the VirtualServices a run would write (offline, or --live against a cluster with preflight).'
  static override description =
    "Compiles the experiment's faults against the VirtualServices given with --existing (none: every target gets a new one) and prints what a run would apply: YAML with a header per object, a kubectl List as JSON, or a unified diff from the existing objects. Works offline. With --live (or --kubeconfig/--context/--sandbox) it reads the cluster's VirtualServices instead and prints preflight's findings too — with the reachability check, a few requests per traffic class through spec.load.entry's way in, as a run sends them — writing nothing; exit 4 when a run would stop before injecting."
  static override examples = [
    '<%= config.bin %> plan experiments/ratings-delay.yaml',
    '<%= config.bin %> plan experiments/ratings-delay.yaml --existing <(kubectl get virtualservices -o yaml) -o diff',
    '<%= config.bin %> plan experiments/ratings-delay.yaml --existing test/reference/istio-samples/bookinfo-networking/virtual-service-all-v1.yaml -o json',
    '<%= config.bin %> plan experiments/ratings-delay.yaml --live --context prod-eu -o diff',
  ]
  static override args = {
    file: Args.string({description: 'experiment file', required: true}),
  }
  static override flags = {
    existing: Flags.string({
      description: 'manifest file with the VirtualServices that exist now (repeatable; multi-document YAML or a List)',
      multiple: true,
      default: [],
    }),
    output: Flags.string({char: 'o', description: 'output format', options: [...PLAN_FORMATS], default: 'yaml'}),
    namespace: Flags.string({char: 'n', description: 'target namespace (overrides spec.target.namespace)'}),
    'run-id': Flags.string({description: 'run id to write into route names and annotations (default: a new one)'}),
    live: Flags.boolean({
      description:
        'plan against the cluster (or the running sandbox) and run preflight; implied by --kubeconfig, --context or --sandbox',
      exclusive: ['existing'],
    }),
    kubeconfig: connectionFlags.kubeconfig,
    context: connectionFlags.context,
    sandbox: connectionFlags.sandbox,
    'state-dir': connectionFlags['state-dir'],
    'prometheus-url': Flags.string({description: 'Prometheus base URL for the PromQL checks (--live)'}),
  }
  static override enableJsonFlag = true

  async run(): Promise<PlanResult | LivePlanResult> {
    const {args, flags} = await this.parse(Plan)
    if (flags.live || flags.kubeconfig !== undefined || flags.context !== undefined || flags.sandbox)
      return this.live(args.file, flags)
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
        for (const o of result.plan.objects)
          for (const note of o.notes) this.logToStderr(`note: ${o.desired.metadata.name}: ${note}`)
      }
      process.stdout.write(
        renderPlan(result.plan, flags.output as (typeof PLAN_FORMATS)[number], result.experiment.spec.faults),
      )
    }
    return result
  }

  /**
   * `--live`: the cluster's objects, preflight's findings, then the plan; exit 4 when a run would
   * stop. The way in (spec.load.entry) is opened as a run opens it, for the reachability requests,
   * and closed again (a port-forward to a gateway or a Service writes nothing to the cluster).
   */
  private async live(
    file: string,
    flags: {
      output: string
      namespace?: string | undefined
      'run-id'?: string | undefined
      'prometheus-url'?: string | undefined
    } & Parameters<typeof targetFlags>[0],
  ): Promise<LivePlanResult> {
    const experiment = await loadExperiment(file)
    const target = await resolveTarget(
      {...targetFlags(flags), ephemeral: false},
      experiment.spec.target?.namespace,
      line => this.logToStderr(line),
    )
    const say = (line: string) => this.logToStderr(line)
    let closeEntry: (() => Promise<void>) | undefined
    try {
      if (!this.jsonEnabled()) say(`target: ${target.note}, namespace ${target.namespace}`)
      const way = await openWayIn(
        withNamespace(experiment, target.namespace),
        undefined,
        target,
        target.namespace,
        {name: experiment.spec.load.driver ?? 'builtin'},
        say,
      )
      closeEntry = way.close
      const live = await planAgainstCluster(target, way.experiment, {
        owner: currentUser(),
        ...(flags['run-id'] === undefined ? {} : {runId: flags['run-id']}),
        ...(flags['prometheus-url'] === undefined ? {} : {prometheusUrl: flags['prometheus-url']}),
      })
      if (!this.jsonEnabled()) {
        for (const c of live.checks)
          this.logToStderr(
            `preflight ${{ok: '✓', warning: '!', failed: '✗'}[c.status]} ${c.check}: ${c.message}${c.hint === undefined ? '' : ` (${c.hint})`}`,
          )
        process.stdout.write(
          renderPlan(live.plan, flags.output as (typeof PLAN_FORMATS)[number], experiment.spec.faults),
        )
        if (!live.ready) this.logToStderr('A run would stop here, before injecting anything (exit 4).')
      }
      process.exitCode = live.ready ? ExitCode.Held : ExitCode.CouldNotRun
      return {target: target.cluster.target, namespace: target.namespace, ...live}
    } finally {
      await closeEntry?.().catch(() => undefined)
      await target.close()
    }
  }
}

/** What `chaos plan --live` returns with --json. */
interface LivePlanResult extends LivePlan {
  target: ClusterTarget
  namespace: string
}
