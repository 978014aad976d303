/**
 * The k6-operator driver's objects, pure: the ConfigMap holding the generated k6 script and the
 * TestRun (`k6.io/v1alpha1`, grafana/k6-operator v1.6.0) that runs it from runner pods inside the
 * mesh, plus how the operator splits the load (its execution segments) and the checks a rate and a
 * parallelism must pass. Nothing here talks to a cluster.
 *
 * Sources (grafana/k6-operator, tag v1.6.0, Apache-2.0):
 * - pkg/resources/jobs/runner.go (NewRunnerJob): each runner's command line is
 *   `k6 run --quiet [--execution-segment=… --execution-segment-sequence=…] <args> <script>
 *   --address=0.0.0.0:6565 --paused --tag instance_id=N --tag testrun_name=NAME`, N from 1, with
 *   `scuttle` in front when spec.scuttle.enabled; runner pods carry `app: k6`, `k6_cr: NAME`,
 *   `runner: "true"` plus spec.runner.metadata.labels, and spec.runner.metadata.annotations.
 * - pkg/segmentation/segmentation.go (NewCommandFragments): runner i of n gets segment
 *   `(i-1)/n:i/n` of the sequence `0,1/n,…,(n-1)/n,1` ("0" and "1" at the ends).
 * - pkg/resources/jobs/starter.go + pkg/resources/containers/curl_start.go: the starter PATCHes
 *   every runner's `/v1/status` with `{"data":{"attributes":{"paused":false},"id":"default","type":"status"}}`.
 * - internal/controller/testrun_controller.go: stages "" → initialization → initialized → created
 *   → started → (stopped →) finished, or error.
 */
import {K6_GROUP, K6_VERSION} from '@faultline/core/k6-operator.js'

import {
  ANNOTATION_CREATED,
  ANNOTATION_EXPERIMENT,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_OWNER,
  ANNOTATION_RUN_ID,
  isLabelValue,
  LABEL_MANAGED,
  LABEL_RUN_ID,
  rfc3339,
} from '../faults/annotations.js'
import type {K6Operator, Load} from '../experiment/model.js'
import type {LoadPlan} from './driver.js'
import {k6Script, splitsEvenly} from './k6-script.js'

/** The operator's own model (the TestRun API, its runners' command line) is shared with the sandbox's stand-in. */
export {
  K6_GROUP,
  K6_VERSION,
  runnerCommand,
  runnerPodLabels,
  segmentFlags,
  TESTRUN_CRD,
  TESTRUN_PLURAL,
} from '@faultline/core/k6-operator.js'

/** The script's file name in the ConfigMap. */
export const SCRIPT_FILE = 'faultline.js'

/**
 * The most runners one run may ask for. Every runner is a pod with a sidecar and writes its own
 * series to Prometheus (one set per `instance_id`), and a PromQL evaluation sums them all: 64 keeps
 * a run's series and pods within what a namespace quota and a Prometheus comfortably take.
 */
export const K6_OPERATOR_MAX_PARALLELISM = 64

/** The stages of a TestRun in order (testrun_controller.go's Reconcile, v1.6.0). */
export const STAGES = ['initialization', 'initialized', 'created', 'started', 'finished'] as const
export type Stage = (typeof STAGES)[number] | 'stopped' | 'error'

/** How long each stage may take before the run gives up (exit 4 before the fault, 3 after). */
export const STAGE_DEADLINES_MS: Readonly<Record<'initialization' | 'initialized' | 'created' | 'started', number>> = {
  // The initializer pod pulls the runner image and runs `k6 inspect`: an image pull dominates.
  initialization: 120_000,
  initialized: 60_000,
  // Runner pods created → all Running (image pull, sidecar injection, scheduling).
  created: 120_000,
  // The starter job un-pauses every runner.
  started: 60_000,
}

/** A problem with the k6-operator settings or rates, with its fix; `path` is under spec.load. */
export interface SplitProblem {
  path: (string | number)[]
  message: string
  hint: string
}

