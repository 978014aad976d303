/**
 * The k6-operator load driver: the k6 script the k6 driver writes, run from inside the mesh by
 * grafana/k6-operator — a ConfigMap with the script, a TestRun with `parallelism` runner pods that
 * join the mesh (`sidecar.istio.io/inject: "true"`), metrics written to Prometheus by k6's
 * experimental-prometheus-rw output and read back with PromQL:
 *
 * - `prepare` (before the load clock): the operator is installed (k6.io/v1alpha1 testruns served),
 *   the rates split across the runners, Prometheus takes remote writes with native histograms,
 *   which sidecar mode applies (native sidecars complete; else the TestRun's scuttle stops the
 *   proxy); then creates the ConfigMap and TestRun and follows its stages (initialization →
 *   initialized → created → started, internal/controller/testrun_controller.go, v1.6.0), each
 *   with a deadline, until every runner pod runs: a stage that overruns, an `error` stage or a
 *   failed runner pod is exit 4, nothing injected.
 * - `run`: every second, range queries of the run's series feed the Recorder per second and class
 *   (counts by status from `k6_http_reqs_total`, latencies from the native histogram's bucket
 *   deltas, failure reasons from the script's `k6_faultline_request_failed_total`,
 *   src/load/k6-operator-feed.ts), sealed a few seconds behind the clock; the stage and the pods are watched, and a
 *   failure stops the run (`fail`: exit 4 in the baseline, 3 with the fault live).
 * - `thresholds`: every traffic-class threshold per phase in PromQL over the window, e.g.
 *   `histogram_quantile(0.99, sum(increase(k6_http_req_duration_seconds{testrun_name=…,traffic="targeted"}[30s])))`.
 * - `cleanup`: the TestRun (its Jobs and pods go with it) and the ConfigMap are deleted on every
 *   exit path; `chaos revert` and the reaper find leftovers by our labels (src/runner/k6-operator-cleanup.ts).
 */
import {performance} from 'node:perf_hooks'

import type {Cluster} from '../cluster/cluster.js'
import {type K6OperatorApi, k6OperatorApi, type TestRunState} from '../cluster/k6-operator.js'
import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import type {K6Operator} from '../experiment/model.js'
import {evaluateThresholds} from '../probes/load-metrics.js'
import type {DriverCheck, DriverThresholdVerdict, LoadDriver, LoadPlan, LoadRunIdentity} from './driver.js'
import {
  k6OperatorObjects,
  K6_GROUP,
  type KubeObject,
  runnerPodLabels,
  splitProblems,
  STAGE_DEADLINES_MS,
} from './k6-operator-plan.js'
import {SecondFeed} from './k6-operator-feed.js'
import {
  instantValue,
  percentilesOf,
  remoteWriteProblem,
  REQS,
  selector,
  thresholdQueries,
} from './k6-operator-promql.js'
import type {Recorder} from './recorder.js'

/** The k6-operator could not run the load (exit 4 before anything is injected). */
export class K6OperatorFailed extends FaultlineError {
  constructor(message: string, hint?: string) {
    super(message, ExitCode.CouldNotRun, 'K6_OPERATOR_FAILED', hint === undefined ? {} : {hint})
  }
}

/** How far behind the clock seconds are sealed: a 1 s push interval, Prometheus's append, our poll. */
export const SEAL_LAG_MS = 3000
const POLL_MS = 1000

/** What the driver needs from the run's target. */
export interface K6OperatorDriverOptions {
  api: K6OperatorApi
  cluster: Cluster
  /** The experiment's settings (spec.load.k6Operator). */
  settings: K6Operator
  /** Prometheus the driver queries (the experiment's). */
  prometheusUrl: string | undefined
  /** Override the stage deadlines (tests). */
  stageDeadlinesMs?: Partial<typeof STAGE_DEADLINES_MS>
  /** How often stages and pods are polled (default 250 ms). */
  pollMs?: number
}

/** How prepare reports a check (`k6-operator <name>`). */
type Check = (name: string, status: DriverCheck['status'], message: string, hint?: string) => void

