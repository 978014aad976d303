import {strict as assert} from 'node:assert'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {K6OperatorApi, OperatorPod, TestRunState} from '../../src/cluster/k6-operator.js'
import type {DriverCheck, LoadPlan} from '../../src/load/driver.js'
import {K6OperatorDriver, K6OperatorFailed} from '../../src/load/k6-operator.js'
import type {KubeObject} from '../../src/load/k6-operator-plan.js'
import {FakeCluster} from '../fakes/cluster.js'

const plan: LoadPlan = {
  url: 'http://productpage:9080/productpage',
  method: 'GET',
  durationMs: 10_000,
  requestTimeoutMs: 60_000,
  traffic: [{name: 't', ratePerSecond: 6, headers: {}}],
}
const run = {
  runId: '20261207-000000-abcd',
  experiment: 'x',
  owner: 'me',
  namespace: 'default',
  expiresAt: new Date(Date.now() + 60_000),
}

/** A cluster with or without the operator, whose TestRuns move only as the test says. */
class FakeOperator implements K6OperatorApi {
  served = true
  stage: string | undefined
  pods: OperatorPod[] = []
  created: KubeObject[] = []
  deleted: string[] = []
  testRunsServed(): Promise<boolean> {
    return Promise.resolve(this.served)
  }
  createConfigMap(obj: KubeObject): Promise<void> {
    this.created.push(obj)
    return Promise.resolve()
  }
  createTestRun(obj: KubeObject): Promise<void> {
    this.created.push(obj)
    return Promise.resolve()
  }
  getTestRun(_ns: string, name: string): Promise<TestRunState | undefined> {
    return Promise.resolve(
      this.deleted.includes(`TestRun ${name}`)
        ? undefined
        : {name, labels: {}, annotations: {}, ...(this.stage === undefined ? {} : {stage: this.stage})},
    )
  }
  listTestRuns(): Promise<TestRunState[]> {
    return Promise.resolve([])
  }
  listConfigMaps(): Promise<{name: string; annotations: Record<string, string>}[]> {
    return Promise.resolve([])
  }
  deleteTestRun(_ns: string, name: string): Promise<void> {
    this.deleted.push(`TestRun ${name}`)
    return Promise.resolve()
  }
  deleteConfigMap(_ns: string, name: string): Promise<void> {
    this.deleted.push(`ConfigMap ${name}`)
    return Promise.resolve()
  }
  listPods(): Promise<OperatorPod[]> {
    return Promise.resolve(this.pods)
  }
}

/** A Prometheus that says which flags it runs with. */
async function fakePrometheus(flags: Record<string, string>): Promise<{url: string; server: Server}> {
  const server = createServer((req, res) => {
    if (req.url === '/api/v1/status/flags')
      return void res
        .writeHead(200, {'Content-Type': 'application/json'})
        .end(JSON.stringify({status: 'success', data: flags}))
    res.writeHead(404).end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server}
}

const GOOD_FLAGS = {'web.enable-remote-write-receiver': 'true', 'enable-feature': 'native-histograms'}

describe('k6-operator driver: preflight and stages', () => {
  let prometheus: {url: string; server: Server}
  before(async () => {
    prometheus = await fakePrometheus(GOOD_FLAGS)
  })
  after(() => prometheus.server.close())

  const prepare = async (
    api: FakeOperator,
    settings = {parallelism: 2},
    url: string | undefined = prometheus.url,
    deadlines = {},
  ) => {
    const checks: DriverCheck[] = []
    const driver = new K6OperatorDriver({
      api,
      cluster: new FakeCluster(),
      settings,
      prometheusUrl: url,
      stageDeadlinesMs: deadlines,
      pollMs: 20,
    })
    try {
      await driver.prepare(plan, run, c => checks.push(c), new AbortController().signal)
      return {driver, checks}
    } catch (err) {
      await driver.cleanup()
      throw Object.assign(err as Error, {checks})
    }
  }

  it('no testruns.k6.io: exit 4 naming the missing operator, nothing created', async () => {
    const api = new FakeOperator()
    api.served = false
    await assert.rejects(
      prepare(api),
      (err: K6OperatorFailed) =>
        err instanceof K6OperatorFailed &&
        err.exitCode === 4 &&
        /k6-operator is not installed/.test(err.message) &&
        /Helm/.test(err.hint ?? ''),
    )
    assert.deepEqual(api.created, [])
  })

  it('a rate that does not split (--driver given, so validation never saw it): exit 4 with the fix', async () => {
    await assert.rejects(
      prepare(new FakeOperator(), {parallelism: 7}),
      (err: K6OperatorFailed) =>
        err.exitCode === 4 && /does not split/.test(err.message) && /multiple of 7/.test(err.hint ?? ''),
    )
  })

  it('a Prometheus without the remote-write receiver: exit 4 with the flags to add', async () => {
    const bare = await fakePrometheus({'enable-feature': ''})
    try {
      await assert.rejects(
        prepare(new FakeOperator(), {parallelism: 2}, bare.url),
        (err: K6OperatorFailed) =>
          err.exitCode === 4 &&
          /--web.enable-remote-write-receiver and --enable-feature=native-histograms/.test(err.message),
      )
    } finally {
      bare.server.close()
    }
  })

  it('a TestRun stuck in a stage: exit 4 after its deadline, and cleanup deletes TestRun and ConfigMap', async () => {
    const api = new FakeOperator()
    api.stage = 'created'
    await assert.rejects(
      prepare(api, {parallelism: 2}, prometheus.url, {created: 200}),
      (err: K6OperatorFailed) => err.exitCode === 4 && /stuck in stage created for 0 s/.test(err.message),
    )
    assert.deepEqual(api.deleted.map(d => d.split(' ')[0]).sort(), ['ConfigMap', 'TestRun'])
  })

  it('a runner pod that fails: exit 4 naming the pod and why', async () => {
    const api = new FakeOperator()
    api.stage = 'created'
    api.pods = [
      {name: 'faultline-k6-x-1-abcde', phase: 'Pending', labels: {}, problem: 'ErrImagePull: pull access denied'},
    ]
    await assert.rejects(
      prepare(api),
      (err: K6OperatorFailed) =>
        err.exitCode === 4 && /runner pod faultline-k6-x-1-abcde failed .*ErrImagePull/.test(err.message),
    )
  })

  it('started: prepare returns, having reported each stage', async () => {
    const api = new FakeOperator()
    api.stage = 'started'
    const {driver, checks} = await prepare(api)
    assert.ok(checks.some(c => c.check === 'k6-operator started'))
    assert.ok(
      checks.some(c => c.check === 'k6-operator sidecars' && c.status === 'warning'),
      'no meshed pods in the fake: scuttle, with a warning',
    )
    const testRun = api.created.find(o => o.kind === 'TestRun')
    assert.deepEqual((testRun?.['spec'] as {scuttle?: unknown}).scuttle, {enabled: 'true'})
    await driver.cleanup()
    assert.equal(api.deleted.length, 2)
  })
})
