/**
 * `chaos run`: preflight → baseline → fault → recovery on one clock, one load run across all
 * three, reverts in `finally` so that success, deviation, guardrails, exceptions and signals all
 * leave the mesh as it was. The outcome and its exit code follow README's "Exit codes" table.
 */
import {dirname} from 'node:path'

import {parseDurationMs} from '@faultline/core/duration.js'
import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import type {PhaseName} from '../experiment/model.js'
import {planExperiment} from '../faults/experiment-plan.js'
import {newRunId} from '../faults/names.js'
import type {FaultPlan} from '../faults/plan.js'
import {managedInfo, revertFromAnnotations} from '../faults/revert.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {type LoadDriver, type LoadPlan, parseRate} from '../load/driver.js'
import {proxyFor} from '../load/env-proxy.js'
import {throughGatewayEntry} from '../faults/entry-gateways.js'
import {type InFlight, Recorder} from '../load/recorder.js'
import {windowReasonsText} from '../load/reasons.js'
import {PrometheusClient} from '../probes/prometheus.js'
import {redactJournal} from '../journal/redact.js'
import {version} from '../version.js'
import {BlastRadiusCollector} from '../diagnosis/collector.js'
import type {EventStream, Outcome, PhaseCut, ProbeResult} from '../journal/events.js'
import {Journal, type JournalDocument, runDirectory} from '../journal/journal.js'
import type {PreflightCheck} from './preflight-check.js'
import {lockChecks, preflight} from './preflight.js'
import {reachabilityChecks} from './reachability.js'
import {revertCommand, revertObject, Reverter} from './revert.js'
import {FaultPhase} from './fault-phase.js'
import {applySetup, restoreSetup, SetupReverter} from './setup.js'
import {ignite} from './ignition.js'
import {withProbePhases} from '../experiment/probes.js'
import {PhaseProbes} from './probes.js'
import {collectSeries} from './series.js'
import {type PhaseDurations, phaseDurations, wait, withPhases} from './timeline.js'
import {decideVerdict, type Verdict, verdictOf} from './verdict.js'
import type {RunInput} from './input.js'

export type {RunInput}

/** How it ended. */
export interface RunResult {
  runId: string
  outcome: Outcome
  exitCode: number
  reason: string
  runDir: string
  journalFile: string
  /** The journal as the run left it (redacted as written): the reports are rendered from it, by the caller. */
  journal: JournalDocument
}

/** The run ends here with this outcome. */
class Stop extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly reason: string,
  ) {
    super(reason)
  }
}

/** An error that ended the run, as its verdict. */
function verdictOfError(err: unknown): Verdict {
  if (err instanceof Stop) return verdictOf(err.outcome, err.reason)
  if (err instanceof FaultlineError)
    return {
      outcome: err.exitCode === ExitCode.RevertFailed ? 'revert-failed' : 'could-not-run',
      reason: err.message + (err.hint === undefined ? '' : ` (${err.hint})`),
      exitCode: err.exitCode,
    }
  return verdictOf('could-not-run', `unexpected error: ${(err as Error).message}`)
}

/** The load plan of the run: every class, across all three phases (and a margin the stop cuts short). */
function loadPlan(input: RunInput, totalMs: number): LoadPlan {
  const {load} = input.experiment.spec
  const proxy = proxyFor(load.url, input.proxy) // the explicit way in, else HTTP_PROXY/NO_PROXY's for the URL
  return {
    url: load.url,
    method: load.method ?? 'GET',
    ...(load.body === undefined ? {} : {body: load.body}),
    traffic: load.traffic.map(t => ({
      name: t.name,
      headers: t.headers ?? {},
      ...(t.rate === undefined ? {} : {ratePerSecond: parseRate(t.rate)}),
      ...(t.vus === undefined ? {} : {vus: t.vus}),
    })),
    durationMs: totalMs + 60_000,
    requestTimeoutMs: 60_000,
    ...(proxy === undefined ? {} : {proxy}),
  }
}

/** Runs one experiment end to end. Never leaves a fault behind without saying so (exit 5). */
export async function runExperiment(input: RunInput): Promise<RunResult> {
  const run = await ExperimentRun.open(input)
  return run.finish(await run.execute())
}