/** Rates and parallelism: when --driver k6-operator was given, validation never saw them. */
function checkSplit(plan: LoadPlan, settings: K6Operator, parallelism: number, check: Check): void {
  const split = splitProblems(
    {
      k6Operator: settings,
      traffic: plan.traffic.map(t => ({
        name: t.name,
        ...(t.ratePerSecond === undefined ? {} : {rate: `${t.ratePerSecond}/s`}),
        ...(t.vus === undefined ? {} : {vus: t.vus}),
      })),
    },
    parallelism,
  )
  if (split.length > 0) {
    for (const p of split) check('split', 'failed', p.message, p.hint)
    throw new K6OperatorFailed(
      `the load does not split across the runners: ${split.map(p => p.message).join('; ')}`,
      split[0]?.hint,
    )
  }
}

/** A TestRun that overran its stage's deadline; no stage at all means no operator acts on TestRuns. */
function stuckInStage(namespace: string, name: string, stage: string, limit: number): K6OperatorFailed {
  return new K6OperatorFailed(
    `TestRun ${name} stuck in stage ${stage === '' ? '(none: is the operator running?)' : stage} for ${(limit / 1000).toFixed(0)} s`,
    stage === ''
      ? 'The CRD is installed but no operator acts on TestRuns: check the k6-operator deployment (kubectl -n k6-operator-system get pods).'
      : `kubectl -n ${namespace} get pods -l k6_cr=${name}; kubectl -n ${namespace} describe testrun ${name}`,
  )
}

/** The k6-operator driver. */
export class K6OperatorDriver implements LoadDriver {
  readonly name = 'k6-operator'
  private namespace = ''
  private testRun: string | undefined
  private created: {configMap: boolean; testRun: boolean} = {configMap: false, testRun: false}
  private t0Wall = 0

  constructor(private readonly options: K6OperatorDriverOptions) {}

  version(): Promise<string> {
    return Promise.resolve(
      `k6-operator (${K6_GROUP}/v1alpha1 TestRun, parallelism ${this.options.settings.parallelism ?? 1})`,
    )
  }

  async prepare(
    plan: LoadPlan,
    run: LoadRunIdentity,
    report: (check: DriverCheck) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const {settings} = this.options
    const parallelism = settings.parallelism ?? 1
    this.namespace = settings.namespace ?? run.namespace
    const check = (name: string, status: DriverCheck['status'], message: string, hint?: string) =>
      report({check: `k6-operator ${name}`, status, message, ...(hint === undefined ? {} : {hint})})
    checkSplit(plan, settings, parallelism, check)
    await this.checkInstalled(check)
    const prometheus = await this.checkPrometheus(check)
    const scuttle = await this.sidecarMode(run.namespace, check)
    const remoteWriteUrl =
      settings.remoteWriteUrl ?? new URL('api/v1/write', prometheus.endsWith('/') ? prometheus : `${prometheus}/`).href
    const {configMap, testRun} = k6OperatorObjects(plan, {
      runId: run.runId,
      experiment: run.experiment,
      owner: run.owner,
      expiresAt: run.expiresAt,
      namespace: this.namespace,
      settings,
      remoteWriteUrl,
      scuttle,
    })
    this.testRun = testRun.metadata.name
    check(
      'testrun',
      'ok',
      `TestRun ${this.namespace}/${this.testRun}: ${parallelism} runner${parallelism === 1 ? '' : 's'}, each sending 1/${parallelism} of every class; metrics to ${remoteWriteUrl}`,
    )
    if (signal.aborted) return
    await this.create(configMap, testRun)
    await this.followStages(check, signal)
  }

  /** The operator is installed: the cluster serves k6.io/v1alpha1 TestRuns. */
  private async checkInstalled(check: Check): Promise<void> {
    let served: boolean
    try {
      served = await this.options.api.testRunsServed()
    } catch (err) {
      throw new K6OperatorFailed(
        `could not ask the cluster whether the k6-operator is installed: ${(err as Error).message}`,
      )
    }
    if (!served) {
      check(
        'installed',
        'failed',
        'the cluster does not serve k6.io/v1alpha1 TestRuns: the k6-operator is not installed (no testruns.k6.io CRD)',
      )
      throw new K6OperatorFailed(
        'the k6-operator is not installed: the cluster serves no testruns.k6.io (k6.io/v1alpha1)',
        'Install it (https://grafana.com/docs/k6/latest/set-up/set-up-distributed-k6/install-k6-operator/, e.g. its Helm chart grafana/k6-operator), or run with --driver builtin or k6. Nothing was injected.',
      )
    }
    check('installed', 'ok', 'the cluster serves k6.io/v1alpha1 TestRuns')
  }

