/** fast-check generators for VirtualServices, faults and requests (simple, valid RE2 only). */
import fc from 'fast-check'

import type {Fault} from '../../src/experiment/model.js'
import type {RoutableRequest} from '@faultline/core/istio/routing.js'
import type {HTTPMatchRequest, HTTPRoute, StringMatch, VirtualService} from '@faultline/core/istio/types.js'

const HEADER_KEYS = ['end-user', 'x-env', 'x-chaos-test'] as const
const HEADER_VALUES = ['jason', 'bob', 'v1', 'v2', 'true', 'false', 'tr'] as const
const PATHS = [
  '/ratings/0',
  '/ratings/12?u=jason',
  '/ratings/7?debug=1',
  '/reviews/1',
  '/RATINGS/3',
  '/',
  '/ratings',
] as const

/** A StringMatch of any kind over a small vocabulary, so conditions often overlap. */
export const stringMatch: fc.Arbitrary<StringMatch> = fc.oneof(
  fc.constantFrom(...HEADER_VALUES).map(exact => ({exact})),
  fc.constantFrom('j', 'ja', 't', 'tr', 'v', 'b').map(prefix => ({prefix})),
  fc.constantFrom('jas.*', '(true|false)', 'v[0-9]', '.*', 'b.b', 'tr?').map(regex => ({regex})),
)

const withoutMatch: fc.Arbitrary<StringMatch> = fc.oneof(stringMatch, fc.constant({}))

const uriMatch: fc.Arbitrary<StringMatch> = fc.constantFrom<StringMatch>(
  {exact: '/ratings/0'},
  {prefix: '/ratings'},
  {regex: '/ratings/[0-9]+'},
  {prefix: '/reviews'},
  {exact: '/'},
)
const methodMatch: fc.Arbitrary<StringMatch> = fc.constantFrom<StringMatch>(
  {exact: 'GET'},
  {exact: 'POST'},
  {prefix: 'P'},
  {regex: 'GET|PUT'},
)
const queryMatch = fc.dictionary(
  fc.constantFrom('u', 'debug'),
  fc.oneof(
    fc.constantFrom('1', 'jason').map(exact => ({exact})),
    fc.constant({prefix: 'ja'}),
  ),
  {maxKeys: 1},
)

/** One match block of an existing route (ignoreUriCase now and then, on blocks with a uri). */
export const matchBlock: fc.Arbitrary<HTTPMatchRequest> = fc
  .tuple(
    fc.record(
      {
        headers: fc.dictionary(fc.constantFrom(...HEADER_KEYS), stringMatch, {minKeys: 1, maxKeys: 2}),
        withoutHeaders: fc.dictionary(fc.constantFrom(...HEADER_KEYS), withoutMatch, {minKeys: 1, maxKeys: 1}),
        uri: uriMatch,
        method: methodMatch,
        queryParams: queryMatch,
      },
      {requiredKeys: []},
    ),
    fc.integer({min: 0, max: 9}),
  )
  .map(([block, dice]) => (dice === 0 && block.uri !== undefined ? {...block, ignoreUriCase: true} : block))

/** Mostly undefined, sometimes a value: keeps the fault's extra conditions from dominating. */
function sometimes<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return fc.oneof({arbitrary: fc.constant(undefined), weight: 3}, {arbitrary: arb, weight: 1})
}

const destinations = fc
  .array(fc.record({subset: fc.constantFrom('v1', 'v2', 'v3'), weight: fc.integer({min: 0, max: 100})}), {
    minLength: 1,
    maxLength: 3,
  })
  .map(ds => {
    if (ds.length === 1) return [{destination: {host: 'ratings', subset: ds[0]?.subset as string}}]
    const total = ds.reduce((s, d) => s + d.weight, 0)
    return ds.map((d, i) => ({
      destination: {host: 'ratings', subset: d.subset},
      weight: i === 0 && total === 0 ? 1 : d.weight,
    }))
  })

/** An HTTP route: named or not, with or without match blocks, with settings a copy must keep. */
export const route: fc.Arbitrary<HTTPRoute> = fc.record(
  {
    name: fc.constantFrom('canary', 'api', 'main', 'jason'),
    match: fc.array(matchBlock, {minLength: 1, maxLength: 3}),
    route: destinations,
    timeout: fc.constantFrom('3s', '500ms', '1m'),
    retries: fc.constant({attempts: 2, perTryTimeout: '1s', retryOn: '5xx,connect-failure'}),
  },
  {requiredKeys: ['route']},
)

/** A ratings VirtualService in `default`, sometimes ending with a catch-all. */
export const virtualService: fc.Arbitrary<VirtualService> = fc
  .tuple(fc.array(route, {minLength: 1, maxLength: 5}), fc.boolean(), destinations)
  .map(([http, catchAll, dests]) =>
    plain({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService' as const,
      metadata: {name: 'ratings', namespace: 'default', resourceVersion: '100'},
      spec: {hosts: ['ratings'], http: catchAll ? [...http, {route: dests}] : http},
    }),
  )

/** fast-check builds null-prototype records; Kubernetes objects are plain JSON. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** A header-targeted fault on ratings, sometimes narrowed further by uri, method or withoutHeaders. */
export function fault(header = 'x-chaos-test'): fc.Arbitrary<Fault> {
  return fc
    .record({
      uri: sometimes(uriMatch),
      method: sometimes(methodMatch),
      withoutHeaders: sometimes(fc.constant({'x-env': {exact: 'v2'}})),
      kind: fc.constantFrom('delay', 'abort', 'both'),
    })
    .map(o => {
      const match: NonNullable<Fault['match']> = {headers: {[header]: {exact: 'true'}}}
      if (o.uri !== undefined) match.uri = o.uri as never
      if (o.method !== undefined) match.method = o.method as never
      if (o.withoutHeaders !== undefined) match.withoutHeaders = o.withoutHeaders
      return plain({
        service: 'ratings',
        match,
        ...(o.kind === 'abort' ? {} : {delay: {fixedDelay: '7s', percentage: 100}}),
        ...(o.kind === 'delay' ? {} : {abort: {httpStatus: 503, percentage: 50}}),
      })
    })
}

/** A request; half of them carry `targetHeader: true`. */
export function request(targetHeader = 'x-chaos-test'): fc.Arbitrary<RoutableRequest> {
  return fc
    .record({
      method: fc.constantFrom('GET', 'POST', 'PUT'),
      path: fc.constantFrom(...PATHS),
      headers: fc.dictionary(fc.constantFrom(...HEADER_KEYS, 'x-chaos-abort'), fc.constantFrom(...HEADER_VALUES), {
        maxKeys: 3,
      }),
      targeted: fc.boolean(),
    })
    .map(r =>
      plain({method: r.method, path: r.path, headers: r.targeted ? {...r.headers, [targetHeader]: 'true'} : r.headers}),
    )
}
