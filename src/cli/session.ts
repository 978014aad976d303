/**
 * What `chaos run` and `chaos gameday` both assemble around the runner: the Pushgateway pusher
 * (checked before anything starts), the target, Ctrl-C handling, one event stream per run with the
 * console and the pusher on it, the load drivers, each run's input (its own experiment and the
 * flags both commands share), and the reports written from each run's journal once it ends (the
 * runner returns the journal; it writes no report itself).
 */
import type {Cluster} from '../cluster/cluster.js'
import type {Experiment} from '../experiment/model.js'
import {EventStream} from '../journal/events.js'
import type {ReportedRun} from '../gameday/run.js'
import type {JournalDocument} from '../journal/journal.js'
import {BuiltinDriver} from '../load/builtin.js'
import type {LoadDriver} from '../load/driver.js'
import {K6Driver} from '../load/k6.js'
import {reportWriteProblem} from '../report/volume.js'
import {type ReportOptions, type RunReportFiles, writeIndex, writeRunReports} from '../report/write.js'
import {ConsoleReporter} from '../runner/console.js'
import type {RunInput} from '../runner/input.js'
import {runExperiment} from '../runner/run.js'
import {trapSignals} from '../runner/signals.js'
import {resolveTarget, type Target, type TargetFlags} from '../runner/target.js'
import {TelemetryPusher} from '../telemetry/pushgateway.js'
import {targetFlags} from './flags.js'
import {currentUser} from './user.js'
import {runSignal, type WayIn} from './way-in.js'

/** How a session is opened, from the command's flags. */
export interface SessionOptions {
  out: NodeJS.WritableStream
  target: TargetFlags
  /** The experiment's own namespace, when one experiment runs. */
  namespace?: string
  pushgateway?: string
  pushgatewayInstance?: string
}

export type {ReportedRun}

/** The session a running command opens from its flags: its target, and the Pushgateway when --pushgateway is given. */
export function sessionOptions(
  out: NodeJS.WritableStream,
  flags: Parameters<typeof targetFlags>[0] & {
    pushgateway?: string | undefined
    'pushgateway-instance'?: string | undefined
  },
  namespace?: string,
): SessionOptions {
  return {
    out,
    target: targetFlags(flags),
    ...(namespace === undefined ? {} : {namespace}),
    ...(flags.pushgateway === undefined ? {} : {pushgateway: flags.pushgateway}),
    ...(flags['pushgateway-instance'] === undefined ? {} : {pushgatewayInstance: flags['pushgateway-instance']}),
  }
}

/** The runner's surroundings for one command. */
export class Session {
  private constructor(
    readonly target: Target,
    readonly signals: ReturnType<typeof trapSignals>,
    private readonly out: NodeJS.WritableStream,
    private readonly pusher: TelemetryPusher | undefined,
  ) {}

  /** The pusher first (a bad --pushgateway URL is exit 2, never a leaked sandbox), then the target. */
  static async open(options: SessionOptions): Promise<Session> {
    const say = (line: string) => options.out.write(`${line}\n`)
    const pusher =
      options.pushgateway === undefined
        ? undefined
        : new TelemetryPusher({
            url: options.pushgateway,
            warn: message => say(`warning: ${message}`),
            ...(options.pushgatewayInstance === undefined ? {} : {instance: options.pushgatewayInstance}),
          })
    const target = await resolveTarget(options.target, options.namespace, say)
    say(`target: ${target.note}`)
    return new Session(
      target,
      trapSignals(message => say(`\n${message}`)),
      options.out,
      pusher,
    )
  }

  /** One line of the command's output. */
  say(line: string): void {
    this.out.write(`${line}\n`)
  }

  /** A run's event stream: the console and the pusher on it, and whatever else `observers` add. */
  events(...observers: ((e: Parameters<ConsoleReporter['handle']>[0]) => void)[]): EventStream {
    const events = new EventStream()
    const reporter = new ConsoleReporter(this.out)
    events.subscribe(e => reporter.handle(e))
    for (const o of observers) events.subscribe(o)
    if (this.pusher !== undefined) events.subscribe(this.pusher.observe)
    return events
  }

  /** Runs one experiment, then writes its reports from the journal the run returned. */
  async run(input: RunInput, reports: ReportOptions): Promise<ReportedRun> {
    const result = await runExperiment(input)
    return {...result, ...(await this.writeReports(result.journal, result.runDir, input.reportDir, reports))}
  }

  /** The run's report files and the root's index; a rendering failure is a warning, never another outcome. */
  private async writeReports(
    doc: JournalDocument,
    runDir: string,
    root: string,
    options: ReportOptions,
  ): Promise<RunReportFiles> {
    let reportFiles: string[] = []
    try {
      reportFiles = (await writeRunReports(doc, runDir, options)).files
      return {reportFiles, ...(options.html ? {indexFile: await writeIndex(root)} : {})}
    } catch (err) {
      this.say(
        `warning: the reports could not be written (${reportWriteProblem(err, root)}); the journal is complete — render them later with: chaos report ${runDir}`,
      )
      return {reportFiles}
    }
  }

  /** Stops the pusher (bounded), the target (a sandbox this session started) and the signal trap. */
  async close(): Promise<void> {
    await this.pusher?.close() // each queued push gives up after 5 s; the revert is already done
    await this.target.close().catch(err => this.say(`warning: ${(err as Error).message}`))
    this.signals.dispose()
  }
}

/**
 * A load driver that runs here, by name. k6 is looked for at once, before anything starts (exit 4
 * with how to install it when absent, and no sandbox started for nothing).
 */
export async function localDriver(name: string, say: (line: string) => void): Promise<LoadDriver> {
  if (name !== 'k6') return new BuiltinDriver()
  const driver = new K6Driver({warn: message => say(`warning: ${message}`)})
  say(`load driver: ${await driver.version()}`)
  return driver
}

/** The experiment's load driver name: the flag over the file over the builtin. */
export function driverName(flag: string | undefined, experiment: Experiment): string {
  return flag ?? experiment.spec.load.driver ?? 'builtin'
}

/** The flags every experiment's run takes the same way, in `chaos run` and in `chaos gameday`. */
export interface RunFlags {
  'report-dir': string
  'redact-header': string[]
  phases?: string | undefined
  ignition: boolean
}

/** What is one experiment's own in a run: its file, experiment, namespace, driver, way in, stop signal and events. */
export interface ExperimentRun extends Pick<
  RunInput,
  'file' | 'experiment' | 'namespace' | 'driver' | 'signal' | 'events'
> {
  way: WayIn | undefined
}

/** The runner's input for one experiment: its own part, and the target and flags every run shares. */
export function runInput(
  run: ExperimentRun,
  cluster: Cluster,
  flags: RunFlags,
  prometheusUrl: string | undefined,
): RunInput {
  return {
    file: run.file,
    experiment: run.experiment,
    cluster,
    namespace: run.namespace,
    driver: run.driver,
    reportDir: flags['report-dir'],
    signal: runSignal(run.signal, run.way ?? {}),
    events: run.events,
    owner: `${currentUser()}@chaos-cli`,
    redactHeaders: flags['redact-header'],
    ...(run.way?.proxy === undefined ? {} : {proxy: run.way.proxy}),
    ...(prometheusUrl === undefined ? {} : {prometheusUrl}),
    ...(flags.phases === undefined ? {} : {phases: flags.phases}),
    ignition: flags.ignition,
  }
}