  /** The Prometheus the runners write to and the driver reads from, once it accepts remote writes with native histograms. */
  private async checkPrometheus(check: Check): Promise<string> {
    const prometheus = this.options.prometheusUrl
    if (prometheus === undefined) {
      check('prometheus', 'failed', "no Prometheus: the runners' metrics come back only through Prometheus")
      throw new K6OperatorFailed(
        'driver k6-operator needs a Prometheus: the runners write their metrics there and chaos reads them back with PromQL',
        'Pass --prometheus-url or set spec.prometheus.url (started with --web.enable-remote-write-receiver --enable-feature=native-histograms).',
      )
    }
    const rw = await remoteWriteProblem(prometheus)
    if (rw !== undefined) {
      check('prometheus', 'failed', rw)
      throw new K6OperatorFailed(
        `${rw}: the runners could not write their metrics`,
        'Start Prometheus with --web.enable-remote-write-receiver --enable-feature=native-histograms (Helm: server.extraFlags / prometheusSpec.enableRemoteWriteReceiver and enableFeatures), or run with --driver builtin or k6.',
      )
    }
    check('prometheus', 'ok', `${prometheus} accepts remote writes with native histograms`)
    return prometheus
  }

  /** Creates the ConfigMap, then the TestRun, remembering each for cleanup. */
  private async create(configMap: KubeObject, testRun: KubeObject): Promise<void> {
    const {api} = this.options
    try {
      await api.createConfigMap(configMap)
      this.created.configMap = true
      await api.createTestRun(testRun)
      this.created.testRun = true
    } catch (err) {
      throw new K6OperatorFailed(
        `could not create the TestRun: ${(err as Error).message}`,
        'The run needs create on configmaps and testruns.k6.io in the namespace (chaos schedule --driver k6-operator prints that Role).',
      )
    }
  }

  /** Native sidecars (init containers with restartPolicy Always) let the runner pods complete; else scuttle. */
  private async sidecarMode(
    namespace: string,
    check: (name: string, status: DriverCheck['status'], message: string, hint?: string) => void,
  ): Promise<boolean> {
    const pods = await this.options.cluster.listPods(namespace, '').catch(() => [])
    const native = pods.filter(p => (p.sidecars ?? []).includes('istio-proxy')).length
    const classic = pods.filter(p => p.containers.includes('istio-proxy')).length
    if (native > 0 && classic === 0) {
      check(
        'sidecars',
        'ok',
        `the mesh injects native sidecars (${native} pod${native === 1 ? '' : 's'} in ${namespace}): runner pods complete when k6 exits`,
      )
      return false
    }
    if (classic > 0) {
      check(
        'sidecars',
        'ok',
        `the mesh injects istio-proxy as a container (${classic} pod${classic === 1 ? '' : 's'} in ${namespace}): the TestRun's scuttle stops the runners' proxy when k6 exits`,
      )
      return true
    }
    check(
      'sidecars',
      'warning',
      `no meshed pod in ${namespace} to tell the sidecar mode by: the TestRun enables scuttle (harmless with native sidecars)`,
    )
    return true
  }

