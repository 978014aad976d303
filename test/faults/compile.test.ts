import assert from 'node:assert/strict'

import {UnsafeFault} from '@faultline/core/errors.js'
import type {Fault} from '../../src/experiment/model.js'
import {
  ANNOTATION_BASE_FINGERPRINT,
  ANNOTATION_CREATED,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_FAULT_ROUTES,
  ANNOTATION_FINGERPRINT,
  ANNOTATION_ORIGINAL_SPEC,
  ANNOTATION_OWNER,
  ANNOTATION_RUN_ID,
  LABEL_MANAGED,
  LABEL_RUN_ID,
  specFingerprint,
} from '../../src/faults/annotations.js'
import {compileFaults} from '../../src/faults/compile.js'
import type {FaultPlan} from '../../src/faults/plan.js'
import type {HTTPRoute, VirtualService} from '@faultline/core/istio/types.js'
import {validateVirtualService} from '@faultline/core/istio/validate.js'
import {CHAOS, DELAY, EXPIRES, delayFault, to, virtualService} from './helpers.js'

function compile(existing: VirtualService[], faults: Fault[], runId = 'r1'): FaultPlan {
  const plan = compileFaults({namespace: 'default', existing, faults, runId, expiresAt: EXPIRES, owner: 'alice'})
  for (const o of plan.objects)
    assert.deepEqual(validateVirtualService(o.desired, {strict: true}), [], `${o.desired.metadata.name} must validate`)
  return plan
}

function http(plan: FaultPlan, index = 0): HTTPRoute[] | undefined {
  return plan.objects[index]?.desired.spec.http
}

const jason = {'end-user': {exact: 'jason'}}

interface Case {
  name: string
  existing: VirtualService[]
  faults: Fault[]
  expect: HTTPRoute[]
}

