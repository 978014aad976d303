import assert from 'node:assert/strict'

import {
  fqdn,
  hostCovers,
  matchBlockMatches,
  selectRoute,
  stringMatches,
  virtualServiceFor,
} from '../../src/istio/routing.js'
import type {HTTPRoute, VirtualService} from '../../src/istio/types.js'

const req = (over: Partial<{method: string; path: string; headers: Record<string, string>}> = {}) => ({
  method: 'GET',
  path: '/ratings/0',
  headers: {},
  ...over,
})

const vs = (
  name: string,
  hosts: string[],
  extra: Partial<VirtualService['spec']> = {},
  created = '2026-01-01T00:00:00Z',
): VirtualService => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name, namespace: 'default', creationTimestamp: created},
  spec: {hosts, ...extra},
})

describe('istio routing', () => {
  it('string matches: exact, prefix, RE2 regex against the full string, presence', () => {
    assert.equal(stringMatches({exact: 'jason'}, 'jason'), true)
    assert.equal(stringMatches({exact: 'jason'}, 'Jason'), false)
    assert.equal(stringMatches({prefix: '/api'}, '/api/v1'), true)
    assert.equal(stringMatches({regex: '\\d+$'}, '123'), true)
    assert.equal(stringMatches({regex: '\\d+$'}, 'a123'), false, 'Envoy safe_regex matches the whole value')
    assert.equal(stringMatches({regex: '(?i)abc'}, 'ABC'), true)
    assert.equal(stringMatches({}, 'anything'), true)
    assert.equal(stringMatches({}, undefined), false, 'presence needs the header')
  })

  it('match blocks AND their conditions; withoutHeaders inverts, treating a missing header as empty', () => {
    const block = {headers: {'end-user': {exact: 'jason'}}, uri: {prefix: '/ratings'}, method: {exact: 'GET'}}
    assert.equal(matchBlockMatches(block, req({headers: {'end-user': 'jason'}})), true)
    assert.equal(matchBlockMatches(block, req({headers: {'end-user': 'jason'}, method: 'POST'})), false)
    assert.equal(matchBlockMatches({withoutHeaders: {'x-canary': {exact: 'true'}}}, req()), true)
    assert.equal(
      matchBlockMatches({withoutHeaders: {'x-canary': {exact: 'true'}}}, req({headers: {'x-canary': 'true'}})),
      false,
    )
    assert.equal(matchBlockMatches({withoutHeaders: {'x-canary': {}}}, req({headers: {'x-canary': ''}})), false)
    assert.equal(matchBlockMatches({queryParams: {id: {regex: '\\d+'}}}, req({path: '/r?id=12'})), true)
    assert.equal(matchBlockMatches({queryParams: {id: {regex: '\\d+'}}}, req({path: '/r?id=12a'})), false)
    assert.equal(matchBlockMatches({uri: {exact: '/RATINGS/0'}, ignoreUriCase: true}, req()), true)
  })

  it('first match wins (VirtualService.http is ordered) and a route without match is a catch-all', () => {
    const http: HTTPRoute[] = [
      {
        name: 'jason',
        match: [{headers: {'end-user': {exact: 'jason'}}}],
        route: [{destination: {host: 'reviews', subset: 'v2'}}],
      },
      {name: 'rest', route: [{destination: {host: 'reviews', subset: 'v1'}}]},
      {name: 'never', route: [{destination: {host: 'reviews', subset: 'v3'}}]},
    ]
    assert.equal(selectRoute(http, req({headers: {'end-user': 'jason'}}))?.route.name, 'jason')
    assert.equal(selectRoute(http, req())?.route.name, 'rest')
    assert.equal(selectRoute(http, req())?.matchIndex, -1)
    assert.equal(selectRoute([{match: [{uri: {exact: '/x'}}]}], req()), undefined)
  })

  it('resolves hosts as Istio does within a namespace', () => {
    assert.equal(fqdn('ratings', 'default'), 'ratings.default.svc.cluster.local')
    assert.equal(fqdn('ratings.prod', 'default'), 'ratings.prod.svc.cluster.local')
    assert.equal(fqdn('ratings.prod.svc', 'default'), 'ratings.prod.svc.cluster.local')
    assert.equal(fqdn('ratings.default.svc.cluster.local', 'x'), 'ratings.default.svc.cluster.local')
    assert.equal(hostCovers('*.default.svc.cluster.local', 'ratings.default.svc.cluster.local', 'default'), true)
    assert.equal(hostCovers('*.prod.svc.cluster.local', 'ratings.default.svc.cluster.local', 'default'), false)
  })

  it('picks the sidecar VirtualService: gateway-only ones do not count, exact beats wildcard, oldest wins', () => {
    const fq = 'ratings.default.svc.cluster.local'
    const gatewayOnly = vs('gw', ['ratings'], {gateways: ['bookinfo-gateway']})
    const wildcard = vs('wild', ['*.default.svc.cluster.local'])
    const newer = vs('newer', ['ratings'], {}, '2026-02-01T00:00:00Z')
    const older = vs('older', ['ratings.default'], {gateways: ['mesh', 'bookinfo-gateway']})
    assert.equal(virtualServiceFor([gatewayOnly], fq, 'default'), undefined)
    assert.equal(virtualServiceFor([gatewayOnly, wildcard], fq, 'default')?.metadata.name, 'wild')
    assert.equal(virtualServiceFor([wildcard, newer, older], fq, 'default')?.metadata.name, 'older')
  })
})
