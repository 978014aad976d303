import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ApiError} from '../../src/cluster/cluster.js'
import type {Experiment} from '../../src/experiment/model.js'
import {planSetup} from '../../src/faults/setup.js'
import type {DestinationRule} from '@faultline/core/istio/types.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {revertLeftovers} from '../../src/runner/leftovers.js'
import {EventStream, type RunEvent} from '../../src/journal/events.js'
import {journalIssues} from '../../src/journal/schema.js'
import {requiredAccess} from '../../src/runner/preflight.js'
import {writeRunReports} from '../../src/report/write.js'
import {runExperiment} from '../../src/runner/run.js'
import {applySetup, restoreSetup, setupChecks, SetupReverter} from '../../src/runner/setup.js'
import {FakeCluster} from '../fakes/cluster.js'

const REVIEWS: DestinationRule = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: {name: 'reviews', namespace: 'default', labels: {app: 'reviews'}, annotations: {note: 'bookinfo'}},
  spec: {
    host: 'reviews',
    trafficPolicy: {loadBalancer: {simple: 'RANDOM'}},
    subsets: ['v1', 'v2', 'v3'].map(v => ({name: v, labels: {version: v}})),
  },
}
const RATINGS_DR: DestinationRule = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {host: 'ratings'},
}
const POOL = {tcp: {maxConnections: 5}, http: {http1MaxPendingRequests: 5}}

function experiment(url: string, name = 'reviews'): Experiment {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {name: 'reviews-circuit-breaker'},
    spec: {
      setup: {destinationRules: [{name, trafficPolicy: {connectionPool: POOL}}]},
      faults: [
        {
          service: 'ratings',
          match: {headers: {'x-chaos-test': {exact: 'true'}}},
          delay: {fixedDelay: '2s', percentage: 100},
        },
      ],
      phases: {baseline: '1s', fault: '1s', recovery: '1s'},
      load: {url, traffic: [{name: 'control', rate: '10/s'}]},
      steadyState: [{name: 'control is fine', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}}],
    },
  }
}

function cluster(): FakeCluster {
  const c = new FakeCluster()
  c.seedDestinationRule(REVIEWS)
  c.seedDestinationRule(RATINGS_DR)
  return c
}

/** What must come back: spec, labels and annotations exactly as before. */
const content = (dr: DestinationRule | undefined) => ({
  spec: dr?.spec,
  labels: dr?.metadata.labels,
  annotations: dr?.metadata.annotations,
})

