import assert from 'node:assert/strict'

import {
  DEFAULT_GATEWAY,
  chosenEntry,
  entryProxy,
  gatewayAddress,
  parseEntryFlag,
  throughGateway,
} from '../../src/cli/entry.js'
import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import type {Experiment} from '../../src/experiment/model.js'
import {enteredGateways, throughGatewayEntry} from '../../src/faults/entry-gateways.js'
import {planExperiment} from '../../src/faults/experiment-plan.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {preflight} from '../../src/runner/preflight.js'
import {FakeCluster} from '../fakes/cluster.js'

const UA = {'user-agent': {exact: 'faultline-chaos-test'}}

function experiment(service: string, entry?: Experiment['spec']['load']['entry']): Experiment {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {name: 'e'},
    spec: {
      faults: [{service, match: {headers: UA}, delay: {fixedDelay: '1s', percentage: 100}}],
      phases: {baseline: '5s', fault: '5s', recovery: '5s'},
      load: {
        url: 'http://productpage:9080/productpage?u=normal',
        traffic: [
          {name: 'targeted', rate: '5/s', headers: {'user-agent': 'faultline-chaos-test'}},
          {name: 'control', rate: '5/s'},
        ],
        ...(entry === undefined ? {} : {entry}),
      },
      steadyState: [
        {name: 'page', http: {url: 'http://productpage:9080/productpage', expect: {status: 200}}},
        {name: 'other', http: {url: 'http://details:9080/details/0', expect: {status: 200}}},
        {name: 'control', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}},
      ],
    },
  }
}

const BOOKINFO: VirtualService = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'bookinfo', namespace: 'default'},
  spec: {
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: [
      {match: [{uri: {exact: '/productpage'}}], route: [{destination: {host: 'productpage', port: {number: 9080}}}]},
    ],
  },
}

