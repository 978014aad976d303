import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import {UnsafeFault} from '@faultline/core/errors.js'
import type {Fault} from '../../src/experiment/model.js'
import {compileFaults} from '../../src/faults/compile.js'
import type {FaultPlan} from '../../src/faults/plan.js'
import type {HTTPRoute, VirtualService} from '@faultline/core/istio/types.js'
import {validateVirtualService} from '@faultline/core/istio/validate.js'
import {CHAOS, DELAY, EXPIRES, delayFault, to, virtualService} from './helpers.js'

/** Istio's bookinfo-gateway.yaml: the VirtualService `bookinfo`, bound to bookinfo-gateway, routing five paths to productpage. */
const BOOKINFO: VirtualService = {
  ...parseAllDocuments(readFileSync('test/reference/istio-samples/bookinfo-networking/bookinfo-gateway.yaml', 'utf8'))
    .map(d => d.toJSON() as VirtualService)
    .find(d => d.kind === 'VirtualService')!,
}
BOOKINFO.metadata = {...BOOKINFO.metadata, namespace: 'default', resourceVersion: '7'}
const PATHS = BOOKINFO.spec.http![0]!.match!

function compile(
  existing: VirtualService[],
  faults: Fault[],
  gateways: string[] | undefined = ['default/bookinfo-gateway'],
): FaultPlan {
  const plan = compileFaults({
    namespace: 'default',
    existing,
    faults,
    runId: 'r1',
    expiresAt: EXPIRES,
    ...(gateways === undefined ? {} : {gateways}),
  })
  for (const o of plan.objects)
    assert.deepEqual(validateVirtualService(o.desired, {strict: true}), [], `${o.desired.metadata.name} must validate`)
  return plan
}

const byName = (plan: FaultPlan, name: string) => plan.objects.find(o => o.desired.metadata.name === name)

describe('fault compiler: load through a gateway', () => {
  interface Case {
    name: string
    existing: VirtualService[]
    faults: Fault[]
    gateways?: string[]
    expect: Record<string, HTTPRoute[] | undefined>
  }
  const productpageRoute = BOOKINFO.spec.http![0]!
  const cases: Case[] = [
    {
      name: "a fault on productpage, which the gateway routes directly: written into bookinfo, scoped to the gateway, and productpage's own VirtualService for sidecars",
      existing: [BOOKINFO],
      faults: [delayFault('productpage')],
      expect: {
        bookinfo: [
          {
            name: 'faultline:r1:gw-0:f0',
            match: PATHS.map(m => ({...m, headers: CHAOS, gateways: ['bookinfo-gateway']})),
            route: productpageRoute.route!,
            fault: DELAY,
          },
          productpageRoute,
        ],
        'faultline-productpage': [
          {
            name: 'faultline:r1:default',
            match: [{headers: CHAOS}],
            fault: DELAY,
            route: [{destination: {host: 'productpage'}}],
          },
          {name: 'default', route: [{destination: {host: 'productpage'}}]},
        ],
      },
    },
    {
      name: 'a fault on ratings, further in: only sidecars, the gateway VirtualService untouched',
      existing: [BOOKINFO, virtualService('ratings', [{route: to('ratings', 'v1')}])],
      faults: [delayFault('ratings')],
      expect: {
        bookinfo: undefined,
        ratings: [
          {name: 'faultline:r1:0', match: [{headers: CHAOS}], route: to('ratings', 'v1'), fault: DELAY},
          {route: to('ratings', 'v1')},
        ],
      },
    },
    {
      name: 'without a gateway entry: the gateway VirtualService is left alone (as before)',
      existing: [BOOKINFO],
      faults: [delayFault('productpage')],
      gateways: [],
      expect: {bookinfo: undefined},
    },
    {
      name: 'a VirtualService bound to mesh and the gateway: the sidecar copy keeps mesh, the gateway copy names the gateway',
      existing: [
        virtualService('productpage', [{route: to('productpage')}], {
          hosts: ['productpage'],
          gateways: ['mesh', 'bookinfo-gateway'],
        }),
      ],
      faults: [delayFault('productpage')],
      expect: {
        productpage: [
          {
            name: 'faultline:r1:0',
            match: [{headers: CHAOS, gateways: ['mesh']}],
            route: to('productpage'),
            fault: DELAY,
          },
          {
            name: 'faultline:r1:gw-0:f0',
            match: [{headers: CHAOS, gateways: ['bookinfo-gateway']}],
            route: to('productpage'),
            fault: DELAY,
          },
          {route: to('productpage')},
        ],
      },
    },
    {
      name: "a gateway named by namespace/name in another namespace's VirtualService",
      existing: [
        {
          ...virtualService('edge', [{route: to('productpage.default.svc.cluster.local')}], {
            hosts: ['bookinfo.example.com'],
            gateways: ['istio-system/public'],
          }),
          metadata: {name: 'edge', namespace: 'istio-system', resourceVersion: '3'},
        },
      ],
      faults: [delayFault('productpage')],
      gateways: ['istio-system/public'],
      expect: {
        edge: [
          {
            name: 'faultline:r1:gw-0:f0',
            match: [{headers: CHAOS, gateways: ['istio-system/public']}],
            route: to('productpage.default.svc.cluster.local'),
            fault: DELAY,
          },
          {route: to('productpage.default.svc.cluster.local')},
        ],
      },
    },
  ]
  for (const c of cases) {
    it(c.name, () => {
      const plan = compile(c.existing, c.faults, c.gateways)
      for (const [name, routes] of Object.entries(c.expect)) {
        if (routes === undefined) assert.equal(byName(plan, name), undefined, `${name} is not written`)
        else assert.deepEqual(byName(plan, name)?.desired.spec.http, routes, name)
      }
    })
  }

  it('chaos plan says where the fault runs', () => {
    const plan = compile([BOOKINFO], [delayFault('productpage')])
    assert.match(
      byName(plan, 'bookinfo')?.notes.join('\n') ?? '',
      /spec\.faults\[0\] \(productpage\.default\.svc\.cluster\.local\) is applied in the gateway default\/bookinfo-gateway/,
    )
    assert.equal(byName(plan, 'bookinfo')?.action, 'update')
    assert.deepEqual(byName(plan, 'bookinfo')?.revert.faultRouteNames, ['faultline:r1:gw-0:f0'])
  })

  it('a gateway route that splits between the faulted service and another is refused', () => {
    const split = virtualService(
      'bookinfo',
      [
        {
          route: [
            {destination: {host: 'productpage'}, weight: 50},
            {destination: {host: 'details'}, weight: 50},
          ],
        },
      ],
      {hosts: ['*'], gateways: ['bookinfo-gateway']},
    )
    assert.throws(
      () => compile([split], [delayFault('productpage')]),
      (e: unknown) => e instanceof UnsafeFault && /splits traffic between/.test(e.message),
    )
  })
})
