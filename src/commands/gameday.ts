import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../cli/base.js'
import {connectionFlags} from '../cli/flags.js'
import {AfterOutcome, outcomeFlags} from '../cli/outcome.js'
import {driverName, localDriver, type RunFlags, runInput, Session, sessionOptions} from '../cli/session.js'
import {parseEntryFlag} from '../cli/entry.js'
import {openWayIn, type WayIn} from '../cli/way-in.js'
import type {Target} from '../runner/target.js'
import type {RunInput} from '../runner/input.js'
import {currentUser} from '../cli/user.js'
import {UsageError} from '@faultline/core/errors.js'
import {loadDocument} from '../experiment/load.js'
import type {GameDay} from '../experiment/model.js'
import {withNamespace} from '../experiment/namespace.js'
import {gameDayItems, type GameDayItem, GameDayPreflightFailed, preflightGameDay} from '../gameday/entries.js'
import {FAIL_ON, FAIL_ON_HELP, type FailOn, gate, gateNote} from '../gameday/gate.js'
import {gameDayOutcomes, type GameDayRun, runGameDay} from '../gameday/run.js'
import type {LoadDriver} from '../load/driver.js'
import {K6Unavailable} from '../load/k6.js'
import {entryVerdict, gameDayReport, type GameDayReport, renderGameDayMarkdown} from '../report/gameday/report.js'
import {writeGameDayReports} from '../report/gameday/write.js'
import {reportWriteProblem} from '../report/volume.js'
import type {Outcome} from '../journal/events.js'
import {runDirectory} from '../journal/journal.js'
import {RunTelemetry} from '../telemetry/metrics.js'
import {type MetricsServer, startMetricsServer} from '../telemetry/server.js'

/** `chaos gameday <file>`: a GameDay's experiments in order on one target, with one report. */
export default class GameDayCommand extends BaseCommand {
  static override summary =
    'Run a GameDay: its experiments in order on one target, one shared preflight first, one report.'
  static override description = `Resolves the target once (one ephemeral sandbox for the whole game day when there is no kubeconfig), runs preflight for every experiment before the first one starts, each with its reachability check through its way in (any failure: nothing runs, the outcome is could-not-run, exit 4), then runs them in order with the GameDay's cooldown between them. stopOnFirstFailure skips the rest after the first outcome that is not held; a failed revert always skips the rest. Ctrl-C or the GameDay's guardrails.maxDuration stops the running experiment (it reverts) and skips the rest.

Writes <report-dir>/<gameday>/<timestamp>/gameday.json, gameday.html, junit.xml (one testsuite per experiment) and summary.md, beside each experiment's own run folder.

Exit code: the most severe outcome — revert failed 5 > aborted 3 > could not run 4 > deviated 1 > held 0 — of those --fail-on does not tolerate.`
  static override examples = [
    '<%= config.bin %> gameday experiments/weekly-gameday.yaml',
    '<%= config.bin %> gameday experiments/weekly-gameday.yaml --phases baseline=5s,fault=10s,recovery=5s --fail-on aborted',
    '<%= config.bin %> gameday experiments/weekly-gameday.yaml --context prod-eu -n bookinfo --metrics-port 9464',
  ]
  static override args = {file: Args.string({description: 'GameDay file', required: true})}
  static override flags = {
    ...connectionFlags,
    namespace: Flags.string({
      char: 'n',
      description: "namespace for every experiment (overrides each entry's and experiment's)",
    }),
    'prometheus-url': Flags.string({description: 'Prometheus base URL for PromQL probes'}),
    phases: Flags.string({
      description: "phase durations for every experiment, over each entry's, e.g. baseline=5s,fault=10s,recovery=5s",
    }),
    driver: Flags.string({
      description: 'load driver for every experiment (overrides spec.load.driver)',
      options: ['builtin', 'k6'],
    }),
    'report-dir': Flags.string({description: 'where the game-day and run folders are written', default: 'reports'}),
    html: Flags.boolean({
      description:
        'write gameday.html, each report.html and the index (--no-html: JSON, junit.xml and summary.md only)',
      default: true,
      allowNo: true,
    }),
    'redact-header': Flags.string({
      description: "mask this header's values in every journal and report (repeatable)",
      multiple: true,
      default: [],
    }),
    pushgateway: Flags.string({
      description:
        "push each experiment's metrics to this Prometheus Pushgateway (job faultline, grouped by experiment); a failed push only warns",
    }),
    'pushgateway-instance': Flags.string({
      description: 'add an instance grouping label to --pushgateway pushes',
      dependsOn: ['pushgateway'],
    }),
    'metrics-port': Flags.integer({
      description: "serve the game day's metrics at http://127.0.0.1:PORT/metrics while it runs (0: any free port)",
      min: 0,
      max: 65_535,
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
        "how every experiment's load and HTTP probes enter the mesh, over each spec.load.entry: proxy=URL, gateway, gateway=URL or portForward=SERVICE[.NAMESPACE]:PORT (as for chaos run)",
    }),
    ...outcomeFlags,
  }
  static override enableJsonFlag = true