describe('spec.setup against a cluster (fake)', function () {
  this.timeout(30_000)
  let server: Server
  let url: string
  let failing = false
  before(async () => {
    server = createServer((_req, res) => res.writeHead(failing ? 503 : 200).end('ok'))
    await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/productpage`
  })
  after(() => server.close())
  beforeEach(() => {
    failing = false
  })

  async function run(c: FakeCluster, exp: Experiment) {
    const events = new EventStream()
    const seen: RunEvent[] = []
    events.subscribe(e => seen.push(e))
    const result = await runExperiment({
      file: 'x.yaml',
      experiment: exp,
      cluster: c,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir: mkdtempSync(join(tmpdir(), 'faultline-setup-')),
      signal: new AbortController().signal,
      events,
      ignition: false,
      revertTimeoutMs: 3000,
    })
    return {result, seen}
  }

  it('patches before the baseline, restores exactly after the recovery, and the journal shows both', async () => {
    const c = cluster()
    const before = await c.getDestinationRule('default', 'reviews')
    const {result, seen} = await run(c, experiment(url))
    const kinds = seen.map(e => e.kind)
    assert.ok(
      kinds.indexOf('setup-applied') >= 0 && kinds.indexOf('setup-applied') < kinds.indexOf('phase-started'),
      kinds.join(),
    )
    const applied = seen.find(e => e.kind === 'setup-applied')
    assert.ok(applied?.kind === 'setup-applied')
    assert.equal(applied.setup.kind, 'DestinationRule')
    assert.deepEqual((applied.setup.after as DestinationRule['spec']).trafficPolicy, {
      loadBalancer: {simple: 'RANDOM'},
      connectionPool: POOL,
    })
    const restored = seen.findIndex(e => e.kind === 'revert' && e.resource === 'DestinationRule')
    const lastPhase = seen.map(e => e.kind).lastIndexOf('phase-ended')
    assert.ok(restored > lastPhase, 'restored after the recovery phase')
    assert.deepEqual(content(await c.getDestinationRule('default', 'reviews')), content(before))
    const journal = JSON.parse(readFileSync(result.journalFile, 'utf8')) as {applied: {kind?: string; name: string}[]}
    assert.deepEqual(journalIssues(journal), [])
    assert.ok(journal.applied.some(a => a.kind === 'DestinationRule' && a.name === 'reviews'))
    await writeRunReports(result.journal, result.runDir, {html: true, redactHeaders: []}) // as the command does with the journal the run returns
    const html = readFileSync(join(result.runDir, 'report.html'), 'utf8')
    assert.match(html, /Setup: patched DestinationRule <code>default\/reviews<\/code>/)
    assert.match(html, /maxConnections: 5/)
  })

  it('restores it when the baseline is not steady (exit 4), as on every exit path', async () => {
    const c = cluster()
    const before = await c.getDestinationRule('default', 'reviews')
    failing = true
    const {result, seen} = await run(c, experiment(url))
    assert.equal(result.exitCode, 4, result.reason)
    assert.ok(seen.some(e => e.kind === 'setup-applied'))
    assert.deepEqual(content(await c.getDestinationRule('default', 'reviews')), content(before))
  })

  it("stops at preflight (exit 4) naming a DestinationRule that does not exist, with the namespace's", async () => {
    const c = cluster()
    const {result, seen} = await run(c, experiment(url, 'reviws'))
    assert.equal(result.exitCode, 4)
    assert.match(result.reason, /no DestinationRule reviws in namespace default: did you mean "reviews"\?/)
    assert.match(result.reason, /DestinationRules in default: ratings, reviews/)
    assert.ok(!seen.some(e => e.kind === 'setup-applied' || e.kind === 'fault-applied'))
    assert.deepEqual(c.writes, [])
  })

  it("preflight: a live run's setup holds the DestinationRule; an expired one is restored first", async () => {
    const c = cluster()
    const now = new Date()
    const [held] = planSetup({
      entries: [{name: 'reviews', trafficPolicy: {connectionPool: POOL}}],
      existing: [REVIEWS],
      namespace: 'default',
      runId: 'other-run',
      expiresAt: new Date(now.getTime() + 60_000),
      experiment: 'x',
    }).objects
    assert.ok(held !== undefined)
    c.seedDestinationRule(held.desired)
    const checks = await setupChecks(c, experiment(url), 'default', now)
    assert.ok(
      checks.some(k => k.status === 'failed' && /held by run other-run/.test(k.message)),
      JSON.stringify(checks),
    )
    const expired = await setupChecks(c, experiment(url), 'default', new Date(now.getTime() + 120_000))
    assert.ok(expired.some(k => k.status === 'warning' && /stale setup of run other-run/.test(k.message)))
    // The run itself: the expired setup is restored, then patched again and restored again.
    const reverter = new SetupReverter(c, 'run-2')
    const events = new EventStream()
    const seen: RunEvent[] = []
    events.subscribe(e => seen.push(e))
    await applySetup({
      cluster: c,
      experiment: experiment(url),
      namespace: 'default',
      runId: 'run-2',
      startedAt: new Date(),
      events,
      reverter,
    })
    assert.ok(seen.some(e => e.kind === 'revert' && /stale setup restored/.test(e.message)))
    assert.equal(
      (await c.getDestinationRule('default', 'reviews'))?.metadata.annotations?.['faultline.dev/run-id'],
      'run-2',
    )
    assert.deepEqual(await restoreSetup(reverter, events, 'run-2', 'default'), [])
    assert.deepEqual(content(await c.getDestinationRule('default', 'reviews')), content(REVIEWS))
  })

  it('writes and restores through transient errors and conflicts; a restore that cannot land is a revert-failed with the command', async () => {
    const c = cluster()
    const events = new EventStream()
    const seen: RunEvent[] = []
    events.subscribe(e => seen.push(e))
    const reverter = new SetupReverter(c, 'run-3')
    c.failNext.set('replace', {count: 2})
    await applySetup({
      cluster: c,
      experiment: experiment(url),
      namespace: 'default',
      runId: 'run-3',
      startedAt: new Date(),
      events,
      reverter,
    })
    assert.deepEqual((await c.getDestinationRule('default', 'reviews'))?.spec.trafficPolicy?.connectionPool, POOL)
    c.failNext.set('replace', {count: 2})
    assert.deepEqual(await restoreSetup(reverter, events, 'run-3', 'default'), [])
    assert.deepEqual(content(await c.getDestinationRule('default', 'reviews')), content(REVIEWS))

    const stuck = new SetupReverter(c, 'run-4')
    await applySetup({
      cluster: c,
      experiment: experiment(url),
      namespace: 'default',
      runId: 'run-4',
      startedAt: new Date(),
      events,
      reverter: stuck,
    })
    c.failNext.set('replace', {count: 1000, error: () => new ApiError('forbidden', 403, 'Forbidden')})
    const failed = await restoreSetup(stuck, events, 'run-4', 'default', 1000)
    assert.equal(failed.length, 1)
    const e = seen.find(x => x.kind === 'revert-failed')
    assert.ok(
      e?.kind === 'revert-failed' &&
        e.resource === 'DestinationRule' &&
        e.command === 'chaos revert --run run-4 --namespace default',
    )
    c.failNext.delete('replace')
  })

  it("chaos revert restores a DestinationRule a dead run left patched, and leaves a live run's alone", async () => {
    const c = cluster()
    const past = new Date(Date.now() - 60_000)
    const future = new Date(Date.now() + 600_000)
    for (const [dr, runId, expiresAt] of [
      [REVIEWS, 'dead-1', past],
      [RATINGS_DR, 'live-1', future],
    ] as const) {
      const [p] = planSetup({
        entries: [{name: dr.metadata.name, trafficPolicy: {connectionPool: POOL}}],
        existing: [dr],
        namespace: 'default',
        runId,
        expiresAt,
        experiment: 'x',
      }).objects
      assert.ok(p !== undefined)
      await c.replaceDestinationRule(p.desired).catch(async () =>
        c.replaceDestinationRule({
          ...p.desired,
          metadata: {
            ...p.desired.metadata,
            resourceVersion: (await c.getDestinationRule('default', dr.metadata.name))?.metadata.resourceVersion ?? '',
          },
        }),
      )
    }
    const report = await revertLeftovers(c, 'default', {})
    assert.deepEqual(
      report.found.map(f => [f.kind, f.name, f.expired]),
      [
        ['DestinationRule', 'reviews', true],
        ['DestinationRule', 'ratings', false],
      ],
    )
    assert.deepEqual(
      report.reverted.map(r => [r.kind, r.name, r.ok, r.action]),
      [['DestinationRule', 'reviews', true, 'restored']],
    )
    assert.match(report.skipped[0]?.reason ?? '', /may still be running/)
    assert.deepEqual(content(await c.getDestinationRule('default', 'reviews')), content(REVIEWS))
    const all = await revertLeftovers(c, 'default', {runId: 'live-1'})
    assert.deepEqual(
      all.reverted.map(r => [r.name, r.ok]),
      [['ratings', true]],
    )
    assert.deepEqual((await c.getDestinationRule('default', 'ratings'))?.spec, RATINGS_DR.spec)
  })

  it('asks for get and update on destinationrules only when the experiment has a setup', () => {
    const verbs = (setup: boolean) =>
      requiredAccess('default', {setup})
        .filter(a => a.resource === 'destinationrules')
        .map(a => a.verb)
        .sort()
    assert.deepEqual(verbs(false), ['list'])
    assert.deepEqual(verbs(true), ['get', 'list', 'update'])
  })
})
