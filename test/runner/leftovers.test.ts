import assert from 'node:assert/strict'

import {ApiError} from '../../src/cluster/cluster.js'
import {ClusterUnavailable, ExitCode} from '@faultline/core/errors.js'
import {compileFaults} from '../../src/faults/compile.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {leftovers, revertLeftovers} from '../../src/runner/leftovers.js'
import {FakeCluster} from '../fakes/cluster.js'

const ratings = (): VirtualService => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings', subset: 'v1'}}]}]},
})

/** Leaves run `runId`'s faults in the cluster as a killed run would: applied, never reverted. */
async function abandon(cluster: FakeCluster, runId: string, expiresAt: Date, services = ['ratings']) {
  const plan = compileFaults({
    namespace: 'default',
    existing: await cluster.listVirtualServices('default'),
    runId,
    expiresAt,
    faults: services.map(service => ({
      service,
      match: {headers: {'x-chaos-test': {exact: 'true'}}},
      delay: {fixedDelay: '7s', percentage: 100},
    })),
  })
  for (const o of plan.objects)
    await (o.action === 'create' ? cluster.createVirtualService(o.desired) : cluster.replaceVirtualService(o.desired))
}

describe('chaos revert (cleanup of leftovers)', () => {
  const past = new Date(Date.now() - 60_000)
  const future = new Date(Date.now() + 600_000)

  it('says there is nothing to do in a clean namespace', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratings())
    const report = await revertLeftovers(cluster, 'default', {})
    assert.deepEqual(report.found, [])
    assert.deepEqual(cluster.writes, [])
  })

  it('reverts expired leftovers from annotations alone, restoring the original exactly', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(ratings())
    await abandon(cluster, 'dead-1', past, ['ratings', 'details'])
    const report = await revertLeftovers(cluster, 'default', {})
    assert.equal(report.reverted.length, 2)
    assert.ok(report.reverted.every(r => r.ok))
    assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
    assert.equal(await cluster.getVirtualService('default', 'faultline-details'), undefined)
    assert.deepEqual(leftovers(await cluster.listVirtualServices('default'), new Date()), [])
  })

  it('reverts every leftover at once under one deadline: N objects the API refuses fail in one deadline, not N', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratings())
    await abandon(cluster, 'dead-2', past, ['ratings', 'details', 'reviews'])
    cluster.failNext.set('replace', {count: 1_000_000})
    cluster.failNext.set('delete', {count: 1_000_000})
    const started = Date.now()
    const report = await revertLeftovers(cluster, 'default', {revert: {deadlineMs: 300, backoffMs: 10}})
    const elapsed = Date.now() - started
    assert.equal(report.reverted.length, 3)
    assert.ok(report.reverted.every(r => !r.ok))
    // One after the other they would take 3 × 300 ms.
    assert.ok(elapsed < 600, `the pass took ${elapsed} ms`)
  })

  it('leaves a live run alone unless named with --run or --all; --dry-run writes nothing', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratings())
    await abandon(cluster, 'live-1', future)
    const writes = cluster.writes.length
    const skip = await revertLeftovers(cluster, 'default', {})
    assert.match(skip.skipped[0]?.reason ?? '', /--run live-1/)
    assert.equal((await revertLeftovers(cluster, 'default', {all: true, dryRun: true})).reverted.length, 0)
    assert.equal(cluster.writes.length, writes)
    const named = await revertLeftovers(cluster, 'default', {runId: 'live-1'})
    assert.equal(named.reverted[0]?.ok, true)
    assert.equal((await revertLeftovers(cluster, 'default', {runId: 'other'})).reverted.length, 0)
  })

  it('a namespace it cannot list is never "nothing to revert": ClusterUnavailable (exit 4) saying nothing was checked', async () => {
    const cluster = new FakeCluster()
    for (const error of [
      () => new ApiError('listing VirtualServices in default: connect ECONNREFUSED 127.0.0.1:1', 0),
      () => new ApiError('listing VirtualServices in default: 403 Forbidden', 403, 'Forbidden'),
    ]) {
      cluster.failNext.set('list', {count: 1, error})
      await assert.rejects(revertLeftovers(cluster, 'default', {}), (err: unknown) => {
        assert.ok(err instanceof ClusterUnavailable, String(err))
        assert.equal(err.exitCode, ExitCode.CouldNotRun)
        assert.match(
          err.message,
          /^could not list the VirtualServices in namespace default \(https:\/\/fake\): listing VirtualServices in default: (connect ECONNREFUSED|403)/,
        )
        assert.match(err.message, /nothing was checked or reverted, so faults left by a run may still be live there$/)
        assert.match(err.hint ?? '', /run the same chaos revert again/)
        return true
      })
    }
  })
})
