/**
 * The reaper end to end: a real `chaos run` on a real sandbox (its own process), killed with
 * SIGKILL while its fault is live; the sandbox's reaper — not `chaos revert` — takes the fault
 * away once it has expired, restoring the VirtualService exactly. Checked with kubectl.
 *
 * A fault expires 5 minutes after its run's planned end (EXPIRY_GRACE_MS). The default test moves
 * the killed run's `faultline.dev/expires-at` a few seconds ahead with `kubectl annotate` — the
 * object's spec, which the revert checks, stays as the run wrote it — so it finishes in seconds;
 * FAULTLINE_SLOW_TESTS=1 also runs the same scenario waiting out the real expiry (~6 minutes).
 * Last, an in-process sandbox shows the reaper starts with it, is recorded, and stops with it.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {Cluster} from '../../src/cluster/cluster.js'
import {connect} from '../../src/cluster/connect.js'
import {ANNOTATION_EXPIRES_AT, rfc3339} from '../../src/faults/annotations.js'
import {EXPIRY_GRACE_MS} from '../../src/faults/experiment-plan.js'
import {startSandbox} from '@faultline/sandbox/sandbox.js'
import {expiredReverter} from '../../src/runner/sandbox.js'
import {abandon, within} from '../sandbox/abandon.js'
import {chaos, REPO, SAMPLE_VIRTUAL_SERVICES, SAMPLES, withDetachedSandbox} from './sandbox-cli.js'

/** The reaper's interval in this sandbox: short, so the test's bounds are tight. */
const REAPER_INTERVAL_MS = 1000
/** Ratings aborted for test traffic, with thresholds a busy machine's baseline always meets. */
const EXPERIMENT = 'test/fixtures/reaper/ratings-abort-killed.yaml'

/** The in-process sandbox's reaper interval. */
const IN_PROCESS_INTERVAL_MS = 250

interface Vs {
  metadata: {name: string; annotations?: Record<string, string>}
  spec: {http?: {name?: string}[]}
}

const poll = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

