import assert from 'node:assert/strict'

import {Recorder} from '../../src/load/recorder.js'
import {PrometheusClient} from '../../src/probes/prometheus.js'
import {Guardrails} from '../../src/runner/guardrails.js'
import {FakeCluster} from '../fakes/cluster.js'

describe('guardrails', () => {
  const ctx = (recorder = new Recorder(['targeted'])) => ({
    cluster: new FakeCluster(),
    namespace: 'default',
    recorder,
    prometheus: new PrometheusClient('http://127.0.0.1:9'),
  })

  it('stops a run that cannot see: a guardrail that errors twice in a row breaches', async () => {
    const g = new Guardrails([{name: 'error ratio', prometheus: {query: 'up', expect: '> 0.2'}}], ctx())
    await g.arm()
    assert.equal(await g.check(0, 1000), undefined, 'one failed look is tolerated')
    const breach = await g.check(0, 2000)
    assert.equal(breach?.guardrail, 'error ratio')
    assert.match(breach?.message ?? '', /could not be evaluated twice in a row .*did not answer/)
  })

  it('breaches when its condition holds over the last seconds of load, not before', async () => {
    const recorder = new Recorder(['targeted'])
    const g = new Guardrails([{traffic: 'targeted', thresholds: {http_req_failed: ['rate>0.5']}}], ctx(recorder))
    assert.equal(await g.check(0, 1000), undefined, 'no samples yet is not a breach')
    for (let i = 0; i < 10; i++) {
      recorder.started('targeted', 100 * i)
      recorder.completed('targeted', 100 * i, 5, i < 3 ? 503 : 200)
    }
    recorder.flush(1000)
    assert.equal(await g.check(0, 1000), undefined, '30% failing is below the condition')
    for (let i = 10; i < 20; i++) {
      recorder.started('targeted', 100 * i)
      recorder.completed('targeted', 100 * i, 5, 503)
    }
    recorder.flush(2000)
    const breach = await g.check(0, 2000)
    assert.match(breach?.message ?? '', /rate=0\.65 meets the abort condition/)
  })

  it('breaches on failures in the second in progress, before that second is sealed', async () => {
    const recorder = new Recorder(['targeted'])
    const g = new Guardrails([{traffic: 'targeted', thresholds: {http_req_failed: ['rate>0']}}], ctx(recorder))
    for (let i = 0; i < 10; i++) {
      recorder.started('targeted', 100 * i)
      recorder.completed('targeted', 100 * i, 5, 200)
    }
    recorder.flush(1000)
    recorder.started('targeted', 1050)
    recorder.completed('targeted', 1050, 5, 503)
    const breach = await g.check(0, 1100)
    assert.match(breach?.message ?? '', /rate=0\.09\d* meets the abort condition/)
  })
})
