import assert from 'node:assert/strict'

import {ObjectStore, servedAs} from '../src/store.js'
import {ApiError} from '../src/apiserver/status.js'
import type {StoreEvent, StoredObject} from '../src/types.js'

function vs(name: string, namespace = 'default', spec: Record<string, unknown> = {hosts: [name]}): StoredObject {
  return {
    apiVersion: 'networking.istio.io/v1beta1',
    kind: 'VirtualService',
    metadata: {name, namespace, labels: {app: name}},
    spec,
  }
}

function statusOf(fn: () => unknown): {code: number; reason: string | undefined; message: string | undefined} {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`)
    return {code: err.status.code, reason: err.status.reason, message: err.status.message}
  }
  assert.fail('expected the call to throw')
}

describe('ObjectStore', () => {
  it('starts with the namespaces every cluster has', () => {
    const names = new ObjectStore().list('Namespace').map(n => n.metadata.name)
    for (const n of ['default', 'kube-system', 'istio-system']) assert.ok(names.includes(n), n)
  })

  it('fills uid, resourceVersion, generation and creationTimestamp, and stores Istio objects in v1', () => {
    const store = new ObjectStore({now: () => new Date('2026-01-02T03:04:05.678Z')})
    const created = store.create(vs('ratings'))
    assert.equal(created.apiVersion, 'networking.istio.io/v1')
    assert.match(created.metadata.uid ?? '', /^[0-9a-f-]{36}$/)
    assert.equal(created.metadata.generation, 1)
    assert.equal(created.metadata.creationTimestamp, '2026-01-02T03:04:05Z')
    assert.equal(created.metadata.resourceVersion, store.resourceVersion())
    assert.equal(servedAs(created, 'networking.istio.io/v1alpha3').apiVersion, 'networking.istio.io/v1alpha3')
  })

  it('increases the resourceVersion on every write, across kinds', () => {
    const store = new ObjectStore()
    const a = Number(store.create(vs('a')).metadata.resourceVersion)
    const b = Number(
      store.create({
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: {name: 'a', namespace: 'default'},
        spec: {host: 'a'},
      }).metadata.resourceVersion,
    )
    const c = Number(store.delete('VirtualService', 'default', 'a').metadata.resourceVersion)
    assert.ok(a < b && b < c, `${a} < ${b} < ${c}`)
    assert.equal(store.resourceVersion(), String(c))
  })

  it('refuses duplicates (409 AlreadyExists) and a namespace that does not exist (404)', () => {
    const store = new ObjectStore()
    store.create(vs('ratings'))
    assert.deepEqual(
      statusOf(() => store.create(vs('ratings'))),
      {code: 409, reason: 'AlreadyExists', message: 'virtualservices.networking.istio.io "ratings" already exists'},
    )
    assert.deepEqual(
      statusOf(() => store.create(vs('ratings', 'nowhere'))),
      {code: 404, reason: 'NotFound', message: 'namespaces "nowhere" not found'},
    )
  })

  it('updates only with the current resourceVersion (optimistic concurrency)', () => {
    const store = new ObjectStore()
    const v1 = store.create(vs('ratings'))
    const v2 = store.update({...v1, spec: {hosts: ['ratings'], http: []}})
    assert.equal(v2.metadata.generation, 2)
    assert.equal(v2.metadata.uid, v1.metadata.uid)
    const stale = statusOf(() => store.update({...v1, spec: {hosts: ['other']}}))
    assert.equal(stale.code, 409)
    assert.equal(stale.reason, 'Conflict')
    assert.equal(
      stale.message,
      'Operation cannot be fulfilled on virtualservices.networking.istio.io "ratings": the object has been modified; please apply your changes to the latest version and try again',
    )
    const {resourceVersion: _rv, ...meta} = v2.metadata
    assert.equal(statusOf(() => store.update({...v2, metadata: meta})).code, 422)
    assert.equal(statusOf(() => store.update(vs('missing'))).code, 404)
  })

  it('keeps generation for metadata-only changes and treats a no-op update as no write', () => {
    const store = new ObjectStore()
    const v1 = store.create(vs('ratings'))
    const relabelled = store.update({...v1, metadata: {...v1.metadata, labels: {app: 'ratings', x: 'y'}}})
    assert.equal(relabelled.metadata.generation, 1)
    const before = store.resourceVersion()
    const same = store.update(relabelled)
    assert.equal(same.metadata.resourceVersion, relabelled.metadata.resourceVersion)
    assert.equal(store.resourceVersion(), before)
  })

  it('ignores status on create and keeps the stored status on update (status subresource)', () => {
    const store = new ObjectStore()
    const created = store.create({...vs('ratings'), status: {validationMessages: []}})
    assert.equal(created['status'], undefined)
    const updated = store.update({...created, spec: {hosts: ['x']}, status: {observedGeneration: 9}})
    assert.equal(updated['status'], undefined)
  })

  it('dry-runs writes without storing or notifying', () => {
    const store = new ObjectStore()
    const events: StoreEvent[] = []
    store.subscribe(e => events.push(e))
    const rv = store.resourceVersion()
    store.create(vs('ratings'), {dryRun: true})
    assert.equal(store.get('VirtualService', 'default', 'ratings'), undefined)
    const real = store.create(vs('ratings'))
    store.update({...real, spec: {hosts: ['x']}}, {dryRun: true})
    store.delete('VirtualService', 'default', 'ratings', {dryRun: true})
    assert.deepEqual(store.get('VirtualService', 'default', 'ratings')?.['spec'], {hosts: ['ratings']})
    assert.equal(events.length, 1)
    assert.equal(Number(store.resourceVersion()), Number(rv) + 1)
  })

  it('checks delete preconditions', () => {
    const store = new ObjectStore()
    const created = store.create(vs('ratings'))
    assert.equal(
      statusOf(() => store.delete('VirtualService', 'default', 'ratings', {preconditions: {resourceVersion: '1'}}))
        .code,
      409,
    )
    assert.equal(
      statusOf(() => store.delete('VirtualService', 'default', 'ratings', {preconditions: {uid: 'nope'}})).code,
      409,
    )
    store.delete('VirtualService', 'default', 'ratings', {
      preconditions: {uid: created.metadata.uid ?? '', resourceVersion: created.metadata.resourceVersion ?? ''},
    })
    assert.equal(statusOf(() => store.delete('VirtualService', 'default', 'ratings')).code, 404)
  })

  it('delivers Istio events to subscribers synchronously, in order, and stops after unsubscribe', () => {
    const store = new ObjectStore()
    const seen: string[] = []
    const off = store.subscribe(e =>
      seen.push(`${e.type} ${e.object.kind} ${e.object.metadata.name} ${store.virtualServices().length}`),
    )
    store.create({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'team-a'}})
    const created = store.create(vs('ratings'))
    assert.deepEqual(
      seen,
      ['ADDED VirtualService ratings 1'],
      'delivered before create() returned; namespaces are not Istio config',
    )
    store.update({...created, spec: {hosts: ['ratings'], http: []}})
    store.delete('VirtualService', 'default', 'ratings')
    off()
    store.create(vs('reviews'))
    assert.deepEqual(seen, [
      'ADDED VirtualService ratings 1',
      'MODIFIED VirtualService ratings 1',
      'DELETED VirtualService ratings 0',
    ])
  })

  it('returns copies: mutating a read or an event does not change the store', () => {
    const store = new ObjectStore()
    store.subscribe(e => {
      e.object.metadata.name = 'mutated'
    })
    store.create(vs('ratings'))
    const read = store.get('VirtualService', 'default', 'ratings')
    assert.ok(read !== undefined)
    ;(read['spec'] as {hosts: string[]}).hosts.push('evil')
    assert.deepEqual(store.virtualServices()[0]?.spec.hosts, ['ratings'])
    assert.equal(store.virtualServices()[0]?.metadata.name, 'ratings')
  })

  it('lists by namespace, sorted by namespace then name', () => {
    const store = new ObjectStore()
    store.create({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'a-team'}})
    for (const [n, ns] of [
      ['b', 'default'],
      ['a', 'default'],
      ['z', 'a-team'],
    ] as const)
      store.create(vs(n, ns))
    assert.deepEqual(
      store.list('VirtualService').map(o => `${o.metadata.namespace}/${o.metadata.name}`),
      ['a-team/z', 'default/a', 'default/b'],
    )
    assert.deepEqual(
      store.list('VirtualService', 'default').map(o => o.metadata.name),
      ['a', 'b'],
    )
  })

  describe('watch', () => {
    it('starts with synthetic ADDED events for what exists, then streams live changes', () => {
      const store = new ObjectStore()
      store.create(vs('a'))
      const live: string[] = []
      const w = store.watch({kind: 'VirtualService', namespace: 'default'}, undefined, e =>
        live.push(`${e.event.type} ${e.event.object.metadata.name}`),
      )
      assert.deepEqual(
        w.initial.map(e => `${e.event.type} ${e.event.object.metadata.name}`),
        ['ADDED a'],
      )
      store.create(vs('b'))
      w.stop()
      store.create(vs('c'))
      assert.deepEqual(live, ['ADDED b'])
    })

    it('replays what happened after a resourceVersion, with the previous object', () => {
      const store = new ObjectStore()
      const a = store.create(vs('a'))
      const from = store.resourceVersion()
      store.update({...a, spec: {hosts: ['x']}})
      store.delete('VirtualService', 'default', 'a')
      const w = store.watch({kind: 'VirtualService'}, from, () => undefined)
      assert.deepEqual(
        w.initial.map(e => [e.event.type, e.previous?.['spec']]),
        [
          ['MODIFIED', {hosts: ['a']}],
          ['DELETED', {hosts: ['x']}],
        ],
      )
      w.stop()
    })

    it('answers 410 Expired when the log no longer reaches back', () => {
      const store = new ObjectStore()
      const first = store.create(vs('a'))
      for (let i = 0; i < 1001; i++)
        store.update({...(store.get('VirtualService', 'default', 'a') as StoredObject), spec: {hosts: [`h${i}`]}})
      const s = statusOf(() => store.watch({kind: 'VirtualService'}, first.metadata.resourceVersion, () => undefined))
      assert.equal(s.code, 410)
      assert.equal(s.reason, 'Expired')
    })
  })
})
