import assert from 'node:assert/strict'

import {serviceObject} from '../../src/apiserver/services.js'
import {printerFor, toTable} from '../../src/apiserver/table.js'
import {bookinfoGatewayObjects, withBookinfoGateway} from '../../src/gateway-sample.js'
import {ObjectStore} from '../../src/store.js'
import {gatewayService} from '../../src/topology.js'
import {type Answer, type Fixture, startFixture} from './fakes.js'

const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'

describe("sandbox API server: networking.istio.io Gateways, and the ingress gateway's Service", function () {
  this.timeout(30_000)
  let f: Fixture
  before(async () => {
    f = await startFixture()
  })
  after(async () => {
    await f.close()
  })

  it('serves gateways in every networking version, in discovery with the gw short name', async () => {
    for (const version of ['v1', 'v1beta1', 'v1alpha3']) {
      const gw = (await f.call('GET', `/apis/networking.istio.io/${version}`)).body.resources.find(
        (r: Answer) => r.name === 'gateways',
      )
      assert.deepEqual([gw?.kind, gw?.namespaced, gw?.shortNames], ['Gateway', true, ['gw']], version)
    }
  })

  it("creates Istio's bookinfo-gateway.yaml Gateway (validated against Istio's CRD), lists it, and pushes it to the store's listeners", async () => {
    const gateway = bookinfoGatewayObjects('default').find(o => o.kind === 'Gateway')
    const events: string[] = []
    const unsubscribe = f.store.subscribe(e => events.push(`${e.type} ${e.object.kind}/${e.object.metadata.name}`))
    try {
      const created = await f.call('POST', '/apis/networking.istio.io/v1/namespaces/default/gateways', {body: gateway})
      assert.equal(created.status, 201, JSON.stringify(created.body))
      assert.deepEqual(events, ['ADDED Gateway/bookinfo-gateway'])
      assert.deepEqual(
        f.store.gateways().map(g => [g.metadata.name, g.spec.servers?.[0]?.port?.number]),
        [['bookinfo-gateway', 8080]],
      )
      const listed = await f.call('GET', '/apis/networking.istio.io/v1beta1/gateways')
      assert.deepEqual(
        listed.body.items.map((i: Answer) => [i.apiVersion, i.metadata.name]),
        [['networking.istio.io/v1beta1', 'bookinfo-gateway']],
      )
      const invalid = await f.call('POST', '/apis/networking.istio.io/v1/namespaces/default/gateways', {
        body: {...gateway, metadata: {name: 'bad'}, spec: {servers: 'none'}},
      })
      assert.equal(invalid.status, 422, 'the CRD schema applies')
      const table = await f.call('GET', '/apis/networking.istio.io/v1/namespaces/default/gateways', {
        headers: {accept: TABLE},
      })
      assert.deepEqual(
        table.body.rows.map((r: Answer) => r.cells[0]),
        ['bookinfo-gateway'],
      )
    } finally {
      unsubscribe()
      await f.call('DELETE', '/apis/networking.istio.io/v1/namespaces/default/gateways/bookinfo-gateway')
    }
  })

  it("withBookinfoGateway: the sample's Gateway and VirtualService in the store, which is the mesh's config", () => {
    const store = new ObjectStore()
    const config = withBookinfoGateway(store, 'default')
    assert.equal(config, store)
    assert.deepEqual(
      store.gateways().map(g => `${g.metadata.namespace}/${g.metadata.name}`),
      ['default/bookinfo-gateway'],
    )
    assert.deepEqual(
      store.virtualServices().map(v => [v.metadata.name, v.spec.gateways]),
      [['bookinfo', ['bookinfo-gateway']]],
    )
  })

  it('the gateway Service prints as a LoadBalancer without an address: EXTERNAL-IP <pending>, PORT(S) 80:<node port>/TCP', () => {
    const service = {...gatewayService(), nodePort: 31234}
    const obj = serviceObject(service, '2026-01-01T00:00:00Z')
    const cells = (toTable(printerFor('Service', 'v1'), [obj], 'v1', '1') as {rows: {cells: unknown[]}[]}).rows[0]
      ?.cells
    assert.deepEqual([cells?.[1], cells?.[3], cells?.[4]], ['LoadBalancer', '<pending>', '80:31234/TCP'])
    const withAddress = {...obj, status: {loadBalancer: {ingress: [{ip: '203.0.113.7'}]}}}
    assert.equal(
      (toTable(printerFor('Service', 'v1'), [withAddress], 'v1', '1') as {rows: {cells: unknown[]}[]}).rows[0]
        ?.cells[3],
      '203.0.113.7',
    )
  })
})
