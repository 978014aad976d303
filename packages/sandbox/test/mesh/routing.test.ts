import assert from 'node:assert/strict'
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Mesh} from '../../src/mesh/index.js'
import {
  destinationRule,
  FakeConfig,
  FakeTopology,
  seededRandom,
  send,
  startMesh,
  stat,
  virtualService,
} from './harness.js'

const RATINGS = 'http://ratings:9080/ratings/0'
const REVIEWS = 'http://reviews:9080/reviews/0'

describe('sandbox mesh: routing (Istio VirtualService → Envoy routes)', () => {
  let topology: FakeTopology
  let config: FakeConfig
  let mesh: Mesh
  let port: number

  beforeEach(async () => {
    topology = new FakeTopology()
    config = new FakeConfig()
    topology.service('ratings')
    topology.service('reviews')
    await topology.pod('ratings-v1-6b7c9d8f5c-aaaaa', {app: 'ratings', version: 'v1'})
    for (const v of ['v1', 'v2', 'v3'])
      await topology.pod(`reviews-${v}-6b7c9d8f5c-${v}bbb`, {app: 'reviews', version: v})
    config.apply(
      destinationRule('reviews', {
        host: 'reviews',
        subsets: ['v1', 'v2', 'v3'].map(v => ({name: v, labels: {version: v}})),
      }),
    )
    ;({mesh, port} = await startMesh(topology, config))
  })

  afterEach(async () => {
    await mesh.close()
    await topology.close()
  })

  const podOf = async (url: string, headers: Record<string, string> = {}): Promise<string> =>
    JSON.parse((await send(port, url, headers)).body).pod

  it('no VirtualService: the default route reaches the Kubernetes service', async () => {
    const r = await send(port, RATINGS)
    assert.equal(r.status, 200)
    assert.equal(JSON.parse(r.body).pod, 'ratings-v1-6b7c9d8f5c-aaaaa')
  })

  it('absolute form with short, namespaced, svc and FQDN hosts, and origin form with Host, reach the same service', async () => {
    for (const host of [
      'ratings:9080',
      'ratings.default:9080',
      'ratings.default.svc:9080',
      'ratings.default.svc.cluster.local:9080',
      'ratings',
    ]) {
      assert.equal((await send(port, `http://${host}/ratings/0`)).status, 200, host)
    }
    assert.equal((await send(port, '/ratings/0', {host: 'ratings:9080'})).status, 200)
  })

  // istio 1.30.3 pilot/pkg/networking/core/httproute.go buildCatchAllVirtualHost: ALLOW_ANY (the
  // default) passes unknown hosts through to the original destination; REGISTRY_ONLY answers 502, no body, no flag.
  it('a host that is not a mesh service passes through to its original destination (ALLOW_ANY)', async () => {
    const external = http.createServer((req, res) => res.end(`external ${req.headers.host}`))
    await new Promise<void>(resolve => external.listen(0, '127.0.0.1', () => resolve()))
    try {
      const target = `127.0.0.1:${(external.address() as AddressInfo).port}`
      const r = await send(port, `http://${target}/x`)
      assert.equal(r.status, 200)
      assert.equal(r.body, `external ${target}`)
      const metrics = await mesh.sidecar('productpage-v1-5d9b6f7c8d-abcde')?.metricsText()
      assert.match(metrics ?? '', /istio_requests_total\{[^}]*response_code="200"[^}]*response_flags="-"/)
    } finally {
      external.closeAllConnections()
      external.close()
    }
  })

  it('under REGISTRY_ONLY an unknown host gets 502 with an empty body and no flag (block_all)', async () => {
    await mesh.close()
    ;({mesh, port} = await startMesh(topology, config, {outboundTrafficPolicy: 'REGISTRY_ONLY'}))
    const r = await send(port, 'http://nosuch:9080/')
    assert.equal(r.status, 502)
    assert.equal(r.body, '')
    const metrics = await mesh.sidecar('productpage-v1-5d9b6f7c8d-abcde')?.metricsText()
    assert.match(metrics ?? '', /istio_requests_total\{[^}]*response_code="502"[^}]*response_flags="-"/)
  })

  it('default route balances over every endpoint of the service', async () => {
    const seen = new Map<string, number>()
    for (let i = 0; i < 90; i++) {
      const pod = await podOf(REVIEWS)
      seen.set(pod, (seen.get(pod) ?? 0) + 1)
    }
    assert.equal(seen.size, 3, `all three reviews pods answer: ${[...seen.keys()].join(', ')}`)
  })

  it('first match wins (VirtualService.http is ordered)', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {match: [{headers: {'end-user': {exact: 'jason'}}}], route: [{destination: {host: 'reviews', subset: 'v2'}}]},
          {match: [{headers: {'end-user': {prefix: 'ja'}}}], route: [{destination: {host: 'reviews', subset: 'v3'}}]},
          {route: [{destination: {host: 'reviews', subset: 'v1'}}]},
        ],
      }),
    )
    assert.match(await podOf(REVIEWS, {'end-user': 'jason'}), /^reviews-v2/)
    assert.match(await podOf(REVIEWS, {'end-user': 'jane'}), /^reviews-v3/)
    assert.match(await podOf(REVIEWS), /^reviews-v1/)
  })

  it('regex is matched against the full string (Envoy safe_regex)', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {match: [{headers: {'x-user': {regex: '\\d+'}}}], route: [{destination: {host: 'reviews', subset: 'v2'}}]},
          {route: [{destination: {host: 'reviews', subset: 'v1'}}]},
        ],
      }),
    )
    assert.match(await podOf(REVIEWS, {'x-user': '123'}), /^reviews-v2/)
    assert.match(await podOf(REVIEWS, {'x-user': 'a123'}), /^reviews-v1/)
    assert.match(await podOf(REVIEWS, {'x-user': '123a'}), /^reviews-v1/)
  })

  it('uri, method, queryParams and withoutHeaders combine with AND inside a block', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {
            match: [
              {
                uri: {prefix: '/reviews'},
                method: {exact: 'GET'},
                queryParams: {id: {exact: '7'}},
                withoutHeaders: {'x-canary': {}},
              },
            ],
            route: [{destination: {host: 'reviews', subset: 'v3'}}],
          },
          {route: [{destination: {host: 'reviews', subset: 'v1'}}]},
        ],
      }),
    )
    assert.match(await podOf('http://reviews:9080/reviews/0?id=7'), /^reviews-v3/)
    assert.match(await podOf('http://reviews:9080/reviews/0?id=7', {'x-canary': '1'}), /^reviews-v1/)
    assert.match(await podOf('http://reviews:9080/other?id=7'), /^reviews-v1/)
  })

  it('no route matched gives 404 with flag NR (Envoy route_not_found)', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {match: [{headers: {'end-user': {exact: 'jason'}}}], route: [{destination: {host: 'reviews', subset: 'v2'}}]},
        ],
      }),
    )
    const r = await send(port, REVIEWS)
    assert.equal(r.status, 404)
  })

  it('subset labels select endpoints; a subset no DestinationRule defines gives 503 NC', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [{route: [{destination: {host: 'reviews', subset: 'v9'}}]}],
      }),
    )
    const r = await send(port, REVIEWS)
    assert.equal(r.status, 503)
    const metrics = await mesh.sidecar('productpage-v1-5d9b6f7c8d-abcde')?.metricsText()
    assert.match(metrics ?? '', /response_code="503"[^}]*response_flags="NC"/)
  })

  it('weighted destinations split by weight / sum within the 99.9% binomial bound', async () => {
    await mesh.close()
    ;({mesh, port} = await startMesh(topology, config, {random: seededRandom(0x5eed)}))
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {
            route: [
              {destination: {host: 'reviews', subset: 'v1'}, weight: 1},
              {destination: {host: 'reviews', subset: 'v3'}, weight: 3},
            ],
          },
        ],
      }),
    )
    const n = 1000
    let v3 = 0
    for (let i = 0; i < n; i++) if ((await podOf(REVIEWS)).startsWith('reviews-v3')) v3++
    const p = 0.75
    const sd = Math.sqrt(n * p * (1 - p))
    assert.ok(Math.abs(v3 - n * p) <= 3.29 * sd, `v3 got ${v3} of ${n}, expected ${n * p} ± ${(3.29 * sd).toFixed(1)}`)
  }).timeout(30_000)

  it('a VirtualService bound only to gateways does not apply to sidecars', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        gateways: ['bookinfo-gateway'],
        http: [{route: [{destination: {host: 'reviews', subset: 'v9'}}]}],
      }),
    )
    assert.equal((await send(port, REVIEWS)).status, 200)
  })

  it('exportTo "." hides a VirtualService from sidecars in other namespaces', async () => {
    config.apply(
      virtualService(
        'reviews',
        {
          hosts: ['reviews.default.svc.cluster.local'],
          exportTo: ['.'],
          http: [{route: [{destination: {host: 'reviews', subset: 'v9'}}]}],
        },
        'other',
      ),
    )
    assert.equal(
      (await send(port, REVIEWS)).status,
      200,
      'a VS in namespace other exported to "." is invisible to default',
    )
    config.apply(
      virtualService(
        'reviews',
        {
          hosts: ['reviews.default.svc.cluster.local'],
          exportTo: ['*'],
          http: [{route: [{destination: {host: 'reviews.default.svc.cluster.local', subset: 'v9'}}]}],
        },
        'other',
      ),
    )
    assert.equal((await send(port, REVIEWS)).status, 503)
  })

  it('sourceLabels select which sidecars get a route', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {match: [{sourceLabels: {app: 'someone-else'}}], route: [{destination: {host: 'reviews', subset: 'v9'}}]},
          {route: [{destination: {host: 'reviews', subset: 'v2'}}]},
        ],
      }),
    )
    assert.match(await podOf(REVIEWS), /^reviews-v2/)
  })

  // istio 1.30.3 pilot/pkg/networking/core/route/route.go: "no routes matched" → no virtual host from that VirtualService.
  it('a VirtualService whose rules all drop out for this sidecar is skipped: the default route applies, not 404 NR', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {match: [{sourceLabels: {app: 'someone-else'}}], route: [{destination: {host: 'reviews', subset: 'v2'}}]},
          {match: [{port: 8080}], route: [{destination: {host: 'reviews', subset: 'v2'}}]},
        ],
      }),
    )
    const seen = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const r = await send(port, REVIEWS)
      assert.equal(r.status, 200)
      seen.add(JSON.parse(r.body).pod)
    }
    assert.equal(seen.size, 3, 'the default route balances over every reviews pod')
  })

  it("VirtualServices in several namespaces follow Istio's precedence: the proxy namespace's private one beats an older public one elsewhere", async () => {
    // Exact host first, then private (exportTo "."), exported by name, public; oldest first in each tier.
    config.apply({
      ...virtualService(
        'reviews-public',
        {
          hosts: ['reviews.default.svc.cluster.local'],
          http: [{route: [{destination: {host: 'reviews.default.svc.cluster.local', subset: 'v1'}}]}],
        },
        'other',
      ),
      metadata: {name: 'reviews-public', namespace: 'other', creationTimestamp: '2026-01-01T00:00:00Z'},
    })
    config.apply({
      ...virtualService('reviews-private', {
        hosts: ['reviews'],
        exportTo: ['.'],
        http: [{route: [{destination: {host: 'reviews', subset: 'v3'}}]}],
      }),
      metadata: {name: 'reviews-private', namespace: 'default', creationTimestamp: '2026-02-01T00:00:00Z'},
    })
    assert.match(await podOf(REVIEWS), /^reviews-v3/)
  })

  it('adds x-request-id and x-forwarded-proto, strips hop-by-hop headers, returns x-envoy-upstream-service-time', async () => {
    const r = await send(port, RATINGS, {'proxy-connection': 'keep-alive', 'x-b3-traceid': 'abc'})
    const seen = JSON.parse(r.body).headers as Record<string, string>
    assert.match(seen['x-request-id'] ?? '', /^[0-9a-f-]{36}$/)
    assert.equal(seen['x-forwarded-proto'], 'http')
    assert.equal(seen['proxy-connection'], undefined)
    assert.equal(seen['x-b3-traceid'], 'abc', 'application headers pass through')
    assert.equal(seen['host'], 'ratings:9080')
    assert.match(String(r.headers['x-envoy-upstream-service-time']), /^\d+$/)
    assert.equal(r.headers['server'], 'envoy')
    const kept = JSON.parse((await send(port, RATINGS, {'x-request-id': 'mine'})).body).headers['x-request-id']
    assert.equal(kept, 'mine')
  })

  it('request bodies are forwarded (and buffered for retries)', async () => {
    const r = await send(port, RATINGS, {'content-type': 'text/plain'}, 'POST', 'hello')
    assert.equal(r.status, 200)
    assert.equal(
      stat(
        mesh,
        'productpage-v1-5d9b6f7c8d-abcde',
        'cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_200',
      ),
      1,
    )
  })

  it('route header operations, rewrite and redirect behave as Istio translates them', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {match: [{uri: {prefix: '/old'}}], redirect: {uri: '/new', authority: 'reviews:9080'}},
          {
            match: [{uri: {prefix: '/v1api'}}],
            rewrite: {uri: '/reviews'},
            headers: {request: {set: {'x-set': 'yes'}, remove: ['x-drop']}, response: {add: {'x-added': 'r'}}},
            route: [{destination: {host: 'reviews', subset: 'v1'}}],
          },
          {route: [{destination: {host: 'reviews', subset: 'v2'}}]},
        ],
      }),
    )
    const moved = await send(port, 'http://reviews:9080/old/1')
    assert.equal(moved.status, 301)
    assert.equal(moved.headers['location'], 'http://reviews:9080/new')
    const r = await send(port, 'http://reviews:9080/v1api/7?x=1', {'x-drop': '1'})
    const seen = JSON.parse(r.body).headers as Record<string, string>
    assert.equal(seen['x-set'], 'yes')
    assert.equal(seen['x-drop'], undefined)
    assert.equal(r.headers['x-added'], 'r')
    assert.equal(JSON.parse(r.body).url, '/reviews/7?x=1', 'the matched prefix is replaced')
  })

  it('destination_service is the routed destination, not the requested host', async () => {
    topology.service('reviews-v2')
    config.apply(
      virtualService('reviews', {hosts: ['reviews'], http: [{route: [{destination: {host: 'reviews-v2'}}]}]}),
    )
    await mesh.addSidecar(await topology.pod('reviews-v2-6b7c9d8f5c-extra', {app: 'reviews-v2', version: 'v2'}))
    assert.equal((await send(port, REVIEWS)).status, 200)
    const metrics = await mesh.sidecar('productpage-v1-5d9b6f7c8d-abcde')?.metricsText()
    assert.match(metrics ?? '', /destination_service="reviews-v2.default.svc.cluster.local"/)
  })

  it('a VirtualService with a regex RE2 rejects is left out (istiod would reject it; Envoy would NACK it)', async () => {
    config.apply(
      virtualService('reviews', {
        hosts: ['reviews'],
        http: [
          {match: [{headers: {'x-user': {regex: '(?<=a)b'}}}], route: [{destination: {host: 'reviews', subset: 'v9'}}]},
        ],
      }),
    )
    assert.equal((await send(port, REVIEWS)).status, 200, 'default route, no crash')
  })
})
