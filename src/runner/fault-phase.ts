/**
 * The fault phase: apply every planned VirtualService (each revert registered first), watch for
 * the first evidence that the fault took effect, check guardrails every second, revert, and watch
 * for the last faulted response after the revert.
 */
import {targetedClasses} from '../experiment/traffic.js'
import type {FaultPlan} from '../faults/plan.js'
import type {Recorder} from '../load/recorder.js'
import type {PrometheusClient} from '../probes/prometheus.js'
import type {PhaseCut, ProbeResult} from '../journal/events.js'
import {applyPlan} from './apply.js'
import {
  adoptNewPods,
  callersOf,
  controlUntouched,
  type FaultCounters,
  gatewayNamespaces,
  injectedBetween,
  NOT_FIRED_HINT,
  readFaultCountersWith,
  targetedEffect,
} from './evidence.js'
import {Guardrails} from './guardrails.js'
import type {PhaseProbes} from './probes.js'
import {revertCommand, type RevertOutcome, type Reverter} from './revert.js'
import type {RunInput} from './input.js'
import {wait} from './timeline.js'

/** What the fault phase works with. */
export interface FaultPhaseContext {
  input: RunInput
  plan: FaultPlan
  reverter: Reverter
  probes: PhaseProbes
  recorder: Recorder
  prometheus: PrometheusClient | undefined
  /** Milliseconds on the load's clock. */
  loadClock: () => number
  stopRun: (reason: string) => void
  /** Where the run stopped this phase, if it did (started at `startT` on the run clock, planned `plannedMs`). */
  cutShort: (startT: number, plannedMs: number) => PhaseCut | undefined
}

/** One fault phase. */
export class FaultPhase {
  /** Whether any evidence showed the fault took effect. */
  fired = false
  /** Whether the phase ran its planned length (a cut-short phase's probes are not evaluated). */
  complete = false
  /** Envoy/Prometheus/HTTP probe results taken at the fault phase's end. */
  instantResults: ProbeResult[] = []
  private counters: FaultCounters | undefined
  private writeAt = 0
  /** The fault phase's evidence polls (settled once the phase is over). */
  private polling: Promise<void> = Promise.resolve()
  private revertAt = 0

  constructor(private readonly ctx: FaultPhaseContext) {}

  private get events() {
    return this.ctx.input.events
  }

  /** The sidecars the evidence polls read: the faulted hosts' callers, once known (else every sidecar). */
  private callers: Set<string> | undefined

  private async counts(): Promise<FaultCounters | undefined> {
    try {
      const {cluster, namespace, experiment} = this.ctx.input
      return await readFaultCountersWith(cluster, namespace, this.callers, gatewayNamespaces(experiment, namespace))
    } catch {
      return undefined
    }
  }

  /** Finds the faulted hosts' callers from the baseline's traffic (and the Envoy probes' pods), so the polls do not read every sidecar. */
  private async findCallers(): Promise<void> {
    const {cluster, namespace, experiment} = this.ctx.input
    const probed = [...experiment.spec.steadyState, ...(experiment.spec.guardrails?.abortWhen ?? [])].flatMap(p =>
      'envoy' in p ? [p.envoy.pods] : [],
    )
    const found = await callersOf(
      cluster,
      namespace,
      [...new Set(experiment.spec.faults.map(f => f.service))],
      probed,
    ).catch(() => undefined)
    this.callers = found?.pods
    if (found !== undefined && found.capped > 0) {
      this.events.emit({
        kind: 'log',
        level: 'warn',
        message: `evidence: ${found.pods.size + found.capped} sidecars call the faulted services; the fault counters are polled on the ${found.pods.size} busiest only`,
      })
    }
  }

  private async apply(): Promise<void> {
    await applyPlan(this.ctx.input.cluster, this.ctx.plan, this.ctx.reverter, (p, written) => {
      this.events.emit({
        kind: 'fault-applied',
        fault: {
          namespace: p.revert.namespace,
          name: p.revert.name,
          action: p.action,
          resourceVersion: written.metadata.resourceVersion ?? '',
          ...(p.existing === undefined ? {} : {before: p.existing.spec}),
          after: written.spec,
        },
      })
    })
  }

