import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import {UnsafeFault} from '@faultline/core/errors.js'
import {
  ANNOTATION_SETUP_PATCH,
  planSetup,
  planSetupRevert,
  type SetupPlanInput,
  setupRevertFromAnnotations,
} from '../../src/faults/setup.js'
import {LABEL_MANAGED} from '../../src/faults/annotations.js'
import {validateTrafficPolicyPatch} from '@faultline/core/istio/destination-rule.js'
import type {DestinationRule} from '@faultline/core/istio/types.js'

const BOOKINFO = 'test/reference/istio-samples/bookinfo-networking/destination-rule-all.yaml'

/** bookinfo's own DestinationRules, as `kubectl apply` leaves them (plus what the API server adds). */
function bookinfo(): DestinationRule[] {
  return parseAllDocuments(readFileSync(BOOKINFO, 'utf8'))
    .map(d => d.toJS() as DestinationRule | null)
    .filter(d => d !== null)
    .map((dr, i) => {
      return {
        ...dr,
        metadata: {
          ...dr.metadata,
          namespace: 'default',
          resourceVersion: String(100 + i),
          labels: {team: 'bookinfo'},
          annotations: {'kubectl.kubernetes.io/last-applied-configuration': '{}'},
        },
      }
    })
}

const POOL = {tcp: {maxConnections: 5}, http: {http1MaxPendingRequests: 5}}

function input(over: Partial<SetupPlanInput> = {}): SetupPlanInput {
  return {
    entries: [{name: 'reviews', trafficPolicy: {connectionPool: POOL}}],
    existing: bookinfo(),
    namespace: 'default',
    runId: 'run-1',
    expiresAt: new Date('2026-01-01T01:00:00Z'),
    experiment: 'reviews-circuit-breaker',
    owner: 'alice',
    ...over,
  }
}

/** What the API server would hold after our write (a new resourceVersion). */
const stored = (dr: DestinationRule, rv = '500'): DestinationRule => ({
  ...structuredClone(dr),
  metadata: {...structuredClone(dr.metadata), resourceVersion: rv},
})