const cases: Case[] = [
  {
    name: 'a catch-all route (bookinfo all-v1)',
    existing: [virtualService('ratings', [{route: to('ratings', 'v1')}])],
    faults: [delayFault('ratings')],
    expect: [
      {name: 'faultline:r1:0', match: [{headers: CHAOS}], route: to('ratings', 'v1'), fault: DELAY},
      {route: to('ratings', 'v1')},
    ],
  },
  {
    name: 'header-match routes (bookinfo reviews-jason-v2-v3), addressed by FQDN',
    existing: [
      virtualService('reviews', [
        {match: [{headers: jason}], route: to('reviews', 'v2')},
        {route: to('reviews', 'v3')},
      ]),
    ],
    faults: [delayFault('reviews.default.svc.cluster.local')],
    expect: [
      {name: 'faultline:r1:0', match: [{headers: {...jason, ...CHAOS}}], route: to('reviews', 'v2'), fault: DELAY},
      {match: [{headers: jason}], route: to('reviews', 'v2')},
      {name: 'faultline:r1:1', match: [{headers: CHAOS}], route: to('reviews', 'v3'), fault: DELAY},
      {route: to('reviews', 'v3')},
    ],
  },
  {
    name: 'uri, method, query and withoutHeaders matches in several blocks',
    existing: [
      virtualService('api', [
        {
          name: 'reads',
          match: [
            {uri: {prefix: '/api'}, method: {exact: 'GET'}},
            {uri: {regex: '/v[0-9]+/.*'}, queryParams: {debug: {exact: '1'}}},
            {withoutHeaders: {'x-canary': {}}, ignoreUriCase: true},
          ],
          route: to('api', 'v2'),
        },
        {name: 'rest', route: to('api', 'v1')},
      ]),
    ],
    faults: [delayFault('api')],
    expect: [
      {
        name: 'faultline:r1:reads',
        match: [
          {uri: {prefix: '/api'}, method: {exact: 'GET'}, headers: CHAOS},
          {uri: {regex: '/v[0-9]+/.*'}, queryParams: {debug: {exact: '1'}}, headers: CHAOS},
          {withoutHeaders: {'x-canary': {}}, ignoreUriCase: true, headers: CHAOS},
        ],
        route: to('api', 'v2'),
        fault: DELAY,
      },
      {
        name: 'reads',
        match: [
          {uri: {prefix: '/api'}, method: {exact: 'GET'}},
          {uri: {regex: '/v[0-9]+/.*'}, queryParams: {debug: {exact: '1'}}},
          {withoutHeaders: {'x-canary': {}}, ignoreUriCase: true},
        ],
        route: to('api', 'v2'),
      },
      {name: 'faultline:r1:rest', match: [{headers: CHAOS}], route: to('api', 'v1'), fault: DELAY},
      {name: 'rest', route: to('api', 'v1')},
    ],
  },
  {
    name: 'weighted subsets with timeout, retries, header rewrites and mirror kept on the copy',
    existing: [
      virtualService('reviews', [
        {
          route: to('reviews', ['v1', 80], ['v2', 20]),
          timeout: '3s',
          retries: {attempts: 2, perTryTimeout: '1s', retryOn: '5xx'},
          headers: {request: {set: {'x-via': 'mesh'}}},
          mirror: {host: 'reviews', subset: 'v3'},
          mirrorPercentage: {value: 5},
        },
      ]),
    ],
    faults: [delayFault('reviews')],
    expect: [
      {
        name: 'faultline:r1:0',
        match: [{headers: CHAOS}],
        route: to('reviews', ['v1', 80], ['v2', 20]),
        timeout: '3s',
        retries: {attempts: 2, perTryTimeout: '1s', retryOn: '5xx'},
        headers: {request: {set: {'x-via': 'mesh'}}},
        mirror: {host: 'reviews', subset: 'v3'},
        mirrorPercentage: {value: 5},
        fault: DELAY,
      },
      {
        route: to('reviews', ['v1', 80], ['v2', 20]),
        timeout: '3s',
        retries: {attempts: 2, perTryTimeout: '1s', retryOn: '5xx'},
        headers: {request: {set: {'x-via': 'mesh'}}},
        mirror: {host: 'reviews', subset: 'v3'},
        mirrorPercentage: {value: 5},
      },
    ],
  },
  {
    name: 'a fault match on uri and method: implied conditions merge, disjoint blocks and routes drop out',
    existing: [
      virtualService('ratings', [
        {name: 'one', match: [{uri: {exact: '/ratings/1'}}, {uri: {prefix: '/reviews'}}], route: to('ratings', 'v2')},
        {name: 'posts', match: [{method: {exact: 'POST'}}], route: to('ratings', 'v3')},
        {name: 'jason', match: [{headers: {'end-user': {exact: 'jason'}}}], route: to('ratings', 'v3')},
        {name: 'rest', route: to('ratings', 'v1')},
      ]),
    ],
    faults: [
      delayFault('ratings', {
        headers: {...CHAOS, 'end-user': {prefix: 'bo'}},
        uri: {prefix: '/ratings'},
        method: {exact: 'GET'},
      }),
    ],
    expect: [
      {
        name: 'faultline:r1:one',
        match: [{uri: {exact: '/ratings/1'}, method: {exact: 'GET'}, headers: {...CHAOS, 'end-user': {prefix: 'bo'}}}],
        route: to('ratings', 'v2'),
        fault: DELAY,
      },
      {name: 'one', match: [{uri: {exact: '/ratings/1'}}, {uri: {prefix: '/reviews'}}], route: to('ratings', 'v2')},
      {name: 'posts', match: [{method: {exact: 'POST'}}], route: to('ratings', 'v3')},
      {name: 'jason', match: [{headers: {'end-user': {exact: 'jason'}}}], route: to('ratings', 'v3')},
      {
        name: 'faultline:r1:rest',
        match: [{uri: {prefix: '/ratings'}, method: {exact: 'GET'}, headers: {...CHAOS, 'end-user': {prefix: 'bo'}}}],
        route: to('ratings', 'v1'),
        fault: DELAY,
      },
      {name: 'rest', route: to('ratings', 'v1')},
    ],
  },
  {
    name: 'several faults on one host: one copy per fault, in fault order, before each route',
    existing: [virtualService('ratings', [{name: 'all', route: to('ratings', 'v1')}])],
    faults: [
      delayFault('ratings'),
      {
        service: 'ratings',
        match: {headers: {'x-chaos-abort': {exact: 'true'}}},
        abort: {grpcStatus: 'UNAVAILABLE', percentage: 10},
      },
    ],
    expect: [
      {name: 'faultline:r1:all:f0', match: [{headers: CHAOS}], route: to('ratings', 'v1'), fault: DELAY},
      {
        name: 'faultline:r1:all:f1',
        match: [{headers: {'x-chaos-abort': {exact: 'true'}}}],
        route: to('ratings', 'v1'),
        fault: {abort: {grpcStatus: 'UNAVAILABLE', percentage: {value: 10}}},
      },
      {name: 'all', route: to('ratings', 'v1')},
    ],
  },
  {
    name: 'a redirect route is left as it is (Istio cannot put a fault on it) and keeps its place',
    existing: [
      virtualService('web', [
        {name: 'old', match: [{uri: {prefix: '/old'}}], redirect: {uri: '/new'}},
        {route: to('web')},
      ]),
    ],
    faults: [delayFault('web')],
    expect: [
      {name: 'old', match: [{uri: {prefix: '/old'}}], redirect: {uri: '/new'}},
      {name: 'faultline:r1:1', match: [{headers: CHAOS}], route: to('web'), fault: DELAY},
      {route: to('web')},
    ],
  },
  {
    name: 'a VirtualService bound to a gateway and the mesh: copies apply to sidecars only',
    existing: [
      virtualService(
        'productpage',
        [
          {
            match: [{uri: {prefix: '/login'}, gateways: ['bookinfo-gateway']}, {uri: {prefix: '/api'}}],
            route: to('productpage', 'v1'),
          },
        ],
        {gateways: ['bookinfo-gateway', 'mesh']},
      ),
    ],
    faults: [delayFault('productpage')],
    expect: [
      {
        name: 'faultline:r1:0',
        match: [{uri: {prefix: '/api'}, headers: CHAOS, gateways: ['mesh']}],
        route: to('productpage', 'v1'),
        fault: DELAY,
      },
      {
        match: [{uri: {prefix: '/login'}, gateways: ['bookinfo-gateway']}, {uri: {prefix: '/api'}}],
        route: to('productpage', 'v1'),
      },
    ],
  },
  {
    name: "a VirtualService for several hosts: the copy is restricted to the target's authority",
    existing: [virtualService('backends', [{route: to('ratings')}], {hosts: ['ratings', 'details']})],
    faults: [delayFault('ratings')],
    expect: [
      {
        name: 'faultline:r1:0',
        match: [{authority: {regex: 'ratings(\\.default(\\.svc(\\.cluster\\.local)?)?)?(:[0-9]+)?'}, headers: CHAOS}],
        route: to('ratings'),
        fault: DELAY,
      },
      {route: to('ratings')},
    ],
  },
]

