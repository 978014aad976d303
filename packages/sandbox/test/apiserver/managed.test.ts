import assert from 'node:assert/strict'
import type {IncomingMessage} from 'node:http'

import {fieldManagerOf, leafPaths, recordUpdate, renderFieldsV1, serverSideApply} from '../../src/apiserver/managed.js'
import {ApiError} from '../../src/apiserver/status.js'
import type {StoredObject} from '../../src/types.js'

const T0 = new Date('2026-01-01T00:00:00Z')
const obj = (spec: Record<string, unknown>, extra: Record<string, unknown> = {}): StoredObject => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default', uid: 'u', resourceVersion: '3', ...extra},
  spec,
})

function thrown(fn: () => unknown): ApiError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ApiError) return err
    throw err
  }
  throw new Error('did not throw')
}

describe('managedFields and server-side apply', () => {
  it('tracks leaf fields, lists whole, never the server-owned metadata', () => {
    assert.deepEqual([...leafPaths(obj({hosts: ['a'], http: [{route: []}]}, {labels: {app: 'x'}}))].sort(), [
      '["metadata","labels","app"]',
      '["spec","hosts"]',
      '["spec","http"]',
    ])
    assert.deepEqual(renderFieldsV1(['["spec","hosts"]', '["metadata","labels","app"]'], 'Update'), {
      'f:metadata': {'f:labels': {'.': {}, 'f:app': {}}},
      'f:spec': {'.': {}, 'f:hosts': {}},
    })
  })

  it('an update gives the fields it changed to its manager and leaves the rest with their owner', () => {
    const created = obj({hosts: ['a'], gateways: ['g']})
    created.metadata.managedFields = recordUpdate(undefined, created, 'kubectl-create', 'networking.istio.io/v1', T0)
    const next = obj({hosts: ['b'], gateways: ['g']}, {managedFields: created.metadata.managedFields})
    const entries = recordUpdate(created, next, 'chaos', 'networking.istio.io/v1', T0)
    assert.deepEqual(
      entries.map(e => [e.manager, e.operation, e.fieldsV1]),
      [
        ['kubectl-create', 'Update', {'f:spec': {'.': {}, 'f:gateways': {}}}],
        ['chaos', 'Update', {'f:spec': {'.': {}, 'f:hosts': {}}}],
      ],
    )
  })

  it("an apply that would change another manager's field is a 409 in kube-apiserver's words; force takes it", () => {
    const current = obj({hosts: ['a'], http: [1]})
    current.metadata.managedFields = recordUpdate(undefined, current, 'kubectl-create', 'networking.istio.io/v1', T0)
    const one = thrown(() =>
      serverSideApply(
        current,
        {
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: {name: 'ratings'},
          spec: {hosts: ['a'], http: [2]},
        },
        'argocd-controller',
        false,
        'networking.istio.io/v1',
        T0,
      ),
    )
    assert.equal(one.status.code, 409)
    assert.equal(
      one.status.message,
      'Apply failed with 1 conflict: conflict with "kubectl-create" using networking.istio.io/v1 at 2026-01-01T00:00:00Z: .spec.http',
    )
    assert.deepEqual(one.status.details?.causes, [
      {
        reason: 'FieldManagerConflict',
        message: 'conflict with "kubectl-create" using networking.istio.io/v1 at 2026-01-01T00:00:00Z',
        field: '.spec.http',
      },
    ])
    const two = thrown(() =>
      serverSideApply(current, {spec: {hosts: ['b'], http: [2]}}, 'm', false, 'networking.istio.io/v1', T0),
    )
    assert.equal(
      two.status.message,
      'Apply failed with 2 conflicts: conflicts with "kubectl-create" using networking.istio.io/v1 at 2026-01-01T00:00:00Z:\n- .spec.hosts\n- .spec.http',
    )
    const forced = serverSideApply(
      current,
      {spec: {hosts: ['a'], http: [2]}},
      'argocd-controller',
      true,
      'networking.istio.io/v1',
      T0,
    )
    assert.deepEqual(forced['spec'], {hosts: ['a'], http: [2]})
    assert.deepEqual(
      (forced.metadata.managedFields as {manager: string; fieldsV1: unknown}[]).map(e => [e.manager, e.fieldsV1]),
      [
        ['kubectl-create', {'f:spec': {'.': {}, 'f:hosts': {}}}],
        ['argocd-controller', {'f:spec': {'f:hosts': {}, 'f:http': {}}}],
      ],
    )
  })

  it('a field the applier no longer applies is removed unless someone else owns it', () => {
    const first = serverSideApply(
      undefined,
      {apiVersion: 'v1', kind: 'X', metadata: {name: 'ratings', labels: {a: '1', b: '2'}}, spec: {hosts: ['a']}},
      'flux',
      false,
      'v1',
      T0,
    )
    const second = serverSideApply(
      first,
      {apiVersion: 'v1', kind: 'X', metadata: {name: 'ratings', labels: {a: '1'}}, spec: {hosts: ['a']}},
      'flux',
      false,
      'v1',
      T0,
    )
    assert.deepEqual(second.metadata.labels, {a: '1'})
  })

  it("an apply names its field manager; other writes fall back to the User-Agent's first word", () => {
    const req = {
      headers: {'user-agent': 'kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07'},
    } as unknown as IncomingMessage
    assert.equal(fieldManagerOf(new URLSearchParams(), req, false), 'kubectl')
    const missing = thrown(() => fieldManagerOf(new URLSearchParams(), req, true))
    assert.equal(missing.status.code, 422)
    assert.equal(
      missing.status.message,
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
    )
  })
})
