import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import {UnsafeFault} from '@faultline/core/errors.js'
import {compileFaults, faultInjection} from '../../src/faults/compile.js'
import {planRevert} from '../../src/faults/revert.js'
import {appliesToSidecars, type RoutableRequest, selectRoute} from '@faultline/core/istio/routing.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {validateVirtualService} from '@faultline/core/istio/validate.js'
import {EXPIRES, typicalFault} from './helpers.js'

const samples = new URL('../reference/istio-samples/bookinfo-networking/', import.meta.url)

function virtualServices(file: string): VirtualService[] {
  return parseAllDocuments(readFileSync(new URL(file, samples), 'utf8'))
    .map(d => d.toJS() as VirtualService | null)
    .filter((o): o is VirtualService => o?.kind === 'VirtualService')
    .map(o => ({...o, metadata: {...o.metadata, namespace: o.metadata.namespace ?? 'default', resourceVersion: '7'}}))
}

/** Requests a bookinfo sidecar would see: end-user logins, paths, methods, ports; with and without the chaos header. */
function requests(): RoutableRequest[] {
  const out: RoutableRequest[] = []
  for (const path of ['/ratings/0', '/reviews/0', '/details/0', '/productpage', '/static/x']) {
    for (const user of [undefined, 'jason', 'bob']) {
      for (const chaos of [undefined, 'true', 'false']) {
        for (const port of [undefined, 80, 9080]) {
          const headers: Record<string, string> = {}
          if (user !== undefined) headers['end-user'] = user
          if (chaos !== undefined) headers['x-chaos-test'] = chaos
          out.push({method: 'GET', path, headers, ...(port === undefined ? {} : {port})})
        }
      }
    }
  }
  return out
}

/** The samples that carry their own fault: Faultline refuses to stack another on them. */
const HAND_WRITTEN_FAULTS = new Set([
  'fault-injection-details-v1.yaml',
  'virtual-service-ratings-test-abort.yaml',
  'virtual-service-ratings-test-delay.yaml',
])

describe('compiling a typical fault onto every bookinfo VirtualService', () => {
  const files = readdirSync(samples).filter(f => f.endsWith('.yaml'))
  for (const file of files) {
    for (const vs of virtualServices(file)) {
      const service = vs.spec.http?.[0]?.route?.[0]?.destination.host ?? vs.spec.hosts?.[0] ?? ''
      it(`${file}: ${vs.metadata.name} (fault on ${service})`, () => {
        const fault = typicalFault(service)
        const compile = () =>
          compileFaults({namespace: 'default', existing: [vs], faults: [fault], runId: 'bookinfo', expiresAt: EXPIRES})
        if (HAND_WRITTEN_FAULTS.has(file)) {
          assert.throws(
            compile,
            (e: unknown) =>
              e instanceof UnsafeFault && /already injects a fault that Faultline did not write/.test(e.message),
          )
          return
        }
        const plan = compile()
        assert.equal(plan.objects.length, 1)
        const o = plan.objects[0]
        assert.ok(o !== undefined)
        for (const version of ['v1', 'v1beta1', 'v1alpha3']) {
          assert.deepEqual(
            validateVirtualService({...o.desired, apiVersion: `networking.istio.io/${version}`}, {strict: true}),
            [],
            version,
          )
        }
        if (!appliesToSidecars(vs)) {
          // Gateway-only objects never route sidecar traffic: a separate mesh object is created.
          assert.equal(o.action, 'create')
          return
        }
        assert.equal(o.action, 'update')
        for (const r of requests()) {
          const before = selectRoute(vs.spec.http, r)
          const after = selectRoute(o.desired.spec.http, r)
          if (r.headers['x-chaos-test'] !== 'true' || before === undefined) {
            assert.deepEqual(after?.route, before?.route, JSON.stringify(r))
          } else {
            assert.deepEqual(after?.route.route, before.route.route, JSON.stringify(r))
            assert.deepEqual(after?.route.fault, faultInjection(fault), JSON.stringify(r))
          }
        }
        const written = {...o.desired, metadata: {...o.desired.metadata, resourceVersion: '8'}}
        const revert = planRevert(written, written, o.revert)
        assert.ok(revert.action === 'update')
        assert.deepEqual(revert.object.spec, vs.spec)
      })
    }
  }
})
