import assert from 'node:assert/strict'

import {compileFaults} from '../../src/faults/compile.js'
import type {Fault} from '../../src/experiment/model.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {carriesRun, Reverter, revertObject} from '../../src/runner/revert.js'
import {FakeCluster} from '../fakes/cluster.js'

const ratingsVs = (): VirtualService => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings', subset: 'v1'}}]}]},
})
const delay: Fault = {
  service: 'ratings',
  match: {headers: {'x-chaos-test': {exact: 'true'}}},
  delay: {fixedDelay: '7s', percentage: 100},
}
const details: Fault = {
  service: 'details',
  match: {headers: {'x-chaos-test': {exact: 'true'}}},
  abort: {httpStatus: 503, percentage: 50},
}

async function applyAll(cluster: FakeCluster, faults: Fault[], runId = 'run-1') {
  const plan = compileFaults({
    namespace: 'default',
    existing: await cluster.listVirtualServices('default'),
    faults,
    runId,
    expiresAt: new Date(Date.now() + 60_000),
  })
  const reverter = new Reverter(cluster, runId)
  for (const p of plan.objects) {
    reverter.register(p)
    const written =
      p.action === 'create'
        ? await cluster.createVirtualService(p.desired)
        : await cluster.replaceVirtualService(p.desired)
    reverter.written(p, written)
  }
  return {plan, reverter}
}

describe('reverter', () => {
  it('restores an updated VirtualService exactly and deletes one it created', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(ratingsVs())
    const {reverter} = await applyAll(cluster, [delay, details])
    assert.equal(cluster.objects.size, 2)
    const outcomes = await reverter.revertAll()
    assert.deepEqual(outcomes.map(o => [o.name, o.ok, o.action]).sort(), [
      ['faultline-details', true, 'deleted'],
      ['ratings', true, 'restored'],
    ])
    const after = await cluster.getVirtualService('default', 'ratings')
    assert.deepEqual(after?.spec, original.spec)
    assert.deepEqual(after?.metadata.annotations ?? {}, original.metadata.annotations ?? {})
    assert.equal(cluster.objects.size, 1)
  })

  it('keeps a concurrent edit by someone else and removes only our routes', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratingsVs())
    const {reverter} = await applyAll(cluster, [delay])
    const live = (await cluster.getVirtualService('default', 'ratings')) as VirtualService
    live.spec.http?.push({
      name: 'their-edit',
      match: [{uri: {prefix: '/v2'}}],
      route: [{destination: {host: 'ratings', subset: 'v2'}}],
    })
    await cluster.replaceVirtualService(live)
    const [outcome] = await reverter.revertAll()
    assert.equal(outcome?.action, 'stripped')
    const after = (await cluster.getVirtualService('default', 'ratings')) as VirtualService
    assert.ok(
      after.spec.http?.some(r => r.name === 'their-edit'),
      'their route survives',
    )
    assert.equal(carriesRun(after, 'run-1'), false)
  })

  it('retries transient API errors and conflicts within a fresh deadline', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratingsVs())
    const {reverter} = await applyAll(cluster, [delay])
    cluster.failNext.set('replace', {count: 3})
    cluster.failNext.set('get', {count: 2})
    const [outcome] = await reverter.revertAll({backoffMs: 5})
    assert.equal(outcome?.ok, true)
    assert.equal(carriesRun((await cluster.getVirtualService('default', 'ratings')) as VirtualService, 'run-1'), false)
  })

  it('reports failure, not success, when the deadline passes', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratingsVs())
    const {reverter} = await applyAll(cluster, [delay])
    cluster.failNext.set('replace', {count: 1_000_000})
    const [outcome] = await reverter.revertAll({deadlineMs: 100, backoffMs: 10})
    assert.equal(outcome?.ok, false)
    assert.match(outcome?.message ?? '', /503/)
  })

  it('gives the whole pass one deadline: objects are reverted together, so N refusing objects fail in one deadline, not N', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratingsVs())
    const {reverter} = await applyAll(cluster, [delay, details])
    cluster.failNext.set('replace', {count: 1_000_000})
    cluster.failNext.set('delete', {count: 1_000_000})
    const started = Date.now()
    const outcomes = await reverter.revertAll({deadlineMs: 400, backoffMs: 10})
    const elapsed = Date.now() - started
    assert.deepEqual(
      outcomes.map(o => [o.name, o.ok]),
      [
        ['faultline-details', false],
        ['ratings', false],
      ],
    )
    // One after the other they would take 2 × 400 ms.
    assert.ok(elapsed < 700, `the pass took ${elapsed} ms`)
  })

  it('reverts a write whose answer was lost (registered before the apply)', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratingsVs())
    const plan = compileFaults({
      namespace: 'default',
      existing: await cluster.listVirtualServices('default'),
      faults: [delay],
      runId: 'run-2',
      expiresAt: new Date(Date.now() + 60_000),
    })
    const reverter = new Reverter(cluster, 'run-2')
    const [p] = plan.objects
    if (p === undefined) throw new Error('no plan')
    reverter.register(p)
    await cluster.replaceVirtualService(p.desired) // the answer "never arrived": written() is not called
    const [outcome] = await reverter.revertAll()
    assert.equal(outcome?.ok, true)
    assert.equal(carriesRun((await cluster.getVirtualService('default', 'ratings')) as VirtualService, 'run-2'), false)
  })

  it('does nothing to an object that carries nothing of ours', async () => {
    const cluster = new FakeCluster()
    cluster.seed(ratingsVs())
    const outcome = await revertObject(cluster, 'default', 'ratings', 'run-9', () => ({
      action: 'none',
      namespace: 'default',
      name: 'ratings',
      reason: 'nothing to do',
    }))
    assert.equal(outcome.ok, true)
    assert.deepEqual(cluster.writes, [])
  })
})
