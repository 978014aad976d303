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
import {ignite, ignitionExperiment, ignitionNamespaces} from '../../src/runner/ignition.js'
import {Reverter} from '../../src/runner/revert.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

const RATINGS: VirtualService = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}]},
}

function experiment(url: string, header: string): Experiment {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {name: 'ratings-abort'},
    spec: {
      faults: [
        {service: 'ratings', match: {headers: {[header]: {exact: 'true'}}}, abort: {httpStatus: 503, percentage: 100}},
      ],
      phases: {baseline: '1s', fault: '1s', recovery: '1s'},
      load: {
        url,
        traffic: [
          {name: 'targeted', rate: '10/s', headers: {[header]: 'true'}},
          {name: 'control', rate: '10/s'},
        ],
      },
      steadyState: [{name: 'control is fine', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}}],
    },
  }
}

/**
 * A stand-in for bookinfo: the entry service forwards only `user-agent` to its callee (as the real
 * apps forward a fixed list), and the caller of ratings counts a fault when a request carrying a
 * matching header reaches it while a fault route is on ratings.
 */
async function mesh(cluster: FakeCluster): Promise<{url: () => string; server: Server}> {
  cluster.pods.push({
    name: 'reviews-v2-x',
    namespace: 'default',
    labels: {app: 'reviews'},
    containers: ['reviews', 'istio-proxy'],
    ready: true,
  })
  let delays = 0
  const setStats = () =>
    cluster.stats.set(
      'reviews-v2-x',
      `http.outbound_0.0.0.0_9080;.fault.delays_injected: ${delays}\nhttp.outbound_0.0.0.0_9080;.fault.aborts_injected: 0\n`,
    )
  setStats()
  const server = createServer((req, res) => {
    const route = (cluster.objects.get('default/ratings')?.spec.http ?? []).find(r => r.fault !== undefined)
    const forwarded = {'user-agent': req.headers['user-agent']}
    const match = Object.entries(route?.match?.[0]?.headers ?? {})
    if (route !== undefined && match.every(([k, m]) => forwarded[k as 'user-agent'] === (m as {exact: string}).exact)) {
      delays++
      setStats()
    }
    res.writeHead(200).end('ok')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {server, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/productpage`}
}

describe('the ignition check (will the fault fire?)', function () {
  this.timeout(30_000)

  it('writes every fault as a 1 ms delay on the same match, nothing else', () => {
    const e = ignitionExperiment(experiment('http://x/', 'user-agent'))
    assert.deepEqual(e.spec.faults, [
      {
        service: 'ratings',
        match: {headers: {'user-agent': {exact: 'true'}}},
        delay: {fixedDelay: '1ms', percentage: 100},
      },
    ])
  })

  it('passes when the calling sidecars count the targeted requests, and restores the VirtualService exactly', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(RATINGS)
    const m = await mesh(cluster)
    try {
      const reverter = new Reverter(cluster, 'run1')
      const check = await ignite({
        experiment: experiment(m.url(), 'user-agent'),
        cluster,
        namespace: 'default',
        runId: 'run1',
        existing: await cluster.listVirtualServices('default'),
        reverter,
        revertTimeoutMs: 5000,
      })
      assert.equal(check.status, 'ok', check.message)
      assert.match(
        check.message,
        /a 1 ms delay for the targeted match on ratings was counted by the calling sidecars \(\d+ of 10 targeted requests\), and reverted/,
      )
      assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
      assert.equal(reverter.size, 0)
    } finally {
      m.server.close()
    }
  })

  it('a header the apps do not forward stops the run at preflight: exit 4, the reason and the forwarded headers, nothing left', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(RATINGS)
    const m = await mesh(cluster)
    try {
      const events = new EventStream()
      const seen: RunEvent[] = []
      events.subscribe(e => seen.push(e))
      const result = await runExperiment({
        file: 'x.yaml',
        experiment: experiment(m.url(), 'x-chaos-test'),
        cluster,
        namespace: 'default',
        driver: new BuiltinDriver(),
        reportDir: mkdtempSync(join(tmpdir(), 'faultline-ignition-')),
        signal: new AbortController().signal,
        events,
      })
      assert.equal(result.exitCode, 4, result.reason)
      assert.equal(result.outcome, 'could-not-run')
      assert.match(
        result.reason,
        /the targeted header does not reach ratings's callers: a 1 ms delay for the targeted match was written \(and reverted\) and 30 targeted requests sent, and no calling sidecar counted one/,
      )
      assert.match(result.reason, /Real bookinfo forwards only .*user-agent, cookie, authorization, jwt/)
      const check = seen.find(e => e.kind === 'preflight' && e.check === 'ignition')
      assert.ok(check?.kind === 'preflight' && check.status === 'failed')
      assert.ok(
        !seen.some(e => e.kind === 'phase-started' || e.kind === 'fault-applied'),
        'no phase ran, no fault was applied',
      )
      assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
      assert.ok(
        ![...cluster.objects.values()].some(vs => vs.metadata.annotations?.['faultline.dev/run-id'] !== undefined),
        'no VirtualService carries the run',
      )
    } finally {
      m.server.close()
    }
  })

  it("through a gateway, the gateway's namespace is read too: Istio applies gateway-bound routes in the gateway", async () => {
    const plain = experiment('http://x/', 'user-agent')
    const viaGateway = (entry: NonNullable<Experiment['spec']['load']['entry']>): Experiment => ({
      ...plain,
      spec: {...plain.spec, load: {...plain.spec.load, entry}},
    })
    assert.deepEqual(ignitionNamespaces(plain, 'default'), ['default'])
    assert.deepEqual(
      ignitionNamespaces(
        viaGateway({gateway: {service: 'istio-ingressgateway', namespace: 'istio-system'}}),
        'default',
      ),
      ['default', 'istio-system'],
    )
    assert.deepEqual(ignitionNamespaces(viaGateway({gateway: {service: 'edge', namespace: 'ingress'}}), 'default'), [
      'default',
      'ingress',
    ])
    assert.deepEqual(ignitionNamespaces(viaGateway({url: 'http://127.0.0.1:30000'}), 'default'), [
      'default',
      'istio-system',
    ])
    assert.deepEqual(ignitionNamespaces(viaGateway({proxy: 'http://127.0.0.1:3128'}), 'default'), ['default'])
    // The proxy that counts the fault is the gateway's, in istio-system: without the gateway entry no counter can be read.
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const m = await mesh(cluster)
    const counting = cluster.pods.find(p => p.name === 'reviews-v2-x')!
    counting.namespace = 'istio-system'
    try {
      const check = (e: Experiment) =>
        ignite({
          experiment: e,
          cluster,
          namespace: 'default',
          runId: 'run1',
          existing: [RATINGS],
          reverter: new Reverter(cluster, 'run1'),
          revertTimeoutMs: 5000,
        })
      assert.equal(
        (await check(experiment(m.url(), 'user-agent'))).status,
        'warning',
        'no proxy in default: the check cannot tell',
      )
      const through = experiment(m.url(), 'user-agent')
      const ok = await check({...through, spec: {...through.spec, load: {...through.spec.load, entry: {url: m.url()}}}})
      assert.equal(ok.status, 'ok', ok.message)
    } finally {
      m.server.close()
    }
  })

  it('--no-ignition skips it (the run then goes on to the baseline)', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const m = await mesh(cluster)
    try {
      const events = new EventStream()
      const seen: RunEvent[] = []
      events.subscribe(e => seen.push(e))
      await runExperiment({
        file: 'x.yaml',
        experiment: experiment(m.url(), 'x-chaos-test'),
        cluster,
        namespace: 'default',
        driver: new BuiltinDriver(),
        reportDir: mkdtempSync(join(tmpdir(), 'faultline-ignition-')),
        signal: new AbortController().signal,
        events,
        ignition: false,
      })
      assert.ok(!seen.some(e => e.kind === 'preflight' && e.check === 'ignition'))
      assert.ok(seen.some(e => e.kind === 'phase-started' && e.phase === 'fault'))
      assert.ok(
        seen.some(e => e.kind === 'fault-not-fired'),
        'and the run itself then says the fault never fired',
      )
    } finally {
      m.server.close()
    }
  })
})