describe('the sandbox reaper (integration: chaos run killed with SIGKILL mid-fault)', function () {
  this.timeout(120_000)
  const sandbox = withDetachedSandbox(
    'reaper-sandbox',
    [
      'src/commands/run.ts',
      'src/runner/run.ts',
      'packages/sandbox/src/sandbox.ts',
      'packages/sandbox/src/reaper.ts',
      'src/runner/leftovers.ts',
      'src/commands/sandbox/status.ts',
    ],
    {CHAOS_SANDBOX_REAPER_INTERVAL: `${REAPER_INTERVAL_MS}ms`},
  )
  const {kubectl} = sandbox
  let reports: string
  const ratings = async (): Promise<Vs | undefined> => {
    const r = await kubectl('get', 'vs', '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as {items: Vs[]}).items.find(v => v.metadata.name === 'ratings')
  }
  const faulted = (vs: Vs | undefined) => vs?.spec.http?.some(r => r.name?.startsWith('faultline:')) === true

  before(async () => {
    reports = await mkdtemp(join(tmpdir(), 'faultline-reaper-reports-'))
  })

  after(async () => {
    if (reports !== undefined) await rm(reports, {recursive: true, force: true})
  })

  afterEach(() => kubectl('delete', 'vs,dr', '--all'))

  it('chaos sandbox status shows the reaper', async () => {
    const r = await chaos(['sandbox', 'status', '--state-dir', sandbox.dir])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /reaper {6}every 1s, reverts faults past their expiry/)
  })

  /**
   * Bookinfo's routing applied (reviews unpinned, so v2/v3 call ratings), a run started and
   * SIGKILLed once its fault has fired; returns what ratings was before.
   */
  async function killMidFault(phases: string): Promise<{before: Vs; left: Vs; startedAt: number}> {
    for (const f of ['virtual-service-all-v1.yaml', 'destination-rule-all.yaml'])
      assert.equal((await kubectl('apply', '-f', join(SAMPLES, f))).code, 0)
    assert.equal((await kubectl('delete', 'vs', 'reviews')).code, 0)
    const before = await ratings()
    assert.ok(before !== undefined)
    const startedAt = Date.now()
    const child = spawn(
      process.execPath,
      [
        'bin/chaos',
        'run',
        EXPERIMENT,
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
        '--phases',
        phases,
      ],
      {cwd: REPO},
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const exited = new Promise(resolve => child.on('exit', resolve))
    const deadline = Date.now() + 60_000
    while (!/fault fired/.test(out) && Date.now() < deadline && child.exitCode === null) await poll(100)
    assert.match(out, /fault fired/, out)
    child.kill('SIGKILL')
    await exited
    const left = await ratings()
    assert.ok(left !== undefined && faulted(left), 'the fault is still live after SIGKILL')
    return {before, left, startedAt}
  }

  /** Polls until ratings carries no fault route; returns when that was seen. */
  async function untilReverted(timeoutMs: number): Promise<{at: number; vs: Vs | undefined}> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const vs = await ratings()
      if (!faulted(vs)) return {at: Date.now(), vs}
      if (Date.now() > deadline)
        throw new Error(`the fault was still live ${timeoutMs}ms later: ${JSON.stringify(vs?.metadata.annotations)}`)
      await poll(200)
    }
  }

  function assertRestored(before: Vs, after: Vs | undefined): void {
    assert.deepEqual(after?.spec, before.spec, 'the original spec is back')
    assert.deepEqual(
      Object.keys(after?.metadata.annotations ?? {}).filter(k => k.startsWith('faultline.dev/')),
      [],
    )
    assert.match(readFileSync(join(sandbox.dir, 'sandbox.log'), 'utf8'), /reaper: ✓ default\/ratings: restored/)
  }

  it("leaves the killed run's fault alone until it expires, then restores the VirtualService — no chaos revert", async () => {
    const {before, left, startedAt} = await killMidFault('baseline=3s,fault=60s,recovery=3s')
    const expiry = Date.parse(left.metadata.annotations?.[ANNOTATION_EXPIRES_AT] ?? '')
    // The run wrote an expiry of its planned length (66 s) plus the grace period, in whole seconds.
    assert.ok(
      expiry >= startedAt + 66_000 + EXPIRY_GRACE_MS - 1000 && expiry <= Date.now() + 66_000 + EXPIRY_GRACE_MS,
      `expires-at ${new Date(expiry).toISOString()}`,
    )
    // Proving the reaper leaves a live fault alone takes elapsed time: three of its sweeps.
    await poll(3 * REAPER_INTERVAL_MS)
    assert.ok(faulted(await ratings()), 'not reaped before its expiry')
    // Bring the expiry close instead of waiting five minutes (the spec is untouched, so the revert is exact).
    const newExpiry = Math.ceil((Date.now() + 3000) / 1000) * 1000
    const annotate = await kubectl(
      'annotate',
      'vs',
      'ratings',
      `${ANNOTATION_EXPIRES_AT}=${rfc3339(new Date(newExpiry))}`,
      '--overwrite',
    )
    assert.equal(annotate.code, 0, annotate.stderr)
    const {at, vs} = await untilReverted(newExpiry - Date.now() + REAPER_INTERVAL_MS * 5)
    console.log(
      `      (reverted ${at - newExpiry}ms after its expiry; reaper interval ${REAPER_INTERVAL_MS}ms, kubectl polled every 200ms)`,
    )
    assert.ok(at >= newExpiry, `reverted ${newExpiry - at}ms before its expiry`)
    assert.ok(
      at - newExpiry <= 2 * REAPER_INTERVAL_MS + 1500,
      `reverted ${at - newExpiry}ms after its expiry (interval ${REAPER_INTERVAL_MS}ms)`,
    )
    assertRestored(before, vs)
  })

  it('with the real expiry: gone within a sweep of run start + phases + grace (FAULTLINE_SLOW_TESTS=1)', async function () {
    if (process.env['FAULTLINE_SLOW_TESTS'] !== '1') {
      console.log('      (skipped: waits out the real 5-minute grace; set FAULTLINE_SLOW_TESTS=1)')
      return this.skip()
    }
    this.timeout(EXPIRY_GRACE_MS + 180_000)
    const {before, left} = await killMidFault('baseline=2s,fault=20s,recovery=2s')
    const expiry = Date.parse(left.metadata.annotations?.[ANNOTATION_EXPIRES_AT] ?? '')
    const {at, vs} = await untilReverted(expiry - Date.now() + REAPER_INTERVAL_MS * 10)
    console.log(`      (reverted ${at - expiry}ms after ${new Date(expiry).toISOString()})`)
    assert.ok(
      at >= expiry && at - expiry <= 2 * REAPER_INTERVAL_MS + 1500,
      `reverted ${at - expiry}ms after its expiry`,
    )
    assertRestored(before, vs)
  })
})

describe('the sandbox reaper, started and stopped with an in-process sandbox', function () {
  this.timeout(60_000)

  it('runs in a started sandbox (recorded in sandbox.json), reverts through its API, and stops with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-reaper-sandbox-'))
    const sandbox = await startSandbox({
      stateDir: dir,
      prometheus: false,
      reaperIntervalMs: IN_PROCESS_INTERVAL_MS,
      revertExpired: expiredReverter,
    })
    try {
      assert.equal(sandbox.state.reaperIntervalMs, IN_PROCESS_INTERVAL_MS)
      assert.equal(sandbox.reaper?.intervalMs, IN_PROCESS_INTERVAL_MS)
      const cluster = connect({kubeconfig: sandbox.state.kubeconfig}) as Cluster
      await abandon(cluster, 'default', 'dead-6', new Date(Date.now() - 1000), ['ratings'])
      const ours = () => sandbox.store.virtualServices().filter(v => !SAMPLE_VIRTUAL_SERVICES.includes(v.metadata.name))
      const vs = ours()[0]
      assert.ok(vs?.metadata.annotations?.[ANNOTATION_EXPIRES_AT] !== undefined)
      await within(IN_PROCESS_INTERVAL_MS * 4, 'the sandbox reaped it', async () => ours().length === 0)
    } finally {
      await sandbox.stop()
      await rm(dir, {recursive: true, force: true})
    }
    const off = await mkdtemp(join(tmpdir(), 'faultline-reaper-off-'))
    const quiet = await startSandbox({stateDir: off, prometheus: false, reaperIntervalMs: 0})
    try {
      assert.equal(quiet.reaper, undefined)
      assert.equal(quiet.state.reaperIntervalMs, undefined)
    } finally {
      await quiet.stop()
      await rm(off, {recursive: true, force: true})
    }
  })
})