describe('spec.setup: patching a DestinationRule (pure)', () => {
  it('replaces only the given trafficPolicy fields, whole, keeps the subsets, host and other fields, and marks the object', () => {
    const existing = bookinfo().find(d => d.metadata.name === 'reviews') as DestinationRule
    existing.spec.trafficPolicy = {
      connectionPool: {http: {maxRetries: 3, http2MaxRequests: 100}},
      loadBalancer: {simple: 'LEAST_REQUEST'},
    }
    const plan = planSetup(input({existing: [existing]}))
    assert.deepEqual(plan.missing, [])
    const [o] = plan.objects
    assert.ok(o !== undefined)
    // The field given replaces the existing one whole (maxRetries is not merged in), others kept.
    assert.deepEqual(o.desired.spec.trafficPolicy, {connectionPool: POOL, loadBalancer: {simple: 'LEAST_REQUEST'}})
    assert.deepEqual(o.desired.spec.subsets, existing.spec.subsets)
    assert.equal(o.desired.spec.host, 'reviews')
    assert.equal(
      o.desired.metadata.resourceVersion,
      existing.metadata.resourceVersion,
      'the write is conditional on what was read',
    )
    assert.equal(o.desired.metadata.labels?.[LABEL_MANAGED], 'true')
    assert.equal(o.desired.metadata.labels?.['team'], 'bookinfo')
    const a = o.desired.metadata.annotations ?? {}
    assert.equal(a['faultline.dev/run-id'], 'run-1')
    assert.equal(a['faultline.dev/owner'], 'alice')
    assert.equal(a['faultline.dev/expires-at'], '2026-01-01T01:00:00Z')
    assert.deepEqual(JSON.parse(a['faultline.dev/original-spec'] ?? ''), existing.spec)
    assert.deepEqual(JSON.parse(a[ANNOTATION_SETUP_PATCH] ?? ''), {connectionPool: POOL})
    assert.equal(a['kubectl.kubernetes.io/last-applied-configuration'], '{}')
  })

  it("lists a DestinationRule that does not exist with the namespace's, and never plans to create one", () => {
    const plan = planSetup(input({entries: [{name: 'reviws', trafficPolicy: {connectionPool: POOL}}]}))
    assert.deepEqual(plan.objects, [])
    assert.deepEqual(plan.missing, [
      {index: 0, name: 'reviws', available: ['details', 'productpage', 'ratings', 'reviews']},
    ])
  })

  it("refuses a DestinationRule still carrying a run's setup, and a patch Istio would reject", () => {
    const [o] = planSetup(input()).objects
    assert.ok(o !== undefined)
    assert.throws(
      () => planSetup(input({existing: [o.desired]})),
      (e: unknown) => e instanceof UnsafeFault && /still carries the setup of run run-1/.test(e.message),
    )
    assert.throws(
      () =>
        planSetup(input({entries: [{name: 'reviews', trafficPolicy: {connectionPool: {tcp: {maxConnections: -1}}}}]})),
      (e: unknown) =>
        e instanceof UnsafeFault &&
        /spec\.trafficPolicy\.connectionPool\.tcp\.maxConnections: max connections must be non-negative/.test(
          e.message,
        ),
    )
  })

  it('restores exactly — spec, labels and annotations as before — when nobody touched it since', () => {
    const existing = bookinfo().find(d => d.metadata.name === 'reviews') as DestinationRule
    const [o] = planSetup(input()).objects
    assert.ok(o !== undefined)
    const written = stored(o.desired)
    for (const action of [
      planSetupRevert(written, o.revert, written),
      planSetupRevert(stored(written, '501'), o.revert, undefined),
      setupRevertFromAnnotations(written),
    ]) {
      assert.equal(action.action, 'update')
      if (action.action !== 'update') continue
      assert.equal(action.keptForeignEdits, false)
      assert.deepEqual(action.object.spec, existing.spec)
      assert.deepEqual(action.object.metadata.labels, existing.metadata.labels)
      assert.deepEqual(action.object.metadata.annotations, existing.metadata.annotations)
    }
  })

  it("after someone else's edit, takes back only our fields that still hold what we set, keeping their edits", () => {
    const existing = bookinfo().find(d => d.metadata.name === 'reviews') as DestinationRule
    const [o] = planSetup(
      input({
        entries: [
          {name: 'reviews', trafficPolicy: {connectionPool: POOL, outlierDetection: {consecutive5xxErrors: 1}}},
        ],
      }),
    ).objects
    assert.ok(o !== undefined)
    const edited = stored(o.desired, '600')
    edited.spec.trafficPolicy = {
      ...edited.spec.trafficPolicy,
      outlierDetection: {consecutive5xxErrors: 7},
      loadBalancer: {simple: 'ROUND_ROBIN'},
    }
    edited.metadata.labels = {...edited.metadata.labels, added: 'later'}
    for (const action of [planSetupRevert(edited, o.revert, stored(o.desired)), setupRevertFromAnnotations(edited)]) {
      assert.equal(action.action, 'update')
      if (action.action !== 'update') continue
      assert.equal(action.keptForeignEdits, true)
      assert.deepEqual(action.object.spec.trafficPolicy, {
        outlierDetection: {consecutive5xxErrors: 7},
        loadBalancer: {simple: 'ROUND_ROBIN'},
      })
      assert.deepEqual(action.object.spec.subsets, existing.spec.subsets)
      assert.deepEqual(action.object.metadata.labels, {team: 'bookinfo', added: 'later'})
      assert.match(action.warnings.join(), /outlierDetection was changed by someone else/)
    }
  })

  it('does nothing to an object that is gone or no longer ours', () => {
    const [o] = planSetup(input()).objects
    assert.ok(o !== undefined)
    assert.equal(planSetupRevert(undefined, o.revert, stored(o.desired)).action, 'none')
    const existing = bookinfo().find(d => d.metadata.name === 'reviews') as DestinationRule
    assert.equal(planSetupRevert(stored(existing, '700'), o.revert, stored(o.desired)).action, 'none')
    assert.equal(setupRevertFromAnnotations(existing).action, 'none')
  })

  it("checks a trafficPolicy patch against Istio's CRD schema (strictly) and then the webhook", () => {
    assert.deepEqual(validateTrafficPolicyPatch({connectionPool: POOL}), [])
    assert.deepEqual(
      validateTrafficPolicyPatch({connectionPool: {tcp: {maxConnection: 5}}}).map(v => v.path),
      ['spec.trafficPolicy.connectionPool.tcp.maxConnection'],
    )
    assert.deepEqual(validateTrafficPolicyPatch({connectionPool: {}}), [
      {path: 'spec.trafficPolicy.connectionPool', message: 'connection pool must have at least one field'},
    ])
    assert.deepEqual(validateTrafficPolicyPatch({outlierDetection: {maxEjectionPercent: 150, interval: '1s'}}), [
      {
        path: 'spec.trafficPolicy.outlierDetection.maxEjectionPercent',
        message: 'percentage 150 is not in range 0..100',
      },
    ])
    assert.deepEqual(
      validateTrafficPolicyPatch({outlierDetection: {interval: '0.5ms'}}).map(v => v.path),
      ['spec.trafficPolicy.outlierDetection.interval'],
    )
  })
})
