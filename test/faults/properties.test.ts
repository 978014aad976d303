import assert from 'node:assert/strict'

import fc from 'fast-check'

import {UnsafeFault} from '@faultline/core/errors.js'
import type {Fault} from '../../src/experiment/model.js'
import {compileFaults, faultInjection} from '../../src/faults/compile.js'
import type {FaultPlan} from '../../src/faults/plan.js'
import {planRevert, revertFromAnnotations} from '../../src/faults/revert.js'
import {validateIstioObject} from '@faultline/core/istio/crd.js'
import {matchBlockMatches, type RoutableRequest, selectRoute} from '@faultline/core/istio/routing.js'
import type {HTTPRoute, VirtualService} from '@faultline/core/istio/types.js'
import {validateVirtualService} from '@faultline/core/istio/validate.js'
import {fault, request, virtualService} from './arbitraries.js'
import {EXPIRES} from './helpers.js'

const RUNS = 500

function compileOrRefuse(vs: VirtualService, faults: Fault[]): FaultPlan | undefined {
  try {
    return compileFaults({namespace: 'default', existing: [vs], faults, runId: 'prop', expiresAt: EXPIRES})
  } catch (e) {
    if (e instanceof UnsafeFault) return undefined
    throw e
  }
}

/** The route's behaviour without the parts a fault copy changes (its name, match and fault). */
function settings(route: HTTPRoute | undefined): Omit<HTTPRoute, 'name' | 'match' | 'fault'> | undefined {
  if (route === undefined) return undefined
  const {name: _n, match: _m, fault: _f, ...rest} = route
  return rest
}

function targetedBy(f: Fault, r: RoutableRequest): boolean {
  return matchBlockMatches(f.match ?? {}, r)
}

/** Checks first-match equivalence for one request against the faults (first matching fault wins). */
function assertRoutesLikeBefore(
  before: VirtualService,
  after: VirtualService,
  faults: Fault[],
  r: RoutableRequest,
): void {
  const was = selectRoute(before.spec.http, r)
  const now = selectRoute(after.spec.http, r)
  const fault = faults.find(f => targetedBy(f, r))
  if (fault === undefined || was === undefined) {
    // Untargeted (or unrouted) traffic takes the very same route object as before.
    assert.deepEqual(now?.route, was?.route, `request ${JSON.stringify(r)}`)
    return
  }
  assert.deepEqual(settings(now?.route), settings(was.route), `same destinations and settings for ${JSON.stringify(r)}`)
  assert.deepEqual(now?.route.fault, faultInjection(fault), `fault attached for ${JSON.stringify(r)}`)
}

/** A foreign edit: a route appended at the end and the last original route's timeout changed. */
function foreignEdit(spec: VirtualService['spec'], isOurs: (r: HTTPRoute) => boolean): VirtualService['spec'] {
  const http = structuredClone(spec.http ?? [])
  const lastTheirs = [...http].reverse().find(r => !isOurs(r))
  if (lastTheirs !== undefined) lastTheirs.timeout = '9s'
  http.push({
    name: 'added-by-team-b',
    match: [{headers: {'x-team': {exact: 'b'}}}],
    route: [{destination: {host: 'ratings', subset: 'v9'}}],
  })
  return {...structuredClone(spec), http}
}

