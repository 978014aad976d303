import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseExperiment} from '../../src/experiment/load.js'
import {planExperiment} from '../../src/faults/experiment-plan.js'
import {PrometheusClient} from '../../src/probes/prometheus.js'
import {preflight} from '../../src/runner/preflight.js'
import {REPO} from '../cli.js'
import {FakeCluster} from '../fakes/cluster.js'

const experiment = parseExperiment(
  readFileSync(`${REPO}/experiments/ratings-delay-promql.yaml`, 'utf8'),
  'ratings-delay-promql.yaml',
)

describe('preflight: Prometheus', () => {
  it('reports a Prometheus that does not answer once, not once per query, and injects nothing', async () => {
    const cluster = new FakeCluster()
    const plan = planExperiment({experiment, existing: [], runId: 'r1', now: new Date(), namespace: 'default'})
    const checks = await preflight({
      experiment,
      cluster,
      namespace: 'default',
      plan,
      prometheus: new PrometheusClient('http://127.0.0.1:9'),
      loadThroughMesh: true,
      now: new Date(),
    })
    const prometheus = checks.filter(c => c.check === 'prometheus')
    assert.equal(prometheus.length, 1, JSON.stringify(prometheus))
    assert.equal(prometheus[0]?.status, 'failed')
    assert.match(prometheus[0]?.message ?? '', /Prometheus at http:\/\/127\.0\.0\.1:9 did not answer/)
    assert.deepEqual(cluster.writes, [])
  })
})
