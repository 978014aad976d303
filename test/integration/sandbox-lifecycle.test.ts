import assert from 'node:assert/strict'
import {existsSync, statSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {fetch as undiciFetch, ProxyAgent} from 'undici'

import {ClusterUnavailable, UsageError} from '@faultline/core/errors.js'
import {startSandbox} from '@faultline/sandbox/sandbox.js'
import {readSandboxState, statePaths} from '@faultline/sandbox/state.js'
import {listening, recordedPorts} from './sandbox-cli.js'

describe('sandbox lifecycle (in process)', function () {
  this.timeout(60_000)
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-lifecycle-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('starts, records itself, refuses a second start in the same directory, and stops every listener', async () => {
    const sandbox = await startSandbox({stateDir: dir, prometheus: false})
    try {
      const {state} = sandbox
      assert.equal(state.pid, process.pid)
      assert.equal(state.prometheus, undefined)
      assert.equal(sandbox.prometheusSkipped, 'disabled (--no-prometheus)')
      assert.equal(statSync(statePaths(dir).kubeconfig).mode & 0o777, 0o600)
      assert.equal(statSync(statePaths(dir).state).mode & 0o777, 0o600)
      assert.deepEqual(
        (await readSandboxState(dir))?.pods.map(p => `${p.app}/${p.version}`),
        [
          // stats-less: a workload without the stats-inclusion annotation, as a real cluster has them.
          'productpage/v1',
          'details/v1',
          'reviews/v1',
          'reviews/v2',
          'reviews/v3',
          'ratings/v1',
          'chaos-client/v1',
          'stats-less/v1',
        ],
      )
      for (const port of recordedPorts(state)) assert.equal(await listening(port), true, `port ${port}`)
      await assert.rejects(
        startSandbox({stateDir: dir, prometheus: false}),
        (err: unknown) => err instanceof UsageError && /already starting or running/.test(err.message),
      )
      const agent = new ProxyAgent({uri: state.proxy, proxyTunnel: false})
      const res = await undiciFetch('http://productpage:9080/api/v1/products/0/ratings', {dispatcher: agent})
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), {id: 0, ratings: {Reviewer1: 5, Reviewer2: 4}})
      await agent.close()
    } finally {
      await sandbox.stop()
    }
    for (const port of recordedPorts(sandbox.state))
      assert.equal(await listening(port), false, `port ${port} still listening`)
    assert.equal(existsSync(statePaths(dir).state), false)
    assert.equal(existsSync(statePaths(dir).lock), false)
    await sandbox.stop()
  })

  it('closes what it had started when a part fails to start, and can start again', async () => {
    const saved = process.env.PROMETHEUS_BINARY
    process.env.PROMETHEUS_BINARY = '/bin/false'
    try {
      await assert.rejects(
        startSandbox({stateDir: dir}),
        (err: unknown) =>
          err instanceof ClusterUnavailable &&
          /Prometheus \(\/bin\/false\) did not start: exited with 1/.test(err.message),
      )
    } finally {
      if (saved === undefined) delete process.env.PROMETHEUS_BINARY
      else process.env.PROMETHEUS_BINARY = saved
    }
    assert.equal(existsSync(statePaths(dir).state), false)
    assert.equal(existsSync(statePaths(dir).lock), false)
    const sandbox = await startSandbox({stateDir: dir, prometheus: false})
    await sandbox.stop()
  })
})
