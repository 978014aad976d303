/**
 * The run's side of the map: a subscriber of the event stream that reads every sidecar's
 * `/stats/prometheus` at each phase's start and end (as they happen, beside the run, never holding
 * it up), keeps the load's seconds per class, and reads the VirtualServices and DestinationRules
 * in force once at the start. At the end it builds the map (from Prometheus when the experiment has
 * one and it has the series, else from the sidecars' reads), draws the diagnosis, and emits both
 * as one `blast-radius` event, which the journal keeps and the reports render.
 */
import type {Cluster} from '../cluster/cluster.js'
import type {Experiment, PhaseName} from '../experiment/model.js'
import {targetedClasses} from '../experiment/traffic.js'
import type {DestinationRule, VirtualService} from '@faultline/core/istio/types.js'
import type {SecondStats} from '../load/recorder.js'
import {summariseSeconds} from '../load/recorder.js'
import {phaseWindows} from '../report/phases.js'
import type {EventStream, RunEvent} from '../journal/events.js'
import {buildMap} from './map.js'
import type {BlastRadius, BlastRadiusMap, ClassPhase} from './model.js'
import {diagnose} from './rules.js'
import {readPrometheus, readSidecars, type Snapshot} from './snapshot.js'

/** What the collector needs from the run. */
export interface CollectorInput {
  cluster: Cluster
  namespace: string
  experiment: Experiment
  events: EventStream
  prometheusUrl?: string
}

/** How long the end of a run may wait for the map's last reads and queries. */
const FINISH_BUDGET_MS = 15_000

/** Collects a run's blast-radius map; `observe` every event, then `finish()` once before the run's end. */
export class BlastRadiusCollector {
  private readonly reads: Promise<Snapshot>[] = []
  private readonly boundaries: {phase: PhaseName; at: 'start' | 'end'; t: number; wall: Date}[] = []
  private readonly phases: {name: PhaseName; startT: number; endT?: number; plannedMs: number}[] = []
  private readonly load = new Map<string, SecondStats[]>()
  private config:
    Promise<{virtualServices: VirtualService[]; destinationRules: DestinationRule[]; error?: string}> | undefined

  constructor(private readonly input: CollectorInput) {}

  /** Read once, when the baseline starts (after preflight's checks, before any fault): the routing the faults meet. */
  private readConfig(): void {
    const {cluster, namespace} = this.input
    this.config = Promise.all([cluster.listVirtualServices(namespace), cluster.listDestinationRules(namespace)])
      .then(([virtualServices, destinationRules]) => ({virtualServices, destinationRules}))
      .catch((err: unknown) => ({virtualServices: [], destinationRules: [], error: (err as Error).message}))
  }

  /** Handles one event of the run. */
  observe(e: RunEvent): void {
    if (e.kind === 'load-second') {
      let list = this.load.get(e.second.traffic)
      if (list === undefined) this.load.set(e.second.traffic, (list = []))
      list.push(e.second)
      return
    }
    if (e.kind !== 'phase-started' && e.kind !== 'phase-ended') return
    const at = e.kind === 'phase-started' ? 'start' : 'end'
    if (this.config === undefined) this.readConfig()
    if (e.kind === 'phase-started') this.phases.push({name: e.phase, startT: e.t, plannedMs: e.plannedMs})
    else {
      const p = this.phases.find(x => x.name === e.phase && x.endT === undefined)
      if (p !== undefined) p.endT = e.t
    }
    this.boundaries.push({phase: e.phase, at, t: e.t, wall: new Date(e.at)})
    // Always read beside the run: the fallback when Prometheus has no series, and it costs one request per sidecar.
    const read = readSidecars(this.input.cluster, this.input.namespace, e.phase, at, e.t)
    read.catch(() => undefined)
    this.reads.push(read)
  }

  /** Builds the map and the diagnosis and emits them; never throws (a failure becomes a log line). */
  async finish(): Promise<BlastRadius | undefined> {
    if (this.boundaries.length === 0) return undefined
    try {
      const result = await withinMs(FINISH_BUDGET_MS, this.build())
      if (result === undefined) {
        this.input.events.emit({
          kind: 'log',
          level: 'warn',
          message: `blast-radius map: the sidecars' counters were not all read within ${FINISH_BUDGET_MS / 1000} s; the map is left out`,
        })
        return undefined
      }
      this.input.events.emit({kind: 'blast-radius', blastRadius: result})
      return result
    } catch (err) {
      this.input.events.emit({
        kind: 'log',
        level: 'warn',
        message: `blast-radius map could not be built: ${(err as Error).message}`,
      })
      return undefined
    }
  }

  private async build(): Promise<BlastRadius> {
    const {experiment, namespace, prometheusUrl} = this.input
    const faulted = new Set(experiment.spec.faults.map(f => f.service.split('.')[0] ?? f.service))
    let entryService: string | undefined
    try {
      entryService = new URL(experiment.spec.load.url).hostname.split('.')[0]
    } catch {
      entryService = undefined
    }
    const ctx = {namespace, faulted, ...(entryService === undefined ? {} : {entryService})}
    const sidecarReads = await Promise.all(this.reads)
    let map: BlastRadiusMap | undefined
    const notes: string[] = []
    if (prometheusUrl !== undefined) {
      const promReads: Snapshot[] = []
      for (const b of this.boundaries)
        promReads.push(await readPrometheus(prometheusUrl, namespace, b.phase, b.at, b.t, b.wall))
      const failed = promReads.find(r => r.error !== undefined)
      if (failed === undefined) map = buildMap(promReads, {...ctx, source: 'prometheus'})
      else
        notes.push(
          `Prometheus could not give the map (${failed.error as string}); it is built from the sidecars' own counters instead`,
        )
    }
    map ??= buildMap(sidecarReads, {...ctx, source: 'sidecars'})
    map.gaps.unshift(...notes)
    map.classes = this.classes()
    const config = await (this.config ?? {virtualServices: [], destinationRules: [], error: 'no phase started'})
    if (config.error !== undefined)
      map.gaps.push(
        `could not read the VirtualServices and DestinationRules in force (${config.error}): the diagnosis names no configured timeout or pool limit`,
      )
    const diagnosis = diagnose({
      map,
      faults: experiment.spec.faults,
      virtualServices: config.virtualServices,
      destinationRules: config.destinationRules,
    })
    return {map, diagnosis}
  }

  /** The load's classes per phase, from its own seconds (targeted and control apart). */
  private classes(): BlastRadiusMap['classes'] {
    const targeted = targetedClasses({experiment: this.input.experiment})
    let lengthMs = 0
    for (const list of this.load.values()) for (const s of list) lengthMs = Math.max(lengthMs, (s.second + 1) * 1000)
    const windows = phaseWindows({phases: this.phases}, lengthMs)
    const out: BlastRadiusMap['classes'] = {}
    for (const [name, seconds] of this.load) {
      const phases: Partial<Record<PhaseName, ClassPhase>> = {}
      for (const w of windows) {
        const s = summariseSeconds(seconds, w.fromMs, w.toMs)
        phases[w.phase] = {
          requests: s.requests,
          errorRatio: Math.round(s.failedRate * 10_000) / 10_000,
          p50: Math.round(s.duration.med * 10) / 10,
          p99: Math.round(s.duration.p(99) * 10) / 10,
        }
      }
      out[name] = {targeted: targeted.has(name), phases}
    }
    return out
  }
}

async function withinMs<T>(ms: number, work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      work,
      new Promise<undefined>(resolve => {
        timer = setTimeout(() => resolve(undefined), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
