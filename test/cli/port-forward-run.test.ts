/**
 * A port-forward entry that drops mid-run, through the real runner: the load goes through a
 * ServiceForwarder to a fake productpage; in the fault phase its only pod goes away, the requests
 * are answered 502 and counted as `port-forward lost: no ready pod`, and once the forward has been
 * lost for lostAfterMs the run aborts (exit 3) with that reason and reverts its fault — what
 * `chaos run --entry portForward` wires through runSignal (src/cli/way-in.ts).
 */
import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {type AddressInfo, connect, type Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import type {PodStream, PodSummary, ServiceSummary} from '../../src/cluster/cluster.js'
import {type ForwardingCluster, ServiceForwarder} from '../../src/cli/port-forward.js'
import {runSignal} from '../../src/cli/way-in.js'
import type {Experiment} from '../../src/experiment/model.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {EventStream} from '../../src/journal/events.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

const RATINGS: VirtualService = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}]},
}

/** productpage's one pod behind the fake API server's pods/portforward; `alive = false` takes it away. */
class OnePodForwarding implements ForwardingCluster {
  alive = true
  readonly sockets = new Set<Socket>()
  constructor(private readonly port: number) {}

  async listServices(): Promise<ServiceSummary[]> {
    return [
      {
        name: 'productpage',
        namespace: 'default',
        type: 'ClusterIP',
        ports: [9080],
        selector: {app: 'productpage'},
        targetPorts: {9080: 9080},
      },
    ]
  }

  async listPods(): Promise<PodSummary[]> {
    return this.alive
      ? [
          {
            name: 'productpage-v1-a',
            namespace: 'default',
            labels: {app: 'productpage'},
            containers: ['productpage'],
            ready: true,
          },
        ]
      : []
  }

  async openPortForward(_namespace: string, pod: string): Promise<PodStream> {
    if (!this.alive) throw new Error(`pods "${pod}" not found`)
    const socket = connect({host: '127.0.0.1', port: this.port})
    this.sockets.add(socket)
    const data = new PassThrough()
    const input = new PassThrough()
    socket.pipe(data)
    input.pipe(socket)
    socket.on('error', () => undefined)
    const ended = new Promise<string | undefined>(resolve => socket.on('close', () => resolve(undefined)))
    return {data, input, ended, close: () => socket.destroy()}
  }

  /** The pod goes: the list no longer has it, new streams are refused, open ones drop. */
  kill(): void {
    this.alive = false
    for (const s of this.sockets) s.destroy()
  }
}

describe('--entry portForward: a forward lost mid-run (runner, fake cluster)', function () {
  this.timeout(30_000)
  let server: Server

  before(async () => {
    server = createServer((_req, res) => res.writeHead(200).end('ok'))
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  })
  after(() => server.close())

  it('reconnecting fails: the requests say "port-forward lost", then the run aborts (exit 3) with the reason and reverts', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const forwarding = new OnePodForwarding((server.address() as AddressInfo).port)
    const lost = new AbortController()
    const forwarder = await ServiceForwarder.start(
      forwarding,
      {service: 'productpage', namespace: 'default', port: 9080},
      {onLost: reason => lost.abort(reason), lostAfterMs: 1500, connectMs: 200, backoffMs: 20},
    )
    const experiment: Experiment = {
      apiVersion: 'faultline.dev/v1alpha1',
      kind: 'Experiment',
      metadata: {name: 'ratings-delay'},
      spec: {
        faults: [
          {
            service: 'ratings',
            match: {headers: {'x-chaos-test': {exact: 'true'}}},
            delay: {fixedDelay: '7s', percentage: 100},
          },
        ],
        phases: {baseline: '1s', fault: '20s', recovery: '1s'},
        load: {
          url: `${forwarder.origin}/productpage`,
          entry: {portForward: {service: 'productpage', port: 9080}},
          traffic: [
            {name: 'targeted', rate: '20/s', headers: {'x-chaos-test': 'true'}},
            {name: 'control', rate: '20/s'},
          ],
        },
        steadyState: [{name: 'control is fine', traffic: 'control', thresholds: {http_req_failed: ['rate<0.5']}}],
      },
    }
    const events = new EventStream()
    events.subscribe(e => {
      if (e.kind === 'fault-applied') setTimeout(() => forwarding.kill(), 500)
    })
    try {
      const result = await runExperiment({
        file: 'x.yaml',
        experiment,
        cluster,
        namespace: 'default',
        driver: new BuiltinDriver(),
        reportDir: mkdtempSync(join(tmpdir(), 'faultline-pf-')),
        signal: runSignal(new AbortController().signal, {lost: lost.signal}),
        events,
        ignition: false,
      })
      assert.equal(result.outcome, 'aborted', result.reason)
      assert.equal(result.exitCode, 3)
      assert.match(
        result.reason,
        /^port-forward lost: no stream to a ready pod of Service default\/productpage could be opened for \d+ s \(last: no ready pod of default\/productpage\); faults were reverted$/,
      )
      assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, RATINGS.spec, 'reverted')
      const reasons: Record<string, number> = {}
      for (const seconds of Object.values(result.journal.load))
        for (const s of seconds)
          for (const [r, n] of Object.entries(s.reasons ?? {})) reasons[r] = (reasons[r] ?? 0) + n
      assert.ok((reasons['port-forward lost: no ready pod'] ?? 0) > 0, JSON.stringify(reasons))
      assert.ok(forwarder.counts.refused > 0)
    } finally {
      await forwarder.close()
    }
  })
})
