/**
 * A gateway entry whose fault the gateway applies: the gateway is the calling proxy, so its fault
 * counters, in the gateway's namespace, are the only ones that move. What the ignition check and
 * the fault phase's evidence read there, and what a refusal there (403) does to the run.
 */
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {Experiment} from '../../src/experiment/model.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {EventStream, type RunEvent} from '../../src/journal/events.js'
import {gatewayNamespaces, readFaultCountersWith} from '../../src/runner/evidence.js'
import {ignite} from '../../src/runner/ignition.js'
import {Reverter} from '../../src/runner/revert.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

/** Bookinfo's gateway-bound VirtualService: the gateway calls productpage, no sidecar of `default` does. */
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

function experiment(url: string): Experiment {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {name: 'productpage-abort'},
    spec: {
      faults: [
        {
          service: 'productpage',
          match: {headers: {'x-chaos-test': {exact: 'true'}}},
          abort: {httpStatus: 503, percentage: 100},
        },
      ],
      phases: {baseline: '1s', fault: '1s', recovery: '1s'},
      load: {
        url,
        entry: {gateway: {service: 'istio-ingressgateway'}, host: 'bookinfo.example.com'},
        traffic: [
          {name: 'targeted', rate: '10/s', headers: {'x-chaos-test': 'true'}},
          {name: 'control', rate: '10/s'},
        ],
      },
      steadyState: [],
    },
  }
}

const stats = (delays: number) =>
  `http.outbound_0.0.0.0_9080;.fault.delays_injected: ${delays}\nhttp.outbound_0.0.0.0_9080;.fault.aborts_injected: 0\n`
const prometheus = (delays: number) =>
  `envoy_http_fault_delays_injected{http_conn_manager_prefix="outbound_0.0.0.0_9080"} ${delays}\n`

/**
 * Bookinfo behind Istio's ingress gateway: productpage's sidecar in `default` (which calls no faulted
 * host, so never counts) and the gateway's proxy in istio-system, which counts a fault whenever a
 * targeted request arrives while bookinfo's gateway-bound VirtualService carries a fault route.
 */
