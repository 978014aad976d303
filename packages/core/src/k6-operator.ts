/**
 * The k6-operator as the runner's driver and the sandbox's stand-in both know it (grafana/k6-operator,
 * tag v1.6.0, Apache-2.0): the TestRun API and how the operator starts its runners.
 * - pkg/resources/jobs/runner.go (NewRunnerJob): each runner's command line is
 *   `k6 run --quiet [--execution-segment=… --execution-segment-sequence=…] <args> <script>
 *   --address=0.0.0.0:6565 --paused --tag instance_id=N --tag testrun_name=NAME`, N from 1, with
 *   `scuttle` in front when spec.scuttle.enabled; runner pods carry `app: k6`, `k6_cr: NAME`,
 *   `runner: "true"`.
 * - pkg/segmentation/segmentation.go (NewCommandFragments): runner i of n gets segment
 *   `(i-1)/n:i/n` of the sequence `0,1/n,…,(n-1)/n,1` ("0" and "1" at the ends).
 */

/** The TestRun API. */
export const K6_GROUP = 'k6.io'
export const K6_VERSION = 'v1alpha1'
export const TESTRUN_PLURAL = 'testruns'
/** The CRD whose absence means the operator is not installed. */
export const TESTRUN_CRD = `${TESTRUN_PLURAL}.${K6_GROUP}`
/** Labels the operator puts on runner pods (pkg/resources/jobs/helpers.go newLabels + runner.go). */
export function runnerPodLabels(testRun: string): Record<string, string> {
  return {app: 'k6', k6_cr: testRun, runner: 'true'}
}

/** The `k6 run` segment flags of runner `index` (1-based) of `total` (segmentation.go). */
export function segmentFlags(index: number, total: number): string[] {
  if (total <= 1) return []
  if (index < 1 || index > total) throw new Error(`runner ${index} is outside parallelism ${total}`)
  const part = (i: number) => (i === 0 ? '0' : i === total ? '1' : `${i}/${total}`)
  const sequence = ['0', ...Array.from({length: total - 1}, (_, i) => `${i + 1}/${total}`), '1'].join(',')
  return [`--execution-segment=${part(index - 1)}:${part(index)}`, `--execution-segment-sequence=${sequence}`]
}

/** One runner's command line as the operator builds it (runner.go NewRunnerJob), `k6` first. */
export function runnerCommand(opts: {
  testRun: string
  index: number
  parallelism: number
  arguments: string[]
  script: string
  scuttle: boolean
  quiet?: boolean
  paused?: boolean
}): string[] {
  return [
    ...(opts.scuttle ? ['scuttle'] : []),
    'k6',
    'run',
    ...(opts.quiet === false ? [] : ['--quiet']),
    ...segmentFlags(opts.index, opts.parallelism),
    ...opts.arguments,
    opts.script,
    '--address=0.0.0.0:6565',
    ...(opts.paused === false ? [] : ['--paused']),
    '--tag',
    `instance_id=${opts.index}`,
    '--tag',
    `testrun_name=${opts.testRun}`,
  ]
}