/** The phases of one run on one clock, and what it must undo whatever happens. */
class ExperimentRun {
  private readonly durations: PhaseDurations
  private readonly total: number
  private readonly recorder: Recorder
  private readonly abort = new AbortController()
  private readonly stopLoad = new AbortController()
  private readonly reverter: Reverter
  /** spec.setup: patched before the baseline, restored at the very end, whatever happened. */
  private readonly setupReverter: SetupReverter
  private readonly prometheusUrl: string | undefined
  private readonly prometheus: PrometheusClient | undefined
  private readonly probes: PhaseProbes
  private readonly blastRadius: BlastRadiusCollector
  private abortReason: string | undefined
  /** The load driver said the load broke (a k6-operator runner failed): before the fault, nothing was tested. */
  private loadFailed: string | undefined
  /** When the run was stopped, and what was in flight at that moment (the driver cancels it next). */
  private stoppedAt: {t: number; inFlight: InFlight[]} | undefined
  private loadT0: number | undefined
  private load: Promise<void> | undefined
  private readonly timers: {max?: NodeJS.Timeout; progress?: NodeJS.Timeout} = {}
  private readonly onSignal = () =>
    this.stopRun(typeof this.input.signal.reason === 'string' ? this.input.signal.reason : 'interrupted (signal)')

  private constructor(
    private readonly input: RunInput,
    private readonly journal: Journal,
    readonly runId: string,
    readonly startedAt: Date,
  ) {
    const {experiment, cluster, namespace, events} = input
    this.durations = phaseDurations(experiment, input.phases)
    this.total = this.durations.baseline + this.durations.fault + this.durations.recovery
    this.recorder = new Recorder(experiment.spec.load.traffic.map(t => t.name))
    this.recorder.onSecond(second => events.emit({kind: 'load-second', second}))
    this.reverter = new Reverter(cluster, this.runId)
    this.setupReverter = new SetupReverter(cluster, this.runId)
    this.prometheusUrl = input.prometheusUrl ?? experiment.spec.prometheus?.url
    this.prometheus = this.prometheusUrl === undefined ? undefined : new PrometheusClient(this.prometheusUrl)
    // The blast-radius map: the mesh's own counters at every phase boundary, and the diagnosis at the end.
    this.blastRadius = new BlastRadiusCollector({
      cluster,
      namespace,
      experiment,
      events,
      ...(this.prometheusUrl === undefined ? {} : {prometheusUrl: this.prometheusUrl}),
    })
    events.subscribe(e => this.blastRadius.observe(e))
    const thresholds = input.driver.thresholds?.bind(input.driver)
    this.probes = new PhaseProbes(experiment.spec.steadyState, {
      cluster,
      namespace,
      recorder: this.recorder,
      prometheus: this.prometheus,
      proxy: input.proxy,
      ...(thresholds === undefined ? {} : {thresholds}),
    })
  }

  /** Starts the journal (every event from here on is in it) and listens for the ways a run is stopped. */
  static async open(input: RunInput): Promise<ExperimentRun> {
    const {experiment, cluster, namespace, events} = input
    const runId = newRunId()
    const startedAt = new Date()
    const driverVersion = await input.driver.version()
    const journal = new Journal(
      runDirectory(input.reportDir, experiment.metadata.name, startedAt),
      {
        runId,
        experiment: {name: experiment.metadata.name, file: input.file, spec: withProbePhases(experiment)},
        environment: {
          cluster: cluster.target.source,
          context: cluster.target.context,
          server: cluster.target.server,
          namespace,
          runner: `faultline ${version}`,
          node: process.version,
          driver: input.driver.name,
          driverVersion,
          user: input.owner ?? 'unknown',
        },
      },
      startedAt,
      doc => redactJournal(doc, input.redactHeaders ?? []),
    )
    events.subscribe(e => journal.record(e))
    events.emit({
      kind: 'run-started',
      runId,
      experiment: experiment.metadata.name,
      file: input.file,
      target: cluster.target,
      driver: input.driver.name,
      driverVersion,
    })
    const run = new ExperimentRun(input, journal, runId, startedAt)
    // A caller may say why it stopped the run (a game day's time limit); Ctrl-C aborts without one.
    input.signal.addEventListener('abort', run.onSignal, {once: true})
    const maxDuration = experiment.spec.guardrails?.maxDuration
    const maxMs = maxDuration === undefined ? undefined : parseDurationMs(maxDuration)
    if (maxMs !== undefined)
      run.timers.max = setTimeout(() => run.stopRun(`guardrails.maxDuration (${maxDuration}) reached`), maxMs)
    if (input.signal.aborted) run.onSignal()
    return run
  }

