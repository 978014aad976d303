import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import type {VirtualService} from '@faultline/core/istio/types.js'
import {
  compileGatewayTable,
  type GatewayObject,
  gatewayVirtualHost,
  intersectHost,
  routesTo,
} from '../src/mesh/gateway-config.js'
import type {Pod} from '../src/types.js'

/** Istio's bookinfo-gateway.yaml, applied in default. */
const docs = parseAllDocuments(
  readFileSync('test/reference/istio-samples/bookinfo-networking/bookinfo-gateway.yaml', 'utf8'),
).map(d => d.toJSON() as {kind: string; metadata: {name: string; namespace?: string}})
const GATEWAY = {
  ...docs.find(d => d.kind === 'Gateway'),
  metadata: {name: 'bookinfo-gateway', namespace: 'default'},
} as unknown as GatewayObject
const BOOKINFO = {
  ...docs.find(d => d.kind === 'VirtualService'),
  metadata: {name: 'bookinfo', namespace: 'default'},
} as unknown as VirtualService

const POD: Pod = {
  name: 'istio-ingressgateway-5d9c7',
  namespace: 'istio-system',
  labels: {app: 'istio-ingressgateway', istio: 'ingressgateway'},
  serviceAccount: 'istio-ingressgateway-service-account',
  containers: ['istio-proxy'],
  appPort: 0,
}

describe('sandbox ingress gateway: what istiod pushes to it', () => {
  it('bookinfo-gateway.yaml: port 8080, host *, the five productpage paths', () => {
    const table = compileGatewayTable(POD, [GATEWAY], [BOOKINFO])
    assert.deepEqual([...table.keys()], [8080])
    const vh = gatewayVirtualHost(table, 8080, 'bookinfo.example.com')
    assert.equal(vh?.host, '*')
    assert.deepEqual(
      vh?.routes.map(r => r.virtualService),
      ['bookinfo'],
    )
    assert.deepEqual(
      vh?.routes[0]?.route.match?.map(m => m.uri),
      [
        {exact: '/productpage'},
        {prefix: '/static'},
        {exact: '/login'},
        {exact: '/logout'},
        {prefix: '/api/v1/products'},
      ],
    )
    assert.ok(routesTo(vh!.routes[0]!.route, 'productpage.default.svc.cluster.local', 'default'))
  })

  it('no sidecar routing: VirtualServices not bound to the gateway are not pushed, nor Gateways that do not select the pod', () => {
    const ratings: VirtualService = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: {name: 'ratings', namespace: 'default'},
      spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}]},
    }
    assert.deepEqual(compileGatewayTable(POD, [GATEWAY], [ratings]).get(8080), [])
    const other = {...GATEWAY, spec: {...GATEWAY.spec, selector: {istio: 'egressgateway'}}}
    assert.equal(compileGatewayTable(POD, [other], [BOOKINFO]).size, 0)
  })

  it('match blocks naming other gateways, or other ports, are dropped; a catch-all ends the routes', () => {
    const vs: VirtualService = {
      ...BOOKINFO,
      spec: {
        hosts: ['*'],
        gateways: ['bookinfo-gateway', 'mesh'],
        http: [
          {
            match: [{uri: {exact: '/a'}, gateways: ['mesh']}, {uri: {exact: '/b'}}],
            route: [{destination: {host: 'productpage'}}],
          },
          {match: [{uri: {exact: '/c'}, port: 9999}], route: [{destination: {host: 'details'}}]},
          {route: [{destination: {host: 'productpage'}}]},
          {match: [{uri: {exact: '/never'}}], route: [{destination: {host: 'reviews'}}]},
        ],
      },
    }
    const routes = gatewayVirtualHost(compileGatewayTable(POD, [GATEWAY], [vs]), 8080, 'x')?.routes.map(r => r.route)
    assert.deepEqual(
      routes?.map(r => r.match),
      [[{uri: {exact: '/b'}}], undefined],
    )
  })

  it("hosts: the intersection of the server's and the VirtualService's, and Envoy's pick by Host", () => {
    assert.equal(intersectHost('*', 'bookinfo.example.com'), 'bookinfo.example.com')
    assert.equal(intersectHost('*.example.com', 'bookinfo.example.com'), 'bookinfo.example.com')
    assert.equal(intersectHost('a.example.com', '*'), 'a.example.com')
    assert.equal(intersectHost('a.example.com', 'b.example.com'), undefined)
    const gw = {
      ...GATEWAY,
      spec: {...GATEWAY.spec, servers: [{port: {number: 8080, protocol: 'HTTP'}, hosts: ['default/*.example.com']}]},
    }
    const vs = {...BOOKINFO, spec: {...BOOKINFO.spec, hosts: ['bookinfo.example.com']}}
    const table = compileGatewayTable(POD, [gw], [vs])
    assert.equal(gatewayVirtualHost(table, 8080, 'bookinfo.example.com:8080')?.host, 'bookinfo.example.com')
    assert.equal(gatewayVirtualHost(table, 8080, 'other.example.com'), undefined)
  })
})