/** The parallelism asked for (default 1). */
export function parallelismOf(load: Pick<Load, 'k6Operator'>): number {
  return load.k6Operator?.parallelism ?? 1
}

/**
 * What stops `parallelism` runners from sharing the load evenly: a parallelism below 1 or above the
 * cap; a rate that does not give every runner whole requests per second or per minute; a `vus`
 * that is not a multiple of the parallelism (k6 would leave some runners with fewer users).
 */
export function splitProblems(
  load: Pick<Load, 'k6Operator' | 'traffic'>,
  parallelism = parallelismOf(load),
): SplitProblem[] {
  const problems: SplitProblem[] = []
  if (!Number.isInteger(parallelism) || parallelism < 1 || parallelism > K6_OPERATOR_MAX_PARALLELISM) {
    problems.push({
      path: ['k6Operator', 'parallelism'],
      message: `parallelism ${parallelism} is outside 1–${K6_OPERATOR_MAX_PARALLELISM}`,
      hint:
        parallelism < 1
          ? 'use at least 1 runner (1 runs the whole load in one pod)'
          : `use at most ${K6_OPERATOR_MAX_PARALLELISM} runners; one runner sends thousands of requests per second, so more are rarely needed`,
    })
    return problems
  }
  load.traffic.forEach((t, i) => {
    if (t.rate !== undefined) {
      const m = /^([0-9]+(?:\.[0-9]+)?)\/(s|m|h)$/.exec(t.rate)
      if (m === null) return
      const perSecond = Number(m[1]) / {s: 1, m: 60, h: 3600}[m[2] as 's' | 'm' | 'h']
      if (perSecond > 0 && !splitsEvenly(perSecond, parallelism)) {
        problems.push({
          path: ['traffic', i, 'rate'],
          message: `rate ${t.rate} does not split into whole requests per second or per minute across ${parallelism} runners (${formatShare((perSecond * 60) / parallelism)}/m each)`,
          hint: `use a rate whose requests per minute are a multiple of ${parallelism} (e.g. ${suggestRate(perSecond, parallelism)}), or a parallelism that divides ${formatShare(perSecond * 60)}/m`,
        })
      }
    }
    if (t.vus !== undefined && t.vus % parallelism !== 0) {
      problems.push({
        path: ['traffic', i, 'vus'],
        message: `vus ${t.vus} does not split evenly across ${parallelism} runners`,
        hint: `use a multiple of ${parallelism} (e.g. ${Math.max(parallelism, Math.round(t.vus / parallelism) * parallelism)})`,
      })
    }
  })
  return problems
}

function formatShare(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2)
}

function suggestRate(perSecond: number, parallelism: number): string {
  const perMinute = Math.max(parallelism, Math.round((perSecond * 60) / parallelism) * parallelism)
  return perMinute % 60 === 0 ? `${perMinute / 60}/s` : `${perMinute}/m`
}

/** What the run decides for its TestRun. */
export interface TestRunRequest {
  runId: string
  experiment: string
  owner: string
  /** When a dead run's objects may be removed by anyone (the faults' expiry). */
  expiresAt: Date
  namespace: string
  settings: K6Operator
  /** Where the runners write their metrics (Prometheus remote write). */
  remoteWriteUrl: string
  /**
   * The runners' pods have no native sidecars: scuttle (the operator's spec.scuttle) waits for the
   * proxy and tells it to quit when k6 exits, or the Job's pod never completes.
   */
  scuttle: boolean
}