  private get events(): EventStream {
    return this.input.events
  }

  private stopRun(reason: string): void {
    this.abortReason ??= reason
    const t = this.events.elapsed()
    this.stoppedAt ??= {t, inFlight: this.loadT0 === undefined ? [] : this.recorder.inFlight(t - this.loadT0)}
    this.abort.abort()
  }

  /** Where the run stopped a phase that started at `startT` on the run clock, if it did. */
  private cutShort(startT: number, plannedMs: number): PhaseCut | undefined {
    if (this.stoppedAt === undefined) return undefined
    return {
      reason: this.abortReason ?? 'stopped',
      afterMs: Math.max(0, this.stoppedAt.t - startT),
      plannedMs,
      inFlight: this.stoppedAt.inFlight,
    }
  }

  private aborted(): Stop {
    return new Stop('aborted', this.abortReason ?? 'aborted before the load started; nothing was injected')
  }

  /** Preflight, setup, load, baseline, fault, recovery: the verdict, or why the run stopped before one. */
  async execute(): Promise<Verdict> {
    try {
      const plan = await this.prepare()
      const loadClock = this.startLoad()
      const phase = {
        input: this.input,
        probes: this.probes,
        signal: this.abort.signal,
        cutShort: this.cutShort.bind(this),
      }
      const baselineEnd = await this.baseline(phase, loadClock)
      const fault = new FaultPhase({
        input: this.input,
        plan,
        reverter: this.reverter,
        probes: this.probes,
        recorder: this.recorder,
        prometheus: this.prometheus,
        loadClock,
        stopRun: this.stopRun.bind(this),
        cutShort: this.cutShort.bind(this),
      })
      return await this.faultAndRecovery(fault, phase, loadClock, baselineEnd)
    } catch (err) {
      return verdictOfError(err)
    } finally {
      clearTimeout(this.timers.max)
      clearInterval(this.timers.progress)
      this.input.signal.removeEventListener('abort', this.onSignal)
    }
  }

  /** Preflight and the ignition check, spec.setup, then the driver's own set-up in the cluster (k6-operator). */
  private async prepare(): Promise<FaultPlan> {
    const {input} = this
    const plan = await prepare(
      {...input, ...(this.prometheusUrl === undefined ? {} : {prometheusUrl: this.prometheusUrl})},
      this.runId,
      this.startedAt,
      this.reverter,
    )
    if (this.abort.signal.aborted) throw this.aborted()
    // The setup is part of the experiment: the baseline is measured with it in place.
    await applySetup({
      cluster: input.cluster,
      experiment: input.experiment,
      namespace: input.namespace,
      runId: this.runId,
      startedAt: this.startedAt,
      events: this.events,
      reverter: this.setupReverter,
      ...(input.owner === undefined ? {} : {owner: input.owner}),
      ...(input.revertTimeoutMs === undefined ? {} : {revertTimeoutMs: input.revertTimeoutMs}),
    })
    // A driver that sets up in the cluster (k6-operator: ConfigMap, TestRun, its stages) does it now: exit 4 when it cannot.
    const expiresAt = new Date(this.startedAt.getTime() + this.total + 15 * 60_000)
    await input.driver.prepare?.(
      loadPlan(input, this.total),
      {
        runId: this.runId,
        experiment: input.experiment.metadata.name,
        owner: input.owner ?? 'unknown',
        namespace: input.namespace,
        expiresAt,
      },
      c => this.events.emit({kind: 'preflight', ...c}),
      this.abort.signal,
    )
    if (this.abort.signal.aborted) throw this.aborted()
    return plan
  }

  /** One load run across all phases; returns its clock. In-flight requests are reported every second. */
  private startLoad(): () => number {
    const t0 = this.events.elapsed()
    this.loadT0 = t0
    const loadClock = () => this.events.elapsed() - t0
    this.load = this.input.driver.run(loadPlan(this.input, this.total), this.recorder, {
      stop: this.stopLoad.signal,
      abort: this.abort.signal,
      fail: reason => {
        this.loadFailed ??= reason
        this.stopRun(reason)
      },
    })
    // What is in flight, every second: a delayed request shows while it is delayed, not only once it ends.
    this.timers.progress = setInterval(
      () =>
        this.events.emit({kind: 'load-progress', loadMs: loadClock(), inFlight: this.recorder.inFlight(loadClock())}),
      1000,
    )
    return loadClock
  }

