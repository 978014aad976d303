import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import type {VirtualService} from '@faultline/core/istio/types.js'
import {byListenerPort, GATEWAY_HTTP_PORT, type MeshGateway, NODE_PORT_RANGE} from '../../src/mesh/gateway.js'
import {compileGatewayTable, type GatewayObject, gatewayVirtualHost} from '../../src/mesh/gateway-config.js'
import type {Mesh} from '../../src/mesh/index.js'
import type {Pod} from '../../src/types.js'
import {FakeConfig, FakeTopology, parseStats, send, startMesh, virtualService} from './harness.js'

/** Istio's samples/bookinfo/networking/bookinfo-gateway.yaml (1.30.3), applied in `default` as the bookinfo task does. */
const SAMPLE = parseAllDocuments(
  readFileSync('test/reference/istio-samples/bookinfo-networking/bookinfo-gateway.yaml', 'utf8'),
).map(d => d.toJSON() as {kind: string; metadata: {name: string}; spec: unknown})
const BOOKINFO_GATEWAY = {
  metadata: {name: 'bookinfo-gateway', namespace: 'default'},
  spec: SAMPLE.find(d => d.kind === 'Gateway')?.spec,
} as GatewayObject
const BOOKINFO_VS = virtualService(
  'bookinfo',
  SAMPLE.find(d => d.kind === 'VirtualService')?.spec as VirtualService['spec'],
)

const GATEWAY_POD: Pod = {
  name: 'istio-ingressgateway-6f8b9c7d5d-q2w4x',
  namespace: 'istio-system',
  labels: {app: 'istio-ingressgateway', istio: 'ingressgateway'},
  serviceAccount: 'istio-ingressgateway-service-account',
  containers: ['istio-proxy'],
  appPort: 0,
  annotations: {
    'proxy.istio.io/config': JSON.stringify({proxyStatsMatcher: {inclusionPrefixes: ['cluster.', 'http.']}}),
  },
}

