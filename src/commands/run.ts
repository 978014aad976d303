import {readFileSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {parseEntryFlag} from '../cli/entry.js'
import {connectionFlags} from '../cli/flags.js'
import {AfterOutcome, outcomeFlags} from '../cli/outcome.js'
import {driverName, localDriver, type ReportedRun, runInput, Session, sessionOptions} from '../cli/session.js'
import {openWayIn} from '../cli/way-in.js'
import {loadExperiment} from '../experiment/load.js'
import {withNamespace} from '../experiment/namespace.js'
import {FAIL_ON, FAIL_ON_HELP, type FailOn, gate, gateNote} from '../gameday/gate.js'
import {k6OperatorDriverFor} from '../load/k6-operator.js'
import {type Experiment, LOAD_DRIVERS} from '../experiment/model.js'
import type {LoadDriver} from '../load/driver.js'
import type {Target} from '../runner/target.js'
import {githubAnnotations, githubSummary} from '../report/run/github.js'
import type {JournalDocument} from '../journal/journal.js'

/** `chaos run <file>`: apply the faults, drive load, check the hypothesis, always revert. */
export default class Run extends BaseCommand {
  static override summary = 'Run an experiment: baseline, fault, recovery — and always revert.'
  static override description = `Exit codes: 0 the hypothesis held; 1 it deviated; 2 invalid experiment or usage; 3 aborted (guardrail, signal, time limit) — faults reverted; 4 could not run (cluster, Prometheus, baseline not steady) — nothing injected; 5 revert failed — faults may still be live (the message says how to clean up).

With no kubeconfig at all (or with --sandbox) the run uses the built-in sandbox.`
  static override examples = [
    '<%= config.bin %> run experiments/ratings-delay.yaml',
    '<%= config.bin %> run experiments/ratings-abort.yaml --phases baseline=5s,fault=10s,recovery=5s',
    '<%= config.bin %> run experiments/ratings-delay.yaml --context prod-eu --namespace bookinfo --prometheus-url http://localhost:9090',
  ]
  static override args = {file: Args.string({description: 'experiment file', required: true})}
  static override flags = {
    ...connectionFlags,
    'prometheus-url': Flags.string({description: 'Prometheus base URL for PromQL probes'}),
    phases: Flags.string({description: 'override phase durations, e.g. baseline=5s,fault=10s,recovery=5s'}),
    driver: Flags.string({description: 'load driver (overrides spec.load.driver)', options: [...LOAD_DRIVERS]}),
    'report-dir': Flags.string({description: 'where run folders are written', default: 'reports'}),
    html: Flags.boolean({
      description:
        "write report.html and the report root's index.html (--no-html: journal, junit.xml and summary.md only, for headless CI)",
      default: true,
      allowNo: true,
    }),
    'redact-header': Flags.string({
      description:
        "mask this header's values in the journal and every report, in addition to authorization, proxy-authorization, cookie and set-cookie (repeatable)",
      multiple: true,
      default: [],
    }),
    pushgateway: Flags.string({
      description:
        'push run metrics to this Prometheus Pushgateway (job faultline, grouped by experiment) when the fault goes live and at the end; a failed push only warns',
    }),
    'pushgateway-instance': Flags.string({
      description:
        "add an instance grouping label to --pushgateway pushes (default none: each run replaces the experiment's last)",
      dependsOn: ['pushgateway'],
    }),
    ignition: Flags.boolean({
      description:
        "before the baseline, check that the fault can fire: a 1 ms delay for the targeted match, a few targeted requests, the calling sidecars' fault counters must move (exit 4 when they do not); --no-ignition skips it",
      default: true,
      allowNo: true,
    }),
    'fail-on': Flags.string({description: FAIL_ON_HELP, options: [...FAIL_ON], default: 'any'}),
    entry: Flags.string({
      description:
        "how load and HTTP probes enter the mesh, overriding spec.load.entry: proxy=URL (an HTTP forward proxy), gateway (the ingress gateway: spec.load.entry's, else Service istio-system/istio-ingressgateway port 80, at its load-balancer address) gateway=URL (a gateway at that address) or portForward=SERVICE[.NAMESPACE]:PORT (a port-forward chaos keeps to the Service's ready pods through the API server; bare portForward: the Service of the load URL). Without any: the sandbox's proxy on the sandbox, else HTTP_PROXY/HTTPS_PROXY/NO_PROXY",
    }),
    ...outcomeFlags,
  }
  static override enableJsonFlag = true

  async run(): Promise<
    Omit<ReportedRun, 'exitCode'> & {exitCode: number; outcomeExitCode: number; failOn: FailOn; tolerated: boolean}
  > {
    const {args, flags} = await this.parse(Run)
    const experiment = await loadExperiment(args.file)
    const out = this.jsonEnabled() ? process.stderr : process.stdout
    // --keep, --notify, --report-url, --entry: checked before anything starts (exit 2).
    const after = AfterOutcome.from(flags, line => out.write(`${line}\n`))
    if (flags.entry !== undefined) parseEntryFlag(flags.entry, experiment.spec.load.entry, experiment.spec.load.url)
    const name = driverName(flags.driver, experiment)
    const local = name === 'k6-operator' ? undefined : await localDriver(name, line => out.write(`${line}\n`))
    const session = await Session.open(sessionOptions(out, flags, experiment.spec.target?.namespace))
    const {target} = session
    const prometheusUrl = flags['prometheus-url'] ?? target.prometheusUrl
    let result: ReportedRun
    let startedAt = new Date()
    let closeEntry: (() => Promise<void>) | undefined // a port-forward (to the gateway or --entry portForward's Service), stopped when the run ends
    try {
      const driver = local ?? operatorDriver(target, experiment, prometheusUrl)
      const way = await openWayIn(
        withNamespace(experiment, target.namespace),
        flags.entry,
        target,
        target.namespace,
        driver,
        line => session.say(line),
      ) // ${namespace} in stats, PromQL and URLs
      closeEntry = way.close
      startedAt = new Date()
      const experimentRun = {
        file: args.file,
        experiment: way.experiment,
        namespace: target.namespace,
        driver,
        way,
        signal: session.signals.signal,
        events: session.events(),
      }
      result = await session.run(runInput(experimentRun, target.cluster, flags, prometheusUrl), {
        html: flags.html,
        redactHeaders: flags['redact-header'],
      })
    } catch (err) {
      throw after.unwritableRoot(err) // a full report volume before anything was injected: exit 4, the volume named
    } finally {
      await closeEntry?.().catch(() => undefined)
      await session.close()
    }
    return judge(result, flags['fail-on'] as FailOn, out, async exitCode =>
      after.runEnded(experiment.metadata.name, result, exitCode, startedAt),
    )
  }
}

/** k6-operator's driver: runner pods in the target cluster, metrics back through its Prometheus. */
function operatorDriver(target: Target, experiment: Experiment, prometheusUrl: string | undefined): LoadDriver {
  return k6OperatorDriverFor(
    target.cluster,
    experiment.spec.load.k6Operator ?? {},
    prometheusUrl ?? experiment.spec.prometheus?.url,
  )
}

/** Prints where the run's files are, applies --fail-on to the outcome, sets the exit code, then `ended` (--keep, --notify, --summary). */
async function judge(
  result: ReportedRun,
  failOn: FailOn,
  out: NodeJS.WritableStream,
  ended: (exitCode: number) => Promise<void>,
) {
  out.write(`Journal: ${result.journalFile}\n`)
  const html = result.reportFiles.find(f => f.endsWith('.html'))
  if (html !== undefined) out.write(`Report:  ${html}\n`)
  if (result.indexFile !== undefined) out.write(`History: ${result.indexFile}\n`)
  publishToGitHub(result, out)
  // --fail-on: the outcome stays what it was; only whether it fails the CI job changes.
  const verdict = gate([result.outcome], failOn)
  const note = gateNote(verdict, failOn)
  if (note !== undefined) out.write(`${note}\n`)
  const exitCode = verdict.tolerated.length > 0 ? verdict.exitCode : result.exitCode
  process.exitCode = exitCode
  await ended(exitCode)
  return {...result, exitCode, outcomeExitCode: result.exitCode, failOn, tolerated: verdict.tolerated.length > 0}
}

/**
 * Inside GitHub Actions: the summary goes to the job's step summary and each failed check becomes
 * an `::error` annotation (read back from the redacted journal on disk, as every report is).
 */
function publishToGitHub(result: ReportedRun, out: NodeJS.WritableStream): void {
  if (process.env.GITHUB_ACTIONS !== 'true' && process.env.GITHUB_STEP_SUMMARY === undefined) return
  try {
    const doc = JSON.parse(readFileSync(result.journalFile, 'utf8')) as JournalDocument
    githubSummary(doc)
    if (process.env.GITHUB_ACTIONS === 'true') for (const line of githubAnnotations(doc)) out.write(`${line}\n`)
  } catch (err) {
    out.write(`warning: the GitHub summary could not be written (${(err as Error).message})\n`)
  }
}