  /** Follows the TestRun's stages, each with its deadline, until every runner runs. */
  private async followStages(
    check: (name: string, status: DriverCheck['status'], message: string, hint?: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const name = this.testRun as string
    const deadlines = {...STAGE_DEADLINES_MS, ...this.options.stageDeadlinesMs}
    const pollMs = this.options.pollMs ?? 250
    let stage = ''
    let since = performance.now()
    const began = since
    for (;;) {
      if (signal.aborted) return
      const state = await this.readTestRun(name)
      const now = state.stage ?? ''
      if (now !== stage) {
        check(
          'stage',
          'ok',
          `TestRun ${name}: ${stage === '' ? 'created' : stage} → ${now === '' ? '(no stage yet)' : now} after ${((performance.now() - since) / 1000).toFixed(1)} s`,
        )
        stage = now
        since = performance.now()
      }
      if (stage === 'error') {
        const why = state.conditions?.find(c => c.message !== undefined && c.message !== '')?.message
        throw new K6OperatorFailed(
          `TestRun ${name} reached stage error${why === undefined ? '' : `: ${why}`}`,
          `kubectl -n ${this.namespace} describe testrun ${name}; kubectl -n ${this.namespace} logs -l k6_cr=${name}`,
        )
      }
      const failed = await this.failedPod()
      if (failed !== undefined)
        throw new K6OperatorFailed(
          `runner pod ${failed.name} failed in stage ${stage || 'creation'}${failed.problem === undefined ? '' : `: ${failed.problem}`}`,
          `kubectl -n ${this.namespace} logs ${failed.name}`,
        )
      if (stage === 'started' || stage === 'finished') {
        check(
          'started',
          'ok',
          `TestRun ${name} started ${((performance.now() - began) / 1000).toFixed(1)} s after it was created`,
        )
        return
      }
      const limit =
        deadlines[(stage === '' ? 'initialization' : stage) as keyof typeof deadlines] ?? deadlines.initialization
      if (performance.now() - since > limit) throw stuckInStage(this.namespace, name, stage, limit)
      await new Promise(r => setTimeout(r, pollMs))
    }
  }

  /** The TestRun as the cluster has it now; unreadable or gone, the load cannot go on. */
  private async readTestRun(name: string): Promise<TestRunState> {
    const state = await this.options.api.getTestRun(this.namespace, name).catch((err: Error) => {
      throw new K6OperatorFailed(`reading TestRun ${this.namespace}/${name}: ${err.message}`)
    })
    if (state === undefined)
      throw new K6OperatorFailed(`TestRun ${this.namespace}/${name} disappeared (deleted by someone else?)`)
    return state
  }

  private async failedPod(): Promise<{name: string; problem?: string} | undefined> {
    const pods = await this.options.api
      .listPods(
        this.namespace,
        Object.entries(runnerPodLabels(this.testRun as string))
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
      )
      .catch(() => [])
    const bad = pods.find(
      p =>
        p.phase === 'Failed' ||
        (p.problem !== undefined &&
          /ErrImagePull|ImagePullBackOff|CrashLoopBackOff|InvalidImageName|CreateContainerConfigError|Error/.test(
            p.problem,
          )),
    )
    return bad === undefined
      ? undefined
      : {name: bad.name, ...(bad.problem === undefined ? {} : {problem: bad.problem})}
  }

  async run(
    plan: LoadPlan,
    recorder: Recorder,
    {stop, abort, fail}: {stop: AbortSignal; abort: AbortSignal; fail?: (reason: string) => void},
  ): Promise<void> {
    const name = this.testRun
    const prometheus = this.options.prometheusUrl
    if (name === undefined || prometheus === undefined)
      throw new K6OperatorFailed('the k6-operator driver ran without prepare')
    const t0 = performance.now()
    this.t0Wall = performance.timeOrigin + t0
    const now = () => performance.now() - t0
    const feed = new SecondFeed(recorder, this.t0Wall, name, prometheus)
    const ended = () => stop.aborted || abort.aborted || now() > plan.durationMs
    let failed = false
    while (!ended()) {
      await new Promise<void>(resolve => {
        const done = () => {
          clearTimeout(timer)
          stop.removeEventListener('abort', done)
          abort.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, POLL_MS)
        stop.addEventListener('abort', done, {once: true})
        abort.addEventListener('abort', done, {once: true})
      })
      await feed.poll(new Date(this.t0Wall + now())).catch(() => undefined)
      recorder.flush(now() - SEAL_LAG_MS)
      if (failed || ended()) continue
      const state = await this.options.api.getTestRun(this.namespace, name).catch(() => undefined)
      const pod = await this.failedPod()
      const why =
        state === undefined
          ? `TestRun ${name} disappeared`
          : state.stage === 'error'
            ? `TestRun ${name} reached stage error`
            : pod !== undefined
              ? `runner pod ${pod.name} failed${pod.problem === undefined ? '' : `: ${pod.problem}`}`
              : undefined
      if (why !== undefined) {
        failed = true
        fail?.(`the k6-operator load broke: ${why}`)
      }
    }
    // The last points: one more push interval, then what Prometheus has.
    if (!abort.aborted) await new Promise(r => setTimeout(r, 1500))
    await feed.poll(new Date(this.t0Wall + now())).catch(() => undefined)
    recorder.flush(now(), true)
    await this.deleteTestRun()
  }

  private async deleteTestRun(): Promise<void> {
    if (this.testRun === undefined || !this.created.testRun) return
    await this.options.api.deleteTestRun(this.namespace, this.testRun)
    this.created.testRun = false
  }

  async cleanup(): Promise<void> {
    if (this.testRun === undefined) return
    const problems: string[] = []
    await this.deleteTestRun().catch((err: Error) => problems.push(err.message))
    if (this.created.configMap) {
      await this.options.api.deleteConfigMap(this.namespace, this.testRun).then(
        () => {
          this.created.configMap = false
        },
        (err: Error) => problems.push(err.message),
      )
    }
    if (problems.length > 0)
      throw new Error(
        `the k6-operator's objects could not all be deleted (${problems.join('; ')}): chaos revert --run <id> removes them`,
      )
  }

  async thresholds(
    traffic: string | undefined,
    thresholds: Record<string, string[]>,
    fromMs: number,
    toMs: number,
  ): Promise<DriverThresholdVerdict> {
    const prometheus = this.options.prometheusUrl
    if (prometheus === undefined || this.testRun === undefined)
      return {status: 'errored', actual: '-', expected: '', message: 'no Prometheus to evaluate thresholds with'}
    const end = new Date(this.t0Wall + toMs)
    // Wait (bounded) for the runners' write covering the window's end.
    await waitForSamples(prometheus, this.testRun, end, 5000)
    const seconds = (toMs - fromMs) / 1000
    const queries = thresholdQueries(this.testRun, traffic, seconds, percentilesOf(thresholds))
    const values = Object.fromEntries(
      await Promise.all(
        Object.entries(queries).map(
          async ([k, query]) => [k, await instantValue(prometheus, query, end).catch(() => undefined)] as const,
        ),
      ),
    )
    const requests = Math.round(values['requests'] ?? 0)
    const failed = values['failed'] ?? 0
    const p = (n: number) => values[`p${n}`] ?? Number.NaN
    const verdict = evaluateThresholds(thresholds, {
      requests,
      failed: Math.round(failed),
      dropped: 0,
      cancelled: 0,
      rate: (values['requests'] ?? 0) / Math.max(seconds, 0.001),
      failedRate: requests === 0 ? 0 : failed / (values['requests'] ?? 1),
      duration: {
        count: requests,
        avg: values['avg'] ?? Number.NaN,
        min: values['min'] ?? Number.NaN,
        max: values['max'] ?? Number.NaN,
        med: p(50),
        p,
      },
    })
    return {
      ...verdict,
      message: [
        verdict.message,
        `PromQL over ${Math.round(seconds)} s of ${this.testRun}'s series (latency to the native histogram's bucket, ±2 %)`,
      ]
        .filter(m => m !== undefined)
        .join('; '),
    }
  }
}

async function waitForSamples(prometheus: string, testRun: string, end: Date, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs
  while (Date.now() < deadline) {
    const latest = await instantValue(prometheus, `max(timestamp(${REQS}${selector(testRun)}))`, new Date()).catch(
      () => undefined,
    )
    if (latest !== undefined && latest * 1000 >= end.getTime()) return
    await new Promise(r => setTimeout(r, 250))
  }
}

/** The driver for a run's target; exit 4 when the target is not a Kubernetes API (a test fake). */
export function k6OperatorDriverFor(
  cluster: Cluster,
  settings: K6Operator,
  prometheusUrl: string | undefined,
): K6OperatorDriver {
  const api = k6OperatorApi(cluster)
  if (api === undefined)
    throw new K6OperatorFailed(
      'driver k6-operator needs a Kubernetes API server to create its TestRun on',
      'Run against a cluster or the sandbox (--sandbox), or use --driver builtin or k6.',
    )
  return new K6OperatorDriver({api, cluster, settings, prometheusUrl})
}
