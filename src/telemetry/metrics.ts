/**
 * Runner telemetry: the run's outcome, duration, live faults and probe verdicts as Prometheus
 * metrics on a registry of their own (never prom-client's global one, so nothing else a process
 * registers leaks into a push). One subscriber of the run's event stream keeps them current, so the
 * runner needs no other hook; `chaos run --pushgateway` pushes them, `--metrics-port` serves them.
 */
import {Counter, Gauge, Registry} from 'prom-client'

import type {AppliedFault, ProbeStatus, RunEvent} from '../journal/events.js'
import {isFaultRouteName} from '../faults/names.js'
import {re2} from '@faultline/core/istio/routing.js'
import type {HTTPRoute, VirtualServiceSpec} from '@faultline/core/istio/types.js'

/** Every state `chaos_probe_result` has a series for; exactly one of them is 1 (an OpenMetrics StateSet). */
export const PROBE_STATUSES: readonly ProbeStatus[] = ['held', 'missed', 'errored']

/** The metrics of one runner process, on their own registry. */
export class RunTelemetry {
  /** Everything: what `/metrics` serves and what the final push replaces the group with. */
  readonly registry = new Registry()
  /**
   * Only the families that change while a run is live (fault state, probe verdicts so far). Pushed
   * with POST mid-run, so the previous run's outcome and duration stay in the group until this run
   * ends; see `TelemetryPusher`.
   */
  readonly liveRegistry = new Registry()

  /** Runs by outcome; counts across runs in one process (`chaos gameday`), 1 per pushed `chaos run`. */
  readonly runs = new Counter({
    name: 'chaos_experiment_runs_total',
    help: 'Experiment runs by outcome (held, deviated, aborted, could-not-run, revert-failed).',
    labelNames: ['experiment', 'outcome'] as const,
    registers: [this.registry],
  })

  /** A gauge, not a histogram: a pushed group holds one run, and its last duration is what a dashboard plots. */
  readonly duration = new Gauge({
    name: 'chaos_experiment_duration_seconds',
    help: "Wall-clock duration of the experiment's last run, from start to verdict (seconds).",
    labelNames: ['experiment'] as const,
    registers: [this.registry],
  })

  /** 1 while a fault on the service is live, 0 once it is reverted. */
  readonly faultActive = new Gauge({
    name: 'chaos_fault_active',
    help: '1 while a Faultline fault on the service is live, 0 after its revert.',
    labelNames: ['experiment', 'service'] as const,
    registers: [this.registry, this.liveRegistry],
  })

  /** One series per status; the one that is 1 is the probe's verdict in that phase. */
  readonly probeResult = new Gauge({
    name: 'chaos_probe_result',
    help: 'Probe verdict per phase as a state set: the series whose status label is the verdict (held, missed, errored) is 1, the others 0.',
    labelNames: ['experiment', 'probe', 'phase', 'status'] as const,
    registers: [this.registry, this.liveRegistry],
  })

  private experiment: string | undefined
  private startedAt: number | undefined
  /** `namespace/name` of each written VirtualService → the services its fault routes target. */
  private readonly faultTargets = new Map<string, string[]>()
  private readonly probeKeys = new Map<string, Set<string>>()

  /** The experiment of the run in progress (or last run), once `run-started` was seen. */
  get currentExperiment(): string | undefined {
    return this.experiment
  }

  /** The event-stream subscriber: `events.subscribe(telemetry.observe)`. */
  readonly observe = (e: RunEvent): void => {
    if (e.kind === 'run-started') return this.started(e.experiment, e.t)
    const experiment = this.experiment
    if (experiment === undefined) return
    switch (e.kind) {
      case 'fault-applied': {
        const services = faultedServices(e.fault)
        this.faultTargets.set(`${e.fault.namespace}/${e.fault.name}`, services)
        for (const service of services) this.faultActive.set({experiment, service}, 1)
        break
      }
      case 'revert': {
        // A revert of something we never saw applied (a write whose answer was lost) still clears it.
        for (const service of this.faultTargets.get(`${e.namespace}/${e.name}`) ?? [])
          this.faultActive.set({experiment, service}, 0)
        break
      }
      case 'probe-result': {
        const {probe, phase, status} = e.result
        for (const s of PROBE_STATUSES)
          this.probeResult.set({experiment, probe, phase, status: s}, s === status ? 1 : 0)
        this.probeKeys.get(experiment)?.add(JSON.stringify([probe, phase]))
        break
      }
      case 'run-finished':
        this.runs.inc({experiment, outcome: e.outcome})
        this.duration.set({experiment}, (e.t - (this.startedAt ?? 0)) / 1000)
        break
      default:
        break
    }
  }

  /** A new run: forget the experiment's previous probe verdicts (a probe may have been renamed) and fault targets. */
  private started(experiment: string, t: number): void {
    this.experiment = experiment
    this.startedAt = t
    this.faultTargets.clear()
    for (const key of this.probeKeys.get(experiment) ?? []) {
      const [probe, phase] = JSON.parse(key) as [string, string]
      for (const status of PROBE_STATUSES) this.probeResult.remove({experiment, probe, phase, status})
    }
    this.probeKeys.set(experiment, new Set())
    // The runs counter is initialised for every outcome so `increase()` sees the first run too.
    for (const outcome of ['held', 'deviated', 'aborted', 'could-not-run', 'revert-failed'])
      this.runs.inc({experiment, outcome}, 0)
  }
}

/**
 * The services a written VirtualService's fault routes reach: each host of the object that some
 * fault route applies to. The compiler scopes a fault to its target's authority when the object
 * routes other hosts too, so a route's `authority` match (an RE2 full match, as Istio's) decides.
 */
export function faultedServices(fault: AppliedFault): string[] {
  const spec = fault.after as VirtualServiceSpec | undefined
  const hosts = spec?.hosts ?? []
  const routes = (spec?.http ?? []).filter(r => isFaultRouteName(r.name))
  return hosts.filter(host => routes.some(route => routeReaches(route, host)))
}

function routeReaches(route: HTTPRoute, host: string): boolean {
  const blocks = route.match === undefined || route.match.length === 0 ? [{}] : route.match
  return blocks.some(block => {
    const authority = block.authority
    if (authority === undefined || authority === null) return true
    if (authority.exact !== undefined) return authority.exact === host || authority.exact.startsWith(`${host}:`)
    if (authority.prefix !== undefined) return host.startsWith(authority.prefix)
    if (authority.regex !== undefined) {
      try {
        return re2(authority.regex).matches(host)
      } catch {
        return true // a pattern we cannot read: count the fault as reaching the host rather than hide it
      }
    }
    return true
  })
}