  /** The baseline: the system must be steady before anything is injected. Returns its end on the load clock. */
  private async baseline(phase: PhaseRun, loadClock: () => number): Promise<number> {
    if (!(await runPhase(phase, 'baseline', this.durations.baseline)).complete) {
      throw new Stop(
        this.loadFailed === undefined ? 'aborted' : 'could-not-run',
        `${this.abortReason ?? 'aborted'} during the baseline; nothing was injected`,
      )
    }
    const end = loadClock()
    await settle(this.recorder, end, 2000)
    const results = await this.probes.endPhase('baseline', 0, end)
    this.emitResults(results)
    const unsteady = results.filter(r => r.status !== 'held')
    const failures = windowReasonsText(this.recorder, 0, end)
    if (unsteady.length > 0)
      throw new Stop(
        'could-not-run',
        `the baseline was not steady (${unsteady.map(r => `"${r.probe}" ${r.status}: ${r.message ?? r.actual}`).join('; ')})${failures === '' ? '' : `; failed requests: ${failures}`}; nothing was injected`,
      )
    return end
  }

  /** The fault, its revert, and the recovery; the load stops after it, and the phases are scored. */
  private async faultAndRecovery(
    fault: FaultPhase,
    phase: PhaseRun,
    loadClock: () => number,
    baselineEnd: number,
  ): Promise<Verdict> {
    const window = await fault.run(this.durations.fault, this.abort.signal)
    const failedReverts = (await fault.revert()).filter(o => !o.ok)
    // The recovery: did the system come back once the fault was gone? Its instant probes are read at its end.
    const recovery =
      this.abort.signal.aborted || failedReverts.length > 0
        ? undefined
        : await runPhase(
            phase,
            'recovery',
            this.durations.recovery,
            () => fault.watchLastEvidence(),
            () => this.probes.endPhase('recovery', window.to, loadClock(), 'instant'),
          )
    this.stopLoad.abort()
    await this.load
    reportSchedule(this.input.driver, this.events)
    const end = loadClock()
    // A phase cut short is incomplete: its load probes are not scored on part of a phase.
    const faultResults = fault.complete ? await this.probes.endPhase('fault', window.from, window.to, 'load') : []
    const recoveryResults =
      recovery?.complete === true ? await this.probes.endPhase('recovery', window.to, end, 'load') : undefined
    this.emitResults([...faultResults, ...(recoveryResults ?? [])])
    fault.reportTraffic(window, baselineEnd)
    return decideVerdict({
      ...(this.abortReason === undefined ? {} : {abortReason: this.abortReason}),
      failedReverts,
      revertCommand: revertCommand(this.runId, this.input.namespace),
      fired: fault.fired,
      fault: [...fault.instantResults, ...faultResults],
      ...(recovery?.complete === true ? {recovery: [...recovery.results, ...(recoveryResults ?? [])]} : {}),
    })
  }

  private emitResults(results: ProbeResult[]): void {
    for (const result of results) this.events.emit({kind: 'probe-result', result})
  }

