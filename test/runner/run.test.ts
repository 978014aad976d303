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
import {carriesRun} from '../../src/runner/revert.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

const RATINGS: VirtualService = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}]},
}

function experiment(url: string, over: Partial<Experiment['spec']> = {}): Experiment {
  return {
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
      phases: {baseline: '1s', fault: '1s', recovery: '1s'},
      load: {
        url,
        traffic: [
          {name: 'targeted', rate: '20/s', headers: {'x-chaos-test': 'true'}},
          {name: 'control', rate: '20/s'},
        ],
      },
      steadyState: [{name: 'control is fast', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}}],
      ...over,
    },
  }
}

/** Called by the test server with every request's headers (the fake mesh's sidecar counts faulted ones). */
let onRequest: ((headers: Record<string, string | string[] | undefined>) => void) | undefined

/**
 * A fake mesh: while our fault is on the ratings VirtualService, the reviews sidecar's delay counter
 * rises, and at once for every targeted request (so the ignition check's few requests are counted).
 */
function meshOf(cluster: FakeCluster): () => void {
  cluster.pods.push({
    name: 'reviews-v2-x',
    namespace: 'default',
    labels: {app: 'reviews'},
    containers: ['reviews', 'istio-proxy'],
    ready: true,
  })
  let delays = 0
  const faultLive = () => (cluster.objects.get('default/ratings')?.spec.http ?? []).some(r => r.fault !== undefined)
  const publish = () =>
    cluster.stats.set(
      'reviews-v2-x',
      `http.outbound_0.0.0.0_9080.fault.delays_injected: ${delays}\nhttp.outbound_0.0.0.0_9080.fault.aborts_injected: 0\n`,
    )
  const tick = setInterval(() => {
    if (faultLive()) delays++
    publish()
  }, 20)
  onRequest = headers => {
    if (headers['x-chaos-test'] === 'true' && faultLive()) {
      delays++
      publish()
    }
  }
  publish()
  return () => {
    clearInterval(tick)
    onRequest = undefined
  }
}

/** A cluster whose sidecar stats take `ms` to read, like exec into many pods on a busy cluster. */
class SlowStatsCluster extends FakeCluster {
  constructor(private readonly ms: number) {
    super()
  }

  override async proxyRequest(namespace: string, pod: string): Promise<string> {
    await new Promise(resolve => setTimeout(resolve, this.ms))
    return super.proxyRequest(namespace, pod)
  }
}