  async run(): Promise<GameDayResult> {
    const {args, flags} = await this.parse(GameDayCommand)
    const loaded = await loadDocument(args.file)
    if (loaded.kind !== 'GameDay')
      throw new UsageError(`${args.file} is an experiment, not a GameDay`, {
        hint: `Run it with: chaos run ${args.file}`,
      })
    const {gameday} = loaded
    const out = this.jsonEnabled() ? process.stderr : process.stdout
    const say = (line: string) => out.write(`${line}\n`)
    // --keep, --notify, --report-url: checked before anything starts (exit 2).
    const after = AfterOutcome.from(flags, say)
    // A malformed --entry is exit 2 before any sandbox starts (bare portForward needs each experiment's URL: checked with them).
    if (flags.entry !== undefined && flags.entry !== 'portForward') parseEntryFlag(flags.entry)
    const session = await Session.open(sessionOptions(out, flags))
    const {target} = session
    const telemetry = new RunTelemetry()
    let metrics: MetricsServer | undefined
    const ways = new Map<number, WayIn>() // each experiment's way in, by its index; port-forwards stopped at the end
    try {
      const {items, drivers} = await runnableItems(gameday, args.file, target, flags, say, ways)
      const prometheusUrl = flags['prometheus-url'] ?? target.prometheusUrl
      const startedAt = new Date()
      const finishing = finishOptions(gameday, args.file, flags, after)
      const findings = await sharedPreflight(target, items, flags)
      if (findings instanceof GameDayPreflightFailed) return await notRun(findings, items, startedAt, finishing, say)
      say(
        `preflight: ${findings.length} experiment(s) ready (${findings.map(f => `${f.name} in ${f.namespace}`).join(', ')})`,
      )
      if (flags['metrics-port'] !== undefined) {
        metrics = await startMetricsServer(telemetry.registry, {port: flags['metrics-port']})
        say(`metrics: ${metrics.url}`)
      }
      const run = await runGameDay({
        gameday,
        items,
        signal: session.signals.signal,
        say,
        run: input => session.run(input, {html: flags.html, redactHeaders: flags['redact-header']}),
        events: () => session.events(telemetry.observe),
        runInput: (item, signal, events) =>
          itemRunInput(item, signal, events, {
            target,
            drivers,
            ways,
            flags,
            ...(prometheusUrl === undefined ? {} : {prometheusUrl}),
          }),
      })
      return await finish(run, gameDayOutcomes(run), finishing, say)
    } catch (err) {
      throw after.unwritableRoot(err) // a journal that cannot be created on a full report volume: exit 4, the volume named
    } finally {
      for (const way of ways.values()) await way.close?.().catch(() => undefined)
      await metrics?.close()
      await session.close()
    }
  }
}