async function gatewayMesh(cluster: FakeCluster): Promise<{url: string; server: Server}> {
  cluster.seed(BOOKINFO)
  cluster.pods.push(
    {
      name: 'productpage-v1-a',
      namespace: 'default',
      labels: {app: 'productpage'},
      containers: ['productpage', 'istio-proxy'],
      ready: true,
    },
    {
      name: 'istio-ingressgateway-b',
      namespace: 'istio-system',
      labels: {app: 'istio-ingressgateway'},
      containers: ['istio-proxy'],
      ready: true,
    },
  )
  let delays = 0
  const setStats = () => {
    cluster.stats.set('istio-ingressgateway-b', stats(delays))
    cluster.prometheusStats.set('istio-ingressgateway-b', prometheus(delays))
  }
  cluster.stats.set('productpage-v1-a', stats(0))
  cluster.prometheusStats.set('productpage-v1-a', prometheus(0))
  setStats()
  const server = createServer((req, res) => {
    const faulted = (cluster.objects.get('default/bookinfo')?.spec.http ?? []).some(
      r => r.fault !== undefined && r.match?.some(m => m.headers?.['x-chaos-test'] !== undefined),
    )
    if (faulted && req.headers['x-chaos-test'] === 'true') {
      delays++
      setStats()
    }
    res.writeHead(200).end('ok')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/productpage`}
}

/** What the gateway's Role of a scheduled run (list services, list pods, pods/portforward) did not grant in istio-system: both ways of reading a sidecar's stats. */
const REFUSED_IN_GATEWAY = ['get pods/proxy', 'get pods/exec', 'create pods/exec']

describe('a gateway entry whose fault the gateway applies: reading the counters in its namespace', function () {
  this.timeout(30_000)

  it('the ignition check and the evidence read istio-system: its pods listed, each proxy read through the pod proxy', async () => {
    const cluster = new FakeCluster()
    const m = await gatewayMesh(cluster)
    try {
      const e = experiment(m.url)
      assert.deepEqual(gatewayNamespaces(e, 'default'), ['istio-system'])
      const check = await ignite({
        experiment: e,
        cluster,
        namespace: 'default',
        runId: 'run1',
        existing: await cluster.listVirtualServices('default'),
        reverter: new Reverter(cluster, 'run1'),
        revertTimeoutMs: 5000,
      })
      assert.equal(check.status, 'ok', check.message)
      assert.ok(cluster.podProxyGets.includes('istio-system/istio-ingressgateway-b:15090/stats/prometheus'))
      const read = await readFaultCountersWith(cluster, 'default', undefined, ['istio-system'])
      assert.deepEqual([...read.byPod.keys()].sort(), ['istio-system/istio-ingressgateway-b', 'productpage-v1-a'])
    } finally {
      m.server.close()
    }
  })

  it('refused in istio-system, the ignition check alone cannot see the gateway count the fault, and blames the header', async () => {
    const cluster = new FakeCluster()
    for (const p of REFUSED_IN_GATEWAY) cluster.denied.add(`${p} in istio-system`)
    const m = await gatewayMesh(cluster)
    try {
      const check = await ignite({
        experiment: experiment(m.url),
        cluster,
        namespace: 'default',
        runId: 'run1',
        existing: await cluster.listVirtualServices('default'),
        reverter: new Reverter(cluster, 'run1'),
        revertTimeoutMs: 5000,
      })
      assert.equal(check.status, 'failed')
      assert.match(check.message, /the targeted header does not reach productpage's callers/)
    } finally {
      m.server.close()
    }
  })

  it("so preflight's permission check stops such a run first (exit 4), naming the namespace, before anything is written", async () => {
    const cluster = new FakeCluster()
    for (const p of REFUSED_IN_GATEWAY) cluster.denied.add(`${p} in istio-system`)
    const m = await gatewayMesh(cluster)
    try {
      const events = new EventStream()
      const seen: RunEvent[] = []
      events.subscribe(e => seen.push(e))
      const result = await runExperiment({
        file: 'x.yaml',
        experiment: experiment(m.url),
        cluster,
        namespace: 'default',
        driver: new BuiltinDriver(),
        reportDir: mkdtempSync(join(tmpdir(), 'faultline-ignition-gateway-')),
        signal: new AbortController().signal,
        events,
      })
      assert.equal(result.exitCode, 4, result.reason)
      assert.match(
        result.reason,
        /not allowed in istio-system, where the gateway istio-ingressgateway applies the fault on productpage: get pods\/proxy \(or, to read sidecar stats by exec instead, get pods\/exec and create pods\/exec\)/,
      )
      assert.ok(!seen.some(e => e.kind === 'preflight' && e.check === 'ignition'), 'the ignition check never ran')
      assert.deepEqual(cluster.writes, [])
    } finally {
      m.server.close()
    }
  })

  it('exec granted there is enough, though the target namespace reads through the pod proxy', async () => {
    const cluster = new FakeCluster()
    cluster.denied.add('get pods/proxy in istio-system')
    const m = await gatewayMesh(cluster)
    try {
      const check = await ignite({
        experiment: experiment(m.url),
        cluster,
        namespace: 'default',
        runId: 'run1',
        existing: await cluster.listVirtualServices('default'),
        reverter: new Reverter(cluster, 'run1'),
        revertTimeoutMs: 5000,
      })
      assert.equal(check.status, 'ok', check.message)
      assert.ok(cluster.podProxyGets.some(g => g.startsWith('default/')))
      assert.ok(cluster.execs.some(g => g.startsWith('istio-system/istio-ingressgateway-b ')))
    } finally {
      m.server.close()
    }
  })

  it('in the fault phase a refusal there is tolerated: the target namespace is still read, the gateway adds nothing', async () => {
    const cluster = new FakeCluster()
    for (const p of REFUSED_IN_GATEWAY) cluster.denied.add(`${p} in istio-system`)
    const m = await gatewayMesh(cluster)
    try {
      const read = await readFaultCountersWith(cluster, 'default', undefined, ['istio-system'])
      assert.deepEqual([...read.byPod.keys()], ['productpage-v1-a'])
    } finally {
      m.server.close()
    }
  })
})
