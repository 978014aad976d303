/**
 * The sandbox reaper against the sandbox API server over HTTPS, through the same client
 * `chaos revert` uses: expired faults go within an interval, live ones stay, foreign edits survive.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {Cluster} from '../../src/cluster/cluster.js'
import {connect} from '../../src/cluster/connect.js'
import {ANNOTATION_EXPIRES_AT} from '../../src/faults/annotations.js'
import {type CleanupReport, revertLeftovers} from '../../src/runner/leftovers.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {writeKubeconfig} from '@faultline/sandbox/kubeconfig.js'
import {DEFAULT_REAPER_INTERVAL_MS, type Reaper, reaperIntervalFromEnv, startReaper} from '@faultline/sandbox/reaper.js'
import {abandon, within} from './abandon.js'
import {type Fixture, startFixture} from '../../packages/sandbox/test/apiserver/fakes.js'

const INTERVAL = 250

const ratings = (namespace = 'default'): VirtualService => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace},
  spec: {hosts: ['ratings'], http: [{name: 'primary', route: [{destination: {host: 'ratings', subset: 'v1'}}]}]},
})

const faultRoutes = (vs: VirtualService | undefined) =>
  (vs?.spec.http ?? []).filter(r => r.name?.startsWith('faultline:')).length

describe('sandbox reaper (chaos revert --expired, on a timer)', function () {
  // The first Istio write compiles the CRD schemas (seconds on a busy machine).
  this.timeout(60_000)
  let f: Fixture
  let dir: string
  let cluster: Cluster
  let reaper: Reaper<CleanupReport> | undefined
  let lists = 0
  const lines: string[] = []

  beforeEach(async () => {
    f = await startFixture()
    f.store.create({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'staging'}})
    dir = await mkdtemp(join(tmpdir(), 'faultline-reaper-'))
    await writeKubeconfig(join(dir, 'kubeconfig'), {
      server: f.server.url,
      token: f.token,
      certificateAuthority: f.server.certificateAuthority,
    })
    const real = connect({kubeconfig: join(dir, 'kubeconfig')}) as Cluster
    lists = 0
    // Counts sweeps (one list per namespace) without changing what the reaper does.
    cluster = new Proxy(real, {
      get: (target, key, receiver) => {
        if (key === 'listVirtualServices') lists++
        const v = Reflect.get(target, key, receiver) as unknown
        return typeof v === 'function' ? v.bind(target) : v
      },
    })
    lines.length = 0
  })

  afterEach(async () => {
    await reaper?.stop()
    reaper = undefined
    await f.close()
    await rm(dir, {recursive: true, force: true})
  })

  const start = () => {
    lists = 0 // the test's own setup lists too
    reaper = startReaper({
      revertExpired: (namespace, now) => revertLeftovers(cluster, namespace, {}, now),
      intervalMs: INTERVAL,
      log: l => lines.push(l),
      namespaces: () => f.store.list('Namespace').map(n => n.metadata.name),
    })
  }

  it('reverts expired faults in every namespace in the sweep one interval after start, restoring the original exactly', async () => {
    const original = await cluster.createVirtualService(ratings())
    await abandon(cluster, 'default', 'dead-1', new Date(Date.now() - 1000), ['ratings', 'details'])
    await abandon(cluster, 'staging', 'dead-2', new Date(Date.now() - 1000), ['ratings'])
    assert.equal(faultRoutes(await cluster.getVirtualService('default', 'ratings')), 1)
    start()
    const firstSweep = await within(INTERVAL * 4, 'a first sweep', async () => lists > 0)
    assert.ok(
      firstSweep >= INTERVAL - 10 && firstSweep < INTERVAL * 2,
      `first sweep ${firstSweep}ms after start, interval ${INTERVAL}ms`,
    )
    // Three reverts, each with its read-back, over HTTPS: that first sweep is the one that does them.
    await within(
      INTERVAL * 12,
      'every expired fault reverted',
      async () => lines.length === 3 && f.store.virtualServices().every(vs => faultRoutes(vs) === 0),
    )
    assert.ok(lists <= 2 * f.store.list('Namespace').length, `done within the first sweep or the next (${lists} lists)`)
    assert.deepEqual((await cluster.getVirtualService('default', 'ratings'))?.spec, original.spec)
    assert.deepEqual(
      f.store.virtualServices().map(vs => `${vs.metadata.namespace}/${vs.metadata.name}`),
      ['default/ratings'],
    )
    assert.deepEqual(lines.map(l => l.replace(/ — .*/, '')).sort(), [
      'reaper: ✓ default/faultline-details: deleted',
      'reaper: ✓ default/ratings: restored',
      'reaper: ✓ staging/faultline-ratings: deleted',
    ])
  })

  it('leaves a fault that has not expired alone, sweep after sweep, then takes it once it has', async () => {
    await abandon(cluster, 'default', 'live-1', new Date(Date.now() + 4000), ['ratings'])
    // The annotation has whole seconds: the expiry that counts is the one written.
    const expiresAt = new Date(
      (await cluster.getVirtualService('default', 'faultline-ratings'))?.metadata.annotations?.[
        ANNOTATION_EXPIRES_AT
      ] ?? NaN,
    )
    assert.ok(expiresAt.getTime() - Date.now() > 2 * INTERVAL, 'room for two sweeps before the expiry')
    start()
    const namespaces = f.store.list('Namespace').length
    // Each sweep now also lists DestinationRules, TestRuns and ConfigMaps: on a loaded 2-core machine two take up to ~1.5 s.
    await within(INTERVAL * 8, 'two sweeps', async () => lists >= 2 * namespaces)
    assert.ok(Date.now() < expiresAt.getTime(), 'the sweeps ran before the expiry')
    assert.equal(
      faultRoutes(await cluster.getVirtualService('default', 'faultline-ratings')),
      1,
      'still live before its expiry',
    )
    await within(
      5000 + INTERVAL * 4,
      'the fault reverted after its expiry',
      async () => (await cluster.getVirtualService('default', 'faultline-ratings')) === undefined,
    )
    assert.ok(Date.now() >= expiresAt.getTime(), 'not before it expired')
  })

  it('keeps a foreign edit made after the fault, removing only our routes and marks', async () => {
    await cluster.createVirtualService(ratings())
    await abandon(cluster, 'default', 'dead-3', new Date(Date.now() - 1000), ['ratings'])
    const live = (await cluster.getVirtualService('default', 'ratings')) as VirtualService
    const primary = live.spec.http?.find(r => r.name === 'primary')
    assert.ok(primary !== undefined)
    primary.timeout = '2s'
    live.metadata.labels = {...live.metadata.labels, 'edited-by': 'someone-else'}
    await cluster.replaceVirtualService(live)
    start()
    await within(
      INTERVAL * 4,
      'our routes removed',
      async () => faultRoutes(await cluster.getVirtualService('default', 'ratings')) === 0,
    )
    const after = await cluster.getVirtualService('default', 'ratings')
    assert.equal(after?.spec.http?.find(r => r.name === 'primary')?.timeout, '2s', 'their edit survives')
    assert.equal(after?.metadata.labels?.['edited-by'], 'someone-else')
    assert.deepEqual(
      Object.keys(after?.metadata.annotations ?? {}).filter(k => k.startsWith('faultline.dev/')),
      [],
    )
    // The reaper logs once its read-back is done, which can be just after the update this test saw.
    await within(INTERVAL * 4, 'the reaper logged the strip', async () =>
      /default\/ratings: stripped/.test(lines.join('\n')),
    )
  })

  it('stop() ends the sweeps: a fault expiring afterwards stays', async () => {
    start()
    await within(INTERVAL * 4, 'a first sweep', async () => lists > 0)
    await reaper?.stop()
    await abandon(cluster, 'default', 'dead-4', new Date(Date.now() - 1000), ['ratings'])
    const count = lists
    await new Promise(resolve => setTimeout(resolve, INTERVAL * 3)) // proving an absence needs elapsed time
    assert.equal(lists, count)
    assert.equal(faultRoutes(await cluster.getVirtualService('default', 'faultline-ratings')), 1)
  })

  it('a namespace that cannot be listed is logged and the others are still swept', async () => {
    await abandon(cluster, 'default', 'dead-5', new Date(Date.now() - 1000), ['ratings'])
    const failing = new Proxy(cluster, {
      get: (target, key, receiver) =>
        key === 'listVirtualServices'
          ? (namespace: string) =>
              namespace === 'forbidden'
                ? Promise.reject(new Error('virtualservices is forbidden'))
                : target.listVirtualServices(namespace)
          : (Reflect.get(target, key, receiver) as unknown),
    })
    reaper = startReaper({
      revertExpired: (namespace, now) => revertLeftovers(failing, namespace, {}, now),
      intervalMs: INTERVAL,
      log: l => lines.push(l),
      namespaces: () => ['forbidden', 'default'],
    })
    const reports = await reaper.sweep()
    assert.deepEqual(
      reports.map(r => [r.namespace, r.reverted.length]),
      [['default', 1]],
    )
    assert.match(
      lines[0] ?? '',
      /reaper: sweeping namespace forbidden failed: could not list the VirtualServices in namespace forbidden \(.*\): virtualservices is forbidden; nothing was checked or reverted/,
    )
  })
})

describe('sandbox reaper: interval', () => {
  it('defaults to 5 s; CHAOS_SANDBOX_REAPER_INTERVAL takes a duration or 0; anything else is refused', () => {
    assert.equal(reaperIntervalFromEnv({}), DEFAULT_REAPER_INTERVAL_MS)
    assert.equal(DEFAULT_REAPER_INTERVAL_MS, 5000)
    assert.equal(reaperIntervalFromEnv({CHAOS_SANDBOX_REAPER_INTERVAL: '1s'}), 1000)
    assert.equal(reaperIntervalFromEnv({CHAOS_SANDBOX_REAPER_INTERVAL: '250ms'}), 250)
    assert.equal(reaperIntervalFromEnv({CHAOS_SANDBOX_REAPER_INTERVAL: '0'}), 0)
    assert.throws(() => reaperIntervalFromEnv({CHAOS_SANDBOX_REAPER_INTERVAL: 'often'}), /expected a duration/)
    assert.throws(
      () => startReaper({revertExpired: async () => ({reverted: []}), namespaces: () => [], intervalMs: 0}),
      RangeError,
    )
  })
})