  /** Undoes everything on every path (faults, then spec.setup, then the driver's objects), then closes the journal. */
  async finish(verdict: Verdict): Promise<RunResult> {
    const {input, events, runId} = this
    const command = revertCommand(runId, input.namespace)
    let result = verdict
    // Safety net: anything still registered (an exception mid-fault) is reverted now, on a fresh deadline.
    if (this.reverter.size > 0) {
      const outcomes = await this.reverter.revertAll({deadlineMs: input.revertTimeoutMs ?? 30_000})
      for (const o of outcomes)
        events.emit(
          o.ok
            ? {kind: 'revert', namespace: o.namespace, name: o.name, action: o.action, message: o.message}
            : {kind: 'revert-failed', namespace: o.namespace, name: o.name, message: o.message, command},
        )
      if (outcomes.some(o => !o.ok))
        result = verdictOf(
          'revert-failed',
          `${result.reason}; and the revert failed: faults may still be live. Run: ${command}`,
        )
    }
    this.stopLoad.abort()
    if (result.outcome !== 'held' && result.outcome !== 'deviated') this.abort.abort()
    // spec.setup last, after the faults and the recovery, on every exit path (its own fresh deadline).
    const setupFailures = await restoreSetup(
      this.setupReverter,
      events,
      runId,
      input.namespace,
      input.revertTimeoutMs ?? 30_000,
    )
    if (setupFailures.length > 0)
      result = verdictOf(
        'revert-failed',
        `${result.reason}; and restoring spec.setup failed: DestinationRule ${setupFailures.map(o => `${o.namespace}/${o.name}`).join(', ')} may still be patched. Run: ${command}`,
      )
    await this.load?.catch(() => undefined)
    // What the driver created in the cluster (k6-operator: TestRun, ConfigMap) goes on every path.
    await input.driver
      .cleanup?.()
      .catch((err: Error) =>
        events.emit({kind: 'log', level: 'warn', message: `${err.message.replace('<id>', runId)}`}),
      )
    if (this.prometheus !== undefined && this.load !== undefined) {
      for (const series of await withinMs(
        SERIES_BUDGET_MS,
        collectSeries(this.prometheus, input.experiment, this.startedAt, new Date()),
        [],
      ))
        events.emit({kind: 'probe-series', series})
    }
    await this.blastRadius.finish()
    events.emit({kind: 'run-finished', ...result})
    this.journal.close()
    return {
      runId,
      ...result,
      runDir: dirname(this.journal.file),
      journalFile: this.journal.file,
      journal: redactJournal(this.journal.doc, input.redactHeaders ?? []),
    }
  }
}

/** Send lag beyond which the load driver is said to have fallen behind its schedule. */
const SEND_LAG_WARNING_MS = 100

/**
 * How well the load kept its schedule, in the journal: a driver that fell behind (an overloaded
 * machine running chaos) makes latency look worse than the mesh made it, and that must be visible.
 */
function reportSchedule(driver: LoadDriver, events: EventStream): void {
  for (const r of driver.lastSendReport ?? []) {
    const behind = r.lag.p99 > SEND_LAG_WARNING_MS
    events.emit({
      kind: 'log',
      level: behind ? 'warn' : 'info',
      message: `load ${r.traffic}: ${r.sent} arrivals at ${r.arrivalRate.toFixed(1)}/s over the sending window, send lag p50 ${r.lag.p50.toFixed(1)}ms p99 ${r.lag.p99.toFixed(1)}ms${behind ? ' — the load driver fell behind its schedule (is the machine running chaos overloaded?); latencies include that lag' : ''}`,
    })
  }
}

/** How long the report's range queries may hold up the end of a run (the faults are already reverted). */
const SERIES_BUDGET_MS = 5000