describe('compileFaults', () => {
  for (const c of cases) {
    it(c.name, () => {
      const plan = compile(c.existing, c.faults)
      assert.equal(plan.objects.length, 1)
      assert.equal(plan.objects[0]?.action, 'update')
      assert.deepEqual(http(plan), c.expect)
    })
  }

  it('creates a VirtualService when the host has none, with only the fault route and a plain default', () => {
    const plan = compile([], [delayFault('ratings')])
    const o = plan.objects[0]
    assert.equal(o?.action, 'create')
    const spec = {
      hosts: ['ratings'],
      http: [
        {name: 'faultline:r1:default', match: [{headers: CHAOS}], fault: DELAY, route: to('ratings')},
        {name: 'default', route: to('ratings')},
      ],
    }
    assert.deepEqual(o?.desired, {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: {
        name: 'faultline-ratings',
        namespace: 'default',
        labels: {[LABEL_MANAGED]: 'true', [LABEL_RUN_ID]: 'r1'},
        annotations: {
          [ANNOTATION_RUN_ID]: 'r1',
          [ANNOTATION_EXPIRES_AT]: '2026-11-26T02:00:00Z',
          [ANNOTATION_OWNER]: 'alice',
          [ANNOTATION_CREATED]: 'true',
          [ANNOTATION_FINGERPRINT]: specFingerprint(spec),
          [ANNOTATION_BASE_FINGERPRINT]: specFingerprint({...spec, http: spec.http.slice(1)}),
          [ANNOTATION_FAULT_ROUTES]: '["faultline:r1:default"]',
        },
      },
      spec,
    })
    assert.deepEqual(o?.revert, {
      namespace: 'default',
      name: 'faultline-ratings',
      created: true,
      faultRouteNames: ['faultline:r1:default'],
      runId: 'r1',
      fingerprint: specFingerprint(spec),
      baseFingerprint: specFingerprint({...spec, http: spec.http.slice(1)}),
    })
  })

  it('marks an updated object with the original spec and keeps its metadata and resourceVersion', () => {
    const existing = virtualService('ratings', [{route: to('ratings', 'v1')}])
    existing.metadata.labels = {app: 'ratings'}
    existing.metadata.annotations = {note: 'hand-written'}
    const o = compile([existing], [delayFault('ratings')]).objects[0]
    assert.equal(o?.desired.metadata.resourceVersion, '100')
    assert.equal(o?.revert.readResourceVersion, '100')
    assert.deepEqual(o?.desired.metadata.labels, {app: 'ratings', [LABEL_MANAGED]: 'true', [LABEL_RUN_ID]: 'r1'})
    assert.equal(o?.desired.metadata.annotations?.['note'], 'hand-written')
    assert.deepEqual(JSON.parse(o?.desired.metadata.annotations?.[ANNOTATION_ORIGINAL_SPEC] ?? ''), existing.spec)
    assert.equal(o?.desired.metadata.annotations?.[ANNOTATION_CREATED], undefined)
    assert.deepEqual(o?.revert.originalSpec, existing.spec)
    assert.deepEqual(existing.spec.http, [{route: to('ratings', 'v1')}], 'the input is not mutated')
  })

  it('puts faults on two hosts into two objects (one updated, one created)', () => {
    const plan = compile(
      [virtualService('ratings', [{route: to('ratings', 'v1')}])],
      [delayFault('ratings'), delayFault('details')],
    )
    assert.deepEqual(
      plan.objects.map(o => [o.action, o.desired.metadata.name, o.faults, o.services]),
      [
        ['update', 'ratings', [0], ['ratings.default.svc.cluster.local']],
        ['create', 'faultline-details', [1], ['details.default.svc.cluster.local']],
      ],
    )
  })

  it('ignores VirtualServices bound only to gateways and those in other namespaces', () => {
    const gatewayOnly = virtualService('ratings-edge', [{route: to('ratings')}], {
      hosts: ['ratings'],
      gateways: ['bookinfo-gateway'],
    })
    const elsewhere = {
      ...virtualService('ratings', [{route: to('ratings', 'v9')}]),
      metadata: {name: 'ratings', namespace: 'other'},
    }
    const plan = compile([gatewayOnly, elsewhere], [delayFault('ratings')])
    assert.equal(plan.objects[0]?.action, 'create')
    assert.deepEqual(plan.objects[0]?.notes, [])
  })

  it('uses a VirtualService whose wildcard host covers the service, restricted to its authority', () => {
    const wildcard = virtualService('all', [{route: to('ratings')}], {hosts: ['*.default.svc.cluster.local']})
    const o = compile([wildcard], [delayFault('ratings')]).objects[0]
    assert.equal(o?.desired.metadata.name, 'all')
    assert.deepEqual(o?.desired.spec.http?.[0]?.match, [
      {authority: {regex: 'ratings(\\.default(\\.svc(\\.cluster\\.local)?)?)?(:[0-9]+)?'}, headers: CHAOS},
    ])
  })

  it('does not reuse the name of an unrelated object when creating', () => {
    const unrelated = virtualService('faultline-ratings', [{route: to('ratings')}], {hosts: ['ratings.example.com']})
    assert.equal(compile([unrelated], [delayFault('ratings')]).objects[0]?.desired.metadata.name, 'faultline-ratings-2')
  })

  describe('refuses what it cannot do safely', () => {
    const refusals: {name: string; existing: VirtualService[]; faults: Fault[]; message: RegExp}[] = [
      {
        name: 'a condition on the same header that one match cannot express',
        existing: [
          virtualService('reviews', [
            {name: 'canary', match: [{headers: {'end-user': {prefix: 'ja'}}}], route: to('reviews', 'v2')},
            {route: to('reviews', 'v1')},
          ]),
        ],
        faults: [delayFault('reviews', {headers: {'end-user': {regex: 'j.*'}}})],
        message: /route "canary" of VirtualService reviews matches on headers\.end-user too/,
      },
      {
        name: 'two different withoutHeaders conditions on one header',
        existing: [
          virtualService('reviews', [
            {match: [{withoutHeaders: {'x-test': {exact: 'a'}}}], route: to('reviews', 'v2')},
            {route: to('reviews', 'v1')},
          ]),
        ],
        faults: [delayFault('reviews', {headers: CHAOS, withoutHeaders: {'x-test': {exact: 'b'}}})],
        message: /route #0 of VirtualService reviews matches on withoutHeaders\.x-test too/,
      },
      {
        name: 'a route that already has a hand-written fault',
        existing: [
          virtualService('details', [
            {fault: {abort: {httpStatus: 555, percentage: {value: 100}}}, route: to('details', 'v1')},
          ]),
        ],
        faults: [delayFault('details')],
        message: /route #0 of VirtualService details already injects a fault that Faultline did not write/,
      },
      {
        name: 'faults left by an earlier run',
        existing: [
          virtualService('ratings', [
            {name: 'faultline:old:0', match: [{headers: CHAOS}], fault: DELAY, route: to('ratings')},
            {route: to('ratings')},
          ]),
        ],
        faults: [delayFault('ratings')],
        message: /still carries Faultline faults from run old/,
      },
      {
        name: 'a TCP-only VirtualService',
        existing: [{...virtualService('db', []), spec: {hosts: ['db'], tcp: [{route: to('db')}]}}],
        faults: [delayFault('db')],
        message: /without HTTP routes/,
      },
      {
        name: 'a fault no route can ever match',
        existing: [virtualService('ratings', [{match: [{method: {exact: 'GET'}}], route: to('ratings')}])],
        faults: [delayFault('ratings', {headers: CHAOS, method: {exact: 'POST'}})],
        message: /no route of VirtualService ratings can match requests that spec\.faults\[0\] targets/,
      },
      {
        name: 'a fault uri against a route with ignoreUriCase',
        existing: [
          virtualService('ratings', [
            {match: [{headers: jason, ignoreUriCase: true}], route: to('ratings')},
            {route: to('ratings')},
          ]),
        ],
        faults: [delayFault('ratings', {headers: CHAOS, uri: {prefix: '/ratings'}})],
        message: /uri \(ignoreUriCase\)/,
      },
    ]
    for (const r of refusals) {
      it(r.name, () => {
        assert.throws(
          () => compile(r.existing, r.faults),
          (e: unknown) => {
            assert.ok(e instanceof UnsafeFault, String(e))
            assert.match(e.message, /^fault cannot be safely injected because /)
            assert.match(e.message, r.message)
            assert.ok(e.hint !== undefined && e.hint.length > 0)
            return true
          },
        )
      })
    }

    it('tells the operator to run chaos revert for stale faults', () => {
      const stale = virtualService('ratings', [{route: to('ratings')}])
      stale.metadata.labels = {[LABEL_MANAGED]: 'true'}
      stale.metadata.annotations = {[ANNOTATION_RUN_ID]: 'old', [ANNOTATION_EXPIRES_AT]: '2026-11-25T00:00:00Z'}
      assert.throws(
        () => compile([stale], [delayFault('ratings')]),
        (e: unknown) =>
          e instanceof UnsafeFault && /chaos revert/.test(e.hint ?? '') && /2026-11-25T00:00:00Z/.test(e.message),
      )
    })

    it('rejects a run id that cannot appear in route names and labels', () => {
      assert.throws(() => compile([], [delayFault('ratings')], 'bad:id'), /run id "bad:id" is not usable/)
    })
  })

  it('notes routes that cannot carry a fault', () => {
    const existing = virtualService('web', [
      {name: 'old', match: [{uri: {prefix: '/old'}}], redirect: {uri: '/new'}},
      {route: to('web')},
    ])
    assert.deepEqual(compile([existing], [delayFault('web')]).objects[0]?.notes, [
      'route "old" uses redirect, which cannot carry a fault in Istio; requests it answers are not faulted',
    ])
  })

  it('notes VirtualServices in other namespaces that route the same service', () => {
    const other = {
      ...virtualService('ratings', [{route: to('ratings.default.svc.cluster.local')}], {
        hosts: ['ratings.default.svc.cluster.local'],
      }),
      metadata: {name: 'ratings', namespace: 'team-b'},
    }
    const notes = compile([other], [delayFault('ratings')]).objects[0]?.notes
    assert.deepEqual(notes, [
      'VirtualService team-b/ratings also routes ratings.default.svc.cluster.local; sidecars in team-b may use it instead, so the fault may not reach traffic from there',
    ])
  })
})
