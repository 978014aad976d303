import {readFileSync} from 'node:fs'

import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {chosenEntry, entryProxy, gatewayAddress, parseEntryFlag, throughGateway} from '../cli/entry.js'
import {connectionFlags, targetFlags} from '../cli/flags.js'
import {AfterOutcome, outcomeFlags} from '../cli/outcome.js'
import {currentUser} from '../cli/user.js'
import {loadExperiment} from '../experiment/load.js'
import {withNamespace} from '../experiment/namespace.js'
import {FAIL_ON, FAIL_ON_HELP, type FailOn, gate, gateNote} from '../gameday/gate.js'
import {BuiltinDriver} from '../load/builtin.js'
import {proxyFor} from '../load/env-proxy.js'
import type {LoadDriver} from '../load/driver.js'
import {K6Driver, K6Unavailable, k6ProxyProblem} from '../load/k6.js'
import {k6OperatorDriverFor} from '../load/k6-operator.js'
import {LOAD_DRIVERS} from '../experiment/model.js'
import {githubAnnotations, githubSummary} from '../report/run/github.js'
import {ConsoleReporter} from '../runner/console.js'
import {EventStream} from '../journal/events.js'
import type {JournalDocument} from '../journal/journal.js'
import {type RunResult, runExperiment} from '../runner/run.js'
import {trapSignals} from '../runner/signals.js'
import {resolveTarget} from '../runner/target.js'
import {TelemetryPusher} from '../telemetry/pushgateway.js'

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
    html: Flags.boolean({description: 'write report.html and the report root\'s index.html (--no-html: journal, junit.xml and summary.md only, for headless CI)', default: true, allowNo: true}),
    'redact-header': Flags.string({description: 'mask this header\'s values in the journal and every report, in addition to authorization, proxy-authorization, cookie and set-cookie (repeatable)', multiple: true, default: []}),
    pushgateway: Flags.string({description: 'push run metrics to this Prometheus Pushgateway (job faultline, grouped by experiment) when the fault goes live and at the end; a failed push only warns'}),
    'pushgateway-instance': Flags.string({description: 'add an instance grouping label to --pushgateway pushes (default none: each run replaces the experiment\'s last)', dependsOn: ['pushgateway']}),
    ignition: Flags.boolean({description: 'before the baseline, check that the fault can fire: a 1 ms delay for the targeted match, a few targeted requests, the calling sidecars\' fault counters must move (exit 4 when they do not); --no-ignition skips it', default: true, allowNo: true}),
    'fail-on': Flags.string({description: FAIL_ON_HELP, options: [...FAIL_ON], default: 'any'}),
    entry: Flags.string({description: 'how load and HTTP probes enter the mesh, overriding spec.load.entry: proxy=URL (an HTTP forward proxy), gateway (the ingress gateway: spec.load.entry\'s, else Service istio-system/istio-ingressgateway port 80, at its load-balancer address) or gateway=URL (a gateway at that address). Without either: the sandbox\'s proxy on the sandbox, else HTTP_PROXY/HTTPS_PROXY/NO_PROXY'}),
    ...outcomeFlags,
  }
  static override enableJsonFlag = true

  async run(): Promise<Omit<RunResult, 'exitCode'> & {exitCode: number; outcomeExitCode: number; failOn: FailOn; tolerated: boolean}> {
    const {args, flags} = await this.parse(Run)
    const experiment = await loadExperiment(args.file)
    const out = this.jsonEnabled() ? process.stderr : process.stdout
    // --keep, --notify, --report-url: checked before anything starts (exit 2).
    const after = AfterOutcome.from(flags, line => out.write(`${line}\n`))
    if (flags.entry !== undefined) parseEntryFlag(flags.entry, experiment.spec.load.entry) // a bad --entry: exit 2 before anything starts
    // Before anything starts: a bad --pushgateway URL is a usage error (exit 2), not a leaked sandbox.
    const pusher = flags.pushgateway === undefined ? undefined : new TelemetryPusher({
      url: flags.pushgateway, warn: message => out.write(`warning: ${message}\n`),
      ...(flags['pushgateway-instance'] === undefined ? {} : {instance: flags['pushgateway-instance']}),
    })
    // k6 is looked for before anything starts (exit 4 with how to install it when it is absent).
    const driverName = flags.driver ?? experiment.spec.load.driver ?? 'builtin'
    let driver: LoadDriver = driverName === 'k6'
      ? new K6Driver({warn: message => out.write(`warning: ${message}\n`)})
      : new BuiltinDriver()
    if (driver.name === 'k6') out.write(`load driver: ${await driver.version()}\n`)
    const target = await resolveTarget(targetFlags(flags), experiment.spec.target?.namespace, line => out.write(`${line}\n`))
    out.write(`target: ${target.note}\n`)
    // k6-operator: runner pods in the target cluster, metrics back through its Prometheus.
    if (driverName === 'k6-operator') {
      try {
        driver = k6OperatorDriverFor(target.cluster, experiment.spec.load.k6Operator ?? {}, flags['prometheus-url'] ?? target.prometheusUrl ?? experiment.spec.prometheus?.url)
      } catch (err) {
        await target.close().catch(() => undefined)
        throw err
      }
    }
    const namespaced = withNamespace(experiment, target.namespace) // ${namespace} in stats, PromQL and URLs
    const events = new EventStream()
    const consoleReporter = new ConsoleReporter(out)
    events.subscribe(e => consoleReporter.handle(e))
    if (pusher !== undefined) events.subscribe(pusher.observe)
    const signals = trapSignals(message => out.write(`\n${message}\n`))
    let result: RunResult
    let startedAt = new Date()
    let closeEntry: (() => Promise<void>) | undefined // a port-forward to the gateway, stopped when the run ends
    try {
      // The way in: --entry over spec.load.entry; through a gateway, the load and HTTP probes go to its address with its Host.
      const entry = chosenEntry(flags.entry, namespaced.spec.load.entry)
      let sent = entry === undefined ? namespaced : {...namespaced, spec: {...namespaced.spec, load: {...namespaced.spec.load, entry}}}
      if (entry !== undefined && !('proxy' in entry)) {
        const gateway = await gatewayAddress(entry, target.cluster, target.gateway)
        if (gateway.close !== undefined) closeEntry = gateway.close
        sent = throughGateway(sent, gateway.origin, entry)
        out.write(`entry: through the gateway at ${gateway.origin}, ${gateway.via} (Host ${sent.spec.load.traffic[0]?.headers?.['host'] ?? ''})\n`)
      }
      const proxy = entryProxy(entry, target.proxy)
      const proxyProblem = driver.name === 'k6' ? k6ProxyProblem(sent.spec.load.url, proxyFor(sent.spec.load.url, proxy)) : undefined
      if (proxyProblem !== undefined) throw new K6Unavailable(proxyProblem, {hint: 'Address the target by a name the proxy routes (e.g. http://productpage:9080/…), or run with --driver builtin.'})
      startedAt = new Date()
      result = await runExperiment({
        file: args.file, experiment: sent, cluster: target.cluster, namespace: target.namespace, driver, reportDir: flags['report-dir'],
        signal: signals.signal, events, owner: `${currentUser()}@chaos-cli`, reports: {html: flags.html, redactHeaders: flags['redact-header']},
        ...(proxy === undefined ? {} : {proxy}),
        ...(flags['prometheus-url'] ?? target.prometheusUrl) === undefined ? {} : {prometheusUrl: flags['prometheus-url'] ?? target.prometheusUrl},
        ...(flags.phases === undefined ? {} : {phases: flags.phases}),
        ignition: flags.ignition,
      })
    } catch (err) {
      throw after.unwritableRoot(err) // a full report volume before anything was injected: exit 4, the volume named
    } finally {
      await closeEntry?.().catch(() => undefined)
      await pusher?.close() // bounded: each queued push gives up after 5 s; the revert is already done
      await target.close().catch(err => out.write(`warning: ${(err as Error).message}\n`))
      signals.dispose()
    }
    out.write(`Journal: ${result.journalFile}\n`)
    const html = result.reportFiles.find(f => f.endsWith('.html'))
    if (html !== undefined) out.write(`Report:  ${html}\n`)
    if (result.indexFile !== undefined) out.write(`History: ${result.indexFile}\n`)
    publishToGitHub(result, out)
    // --fail-on: the outcome stays what it was; only whether it fails the CI job changes.
    const failOn = flags['fail-on'] as FailOn
    const verdict = gate([result.outcome], failOn)
    const note = gateNote(verdict, failOn)
    if (note !== undefined) out.write(`${note}\n`)
    const exitCode = verdict.tolerated.length > 0 ? verdict.exitCode : result.exitCode
    process.exitCode = exitCode
    await after.runEnded(experiment.metadata.name, result, exitCode, startedAt) // --keep, --notify, then --summary last
    return {...result, exitCode, outcomeExitCode: result.exitCode, failOn, tolerated: verdict.tolerated.length > 0}
  }
}

/**
 * Inside GitHub Actions: the summary goes to the job's step summary and each failed check becomes
 * an `::error` annotation (read back from the redacted journal on disk, as every report is).
 */
function publishToGitHub(result: RunResult, out: NodeJS.WritableStream): void {
  if (process.env.GITHUB_ACTIONS !== 'true' && process.env.GITHUB_STEP_SUMMARY === undefined) return
  try {
    const doc = JSON.parse(readFileSync(result.journalFile, 'utf8')) as JournalDocument
    githubSummary(doc)
    if (process.env.GITHUB_ACTIONS === 'true') for (const line of githubAnnotations(doc)) out.write(`${line}\n`)
  } catch (err) {
    out.write(`warning: the GitHub summary could not be written (${(err as Error).message})\n`)
  }
}