/** The game day's shared preflight: its findings, or the failure that stops it before anything runs. */
function sharedPreflight(
  target: Target,
  items: GameDayItem[],
  flags: {phases?: string | undefined; 'prometheus-url'?: string | undefined},
): Promise<Awaited<ReturnType<typeof preflightGameDay>> | GameDayPreflightFailed> {
  return preflightGameDay(target, items, {
    owner: currentUser(),
    ...(flags.phases === undefined ? {} : {phases: flags.phases}),
    ...(flags['prometheus-url'] === undefined ? {} : {prometheusUrl: flags['prometheus-url']}),
  }).catch((err: unknown) => {
    if (!(err instanceof GameDayPreflightFailed)) throw err
    return err
  })
}

/** Nothing ran: still a report (a scheduled game day leaves its reason on disk) and an outcome the gate judges. */
function notRun(
  failed: GameDayPreflightFailed,
  items: GameDayItem[],
  startedAt: Date,
  options: FinishOptions,
  say: (line: string) => void,
): Promise<GameDayResult> {
  say(`Error: ${failed.message}\nHint: ${failed.hint ?? ''}`)
  const skipped = items.map(item => ({
    status: 'skipped' as const,
    item,
    reason: "not run: the game day's shared preflight failed",
  }))
  return finish(
    {startedAt, finishedAt: new Date(), entries: skipped, stoppedBecause: failed.message, interrupted: false},
    ['could-not-run'],
    options,
    say,
  )
}

/** What `chaos gameday --json` prints: gameday.json's content, its folder and files. */
type GameDayResult = GameDayReport & {dir: string; files: string[]}

/** Judges the outcomes with --fail-on, writes the game-day folder, prints the summary and sets the exit code. */
async function finish(
  run: GameDayRun,
  outcomes: Outcome[],
  options: FinishOptions,
  say: (line: string) => void,
): Promise<GameDayResult> {
  const {gameday} = options
  const verdict = gate(outcomes, options.failOn)
  const facts = {
    name: gameday.metadata.name,
    ...(gameday.metadata.description === undefined ? {} : {description: gameday.metadata.description}),
    file: options.file,
    dir: runDirectory(options.reportDir, gameday.metadata.name, run.startedAt),
    failOn: options.failOn,
    verdict,
  }
  // A report that cannot be written (a full volume) is a warning naming the volume: the outcome and exit code stand.
  const written = await writeGameDayReports(run, facts, {html: options.html}).catch((err: unknown) => {
    say(
      `warning: the game-day report could not be written (${reportWriteProblem(err, options.reportDir)}); each experiment's journal is in its own run folder`,
    )
    return {report: gameDayReport(run, facts), dir: facts.dir, files: [] as string[]}
  })
  printSummary(written.report, options.failOn, say)
  for (const file of written.files) if (file.endsWith('.html') || file.endsWith('.json')) say(`Game day: ${file}`)
  process.exitCode = verdict.exitCode
  await options.after.gameDayEnded(written.report, written.dir, written.files, renderGameDayMarkdown(written.report)) // --keep, --notify, then --summary last
  return {...written.report, dir: written.dir, files: written.files}
}

/** Where and how the game-day report is written. */
interface FinishOptions {
  gameday: GameDay
  file: string
  reportDir: string
  html: boolean
  failOn: FailOn
  /** --keep, --notify, --summary. */
  after: AfterOutcome
}

/** Where and how the game-day report is written, from the command's file and flags. */
function finishOptions(
  gameday: GameDay,
  file: string,
  flags: {'report-dir': string; html: boolean; 'fail-on': string},
  after: AfterOutcome,
): FinishOptions {
  return {gameday, file, reportDir: flags['report-dir'], html: flags.html, failOn: flags['fail-on'] as FailOn, after}
}

/**
 * The game day's entries made runnable, each with ${namespace} resolved and its way into the mesh
 * open (--entry over its spec.load.entry: a malformed --entry is exit 2, a way in that cannot open is
 * exit 4, before anything runs), and the drivers they use (k6 found, its proxy usable).
 */
