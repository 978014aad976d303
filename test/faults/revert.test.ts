import assert from 'node:assert/strict'

import {ANNOTATION_ORIGINAL_SPEC, LABEL_MANAGED, OWNED_ANNOTATIONS} from '../../src/faults/annotations.js'
import {compileFaults} from '../../src/faults/compile.js'
import type {PlannedVirtualService} from '../../src/faults/plan.js'
import {managedInfo, planRevert, type RevertAction, revertFromAnnotations} from '../../src/faults/revert.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {CHAOS, DELAY, EXPIRES, delayFault, to, virtualService} from './helpers.js'

function planFor(existing: VirtualService[], service = 'ratings'): PlannedVirtualService {
  const o = compileFaults({
    namespace: 'default',
    existing,
    faults: [delayFault(service)],
    runId: 'r1',
    expiresAt: EXPIRES,
    owner: 'alice',
  }).objects[0]
  assert.ok(o !== undefined)
  return o
}

/** What the API server hands back after our write: a new resourceVersion. */
function written(o: PlannedVirtualService, rv = '200'): VirtualService {
  const w = structuredClone(o.desired)
  w.metadata.resourceVersion = rv
  return w
}

/** Both ways of reverting (from the run's memory, from the object's annotations) agree. */
function bothWays(current: VirtualService | undefined, w: VirtualService, o: PlannedVirtualService): RevertAction {
  const fromPlan = planRevert(current, w, o.revert)
  if (current !== undefined) assert.deepEqual(revertFromAnnotations(current), fromPlan)
  return fromPlan
}