  /** Applies the faults and holds them for `ms`; returns the phase's window on the load clock. */
  async run(ms: number, signal: AbortSignal): Promise<{from: number; to: number}> {
    await this.findCallers()
    this.counters = await this.counts()
    await this.apply()
    this.writeAt = Date.now()
    const from = this.ctx.loadClock()
    const started = this.events.emit({kind: 'phase-started', phase: 'fault', plannedMs: ms})
    const {input} = this.ctx
    const guardrails = new Guardrails(input.experiment.spec.guardrails?.abortWhen ?? [], {
      cluster: input.cluster,
      namespace: input.namespace,
      recorder: this.ctx.recorder,
      prometheus: this.ctx.prometheus,
    })
    await Promise.all([this.ctx.probes.startPhase('fault'), guardrails.arm()])
    const end = this.writeAt + ms
    // Side by side: an evidence poll reads every sidecar (~100–250 ms on the sandbox, seconds on a
    // big namespace), and a guardrail check queued behind it would hold up the revert as long.
    this.polling = this.watchEvidence(end, signal)
    await this.checkGuardrails(guardrails, from, end, signal)
    const to = this.ctx.loadClock()
    // A stopped run (a breach, Ctrl-C, the time limit) is incomplete: its probes are not read, and it
    // does not wait for a poll in flight either (revert() collects it).
    const cut = this.ctx.cutShort(started.t, ms)
    this.complete = cut === undefined
    if (this.complete)
      [this.instantResults] = await Promise.all([this.ctx.probes.endPhase('fault', from, to, 'instant'), this.polling])
    for (const r of this.instantResults) this.events.emit({kind: 'probe-result', result: r})
    this.events.emit({kind: 'phase-ended', phase: 'fault', ...(cut === undefined ? {} : {cutShort: cut})})
    return {from, to}
  }

  /** Checks the guardrails every second until the phase ends; a breach stops the run. */
  private async checkGuardrails(guardrails: Guardrails, from: number, end: number, signal: AbortSignal): Promise<void> {
    let next = Date.now() + 1000
    while ((await wait(Math.min(next, end) - Date.now(), signal)) && Date.now() < end) {
      next += 1000
      const breach = await guardrails.check(from, this.ctx.loadClock())
      if (breach === undefined) continue
      this.events.emit({kind: 'guardrail-breached', guardrail: breach.guardrail, message: breach.message})
      this.ctx.stopRun(`guardrail "${breach.guardrail}" breached: ${breach.message}`)
      return
    }
  }

  /** Polls the fault counters until the fault shows or the phase ends. */
  private async watchEvidence(end: number, signal: AbortSignal): Promise<void> {
    while (!this.fired && Date.now() < end && !signal.aborted) {
      await this.pollEvidence()
      // Fast at first to time the effect; every exec reads every sidecar, so not faster than needed.
      await wait(Math.min(Date.now() - this.writeAt < 5000 ? 250 : 1000, end - Date.now()), signal)
    }
  }

  /** The latest read of the counters, since the write, that found nothing faulted yet. */
  private quietPoll: CounterPoll | undefined

  private async pollEvidence(): Promise<void> {
    const startedAt = Date.now()
    const now = await this.counts()
    if (this.counters === undefined || now === undefined) return
    const poll = {startMs: startedAt - this.writeAt, endMs: Date.now() - this.writeAt}
    const injected = injectedBetween(this.counters, now)
    if (injected === 0) {
      this.quietPoll = poll
      // A pod first read now counts from this read on (two good reads, never from before its first).
      this.counters = adoptNewPods(this.counters, now)
      return
    }
    this.fired = true
    this.events.emit({
      kind: 'fault-evidence',
      source: 'envoy fault filter',
      message: firstEvidenceMessage(injected, poll, this.quietPoll),
      afterWriteMs: poll.endMs,
    })
  }

  /** Reverts everything applied; emits each outcome. */
  async revert(): Promise<RevertOutcome[]> {
    const outcomes = await this.ctx.reverter.revertAll({deadlineMs: this.ctx.input.revertTimeoutMs ?? 30_000})
    this.revertAt = Date.now()
    const {runId, namespace} = this.ctx.plan
    for (const o of outcomes) {
      this.events.emit(
        o.ok
          ? {kind: 'revert', namespace: o.namespace, name: o.name, action: o.action, message: o.message}
          : {
              kind: 'revert-failed',
              namespace: o.namespace,
              name: o.name,
              message: o.message,
              command: revertCommand(runId, namespace),
            },
      )
    }
    await this.polling
    return outcomes
  }