describe('fault compiler properties', function () {
  this.timeout(120_000)
  let compiled = 0

  after(() => {
    // The generators must mostly produce compilable inputs, or the properties prove little.
    assert.ok(compiled > RUNS * 0.5, `only ${compiled} of ${RUNS} inputs compiled`)
  })

  it('routes untargeted requests exactly as before, and targeted ones to the same place with the fault', () => {
    fc.assert(
      fc.property(virtualService, fault(), fc.array(request(), {minLength: 10, maxLength: 20}), (vs, f, requests) => {
        const plan = compileOrRefuse(vs, [f])
        if (plan === undefined) return
        compiled++
        const desired = plan.objects[0]?.desired as VirtualService
        for (const r of requests) assertRoutesLikeBefore(vs, desired, [f], r)
      }),
      {numRuns: RUNS},
    )
  })

  it('keeps first-match semantics with two faults on one host', () => {
    fc.assert(
      fc.property(
        virtualService,
        fault(),
        fault('x-chaos-abort'),
        fc.array(fc.oneof(request(), request('x-chaos-abort')), {minLength: 10, maxLength: 20}),
        (vs, f1, f2, requests) => {
          const plan = compileOrRefuse(vs, [f1, f2])
          if (plan === undefined) return
          assert.equal(plan.objects.length, 1)
          for (const r of requests) assertRoutesLikeBefore(vs, plan.objects[0]?.desired as VirtualService, [f1, f2], r)
        },
      ),
      {numRuns: 300},
    )
  })

  it('confines a fault to its own host when the VirtualService routes several', () => {
    const shared = virtualService.map(vs => ({
      ...vs,
      spec: {...vs.spec, hosts: ['ratings', 'details.default.svc.cluster.local']},
    }))
    const authority = fc.constantFrom(
      'ratings',
      'ratings:9080',
      'ratings.default.svc.cluster.local:9080',
      'details:9080',
      'details.default',
      'reviews:9080',
    )
    fc.assert(
      fc.property(
        shared,
        fault(),
        fc.array(fc.tuple(request(), authority), {minLength: 10, maxLength: 20}),
        (vs, f, requests) => {
          const plan = compileOrRefuse(vs, [f])
          if (plan === undefined) return
          const desired = plan.objects[0]?.desired as VirtualService
          for (const [req, host] of requests) {
            const r = {...req, authority: host}
            if (host.startsWith('ratings')) assertRoutesLikeBefore(vs, desired, [f], r)
            else
              assert.deepEqual(
                selectRoute(desired.spec.http, r)?.route,
                selectRoute(vs.spec.http, r)?.route,
                `other hosts never see the fault: ${JSON.stringify(r)}`,
              )
          }
        },
      ),
      {numRuns: 300},
    )
  })

  it('reverts to the exact original, and keeps a foreign edit made during the run', () => {
    fc.assert(
      fc.property(virtualService, fault(), (vs, f) => {
        const plan = compileOrRefuse(vs, [f])
        if (plan === undefined) return
        const o = plan.objects[0]
        assert.ok(o !== undefined)
        const written: VirtualService = {
          ...structuredClone(o.desired),
          metadata: {...structuredClone(o.desired.metadata), resourceVersion: '101'},
        }
        for (const action of [planRevert(written, written, o.revert), revertFromAnnotations(written)]) {
          assert.equal(action.action, 'update')
          if (action.action !== 'update') return
          assert.deepEqual(action.object.spec, vs.spec)
          assert.deepEqual(action.object.metadata, {...vs.metadata, resourceVersion: '101'})
          assert.equal(action.keptForeignEdits, false)
        }
        const isOurs = (r: HTTPRoute) => o.revert.faultRouteNames.includes(r.name ?? '')
        const edited: VirtualService = {...structuredClone(written), spec: foreignEdit(written.spec, isOurs)}
        edited.metadata.resourceVersion = '102'
        edited.metadata.labels = {...edited.metadata.labels, team: 'b'}
        const expected = foreignEdit(vs.spec, () => false)
        for (const action of [planRevert(edited, written, o.revert), revertFromAnnotations(edited)]) {
          assert.equal(action.action, 'update')
          if (action.action !== 'update') return
          assert.deepEqual(action.object.spec, expected)
          assert.deepEqual(action.object.metadata.labels, {team: 'b'})
          assert.equal(action.object.metadata.annotations, undefined)
          assert.equal(action.keptForeignEdits, true)
        }
      }),
      {numRuns: RUNS},
    )
  })

  it("generates objects that pass Istio's CRD schema and webhook rules in every served version", () => {
    fc.assert(
      fc.property(virtualService, fault(), (vs, f) => {
        fc.pre(validateVirtualService(vs, {strict: true}).length === 0)
        const plan = compileOrRefuse(vs, [f])
        if (plan === undefined) return
        for (const version of ['v1', 'v1beta1', 'v1alpha3']) {
          const obj: VirtualService = {
            ...(plan.objects[0]?.desired as VirtualService),
            apiVersion: `networking.istio.io/${version}`,
          }
          // validateVirtualService runs the CRD schema check (validateIstioObject) first; the explicit
          // call keeps the schema verdict visible on its own for the storage version.
          if (version === 'v1') assert.deepEqual(validateIstioObject(obj, {strict: true}), [], version)
          assert.deepEqual(validateVirtualService(obj, {strict: true}), [], version)
        }
      }),
      {numRuns: RUNS},
    )
  })
})