async function runnableItems(
  gameday: GameDay,
  file: string,
  target: Target,
  flags: {
    namespace?: string | undefined
    phases?: string | undefined
    driver?: string | undefined
    entry?: string | undefined
  },
  say: (line: string) => void,
  ways: Map<number, WayIn>,
): Promise<{items: GameDayItem[]; drivers: Map<string, LoadDriver>}> {
  const items = (
    await gameDayItems(gameday, file, target, {
      ...(flags.namespace === undefined ? {} : {namespace: flags.namespace}),
      ...(flags.phases === undefined ? {} : {phases: flags.phases}),
    })
  ).map(item => ({...item, experiment: withNamespace(item.experiment, item.namespace)})) // ${namespace}: each entry's own
  if (flags.entry !== undefined)
    for (const item of items)
      parseEntryFlag(flags.entry, item.experiment.spec.load.entry, item.experiment.spec.load.url)
  const drivers = await loadDrivers(items, flags.driver, say)
  const ready: GameDayItem[] = []
  for (const item of items) {
    const way = await openWayIn(
      item.experiment,
      flags.entry,
      target,
      item.namespace,
      driverOf(drivers, item, flags.driver),
      line => say(`${item.name}: ${line.trimStart()}`),
    ).catch((err: unknown) => {
      if (err instanceof K6Unavailable)
        throw new K6Unavailable(`${item.name}: ${err.message}`, {...(err.hint === undefined ? {} : {hint: err.hint})})
      throw err
    })
    ways.set(item.index, way)
    ready.push({...item, experiment: way.experiment})
  }
  return {items: ready, drivers}
}

/** What one experiment of the game day runs with: the shared target and flags, its own driver, way in and signal. */
function itemRunInput(
  item: GameDayItem,
  signal: AbortSignal,
  events: RunInput['events'],
  shared: {
    target: Target
    drivers: ReadonlyMap<string, LoadDriver>
    ways: ReadonlyMap<number, WayIn>
    prometheusUrl?: string
    flags: RunFlags & {driver?: string | undefined}
  },
): RunInput {
  const {target, drivers, ways, prometheusUrl, flags} = shared
  const experimentRun = {
    file: item.file,
    experiment: item.experiment,
    namespace: item.namespace,
    driver: driverOf(drivers, item, flags.driver),
    way: ways.get(item.index),
    signal,
    events,
  }
  return runInput(experimentRun, target.cluster, flags, prometheusUrl)
}

/** One driver instance per driver name the game day uses; k6 is looked for before anything starts (exit 4). */
async function loadDrivers(
  items: readonly GameDayItem[],
  flag: string | undefined,
  say: (line: string) => void,
): Promise<Map<string, LoadDriver>> {
  const drivers = new Map<string, LoadDriver>()
  for (const item of items) {
    const name = driverName(flag, item.experiment)
    if (drivers.has(name)) continue
    // A TestRun per experiment needs the target and run identity: not built for game days yet (issue 17).
    if (name === 'k6-operator')
      throw new K6Unavailable(`${item.name}: driver k6-operator is not supported in game days yet`, {
        hint: 'Run the experiment with chaos run, or give the game day --driver builtin or k6.',
      })
    drivers.set(name, await localDriver(name, say))
  }
  return drivers
}

function driverOf(drivers: ReadonlyMap<string, LoadDriver>, item: GameDayItem, flag: string | undefined): LoadDriver {
  const driver = drivers.get(driverName(flag, item.experiment))
  if (driver === undefined) throw new Error(`no load driver was prepared for ${item.name}`)
  return driver
}

function printSummary(report: GameDayReport, failOn: FailOn, say: (line: string) => void): void {
  say(
    `\nGame day ${report.name}: ${report.outcome.toUpperCase()}${report.stoppedBecause === undefined ? '' : ` (stopped early: ${report.stoppedBecause})`}`,
  )
  for (const [i, e] of report.experiments.entries()) say(`  ${i + 1}. ${e.name}: ${entryVerdict(e)} — ${e.reason}`)
  const note = gateNote({outcome: report.outcome, exitCode: report.exitCode, tolerated: report.tolerated}, failOn)
  if (note !== undefined) say(note)
}