/** `work`'s result, or `fallback` when it takes longer than `ms`. */
async function withinMs<T>(ms: number, work: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<T>(resolve => {
    timer = setTimeout(() => resolve(fallback), ms)
  })
  try {
    return await Promise.race([work, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Locks, compile, preflight; reverts stale faults of dead runs first. Throws Stop('could-not-run') on failure. */
async function prepare(input: RunInput, runId: string, startedAt: Date, reverter: Reverter): Promise<FaultPlan> {
  const {cluster, namespace, experiment, events} = input
  const existing = await takeLocks(input)
  const plan = planAgainst(input, existing, runId, startedAt)
  const checks = [
    ...(await preflight({
      experiment,
      cluster,
      namespace,
      plan,
      prometheus: input.prometheusUrl === undefined ? undefined : new PrometheusClient(input.prometheusUrl),
      loadThroughMesh: input.proxy !== undefined || throughGatewayEntry(experiment),
      now: new Date(),
    })),
    // Each traffic class can reach its URL the way the load will send (a baseline of 100 % ENOTFOUND tests nothing).
    ...(await reachabilityChecks({
      load: experiment.spec.load,
      ...(input.proxy === undefined ? {} : {proxy: input.proxy}),
    })),
  ]
  passOrStop(events, checks)
  if (input.ignition === false) return plan
  // Will it fire? A 1 ms delay for the targeted match, a few targeted requests, the callers' counters.
  const ignition = await ignite({
    experiment,
    cluster,
    namespace,
    ...(input.proxy === undefined ? {} : {proxy: input.proxy}),
    ...(input.owner === undefined ? {} : {owner: input.owner}),
    runId,
    existing,
    reverter,
    revertTimeoutMs: input.revertTimeoutMs ?? 30_000,
  })
  passOrStop(events, [ignition])
  // The check restored what it wrote, with new resourceVersions: plan the real faults from the objects as they are now.
  return planAgainst(input, await cluster.listVirtualServices(namespace), runId, startedAt)
}

/** Journals each preflight check, then stops the run (could-not-run) if any failed. */
function passOrStop(events: RunInput['events'], checks: PreflightCheck[]): void {
  checks.forEach(c =>
    events.emit({
      kind: 'preflight',
      check: c.check,
      status: c.status,
      message: c.message,
      ...(c.hint === undefined ? {} : {hint: c.hint}),
    }),
  )
  const failed = checks.filter(c => c.status === 'failed')
  if (failed.length > 0)
    throw new Stop(
      'could-not-run',
      `preflight failed: ${failed.map(c => c.message + (c.hint === undefined ? '' : ` — ${c.hint}`)).join('; ')}`,
    )
}

/** The namespace's VirtualServices once no other live run holds the targets, the stale faults of dead runs reverted. */
async function takeLocks(input: RunInput): Promise<VirtualService[]> {
  const {cluster, namespace, experiment, events} = input
  const existing = await cluster.listVirtualServices(namespace)
  const locks = lockChecks(existing, experiment.spec.faults, namespace, new Date())
  passOrStop(events, locks.checks)
  for (const vs of locks.stale) {
    const name = vs.metadata.name
    const outcome = await revertObject(
      cluster,
      namespace,
      name,
      managedInfo(vs)?.runId ?? '',
      current =>
        current === undefined ? {action: 'none', namespace, name, reason: 'gone'} : revertFromAnnotations(current),
      {deadlineMs: input.revertTimeoutMs ?? 30_000},
    )
    if (!outcome.ok)
      throw new Stop('could-not-run', `a stale fault on ${name} could not be reverted: ${outcome.message}`)
    events.emit({
      kind: 'revert',
      namespace,
      name,
      action: outcome.action,
      message: `stale fault reverted: ${outcome.message}`,
    })
  }
  return locks.stale.length > 0 ? await cluster.listVirtualServices(namespace) : existing
}

/** The experiment's faults (with any --phases override) compiled against these VirtualServices. */
function planAgainst(input: RunInput, existing: VirtualService[], runId: string, startedAt: Date): FaultPlan {
  return planExperiment({
    experiment: withPhases(input.experiment, input.phases),
    existing,
    runId,
    now: startedAt,
    namespace: input.namespace,
    ...(input.owner === undefined ? {} : {owner: input.owner}),
  })
}

/** What every phase needs from the run. */
interface PhaseRun {
  input: RunInput
  probes: PhaseProbes
  signal: AbortSignal
  cutShort: (startT: number, plannedMs: number) => PhaseCut | undefined
}

/**
 * One plain phase (baseline, recovery): waits it out with `during` beside it, and reads `atEnd`'s
 * probes at its end. A phase the run stopped is incomplete: `atEnd` is not read, and its end says
 * where it was cut and what was in flight.
 */
async function runPhase(
  run: PhaseRun,
  phase: PhaseName,
  ms: number,
  during?: () => Promise<void>,
  atEnd?: () => Promise<ProbeResult[]>,
): Promise<{complete: boolean; results: ProbeResult[]}> {
  const {events} = run.input
  const started = events.emit({kind: 'phase-started', phase, plannedMs: ms})
  await run.probes.startPhase(phase)
  await Promise.all([wait(ms - (events.elapsed() - started.t), run.signal), during?.()])
  const cut = run.cutShort(started.t, ms)
  const results = cut === undefined && atEnd !== undefined ? await atEnd() : []
  for (const result of results) events.emit({kind: 'probe-result', result})
  events.emit({kind: 'phase-ended', phase, ...(cut === undefined ? {} : {cutShort: cut})})
  return {complete: cut === undefined, results}
}

/** Waits (bounded) until every request meant to start before `ms` has completed and been sealed. */
async function settle(recorder: Recorder, ms: number, maxWaitMs: number): Promise<void> {
  const deadline = Date.now() + maxWaitMs
  while (recorder.inFlightBefore(ms) > 0 && Date.now() < deadline) await new Promise(r => setTimeout(r, 50))
  recorder.flush(ms)
}
