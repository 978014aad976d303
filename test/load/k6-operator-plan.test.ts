import {strict as assert} from 'node:assert'

import {InvalidExperiment} from '@faultline/core/errors.js'
import {parseExperiment} from '../../src/experiment/load.js'
import {
  k6OperatorObjects,
  K6_OPERATOR_MAX_PARALLELISM,
  runnerCommand,
  segmentFlags,
  splitProblems,
  testRunName,
} from '../../src/load/k6-operator-plan.js'
import {arrivalRate} from '../../src/load/k6-script.js'
import type {LoadPlan} from '../../src/load/driver.js'

const plan: LoadPlan = {
  url: 'http://productpage:9080/productpage',
  method: 'GET',
  durationMs: 50_000,
  requestTimeoutMs: 60_000,
  traffic: [
    {name: 'targeted', ratePerSecond: 5, headers: {'user-agent': 'faultline-chaos-test'}},
    {name: 'control', ratePerSecond: 5, headers: {}},
  ],
}

describe('k6-operator plan', () => {
  it("splits like the operator's segmentation.go (v1.6.0)", () => {
    assert.deepEqual(segmentFlags(1, 1), [])
    assert.deepEqual(segmentFlags(1, 3), ['--execution-segment=0:1/3', '--execution-segment-sequence=0,1/3,2/3,1'])
    assert.deepEqual(segmentFlags(2, 3), ['--execution-segment=1/3:2/3', '--execution-segment-sequence=0,1/3,2/3,1'])
    assert.deepEqual(segmentFlags(3, 3), ['--execution-segment=2/3:1', '--execution-segment-sequence=0,1/3,2/3,1'])
  })

  it('builds the runner command line as runner.go does', () => {
    assert.deepEqual(
      runnerCommand({
        testRun: 'tr',
        index: 2,
        parallelism: 2,
        arguments: ['--out', 'experimental-prometheus-rw'],
        script: '/test/x.js',
        scuttle: false,
      }),
      [
        'k6',
        'run',
        '--quiet',
        '--execution-segment=1/2:1',
        '--execution-segment-sequence=0,1/2,1',
        '--out',
        'experimental-prometheus-rw',
        '/test/x.js',
        '--address=0.0.0.0:6565',
        '--paused',
        '--tag',
        'instance_id=2',
        '--tag',
        'testrun_name=tr',
      ],
    )
    assert.equal(
      runnerCommand({testRun: 'tr', index: 1, parallelism: 1, arguments: [], script: 's', scuttle: true})[0],
      'scuttle',
    )
  })

  it('picks a time unit that gives every runner whole requests', () => {
    assert.deepEqual(arrivalRate(5, 1), {rate: 5, timeUnit: '1s'})
    assert.deepEqual(arrivalRate(5, 3), {rate: 300, timeUnit: '60s'})
    assert.deepEqual(arrivalRate(6, 3), {rate: 6, timeUnit: '1s'})
  })

  it('refuses a parallelism outside 1..cap and rates that do not split, with the fix', () => {
    const traffic = [{name: 'a', rate: '5/s'}]
    assert.match(splitProblems({traffic}, 0)[0]?.message ?? '', /parallelism 0 is outside 1–64/)
    assert.match(splitProblems({traffic}, K6_OPERATOR_MAX_PARALLELISM + 1)[0]?.hint ?? '', /at most 64/)
    assert.deepEqual(splitProblems({traffic}, 3), [])
    const [p] = splitProblems({traffic}, 7)
    assert.deepEqual(p?.path, ['traffic', 0, 'rate'])
    assert.match(p?.message ?? '', /rate 5\/s does not split .* across 7 runners/)
    assert.match(p?.hint ?? '', /multiple of 7/)
    assert.match(
      splitProblems({traffic: [{name: 'v', vus: 5}]}, 2)[0]?.message ?? '',
      /vus 5 does not split evenly across 2/,
    )
  })

  it("says so at validation (exit 2) with the field's position", () => {
    const text = (parallelism: number) => `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: x}
spec:
  faults: [{service: ratings, match: {headers: {x-a: {exact: "1"}}}, abort: {httpStatus: 503, percentage: 50}}]
  phases: {baseline: 5s, fault: 5s, recovery: 5s}
  load:
    driver: k6-operator
    k6Operator: {parallelism: ${parallelism}}
    url: http://productpage:9080/productpage
    traffic: [{name: t, rate: 5/s, headers: {x-a: "1"}}]
  steadyState: [{name: p, traffic: t, thresholds: {http_req_failed: ["rate<0.01"]}}]
`
    assert.equal(parseExperiment(text(3), 'x.yaml').spec.load.k6Operator?.parallelism, 3)
    const problems = (n: number) => {
      try {
        parseExperiment(text(n), 'x.yaml')
        return []
      } catch (err) {
        assert.ok(err instanceof InvalidExperiment)
        assert.equal(err.exitCode, 2)
        return err.diagnostics
      }
    }
    const split = problems(7)
    assert.ok(
      split.some(
        d => /rate 5\/s does not split/.test(d.message) && d.line === 11 && /multiple of 7/.test(d.hint ?? ''),
      ),
      JSON.stringify(split),
    )
    assert.ok(problems(0).some(d => /parallelism 0 is outside/.test(d.message) && d.line === 9))
    assert.ok(problems(65).some(d => /parallelism 65 is outside/.test(d.message)))
  })

  it('writes the ConfigMap and TestRun with our marks, the mesh annotation and remote write', () => {
    const {configMap, testRun, script} = k6OperatorObjects(plan, {
      runId: '20261207-184443-ab12',
      experiment: 'ratings-abort',
      owner: 'me@chaos-cli',
      expiresAt: new Date('2026-12-07T19:00:00Z'),
      namespace: 'default',
      settings: {parallelism: 3, labels: {team: 'sre'}, runnerImage: 'grafana/k6:1.4.0'},
      remoteWriteUrl: 'http://prometheus:9090/api/v1/write',
      scuttle: true,
    })
    const name = testRunName('20261207-184443-ab12')
    assert.equal(name, 'faultline-k6-20261207-184443-ab12')
    assert.equal(configMap.metadata.labels?.['faultline.dev/managed'], 'true')
    assert.equal(configMap.metadata.annotations?.['faultline.dev/run-id'], '20261207-184443-ab12')
    assert.equal((configMap['data'] as Record<string, string>)['faultline.js'], script.source)
    assert.match(script.source, /"timeUnit":"60s"/)
    const spec = testRun['spec'] as {
      parallelism: number
      scuttle: unknown
      runner: {
        metadata: {labels: Record<string, string>; annotations: Record<string, string>}
        env: {name: string; value: string}[]
        image: string
      }
      script: unknown
    }
    assert.equal(testRun.apiVersion, 'k6.io/v1alpha1')
    assert.equal(spec.parallelism, 3)
    assert.deepEqual(spec.script, {configMap: {name, file: 'faultline.js'}})
    assert.deepEqual(spec.scuttle, {enabled: 'true'})
    assert.equal(spec.runner.metadata.annotations['sidecar.istio.io/inject'], 'true')
    assert.equal(spec.runner.metadata.labels['team'], 'sre')
    assert.equal(spec.runner.metadata.labels['faultline.dev/run-id'], '20261207-184443-ab12')
    assert.equal(spec.runner.image, 'grafana/k6:1.4.0')
    assert.ok(
      spec.runner.env.some(
        e => e.name === 'K6_PROMETHEUS_RW_SERVER_URL' && e.value === 'http://prometheus:9090/api/v1/write',
      ),
    )
    assert.ok(spec.runner.env.some(e => e.name === 'K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM' && e.value === 'true'))
  })
})