describe('planRevert / revertFromAnnotations', () => {
  const original = (): VirtualService => {
    const vs = virtualService('ratings', [
      {match: [{headers: {'end-user': {exact: 'jason'}}}], route: to('ratings', 'v2')},
      {route: to('ratings', 'v1')},
    ])
    vs.metadata.labels = {app: 'ratings'}
    vs.metadata.annotations = {'kubectl.kubernetes.io/last-applied-configuration': '{}'}
    return vs
  }

  it('restores the original spec and metadata exactly when nobody touched the object', () => {
    const vs = original()
    const o = planFor([vs])
    const w = written(o)
    const action = bothWays(w, w, o)
    assert.equal(action.action, 'update')
    if (action.action !== 'update') return
    assert.deepEqual(action.object, {...vs, metadata: {...vs.metadata, resourceVersion: '200'}})
    assert.equal(action.keptForeignEdits, false)
    assert.deepEqual(action.warnings, [])
  })

  it('restores the spec but keeps a label someone added meanwhile', () => {
    const vs = original()
    const o = planFor([vs])
    const w = written(o)
    const current = structuredClone(w)
    current.metadata.resourceVersion = '201'
    current.metadata.labels = {...current.metadata.labels, owner: 'team-b'}
    const action = bothWays(current, w, o)
    assert.ok(action.action === 'update')
    assert.deepEqual(action.object.spec, vs.spec)
    assert.deepEqual(action.object.metadata.labels, {app: 'ratings', owner: 'team-b'})
    assert.equal(action.object.metadata.resourceVersion, '201', 'the revert is conditional on what we read')
  })

  it('removes only our routes and marks when someone else changed the spec, keeping their edits', () => {
    const vs = original()
    const o = planFor([vs])
    const w = written(o)
    const current = structuredClone(w)
    current.metadata.resourceVersion = '202'
    const http = current.spec.http ?? []
    http[3] = {...http[3], route: to('ratings', 'v3')}
    http.splice(2, 0, {name: 'hotfix', match: [{headers: {'x-debug': {exact: '1'}}}], route: to('ratings', 'v9')})
    const action = bothWays(current, w, o)
    assert.ok(action.action === 'update')
    assert.deepEqual(action.object.spec.http, [
      {match: [{headers: {'end-user': {exact: 'jason'}}}], route: to('ratings', 'v2')},
      {name: 'hotfix', match: [{headers: {'x-debug': {exact: '1'}}}], route: to('ratings', 'v9')},
      {route: to('ratings', 'v3')},
    ])
    assert.equal(action.keptForeignEdits, true)
    assert.deepEqual(action.object.metadata.labels, {app: 'ratings'})
    assert.ok(OWNED_ANNOTATIONS.every(k => action.object.metadata.annotations?.[k] === undefined))
    assert.match(action.reason, /changed by someone else/)
  })

  it("warns when a fault remains that is not one of ours (a renamed copy, or someone else's)", () => {
    const o = planFor([original()])
    const w = written(o)
    const current = structuredClone(w)
    current.metadata.resourceVersion = '203'
    const first = current.spec.http?.[0]
    if (first !== undefined) first.name = 'renamed'
    const action = bothWays(current, w, o)
    assert.ok(action.action === 'update')
    assert.deepEqual(action.warnings, [
      'route "renamed" still injects a fault that is not one of this run\'s routes (someone added or renamed it); it was left in place',
    ])
  })

  it('deletes an object it created, conditional on the resourceVersion it sees', () => {
    const o = planFor([])
    const w = written(o, '300')
    assert.deepEqual(bothWays(w, w, o), {
      action: 'delete',
      namespace: 'default',
      name: 'faultline-ratings',
      resourceVersion: '300',
      reason: 'created by run r1 and unchanged since',
    })
  })

  it('deletes a created object whose only change is that our fault route is gone', () => {
    const o = planFor([])
    const w = written(o, '300')
    const current = structuredClone(w)
    current.spec.http = current.spec.http?.slice(1) ?? []
    current.metadata.resourceVersion = '301'
    assert.equal(bothWays(current, w, o).action, 'delete')
  })

  it('keeps a created object that others added routes to, minus our fault route and marks', () => {
    const o = planFor([])
    const w = written(o, '300')
    const current = structuredClone(w)
    current.metadata.resourceVersion = '301'
    current.spec.http = [
      {name: 'team-b', match: [{headers: {'x-b': {exact: '1'}}}], route: to('ratings', 'v2')},
      ...(current.spec.http ?? []),
    ]
    const action = bothWays(current, w, o)
    assert.ok(action.action === 'update')
    assert.deepEqual(action.object.spec.http, [
      {name: 'team-b', match: [{headers: {'x-b': {exact: '1'}}}], route: to('ratings', 'v2')},
      {name: 'default', route: to('ratings')},
    ])
    assert.equal(action.object.metadata.labels, undefined)
    assert.equal(action.object.metadata.annotations, undefined)
    assert.match(action.reason, /kept the object and their edits/)
  })

  it('does nothing for an object that is already gone', () => {
    const o = planFor([original()])
    assert.deepEqual(planRevert(undefined, written(o), o.revert), {
      action: 'none',
      namespace: 'default',
      name: 'ratings',
      reason: 'already gone',
    })
  })

  it('leaves objects Faultline does not manage alone', () => {
    assert.equal(revertFromAnnotations(original()).action, 'none')
  })

  it('strips our routes even when the original spec annotation was lost', () => {
    const o = planFor([original()])
    const current = written(o)
    delete current.metadata.annotations?.[ANNOTATION_ORIGINAL_SPEC]
    current.metadata.annotations = {...current.metadata.annotations, 'faultline.dev/fingerprint': 'sha256:other'}
    const action = revertFromAnnotations(current)
    assert.ok(action.action === 'update')
    assert.deepEqual(action.object.spec, original().spec)
    assert.deepEqual(action.warnings, ['the original spec was not recorded; only our routes and marks were removed'])
  })

  it('reads who owns a managed object and until when', () => {
    const o = planFor([original()])
    assert.deepEqual(managedInfo(o.desired), {runId: 'r1', owner: 'alice', expiresAt: EXPIRES})
    assert.equal(managedInfo(original()), undefined)
    assert.equal(o.desired.metadata.labels?.[LABEL_MANAGED], 'true')
  })

  it('reverts a plan built from a fault route inserted into a catch-all-only object', () => {
    const vs = virtualService('ratings', [{route: to('ratings', 'v1')}])
    const o = planFor([vs])
    assert.deepEqual(o.desired.spec.http?.[0], {
      name: 'faultline:r1:0',
      match: [{headers: CHAOS}],
      route: to('ratings', 'v1'),
      fault: DELAY,
    })
    const action = bothWays(written(o), written(o), o)
    assert.ok(action.action === 'update')
    assert.deepEqual(action.object.spec, vs.spec)
  })
})
