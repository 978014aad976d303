/**
 * Guardrails: `abortWhen` probes evaluated every second during the fault phase. A guardrail
 * *breaches* when its expectation holds (e.g. error ratio `> 0.2`). One that cannot be evaluated
 * twice in a row also stops the run: flying blind is not safe.
 */
import type {Cluster} from '../cluster/cluster.js'
import type {GuardrailProbe} from '../experiment/model.js'
import type {Recorder} from '../load/recorder.js'
import {type EnvoySnapshot, evaluateEnvoy, snapshotEnvoy} from '../probes/envoy.js'
import {evaluateThresholds} from '../probes/load-metrics.js'
import {evaluatePrometheus, PrometheusClient} from '../probes/prometheus.js'

/** A breach: which guardrail and what it saw. */
export interface Breach {
  guardrail: string
  message: string
}

/** What guardrails read from. */
export interface GuardrailContext {
  cluster: Cluster
  namespace: string
  recorder: Recorder
  prometheus: PrometheusClient | undefined
}

function nameOf(g: GuardrailProbe, i: number): string {
  if (g.name !== undefined) return g.name
  if ('prometheus' in g) return `prometheus ${g.prometheus.expect}`
  if ('envoy' in g) return `envoy ${g.envoy.stat} ${g.envoy.expect}`
  return `guardrail ${i + 1}`
}

/** Evaluates a list of guardrails repeatedly over the fault phase. */
export class Guardrails {
  private readonly starts = new Map<number, EnvoySnapshot>()
  private readonly errors = new Map<number, number>()

  constructor(
    private readonly rails: GuardrailProbe[],
    private readonly ctx: GuardrailContext,
  ) {}

  /** Takes the Envoy readings breaches are measured from (at the fault write). */
  async arm(): Promise<void> {
    await Promise.all(
      this.rails.map(async (g, i) => {
        if ('envoy' in g) this.starts.set(i, await snapshotEnvoy(this.ctx.cluster, this.ctx.namespace, g.envoy.pods))
      }),
    )
  }

  /** Checks every guardrail once; the first breach, if any. `fromMs`/`toMs`: the fault phase so far (load clock). */
  async check(fromMs: number, toMs: number): Promise<Breach | undefined> {
    for (const [i, g] of this.rails.entries()) {
      const name = nameOf(g, i)
      const v = await this.evaluate(g, i, fromMs, toMs).catch((err: Error) => ({
        status: 'errored' as const,
        actual: '-',
        message: err.message,
      }))
      if (v.status === 'errored') {
        const n = (this.errors.get(i) ?? 0) + 1
        this.errors.set(i, n)
        if (n >= 2)
          return {
            guardrail: name,
            message: `could not be evaluated twice in a row (${v.message ?? 'no data'}); stopping rather than flying blind`,
          }
        continue
      }
      this.errors.set(i, 0)
      // The guardrail's expectation describes the bad state: it breaches when that expectation holds.
      if (v.status === 'held') return {guardrail: name, message: `${v.actual} meets the abort condition`}
    }
    return undefined
  }

  private async evaluate(
    g: GuardrailProbe,
    i: number,
    fromMs: number,
    toMs: number,
  ): Promise<{status: 'held' | 'missed' | 'errored'; actual: string; message?: string}> {
    if ('prometheus' in g) {
      const client = g.prometheus.url === undefined ? this.ctx.prometheus : new PrometheusClient(g.prometheus.url)
      if (client === undefined) return {status: 'errored', actual: '-', message: 'no Prometheus'}
      return evaluatePrometheus(client, g.prometheus.query, g.prometheus.expect)
    }
    if ('envoy' in g) {
      const end = await snapshotEnvoy(this.ctx.cluster, this.ctx.namespace, g.envoy.pods)
      return evaluateEnvoy(g.envoy.stat, g.envoy.expect, this.starts.get(i), end)
    }
    // The latest data, the second in progress included: a breach must not wait for a second to be sealed.
    const window = this.ctx.recorder.summariseLatest(g.traffic, Math.max(fromMs, toMs - 5000), toMs)
    if (window.requests === 0) return {status: 'missed', actual: 'no samples yet'}
    return evaluateThresholds(g.thresholds, window)
  }
}