describe('--entry and spec.load.entry: the gateway', () => {
  it("parses gateway, gateway=URL and keeps the experiment's gateway entry", () => {
    assert.deepEqual(parseEntryFlag('gateway'), {gateway: DEFAULT_GATEWAY})
    assert.deepEqual(parseEntryFlag('gateway=http://203.0.113.10'), {url: 'http://203.0.113.10'})
    const spec = {gateway: {service: 'edge'}, host: 'bookinfo.example.com'}
    assert.deepEqual(parseEntryFlag('gateway', spec), spec)
    assert.deepEqual(parseEntryFlag('gateway=http://10.0.0.1:8080', spec), {
      url: 'http://10.0.0.1:8080',
      host: 'bookinfo.example.com',
    })
    assert.throws(() => parseEntryFlag('gateway=nope'), /gateway= needs an http/)
    assert.deepEqual(chosenEntry(undefined, spec), spec)
    assert.equal(
      entryProxy({url: 'http://x'}, 'http://sandbox-proxy'),
      undefined,
      'through a gateway, not the sandbox proxy',
    )
    assert.equal(entryProxy(undefined, 'http://sandbox-proxy'), 'http://sandbox-proxy')
  })

  it("--entry portForward=SERVICE[.NAMESPACE]:PORT; bare: the experiment's own, else the load URL's Service; malformed: exit 2 with an example", () => {
    assert.deepEqual(parseEntryFlag('portForward=productpage:9080'), {
      portForward: {service: 'productpage', port: 9080},
    })
    assert.deepEqual(parseEntryFlag('portForward=productpage.bookinfo:9080'), {
      portForward: {service: 'productpage', namespace: 'bookinfo', port: 9080},
    })
    assert.deepEqual(parseEntryFlag('portForward', undefined, 'http://productpage:9080/productpage'), {
      portForward: {service: 'productpage', port: 9080},
    })
    assert.deepEqual(parseEntryFlag('portForward', undefined, 'http://reviews.shop.svc.cluster.local/x'), {
      portForward: {service: 'reviews', namespace: 'shop', port: 80},
    })
    const spec = {portForward: {service: 'edge', port: 8080}}
    assert.deepEqual(parseEntryFlag('portForward', spec, 'http://productpage:9080/'), spec)
    assert.equal(entryProxy(spec, 'http://sandbox-proxy'), undefined, 'through the port-forward, not the sandbox proxy')
    const usage = (re: RegExp) => (e: unknown) =>
      e instanceof FaultlineError &&
      e.exitCode === ExitCode.Invalid &&
      re.test(e.message) &&
      /portForward=productpage:9080/.test(e.hint ?? '')
    for (const bad of [
      'portForward=productpage',
      'portForward=productpage:0',
      'portForward=productpage:70000',
      'portForward=Product:80',
      'portForward=a.b.c:80',
      'portForward=:80',
    ]) {
      assert.throws(() => parseEntryFlag(bad), usage(/portForward= needs SERVICE\[\.NAMESPACE\]:PORT/), bad)
    }
    assert.throws(
      () => parseEntryFlag('portForward', undefined, 'http://127.0.0.1:9080/'),
      usage(/which Service\? The load URL http:\/\/127\.0\.0\.1:9080\/ names none/),
    )
    assert.throws(
      () => parseEntryFlag('tunnel=x'),
      (e: unknown) =>
        e instanceof FaultlineError && e.exitCode === ExitCode.Invalid && /portForward=SERVICE/.test(e.hint ?? ''),
    )
  })

  it('a portForward entry is not a gateway: no Gateways entered, no gateway-applied faults', () => {
    assert.equal(enteredGateways({portForward: {service: 'productpage', port: 9080}}, [BOOKINFO], 'default'), undefined)
    assert.ok(!throughGatewayEntry(experiment('x', {portForward: {service: 'productpage', port: 9080}})))
  })

  it("resolves the address from the Service's load-balancer status; none is exit 4 that says so", async () => {
    const cluster = new FakeCluster()
    cluster.services.push({
      name: 'istio-ingressgateway',
      namespace: 'istio-system',
      type: 'LoadBalancer',
      ports: [80, 443],
      loadBalancer: ['203.0.113.10'],
    })
    const origin = async (...args: Parameters<typeof gatewayAddress>) => (await gatewayAddress(...args)).origin
    assert.equal(await origin({gateway: DEFAULT_GATEWAY}, cluster, undefined), 'http://203.0.113.10')
    assert.equal(
      await origin({gateway: {...DEFAULT_GATEWAY, port: 8080}}, cluster, undefined),
      'http://203.0.113.10:8080',
    )
    assert.equal(await origin({url: 'http://127.0.0.1:8080/ignored'}, cluster, undefined), 'http://127.0.0.1:8080')
    assert.equal(
      await origin({gateway: DEFAULT_GATEWAY}, cluster, 'http://127.0.0.1:31380'),
      'http://127.0.0.1:31380',
      "the sandbox's gateway",
    )
    cluster.services.pop()
    cluster.services.push({
      name: 'istio-ingressgateway',
      namespace: 'istio-system',
      type: 'LoadBalancer',
      ports: [80],
      selector: {istio: 'ingressgateway'},
      targetPorts: {80: 8080},
    })
    await assert.rejects(
      gatewayAddress({gateway: DEFAULT_GATEWAY}, cluster, undefined),
      (e: unknown) =>
        e instanceof FaultlineError &&
        e.exitCode === ExitCode.CouldNotRun &&
        /has no load-balancer address in its status, and this cluster connection cannot port-forward/.test(e.message) &&
        /kubectl port-forward -n istio-system svc\/istio-ingressgateway 8080:80/.test(e.hint ?? ''),
    )
    await assert.rejects(
      gatewayAddress({gateway: {service: 'nope'}}, cluster, undefined),
      /no Service istio-system\/nope/,
    )
  })

  it("without a load-balancer address, a port-forward to a ready gateway pod (the Service port's targetPort), closed at the end", async () => {
    const forwards: string[] = []
    let closed = 0
    const cluster = Object.assign(new FakeCluster(), {
      portForward: async (namespace: string, pod: string, port: number) => {
        forwards.push(`${namespace}/${pod}:${port}`)
        return {port: 40123, close: async () => void closed++}
      },
    })
    cluster.services.push({
      name: 'istio-ingressgateway',
      namespace: 'istio-system',
      type: 'LoadBalancer',
      ports: [80],
      selector: {istio: 'ingressgateway'},
      targetPorts: {80: 8080},
    })
    await assert.rejects(gatewayAddress({gateway: DEFAULT_GATEWAY}, cluster, undefined), /no pod matches its selector/)
    cluster.pods.push({
      name: 'istio-ingressgateway-1',
      namespace: 'istio-system',
      labels: {istio: 'ingressgateway'},
      containers: ['istio-proxy'],
      ready: false,
    })
    cluster.pods.push({
      name: 'istio-ingressgateway-2',
      namespace: 'istio-system',
      labels: {istio: 'ingressgateway'},
      containers: ['istio-proxy'],
      ready: true,
    })
    const got = await gatewayAddress({gateway: DEFAULT_GATEWAY}, cluster, undefined)
    assert.equal(got.origin, 'http://127.0.0.1:40123')
    assert.match(got.via, /a port-forward to istio-system\/istio-ingressgateway-2:8080/)
    assert.deepEqual(forwards, ['istio-system/istio-ingressgateway-2:8080'])
    await got.close?.()
    assert.equal(closed, 1)
    cluster.services[cluster.services.length - 1]!.targetPorts = {80: 'http2'}
    await assert.rejects(
      gatewayAddress({gateway: DEFAULT_GATEWAY}, cluster, undefined),
      /targets the named port "http2"/,
    )
  })

  it("sends the load and the HTTP probes on the load's origin to the gateway with the Host it routes", () => {
    const sent = throughGateway(experiment('ratings'), 'http://203.0.113.10', {
      gateway: DEFAULT_GATEWAY,
      host: 'bookinfo.example.com',
    })
    assert.equal(sent.spec.load.url, 'http://203.0.113.10/productpage?u=normal')
    assert.deepEqual(
      sent.spec.load.traffic.map(t => t.headers),
      [{'user-agent': 'faultline-chaos-test', host: 'bookinfo.example.com'}, {host: 'bookinfo.example.com'}],
    )
    const http = sent.spec.steadyState.flatMap(p => ('http' in p ? [p.http] : []))
    assert.deepEqual(
      http.map(h => [h.url, h.headers?.['host']]),
      [
        ['http://203.0.113.10/productpage', 'bookinfo.example.com'],
        ['http://details:9080/details/0', undefined],
      ],
    )
    const defaultHost = throughGateway(experiment('ratings'), 'http://203.0.113.10', {url: 'http://203.0.113.10'})
    assert.equal(defaultHost.spec.load.traffic[0]?.headers?.['host'], 'productpage:9080')
  })

  it("the Gateways entered: the entry's, else every one the namespace's VirtualServices name", () => {
    assert.equal(enteredGateways(undefined, [BOOKINFO], 'default'), undefined)
    assert.equal(enteredGateways({proxy: 'http://p'}, [BOOKINFO], 'default'), undefined)
    assert.deepEqual(enteredGateways({gateway: DEFAULT_GATEWAY}, [BOOKINFO], 'default'), ['default/bookinfo-gateway'])
    assert.deepEqual(
      enteredGateways({url: 'http://x', gateways: ['istio-system/public', 'private']}, [BOOKINFO], 'default'),
      ['istio-system/public', 'default/private'],
    )
    assert.ok(throughGatewayEntry(experiment('x', {url: 'http://x'})))
    assert.ok(!throughGatewayEntry(experiment('x', {proxy: 'http://x'})))
  })

  it('chaos plan with a gateway entry writes the productpage fault into the gateway-bound VirtualService and says so', () => {
    const plan = planExperiment({
      experiment: experiment('productpage', {gateway: DEFAULT_GATEWAY}),
      existing: [BOOKINFO],
      runId: 'r1',
      now: new Date(),
      namespace: 'default',
    })
    const gw = plan.objects.find(o => o.desired.metadata.name === 'bookinfo')
    assert.equal(gw?.desired.spec.http?.[0]?.fault?.delay?.fixedDelay, '1s')
    assert.deepEqual(gw?.desired.spec.http?.[0]?.match?.[0]?.gateways, ['bookinfo-gateway'])
    assert.match(gw?.notes.join('\n') ?? '', /is applied in the gateway default\/bookinfo-gateway/)
    const without = planExperiment({
      experiment: experiment('productpage'),
      existing: [BOOKINFO],
      runId: 'r1',
      now: new Date(),
      namespace: 'default',
    })
    assert.equal(
      without.objects.find(o => o.desired.metadata.name === 'bookinfo'),
      undefined,
    )
  })

  it('preflight: a fault on the service the load goes straight to is an exit-4 finding; through a gateway it is not', async () => {
    const cluster = new FakeCluster()
    const exp = experiment('productpage')
    const plan = planExperiment({experiment: exp, existing: [], runId: 'r1', now: new Date(), namespace: 'default'})
    const direct = await preflight({
      experiment: exp,
      cluster,
      namespace: 'default',
      plan,
      prometheus: undefined,
      loadThroughMesh: false,
      now: new Date(),
    })
    const entry = direct.find(c => c.check === 'entry')
    assert.equal(entry?.status, 'failed')
    assert.match(
      entry?.message ?? '',
      /spec\.faults\[0\] on productpage cannot fire: the load goes straight to productpage:9080, not through a sidecar or a gateway/,
    )
    assert.match(entry?.hint ?? '', /--entry gateway/)
    const meshed = await preflight({
      experiment: exp,
      cluster,
      namespace: 'default',
      plan,
      prometheus: undefined,
      loadThroughMesh: true,
      now: new Date(),
    })
    assert.equal(
      meshed.find(c => c.check === 'entry'),
      undefined,
    )
    const further = experiment('ratings')
    const p2 = planExperiment({experiment: further, existing: [], runId: 'r1', now: new Date(), namespace: 'default'})
    assert.equal(
      (
        await preflight({
          experiment: further,
          cluster,
          namespace: 'default',
          plan: p2,
          prometheus: undefined,
          loadThroughMesh: false,
          now: new Date(),
        })
      ).find(c => c.check === 'entry'),
      undefined,
    )
  })

  it('preflight: through a port-forward a fault on the forwarded Service cannot fire (exit 4, what to do); one on a service it calls can', async () => {
    const cluster = new FakeCluster()
    const forwarded = {...experiment('productpage', {portForward: {service: 'productpage', port: 9080}})}
    forwarded.spec.load = {...forwarded.spec.load, url: 'http://127.0.0.1:41000/productpage?u=normal'} // as the way in rewrites it
    const plan = planExperiment({
      experiment: forwarded,
      existing: [],
      runId: 'r1',
      now: new Date(),
      namespace: 'default',
    })
    const checks = await preflight({
      experiment: forwarded,
      cluster,
      namespace: 'default',
      plan,
      prometheus: undefined,
      loadThroughMesh: false,
      now: new Date(),
    })
    const entry = checks.find(c => c.check === 'entry')
    assert.equal(entry?.status, 'failed')
    assert.match(
      entry?.message ?? '',
      /spec\.faults\[0\] on productpage cannot fire: the load enters through a port-forward to default\/productpage's pods, which reaches its application directly \(past its own sidecar/,
    )
    assert.match(entry?.hint ?? '', /Put the fault on a service productpage calls .* --entry gateway/)
    const ratings = experiment('ratings', {portForward: {service: 'productpage', port: 9080}})
    const p2 = planExperiment({experiment: ratings, existing: [], runId: 'r1', now: new Date(), namespace: 'default'})
    assert.equal(
      (
        await preflight({
          experiment: ratings,
          cluster,
          namespace: 'default',
          plan: p2,
          prometheus: undefined,
          loadThroughMesh: false,
          now: new Date(),
        })
      ).find(c => c.check === 'entry'),
      undefined,
    )
    // Another namespace's productpage is another host.
    const elsewhere = experiment('productpage', {portForward: {service: 'productpage', namespace: 'shop', port: 9080}})
    const p3 = planExperiment({experiment: elsewhere, existing: [], runId: 'r1', now: new Date(), namespace: 'default'})
    assert.equal(
      (
        await preflight({
          experiment: elsewhere,
          cluster,
          namespace: 'default',
          plan: p3,
          prometheus: undefined,
          loadThroughMesh: false,
          now: new Date(),
        })
      ).find(c => c.check === 'entry'),
      undefined,
    )
  })

  it('preflight: STRICT mTLS does not stop a port-forward entry (it lands past the sidecar that enforces it)', async () => {
    const cluster = new FakeCluster()
    cluster.facts = {
      peerAuthentications: [{metadata: {name: 'default', namespace: 'default'}, spec: {mtls: {mode: 'STRICT'}}}],
    }
    const check = async (entry: Experiment['spec']['load']['entry']) => {
      const exp = experiment('ratings', entry)
      const plan = planExperiment({experiment: exp, existing: [], runId: 'r1', now: new Date(), namespace: 'default'})
      return (
        await preflight({
          experiment: exp,
          cluster,
          namespace: 'default',
          plan,
          prometheus: undefined,
          loadThroughMesh: false,
          now: new Date(),
        })
      ).find(c => c.check === 'mtls')?.status
    }
    assert.equal(await check(undefined), 'failed', 'plaintext load from outside the mesh')
    assert.equal(await check({portForward: {service: 'productpage', port: 9080}}), undefined)
  })
})