describe('sandbox mesh: the ingress gateway (Gateway servers, gateway-bound VirtualServices)', () => {
  let topology: FakeTopology
  let config: FakeConfig
  let mesh: Mesh
  let gateway: MeshGateway
  let client: number

  beforeEach(async () => {
    topology = new FakeTopology()
    config = new FakeConfig()
    topology.service('productpage')
    topology.service('reviews')
    await topology.pod('reviews-v1-6b7c9d8f5c-aaaaa', {app: 'reviews', version: 'v1'})
    config.applyGateway(BOOKINFO_GATEWAY)
    config.apply(BOOKINFO_VS)
    let port: number
    ;({mesh, port} = await startMesh(topology, config))
    client = port
    gateway = await mesh.addGateway(GATEWAY_POD)
  })

  afterEach(async () => {
    await mesh.close()
    await topology.close()
  })

  const get = (path: string, host: string, headers: Record<string, string> = {}) =>
    send(gateway.outboundPort, path, {host, ...headers})
  const gatewayStat = (name: string) => parseStats(gateway.statsText()).get(name)

  it('listens on a loopback port in the NodePort range', () => {
    assert.ok(
      gateway.outboundPort >= NODE_PORT_RANGE.min && gateway.outboundPort <= NODE_PORT_RANGE.max,
      String(gateway.outboundPort),
    )
  })

  it('bookinfo-gateway.yaml: GET /productpage with any Host reaches productpage (server host "*")', async () => {
    for (const host of [`127.0.0.1:${gateway.outboundPort}`, 'bookinfo.example.com', 'localhost']) {
      const r = await get('/productpage', host)
      assert.equal(r.status, 200, host)
      const seen = JSON.parse(r.body) as {pod: string; url: string; headers: Record<string, string>}
      assert.match(seen.pod, /^productpage-v1-/)
      assert.equal(seen.url, '/productpage')
      assert.equal(seen.headers['host'], host, 'the Host is passed through (the route has no authority rewrite)')
      assert.equal(r.headers['server'], 'envoy')
    }
  })

  it('a path no route of the bound VirtualService matches: 404 NR with no body, counted with the gateway as source', async () => {
    const r = await get('/reviews/0', 'bookinfo.example.com')
    assert.equal(r.status, 404)
    assert.equal(r.body, '')
    const metrics = await gateway.metricsText()
    assert.match(
      metrics,
      /istio_requests_total\{reporter="source",source_workload="istio-ingressgateway",[^}]*response_code="404",[^}]*response_flags="NR"/,
    )
  })

  it('a Host that matches no Gateway server: 404 NR (no virtual host, no catch-all on a gateway)', async () => {
    config.applyGateway({
      ...BOOKINFO_GATEWAY,
      spec: {
        ...BOOKINFO_GATEWAY.spec,
        servers: [{port: {number: 8080, protocol: 'HTTP'}, hosts: ['bookinfo.example.com']}],
      },
    })
    await Promise.resolve() // the push runs in a microtask
    assert.equal((await get('/productpage', 'bookinfo.example.com')).status, 200)
    assert.equal(
      (await get('/productpage', 'bookinfo.example.com:80')).status,
      200,
      'the port in Host is ignored by the domain match',
    )
    const other = await get('/productpage', 'other.example.com')
    assert.equal(other.status, 404)
    assert.equal(other.body, '')
    assert.match(await gateway.metricsText(), /response_code="404",[^}]*response_flags="NR"/)
  })

  it('a server on another port has no routes on the gateway listener', async () => {
    config.applyGateway({
      ...BOOKINFO_GATEWAY,
      spec: {...BOOKINFO_GATEWAY.spec, servers: [{port: {number: 9443, protocol: 'HTTP'}, hosts: ['*']}]},
    })
    await Promise.resolve()
    assert.equal((await get('/productpage', 'x')).status, 404)
    assert.equal(GATEWAY_HTTP_PORT, 8080)
  })

  it('a mesh VirtualService (no gateways) applies to sidecars only; a gateway-bound one to the gateway only', async () => {
    // A fault for every request in the mesh VirtualService of productpage: sidecars abort, the gateway does not see it.
    config.apply(
      virtualService('productpage', {
        hosts: ['productpage'],
        http: [
          {fault: {abort: {httpStatus: 503, percentage: {value: 100}}}, route: [{destination: {host: 'productpage'}}]},
        ],
      }),
    )
    await Promise.resolve()
    assert.equal(
      (await send(client, 'http://productpage:9080/productpage')).status,
      503,
      'the sidecar applies the mesh VirtualService',
    )
    assert.equal((await get('/productpage', 'bookinfo.example.com')).status, 200, 'the gateway does not')
    // The fault in the gateway-bound VirtualService: the gateway aborts, the sidecars do not see it.
    config.apply(
      virtualService('productpage', {hosts: ['productpage'], http: [{route: [{destination: {host: 'productpage'}}]}]}),
    )
    const faulted = structuredClone(BOOKINFO_VS)
    faulted.spec.http = [{...faulted.spec.http![0]!, fault: {abort: {httpStatus: 503, percentage: {value: 100}}}}]
    config.apply(faulted)
    await Promise.resolve()
    const r = await get('/productpage', 'bookinfo.example.com')
    assert.equal(r.status, 503)
    assert.equal(r.body, 'fault filter abort')
    assert.equal((await send(client, 'http://productpage:9080/productpage')).status, 200)
    assert.equal(
      gatewayStat('http.outbound_0.0.0.0_8080;.fault.aborts_injected'),
      1,
      "the gateway's HTTP connection manager counts it",
    )
    assert.match(
      await gateway.metricsText(),
      /reporter="source",source_workload="istio-ingressgateway",[^}]*destination_service="productpage.default.svc.cluster.local",[^}]*response_code="503",[^}]*response_flags="FI"/,
    )
  })

  it('a delay in the gateway-bound route holds the request in the gateway', async () => {
    const delayed = structuredClone(BOOKINFO_VS)
    delayed.spec.http = [{...delayed.spec.http![0]!, fault: {delay: {fixedDelay: '150ms', percentage: {value: 100}}}}]
    config.apply(delayed)
    await Promise.resolve()
    const r = await get('/productpage', 'bookinfo.example.com')
    assert.equal(r.status, 200)
    assert.ok(r.ms >= 150, `${r.ms} ms`)
    assert.equal(gatewayStat('http.outbound_0.0.0.0_8080;.fault.delays_injected'), 1)
  })

  it('gateways named namespace/name bind a VirtualService in another namespace', async () => {
    config.applyGateway({
      metadata: {name: 'ingress', namespace: 'istio-system'},
      spec: {
        selector: {istio: 'ingressgateway'},
        servers: [{port: {number: 8080, protocol: 'HTTP'}, hosts: ['reviews.example.com']}],
      },
    })
    config.apply(
      virtualService('reviews-ingress', {
        hosts: ['reviews.example.com'],
        gateways: ['istio-system/ingress'],
        http: [{route: [{destination: {host: 'reviews'}}]}],
      }),
    )
    config.apply(
      virtualService('unbound', {
        hosts: ['reviews.example.com'],
        gateways: ['ingress'],
        http: [{route: [{destination: {host: 'productpage'}}]}],
      }),
    )
    await Promise.resolve()
    const r = await get('/reviews/0', 'reviews.example.com')
    assert.equal(r.status, 200)
    assert.match(
      (JSON.parse(r.body) as {pod: string}).pod,
      /^reviews-v1-/,
      '"ingress" alone is default/ingress, which does not exist',
    )
  })

  it('metrics: reporter="source" from the gateway, reporter="destination" in the serving pod with the gateway as source', async () => {
    assert.equal((await get('/productpage', 'bookinfo.example.com')).status, 200)
    const source = await gateway.metricsText()
    assert.match(
      source,
      /istio_requests_total\{reporter="source",source_workload="istio-ingressgateway",source_canonical_service="istio-ingressgateway",[^}]*source_workload_namespace="istio-system",[^}]*destination_workload="productpage-v1",[^}]*response_code="200",[^}]*response_flags="-"[^}]*\} 1/,
    )
    const served = await mesh.sidecar('productpage-v1-5d9b6f7c8d-abcde')?.metricsText()
    assert.match(
      served ?? '',
      /istio_requests_total\{reporter="destination",source_workload="istio-ingressgateway",[^}]*source_workload_namespace="istio-system",/,
    )
    assert.equal(
      parseStats(gateway.statsText()).get(
        'cluster.outbound|9080||productpage.default.svc.cluster.local;.upstream_rq_200',
      ),
      1,
    )
  })

  it("a server on a port of the gateway's Service listens on its targetPort (80 → 8080), merged with the 8080 server", () => {
    const on80 = {
      metadata: {name: 'web', namespace: 'default'},
      spec: {
        selector: {istio: 'ingressgateway'},
        servers: [{port: {number: 80, protocol: 'HTTP'}, hosts: ['web.example.com']}],
      },
    }
    const web = virtualService('web', {
      hosts: ['web.example.com'],
      gateways: ['web'],
      http: [{route: [{destination: {host: 'reviews'}}]}],
    })
    const table = byListenerPort(
      compileGatewayTable(GATEWAY_POD, [BOOKINFO_GATEWAY, on80], [BOOKINFO_VS, web]),
      new Map([
        [80, 8080],
        [443, 8443],
      ]),
    )
    assert.deepEqual([...table.keys()], [8080])
    assert.equal(gatewayVirtualHost(table, 8080, 'web.example.com')?.routes[0]?.virtualService, 'web')
    assert.equal(gatewayVirtualHost(table, 8080, 'other')?.routes[0]?.virtualService, 'bookinfo')
    assert.deepEqual(
      [...byListenerPort(compileGatewayTable(GATEWAY_POD, [on80], [web]), new Map()).keys()],
      [80],
      'no Service port 80: the listener is 80',
    )
  })

  it('pilot-agent request GET stats works in the gateway pod', async () => {
    const out = await mesh.exec(GATEWAY_POD, 'istio-proxy', ['pilot-agent', 'request', 'GET', 'stats'])
    assert.equal(out.exitCode, 0)
    assert.match(out.stdout, /http\.outbound_0\.0\.0\.0_8080;\.fault\.delays_injected: 0/)
  })
})