  /**
   * After the revert: reads the fault counters every 200 ms until they stop rising, and reports the
   * window the last faulted request falls in (between the start of the read before the last rise
   * and the end of the read that saw it), or that none was counted after the first read.
   */
  async watchLastEvidence(): Promise<void> {
    if (!this.fired) return
    const read = async (): Promise<{counters: FaultCounters | undefined; poll: CounterPoll}> => {
      const startedAt = Date.now()
      const counters = await this.counts()
      return {counters, poll: {startMs: startedAt - this.revertAt, endMs: Date.now() - this.revertAt}}
    }
    let last = await read()
    let firstRead = last.counters === undefined ? undefined : last.poll
    let lastRise: {afterMs: number; byMs: number} | undefined
    const stopAt = this.revertAt + 15_000
    while (Date.now() < stopAt && Date.now() - (this.revertAt + (lastRise?.byMs ?? 0)) < 2000) {
      await new Promise(r => setTimeout(r, LAST_EVIDENCE_POLL_MS))
      const now = await read()
      if (now.counters === undefined) continue // a failed read: compare the next one with the last good one
      if (last.counters !== undefined && injectedBetween(last.counters, now.counters) > 0)
        lastRise = {afterMs: last.poll.startMs, byMs: now.poll.endMs}
      firstRead ??= now.poll
      last = now
    }
    this.events.emit({kind: 'last-evidence', ...lastEvidence(firstRead, lastRise)})
  }

  /** Compares targeted and control traffic in the fault phase with the baseline. */
  reportTraffic(window: {from: number; to: number}, baselineEnd: number): void {
    const targeted = targetedClasses(this.ctx.input)
    const rec = this.ctx.recorder
    for (const name of rec.classes) {
      const before = rec.summarise(name, 0, baselineEnd)
      const during = rec.summarise(name, window.from, window.to)
      if (targeted.has(name)) {
        const effect = targetedEffect(before, during)
        if (!this.fired && effect.affected) {
          this.fired = true
          this.events.emit({
            kind: 'fault-evidence',
            source: `traffic class ${name}`,
            message: effect.message,
            afterWriteMs: -1,
          })
        }
      } else {
        const control = controlUntouched(before, during)
        this.events.emit({
          kind: 'control-evidence',
          untouched: control.untouched,
          message: `${name}: ${control.message}`,
        })
      }
    }
    if (!this.fired)
      this.events.emit({
        kind: 'fault-not-fired',
        message: 'no sidecar counted a faulted request and targeted traffic looked as it did in the baseline',
        hint: NOT_FIRED_HINT,
      })
  }
}

/** How often the counters are read after the revert. */
export const LAST_EVIDENCE_POLL_MS = 200

/** One read of every calling sidecar's fault counters: when it started and ended, in ms after the write (or the revert) was answered. */
export interface CounterPoll {
  startMs: number
  endMs: number
}

/**
 * The first evidence, with how precisely polling can time it. No faulted request had been counted
 * when the last quiet read started (each sidecar was read after that), and one had by the end of
 * the read that saw it: the first faulted request falls between the two. Without a quiet read
 * since the write, only the upper bound is known.
 */
export function firstEvidenceMessage(
  injected: number,
  seenBy: CounterPoll,
  quietBefore: CounterPoll | undefined,
): string {
  const took = `that read took ${seenBy.endMs - seenBy.startMs} ms`
  const window =
    quietBefore === undefined
      ? `at most ${seenBy.endMs} ms after the write was answered (seen by the first read of the counters; ${took})`
      : `between ${Math.max(0, quietBefore.startMs)} and ${seenBy.endMs} ms after the write was answered (counters polled every ${seenBy.startMs - quietBefore.endMs} ms; ${took})`
  return `${injected} request(s) faulted by the calling sidecars (fault.delays_injected + fault.aborts_injected); the first ${window}`
}

/**
 * The last-evidence event's figures: `afterRevertMs` is when the read that saw the last rise ended
 * (0 when none rose), and the message says what polling can and cannot tell.
 */
export function lastEvidence(
  firstRead: CounterPoll | undefined,
  lastRise: {afterMs: number; byMs: number} | undefined,
): {afterRevertMs: number; message: string} {
  const polled = `counters polled every ${LAST_EVIDENCE_POLL_MS} ms`
  if (lastRise !== undefined) {
    return {
      afterRevertMs: lastRise.byMs,
      message: `last faulted request between ${Math.max(0, lastRise.afterMs)} and ${lastRise.byMs} ms after the revert was answered (${polled})`,
    }
  }
  if (firstRead === undefined)
    return {
      afterRevertMs: 0,
      message: `the sidecars' fault counters could not be read after the revert: when the last faulted request came is unknown`,
    }
  return {
    afterRevertMs: 0,
    message: `no faulted request counted after the first good read of the counters, which ended ${firstRead.endMs} ms after the revert was answered (${polled})`,
  }
}