/** The TestRun and ConfigMap names of a run: `faultline-k6-<run id>`. */
export function testRunName(runId: string): string {
  return `faultline-k6-${runId}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 52)
    .replace(/-+$/, '')
}

/** Our run labels and annotations, as on every VirtualService a run writes (faults/annotations.ts). */
export function runMetadata(req: Pick<TestRunRequest, 'runId' | 'experiment' | 'owner' | 'expiresAt'>): {
  labels: Record<string, string>
  annotations: Record<string, string>
} {
  return {
    labels: {[LABEL_MANAGED]: 'true', ...(isLabelValue(req.runId) ? {[LABEL_RUN_ID]: req.runId} : {})},
    annotations: {
      [ANNOTATION_RUN_ID]: req.runId,
      [ANNOTATION_OWNER]: req.owner,
      [ANNOTATION_EXPERIMENT]: req.experiment,
      [ANNOTATION_EXPIRES_AT]: rfc3339(req.expiresAt),
      [ANNOTATION_CREATED]: 'true',
    },
  }
}

/** The environment k6's experimental-prometheus-rw output reads (xk6-output-prometheus-remote). */
export function remoteWriteEnv(url: string): {name: string; value: string}[] {
  return [
    {name: 'K6_PROMETHEUS_RW_SERVER_URL', value: url},
    // Trends as native histograms: one series per class whose quantiles PromQL computes over any window.
    {name: 'K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM', value: 'true'},
    // Every second, so per-second series and a phase's end are at most ~1 s behind.
    {name: 'K6_PROMETHEUS_RW_PUSH_INTERVAL', value: '1s'},
    {name: 'K6_NO_USAGE_REPORT', value: 'true'},
  ]
}

/** The arguments every runner gets besides the operator's own. */
export const RUNNER_ARGUMENTS = ['--out', 'experimental-prometheus-rw', '--no-usage-report']

/** The ConfigMap with the script, and the TestRun that runs it. */
export function k6OperatorObjects(
  plan: LoadPlan,
  req: TestRunRequest,
): {configMap: KubeObject; testRun: KubeObject; script: ReturnType<typeof k6Script>} {
  const name = testRunName(req.runId)
  const parallelism = req.settings.parallelism ?? 1
  const script = k6Script(plan, parallelism)
  const meta = runMetadata(req)
  const runnerLabels = {...req.settings.labels, ...meta.labels}
  // The runners join the mesh: their requests leave through a sidecar, where the faults are.
  const runnerAnnotations = {...req.settings.annotations, ...meta.annotations, 'sidecar.istio.io/inject': 'true'}
  const resources = req.settings.resources
  const configMap: KubeObject = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {name, namespace: req.namespace, labels: meta.labels, annotations: meta.annotations},
    data: {[SCRIPT_FILE]: script.source},
  }
  const testRun: KubeObject = {
    apiVersion: `${K6_GROUP}/${K6_VERSION}`,
    kind: 'TestRun',
    metadata: {name, namespace: req.namespace, labels: meta.labels, annotations: meta.annotations},
    spec: {
      parallelism,
      script: {configMap: {name, file: SCRIPT_FILE}},
      arguments: RUNNER_ARGUMENTS.join(' '),
      quiet: 'true',
      // Where the mesh has no native sidecars, scuttle stops the proxy once k6 exits.
      ...(req.scuttle ? {scuttle: {enabled: 'true'}} : {}),
      runner: {
        ...(req.settings.runnerImage === undefined ? {} : {image: req.settings.runnerImage}),
        metadata: {labels: runnerLabels, annotations: runnerAnnotations},
        env: remoteWriteEnv(req.remoteWriteUrl),
        ...(resources === undefined
          ? {}
          : {
              resources: {
                ...(resources.requests === undefined ? {} : {requests: resources.requests}),
                ...(resources.limits === undefined ? {} : {limits: resources.limits}),
              },
            }),
        ...(req.settings.serviceAccount === undefined ? {} : {serviceAccountName: req.settings.serviceAccount}),
        ...(req.settings.nodeSelector === undefined ? {} : {nodeSelector: req.settings.nodeSelector}),
      },
      // The starter and initializer pods are the operator's too: they carry our marks, and stay out
      // of the mesh (a sidecar would keep their Jobs from completing).
      starter: {
        metadata: {labels: meta.labels, annotations: {...meta.annotations, 'sidecar.istio.io/inject': 'false'}},
      },
      initializer: {
        metadata: {labels: meta.labels, annotations: {...meta.annotations, 'sidecar.istio.io/inject': 'false'}},
      },
    },
  }
  return {configMap, testRun, script}
}

/** A Kubernetes object as plain JSON. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    [k: string]: unknown
  }
  [field: string]: unknown
}