describe('chaos run (runner, against a fake cluster)', function () {
  this.timeout(30_000)
  let server: Server
  let url: string
  let failing = false
  let liveFault: (() => boolean) | undefined
  /** While our fault is live, targeted requests wait this long (a delay fault as the mesh applies it). */
  let faultDelayMs = 0
  before(async () => {
    server = createServer((req, res) => {
      // While our fault is live, targeted requests fail: a stand-in for a fault that hurts too much.
      onRequest?.(req.headers)
      const faulted = liveFault?.() === true && req.headers['x-chaos-test'] === 'true'
      if (faulted && faultDelayMs > 0) {
        setTimeout(() => res.writeHead(200).end('ok'), faultDelayMs)
        return
      }
      res.writeHead(failing || faulted ? 503 : 200).end('ok')
    })
    await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/productpage`
  })
  after(() => server.close())
  beforeEach(() => {
    failing = false
    liveFault = undefined
    faultDelayMs = 0
  })
  const faultLive = (cluster: FakeCluster) => () =>
    (cluster.objects.get('default/ratings')?.spec.http ?? []).some(r => r.fault !== undefined)

  async function run(
    cluster: FakeCluster,
    exp: Experiment,
    signal = new AbortController().signal,
    options: {ignition?: boolean} = {},
  ) {
    const events = new EventStream()
    const seen: RunEvent[] = []
    events.subscribe(e => seen.push(e))
    const result = await runExperiment({
      file: 'x.yaml',
      experiment: exp,
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir: mkdtempSync(join(tmpdir(), 'faultline-run-')),
      signal,
      events,
      ...options,
    })
    return {result, seen, kinds: seen.map(e => e.kind)}
  }

  it('holds: applies, proves the fault fired, reverts exactly, writes the journal', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    const exp = experiment(url)
    const {result, seen, kinds} = await run(cluster, exp)
    stop()
    assert.equal(result.outcome, 'held', result.reason)
    assert.equal(result.exitCode, 0)
    assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
    for (const k of [
      'preflight',
      'phase-started',
      'fault-applied',
      'fault-evidence',
      'revert',
      'control-evidence',
      'run-finished',
    ] as const)
      assert.ok(kinds.includes(k), `missing ${k}`)
    const evidence = seen.find(e => e.kind === 'fault-evidence')
    assert.ok(evidence !== undefined && evidence.kind === 'fault-evidence' && evidence.afterWriteMs < 1000)
    assert.ok(kinds.indexOf('revert') > kinds.indexOf('fault-applied'))
    // How well the load kept its schedule is in the journal, per open-model class.
    const schedule = seen.filter(
      e =>
        e.kind === 'log' &&
        /^load \w+: \d+ arrivals at [\d.]+\/s over the sending window, send lag p50/.test(e.message),
    )
    assert.equal(schedule.length, exp.spec.load.traffic.length)
  })

  it('does not inject anything when the baseline is not steady (exit 4)', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    failing = true
    const {result} = await run(cluster, experiment(url))
    assert.equal(result.outcome, 'could-not-run')
    assert.equal(result.exitCode, 4)
    assert.match(result.reason, /baseline was not steady/)
    // Why the requests failed, per class: the reason a bare error ratio does not give.
    assert.match(result.reason, /failed requests: targeted: 503 × \d+; control: 503 × \d+; nothing was injected/)
    assert.deepEqual(cluster.writes, [])
  })

  it('reverts and exits 3 when interrupted in the fault phase', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    const ac = new AbortController()
    const exp = experiment(url, {phases: {baseline: '1s', fault: '20s', recovery: '1s'}})
    const timer = setInterval(() => {
      if (
        carriesRun(
          cluster.objects.get('default/ratings') as VirtualService,
          cluster.objects.get('default/ratings')?.metadata.annotations?.['faultline.dev/run-id'] ?? '-',
        )
      )
        ac.abort()
    }, 50)
    // Without the ignition check: its brief 1 ms delay would trip this watch before the fault phase.
    const {result} = await run(cluster, exp, ac.signal, {ignition: false})
    clearInterval(timer)
    stop()
    assert.equal(result.outcome, 'aborted')
    assert.equal(result.exitCode, 3)
    assert.match(result.reason, /^interrupted \(signal\); faults were reverted$/)
    assert.equal((await cluster.getVirtualService('default', 'ratings'))?.spec.http?.length, 1)
  })

  it("says why when its caller stopped it with a reason (a game day's time limit)", async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const ac = new AbortController()
    ac.abort("the game day's guardrails.maxDuration (1m) was reached")
    const {result} = await run(cluster, experiment(url), ac.signal)
    assert.equal(result.outcome, 'aborted')
    assert.match(result.reason, /^the game day's guardrails\.maxDuration \(1m\) was reached/)
    assert.deepEqual(cluster.writes, [])
  })

  it('reverts what was applied when a later apply fails (all-or-nothing, exit 4)', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const exp = experiment(url)
    exp.spec.faults.push({
      service: 'details',
      match: {headers: {'x-chaos-test': {exact: 'true'}}},
      abort: {httpStatus: 503, percentage: 100},
    })
    cluster.failNext.set('create', {count: 1, error: () => new Error('admission webhook denied the request')})
    const {result} = await run(cluster, exp)
    assert.equal(result.exitCode, 4)
    assert.match(result.reason, /applying VirtualService .* failed/)
    assert.equal(cluster.objects.size, 1)
    assert.equal((await cluster.getVirtualService('default', 'ratings'))?.spec.http?.length, 1)
  })

  it('exits 5 and names the cleanup command when the revert fails', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    const exp = experiment(url)
    const events = new EventStream()
    events.subscribe(e => {
      if (e.kind === 'phase-ended' && e.phase === 'fault') cluster.failNext.set('replace', {count: 1_000_000})
    })
    const result = await runExperiment({
      file: 'x.yaml',
      experiment: exp,
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir: mkdtempSync(join(tmpdir(), 'faultline-run-')),
      signal: new AbortController().signal,
      events,
      revertTimeoutMs: 1000,
    })
    cluster.failNext.clear()
    stop()
    assert.equal(result.exitCode, 5)
    assert.match(result.reason, /chaos revert --run \S+ --namespace default/)
  })

  it('refuses to touch a VirtualService another live run holds (exit 4)', async () => {
    const cluster = new FakeCluster()
    cluster.seed({
      ...RATINGS,
      metadata: {
        ...RATINGS.metadata,
        labels: {'faultline.dev/managed': 'true'},
        annotations: {
          'faultline.dev/run-id': 'other-run',
          'faultline.dev/expires-at': new Date(Date.now() + 600_000).toISOString(),
        },
      },
    })
    const {result} = await run(cluster, experiment(url))
    assert.equal(result.exitCode, 4)
    assert.match(result.reason, /held by run other-run/)
    assert.deepEqual(cluster.writes, [])
  })

  it('reverts a stale fault of a dead run (past its expiry) before injecting', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(RATINGS)
    const staleSpec = structuredClone(original.spec)
    staleSpec.http?.unshift({
      name: 'faultline:dead-run:0',
      match: [{headers: {'x-chaos-test': {exact: 'true'}}}],
      fault: {abort: {httpStatus: 503, percentage: {value: 100}}},
      route: [{destination: {host: 'ratings'}}],
    })
    const live = (await cluster.getVirtualService('default', 'ratings')) as VirtualService
    await cluster.replaceVirtualService({
      ...live,
      spec: staleSpec,
      metadata: {
        ...live.metadata,
        labels: {'faultline.dev/managed': 'true'},
        annotations: {
          'faultline.dev/run-id': 'dead-run',
          'faultline.dev/expires-at': new Date(Date.now() - 60_000).toISOString(),
          'faultline.dev/original-spec': JSON.stringify(original.spec),
        },
      },
    })
    const stop = meshOf(cluster)
    const {result, seen} = await run(cluster, experiment(url))
    stop()
    assert.equal(result.outcome, 'held', result.reason)
    assert.ok(seen.some(e => e.kind === 'revert' && /stale fault reverted/.test(e.message)))
    assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
  })

  it('a guardrail breach in the fault phase reverts at once and exits 3', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    liveFault = () => (cluster.objects.get('default/ratings')?.spec.http ?? []).some(r => r.fault !== undefined)
    const exp = experiment(url, {
      phases: {baseline: '1s', fault: '30s', recovery: '1s'},
      guardrails: {
        abortWhen: [
          {name: 'targeted users are failing', traffic: 'targeted', thresholds: {http_req_failed: ['rate>0.5']}},
        ],
      },
    })
    const started = Date.now()
    const {result, seen} = await run(cluster, exp)
    stop()
    assert.equal(result.exitCode, 3, result.reason)
    assert.match(result.reason, /guardrail "targeted users are failing" breached/)
    assert.ok(Date.now() - started < 15_000, 'stopped long before the 30s fault phase ended')
    assert.ok(seen.some(e => e.kind === 'guardrail-breached'))
    assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
  })

  it('slow sidecar reads hold up neither a guardrail check nor the revert after its breach', async () => {
    // Every stats read takes 1.5 s and no fault counter ever rises, so evidence polls run all through the fault phase.
    const cluster = new SlowStatsCluster(1500)
    const original = cluster.seed(RATINGS)
    cluster.pods.push({
      name: 'reviews-v2-x',
      namespace: 'default',
      labels: {app: 'reviews'},
      containers: ['reviews', 'istio-proxy'],
      ready: true,
    })
    cluster.stats.set('reviews-v2-x', 'http.outbound_0.0.0.0_9080.fault.aborts_injected: 0\n')
    liveFault = () => (cluster.objects.get('default/ratings')?.spec.http ?? []).some(r => r.fault !== undefined)
    const exp = experiment(url, {
      phases: {baseline: '1s', fault: '30s', recovery: '1s'},
      guardrails: {
        abortWhen: [
          {name: 'targeted users are failing', traffic: 'targeted', thresholds: {http_req_failed: ['rate>0.5']}},
        ],
      },
    })
    // No counter ever rises here, so the ignition check would stop the run before the fault phase.
    const {result, seen} = await run(cluster, exp, undefined, {ignition: false})
    assert.equal(result.exitCode, 3, result.reason)
    const faultStart = seen.find(e => e.kind === 'phase-started' && e.phase === 'fault')?.t ?? NaN
    const after = (kind: RunEvent['kind']) => (seen.find(e => e.kind === kind)?.t ?? NaN) - faultStart
    assert.ok(
      after('guardrail-breached') < 1400,
      `breach ${after('guardrail-breached')} ms after the write: the first check (at 1 s) waited for a sidecar read`,
    )
    assert.ok(after('revert') < 1400, `revert ${after('revert')} ms after the write: it waited for a sidecar read`)
    assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
  })

  it('guardrails.maxDuration stops the run and reverts (exit 3)', async () => {
    const cluster = new FakeCluster()
    const original = cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    const exp = experiment(url, {
      phases: {baseline: '1s', fault: '30s', recovery: '1s'},
      guardrails: {maxDuration: '3s'},
    })
    const {result} = await run(cluster, exp)
    stop()
    assert.equal(result.exitCode, 3)
    assert.match(result.reason, /guardrails\.maxDuration \(3s\) reached/)
    assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
  })

  it('a held run has a result for every probe in every phase it names, thresholds in all three by default', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    const exp = experiment(url, {
      steadyState: [
        {name: 'control is fast', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}},
        {name: 'productpage answers', http: {url, expect: {status: 200}}},
        {
          name: 'targeted in baseline and recovery',
          traffic: 'targeted',
          phases: ['baseline', 'recovery'],
          thresholds: {http_req_failed: ['rate<0.01']},
        },
      ],
    })
    const {result, seen} = await run(cluster, exp)
    stop()
    assert.equal(result.outcome, 'held', result.reason)
    assert.match(result.reason, /recovered: 3 probe result\(s\) in the recovery phase within tolerance/)
    const results = seen
      .flatMap(e => (e.kind === 'probe-result' ? [`${e.result.probe}|${e.result.phase}|${e.result.status}`] : []))
      .sort()
    assert.deepEqual(results, [
      'control is fast|baseline|held',
      'control is fast|fault|held',
      'control is fast|recovery|held',
      'productpage answers|baseline|held',
      'productpage answers|fault|held',
      'productpage answers|recovery|held',
      'targeted in baseline and recovery|baseline|held',
      'targeted in baseline and recovery|recovery|held',
    ])
  })

  it('a service that stays broken after the revert deviates with "did not recover"', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    const events = new EventStream()
    // The fault breaks the service for good: from the revert on, every request fails.
    events.subscribe(e => {
      if (e.kind === 'revert') failing = true
    })
    const exp = experiment(url, {phases: {baseline: '1s', fault: '2s', recovery: '2s'}})
    const result = await runExperiment({
      file: 'x.yaml',
      experiment: exp,
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir: mkdtempSync(join(tmpdir(), 'faultline-run-')),
      signal: new AbortController().signal,
      events,
    })
    stop()
    assert.equal(result.outcome, 'deviated', result.reason)
    assert.equal(result.exitCode, 1)
    assert.match(result.reason, /^the system did not recover after the revert: "control is fast" missed \(rate=/)
    assert.doesNotMatch(result.reason, /under the fault/)
  })

  it('Ctrl-C in the fault phase: the phase is incomplete, not held, and cancelled requests are not failures', async () => {
    const cluster = new FakeCluster()
    cluster.seed(RATINGS)
    const stop = meshOf(cluster)
    liveFault = faultLive(cluster)
    faultDelayMs = 6000
    const ac = new AbortController()
    const events = new EventStream()
    const seen: RunEvent[] = []
    events.subscribe(e => seen.push(e))
    events.subscribe(e => {
      if (e.kind === 'phase-started' && e.phase === 'fault') setTimeout(() => ac.abort(), 2500)
    })
    const exp = experiment(url, {
      phases: {baseline: '1s', fault: '30s', recovery: '1s'},
      steadyState: [
        {
          name: 'targeted answers within 4s',
          traffic: 'targeted',
          thresholds: {http_req_duration: ['p(99)<4000'], http_req_failed: ['rate<0.5']},
        },
      ],
    })
    const result = await runExperiment({
      file: 'x.yaml',
      experiment: exp,
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir: mkdtempSync(join(tmpdir(), 'faultline-run-')),
      signal: ac.signal,
      events,
    })
    stop()
    assert.equal(result.outcome, 'aborted', result.reason)
    const faultResults = seen.filter(e => e.kind === 'probe-result' && e.result.phase === 'fault')
    assert.deepEqual(faultResults, [], 'a cut-short fault phase is not scored')
    const ended = seen.find(e => e.kind === 'phase-ended' && e.phase === 'fault')
    assert.ok(ended?.kind === 'phase-ended' && ended.cutShort !== undefined, 'the fault phase ended incomplete')
    const cut = ended.cutShort
    assert.equal(cut.reason, 'interrupted (signal)')
    assert.ok(cut.afterMs > 2000 && cut.afterMs < 4000, `cut at ${cut.afterMs} ms`)
    assert.equal(cut.plannedMs, 30_000)
    const targeted = cut.inFlight.find(f => f.traffic === 'targeted')
    assert.ok(
      targeted !== undefined && targeted.count > 20,
      `targeted in flight at the cut: ${JSON.stringify(targeted)}`,
    )
    assert.ok(targeted.oldestMs > 1500 && targeted.oldestMs < 4000, `oldest ${targeted.oldestMs} ms`)
    const seconds = seen.flatMap(e => (e.kind === 'load-second' && e.second.traffic === 'targeted' ? [e.second] : []))
    const failed = seconds.reduce((n, s) => n + s.failed, 0)
    const cancelled = seconds.reduce((n, s) => n + (s.cancelled ?? 0), 0)
    assert.equal(failed, 0, 'no request the runner cancelled counts as failed')
    assert.ok(cancelled >= targeted.count - 2, `cancelled ${cancelled}, in flight at the cut ${targeted.count}`)
    const progress = seen.filter(e => e.kind === 'load-progress')
    assert.ok(
      progress.some(
        e =>
          e.kind === 'load-progress' &&
          e.inFlight.some(f => f.traffic === 'targeted' && f.count > 0 && f.oldestMs > 900),
      ),
      'the in-flight delay showed while it happened',
    )
  })
})
