/**
 * The steady-state hypothesis, phase by phase: which probes apply in a phase, the Envoy snapshots
 * they need at its start, and their verdicts at its end.
 */
import type {Cluster} from '../cluster/cluster.js'
import type {PhaseName, Probe} from '../experiment/model.js'
import {probeKind, probePhases} from '../experiment/probes.js'
import type {LoadDriver} from '../load/driver.js'
import type {Recorder} from '../load/recorder.js'
import {type EnvoySnapshot, evaluateEnvoy, snapshotEnvoy} from '../probes/envoy.js'
import {evaluateHttp} from '../probes/http.js'
import {evaluateThresholds} from '../probes/load-metrics.js'
import {evaluatePrometheus, PrometheusClient} from '../probes/prometheus.js'
import type {ProbeResult} from '../journal/events.js'

/** What the probes need from the run. */
export interface ProbeContext {
  cluster: Cluster
  namespace: string
  recorder: Recorder
  prometheus: PrometheusClient | undefined
  /** Forward proxy for HTTP probes (the sandbox's). */
  proxy: string | undefined
  /** Threshold probes evaluated by the load driver itself (k6-operator: PromQL), instead of over the recorder. */
  thresholds?: LoadDriver['thresholds']
}

/** Evaluates the hypothesis's probes phase by phase. */
export class PhaseProbes {
  private readonly snapshots = new Map<number, EnvoySnapshot>()

  constructor(
    private readonly probes: Probe[],
    private readonly ctx: ProbeContext,
  ) {}

  /** Probes evaluated in `phase`, with their index in the experiment. */
  inPhase(phase: PhaseName): {probe: Probe; index: number}[] {
    return this.probes.map((probe, index) => ({probe, index})).filter(({probe}) => probePhases(probe).includes(phase))
  }

  /** Takes the start-of-phase Envoy readings this phase's probes compare against. */
  async startPhase(phase: PhaseName): Promise<void> {
    await Promise.all(
      this.inPhase(phase).map(async ({probe, index}) => {
        if (!('envoy' in probe)) return
        try {
          this.snapshots.set(index, await snapshotEnvoy(this.ctx.cluster, this.ctx.namespace, probe.envoy.pods))
        } catch {
          this.snapshots.delete(index) // evaluation reports the error
        }
      }),
    )
  }

  /**
   * Evaluates the probes of `phase` over the load window [fromMs, toMs) (load clock): `instant`
   * ones (Envoy, Prometheus, HTTP) must run at the phase's end; `load` ones (thresholds) once the
   * window's requests have completed; `all` both.
   */
  async endPhase(
    phase: PhaseName,
    fromMs: number,
    toMs: number,
    which: 'instant' | 'load' | 'all' = 'all',
  ): Promise<ProbeResult[]> {
    const picked = this.inPhase(phase).filter(
      ({probe}) => which === 'all' || (which === 'load') === (probeKind(probe) === 'threshold'),
    )
    return Promise.all(
      picked.map(async ({probe, index}) => {
        const base = {probe: probe.name, kind: probeKind(probe), phase}
        try {
          const v = await this.evaluate(probe, index, fromMs, toMs)
          return {...base, ...v}
        } catch (err) {
          return {...base, status: 'errored' as const, actual: '-', expected: '', message: (err as Error).message}
        }
      }),
    )
  }

  private async evaluate(
    probe: Probe,
    index: number,
    fromMs: number,
    toMs: number,
  ): Promise<Omit<ProbeResult, 'probe' | 'kind' | 'phase'>> {
    if ('thresholds' in probe) {
      if (this.ctx.thresholds !== undefined) return this.ctx.thresholds(probe.traffic, probe.thresholds, fromMs, toMs)
      return evaluateThresholds(probe.thresholds, this.ctx.recorder.summarise(probe.traffic, fromMs, toMs))
    }
    if ('prometheus' in probe) {
      const client =
        probe.prometheus.url === undefined ? this.ctx.prometheus : new PrometheusClient(probe.prometheus.url)
      if (client === undefined)
        return {
          status: 'errored',
          actual: '-',
          expected: probe.prometheus.expect,
          message: 'no Prometheus: pass --prometheus-url or set spec.prometheus.url',
        }
      return {
        ...(await evaluatePrometheus(client, probe.prometheus.query, probe.prometheus.expect)),
        expected: probe.prometheus.expect,
      }
    }
    if ('envoy' in probe) {
      const end = await snapshotEnvoy(this.ctx.cluster, this.ctx.namespace, probe.envoy.pods)
      return {
        ...evaluateEnvoy(probe.envoy.stat, probe.envoy.expect, this.snapshots.get(index), end),
        expected: `${probe.envoy.stat} ${probe.envoy.expect}`,
      }
    }
    return evaluateHttp(probe.http, this.ctx.proxy)
  }
}
