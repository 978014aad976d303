/**
 * `chaos run` and `chaos revert` end to end: the real CLI against a real sandbox (its own process),
 * checked with kubectl. Each run uses short phases (--phases) except the quick-start run.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {PUSHGATEWAY_PROBLEM, scrape, startPushgateway} from '../telemetry/gateway.js'
import {
  builtCliProblem,
  chaos,
  have,
  REPO,
  SAMPLE_VIRTUAL_SERVICES,
  SAMPLES,
  sh,
  withDetachedSandbox,
} from './sandbox-cli.js'

const SHORT = 'baseline=3s,fault=6s,recovery=3s'

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

describe('chaos run (integration, real CLI on the sandbox)', function () {
  this.timeout(180_000)
  const sandbox = withDetachedSandbox('run-sandbox', [
    'src/commands/run.ts',
    'src/runner/run.ts',
    'src/runner/fault-phase.ts',
    'packages/sandbox/src/sandbox.ts',
  ])
  const {kubectl} = sandbox
  let reports: string
  const run = (file: string, ...extra: string[]) =>
    chaos(['run', file, '--sandbox', '--state-dir', sandbox.dir, '--report-dir', reports, ...extra])
  const virtualServices = async () => {
    const r = await kubectl('get', 'vs', '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    return (
      JSON.parse(r.stdout) as {
        items: {
          metadata: {name: string; labels?: Record<string, string>; annotations?: Record<string, string>}
          spec: {http?: {name?: string}[]}
        }[]
      }
    ).items.filter(v => !SAMPLE_VIRTUAL_SERVICES.includes(v.metadata.name))
  }

  before(async () => {
    reports = await mkdtemp(join(tmpdir(), 'faultline-run-reports-'))
  })

  after(async () => {
    if (reports !== undefined) await rm(reports, {recursive: true, force: true})
  })

  afterEach(() => kubectl('delete', 'vs,dr', '--all'))

  /** Bookinfo's own VirtualServices and DestinationRules, with reviews left unpinned so v2/v3 call ratings. */
  async function applyBookinfoRouting(): Promise<void> {
    for (const f of ['virtual-service-all-v1.yaml', 'destination-rule-all.yaml']) {
      const r = await kubectl('apply', '-f', join(SAMPLES, f))
      assert.equal(r.code, 0, r.stderr)
    }
    assert.equal((await kubectl('delete', 'vs', 'reviews')).code, 0)
  }

  it('ratings-abort holds (exit 0): productpage degrades gracefully, the fault fired, nothing is left behind', async () => {
    // With a real Pushgateway when one is installed: the run's telemetry lands there.
    const gateway = PUSHGATEWAY_PROBLEM === undefined ? await startPushgateway() : undefined
    const r = await run(
      'experiments/ratings-abort.yaml',
      '--phases',
      SHORT,
      ...(gateway === undefined ? [] : ['--pushgateway', gateway.url]),
    )
    const pushed = gateway === undefined ? undefined : await scrape(gateway.url).finally(() => gateway.stop())
    assert.equal(r.code, 0, r.stdout + r.stderr)
    if (pushed !== undefined) {
      assert.equal(
        pushed.get(
          'chaos_experiment_runs_total{experiment="ratings-abort",instance="",job="faultline",outcome="held"}',
        ),
        1,
        [...pushed.keys()].join('\n'),
      )
      assert.equal(
        pushed.get('chaos_fault_active{experiment="ratings-abort",instance="",job="faultline",service="ratings"}'),
        0,
      )
    }
    assert.match(r.stdout, /fault fired \d+ms after the write/)
    assert.match(r.stdout, /control traffic untouched/)
    assert.match(r.stdout, /Verdict: HELD \(exit 0\)/)
    assert.deepEqual(await virtualServices(), [])
    const journalFile = /Journal: (.*journal\.json)/.exec(r.stdout)?.[1]
    assert.ok(journalFile !== undefined && existsSync(journalFile))
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as {
      status: string
      outcome: string
      applied: unknown[]
      reverted: {action: string}[]
    }
    assert.deepEqual(
      [journal.status, journal.outcome, journal.applied.length, journal.reverted.map(x => x.action)],
      ['finished', 'held', 1, ['deleted']],
    )
    const runDir = dirname(journalFile)
    assert.match(r.stdout, new RegExp(`Report:\\s+${escapeRegExp(join(runDir, 'report.html'))}`))
    assert.match(readFileSync(join(runDir, 'report.html'), 'utf8'), /HYPOTHESIS HELD|hypothesis held/i)
    assert.match(readFileSync(join(runDir, 'junit.xml'), 'utf8'), /<testsuites[^>]* failures="0"/)
    assert.match(readFileSync(join(runDir, 'summary.md'), 'utf8'), /held/i)
    assert.match(readFileSync(join(reports, 'index.html'), 'utf8'), /ratings-abort/)
  })

  it('the quick start: ratings-delay deviates (exit 1) on the timeout bug, control untouched', async () => {
    // As in a GitHub Actions job: the summary lands in the step summary, missed probes become annotations.
    const stepSummary = join(reports, 'step-summary.md')
    const r = await sh(
      process.execPath,
      [
        'bin/chaos',
        'run',
        'experiments/ratings-delay.yaml',
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
      ],
      {...process.env, NO_COLOR: '1', GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: stepSummary},
    )
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(
      r.stdout,
      /^::error title=ratings-delay%3A "productpage answers targeted users within 4s" missed in fault[^:]*::measured p\(99\)=/m,
    )
    assert.match(readFileSync(stepSummary, 'utf8'), /deviated/i)
    assert.match(r.stdout, /"productpage answers targeted users within 4s" missed in fault/)
    assert.doesNotMatch(r.stdout, /"control traffic is untouched" missed/)
    assert.deepEqual(await virtualServices(), [])
  })

  it('a concurrent edit survives the revert; the original is otherwise restored', async () => {
    await applyBookinfoRouting()
    const child = spawn(
      process.execPath,
      [
        'bin/chaos',
        'run',
        'experiments/ratings-abort.yaml',
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
        '--phases',
        SHORT,
        '--no-html',
        '--redact-header',
        'User-Agent',
      ],
      {cwd: REPO},
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    await until(() => /fault\s+started/.test(out), 60_000)
    const label = await kubectl('label', 'vs', 'ratings', 'edited-by=someone-else')
    assert.equal(label.code, 0, label.stderr)
    const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
    assert.equal(code, 0, out)
    const ratings = (await virtualServices()).find(v => v.metadata.name === 'ratings')
    assert.equal(ratings?.metadata.labels?.['edited-by'], 'someone-else', 'their edit survives')
    assert.equal(
      ratings?.spec.http?.some(r => r.name?.startsWith('faultline:')),
      false,
      'our routes are gone',
    )
    assert.equal(
      Object.keys(ratings?.metadata.annotations ?? {}).some(k => k.startsWith('faultline.dev/')),
      false,
    )
    // --no-html: only the machine-readable files; --redact-header: the header's values never reach the disk.
    const runDir = dirname(/Journal: (.*journal\.json)/.exec(out)?.[1] as string)
    assert.deepEqual(readdirSync(runDir).sort(), ['journal.json', 'junit.xml', 'summary.md'])
    const journal = JSON.parse(readFileSync(join(runDir, 'journal.json'), 'utf8')) as {
      experiment: {spec: {spec: {load: {traffic: {headers?: Record<string, string>}[]}}}}
    }
    assert.deepEqual(
      journal.experiment.spec.spec.load.traffic.map(t => t.headers?.['user-agent']).filter(v => v !== undefined),
      ['[redacted]'],
    )
  })

  for (const phase of ['baseline', 'fault', 'recovery'] as const) {
    it(`Ctrl-C in the ${phase} phase exits 3 and leaves nothing behind (a second Ctrl-C does not skip the revert)`, async () => {
      const child = spawn(
        process.execPath,
        [
          'bin/chaos',
          'run',
          'experiments/ratings-abort.yaml',
          '--sandbox',
          '--state-dir',
          sandbox.dir,
          '--report-dir',
          reports,
          '--phases',
          'baseline=4s,fault=20s,recovery=20s',
        ],
        {cwd: REPO},
      )
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
      })
      await until(() => new RegExp(`${phase}\\s+started`).test(out), 60_000)
      child.kill('SIGINT')
      await until(() => /stopping the run and reverting/.test(out), 10_000)
      child.kill('SIGINT')
      const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
      assert.equal(code, 3, out)
      assert.match(out, /Verdict: ABORTED/)
      assert.deepEqual(await virtualServices(), [])
    })
  }

  it('kill -9 mid-fault leaves the fault; chaos revert restores everything from the annotations', async () => {
    await applyBookinfoRouting()
    const before = (await virtualServices()).find(v => v.metadata.name === 'ratings')
    const child = spawn(
      process.execPath,
      [
        'bin/chaos',
        'run',
        'experiments/ratings-abort.yaml',
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
        '--phases',
        'baseline=3s,fault=60s,recovery=3s',
      ],
      {cwd: REPO},
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    await until(() => /fault fired/.test(out), 60_000)
    child.kill('SIGKILL')
    await new Promise(resolve => child.on('exit', resolve))
    const left = (await virtualServices()).find(v => v.metadata.name === 'ratings')
    assert.ok(
      left?.spec.http?.some(r => r.name?.startsWith('faultline:')),
      'the fault is still live after kill -9',
    )
    const polite = await chaos(['revert', '--sandbox', '--state-dir', sandbox.dir])
    assert.equal(polite.code, 0, polite.stderr)
    assert.match(polite.stdout, /left alone — run \S+ may still be running/)
    const r = await chaos(['revert', '--sandbox', '--state-dir', sandbox.dir, '--all'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /✓ default\/ratings: restored/)
    const after = (await virtualServices()).find(v => v.metadata.name === 'ratings')
    assert.deepEqual(after?.spec, before?.spec)
    const again = await chaos(['revert', '--sandbox', '--state-dir', sandbox.dir])
    assert.equal(again.code, 0)
    assert.match(again.stdout, /Nothing to revert/)
  })

  it("reviews-circuit-breaker: its spec.setup patches bookinfo's reviews DestinationRule, the overflow counter rises in the fault phase, and the DestinationRule is back exactly as applied", async () => {
    const reviews = async () => {
      const got = await kubectl('get', 'dr', 'reviews', '-o', 'json')
      assert.equal(got.code, 0, got.stderr)
      const {spec, metadata} = JSON.parse(got.stdout) as {
        spec: unknown
        metadata: {labels?: unknown; annotations?: unknown}
      }
      return {spec, labels: metadata.labels, annotations: metadata.annotations}
    }
    // The sandbox does not seed bookinfo's DestinationRules yet: without them preflight stops, naming reviews (exit 4).
    const missing = await run(
      'experiments/reviews-circuit-breaker.yaml',
      '--phases',
      'baseline=4s,fault=8s,recovery=4s',
    )
    assert.equal(missing.code, 4, missing.stdout + missing.stderr)
    assert.match(missing.stdout, /no DestinationRule reviews in namespace default/)
    // As a real bookinfo install has them (reviews with subsets v1–v3, no trafficPolicy).
    const dr = await kubectl('apply', '-f', join(SAMPLES, 'destination-rule-all.yaml'))
    assert.equal(dr.code, 0, dr.stderr)
    const before = await reviews()
    const r = await run('experiments/reviews-circuit-breaker.yaml', '--phases', 'baseline=4s,fault=8s,recovery=4s')
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /patched DestinationRule default\/reviews/)
    assert.match(r.stdout, /the circuit breaker trips when[^\n]*\bfault\s+held\s+increase=[1-9]/)
    assert.match(r.stdout, /restored DestinationRule default\/reviews/)
    assert.deepEqual(await virtualServices(), [])
    assert.deepEqual(await reviews(), before)
  })

  it('chaos plan --live reads the cluster, runs preflight and writes nothing (exit 4 when a run would stop)', async () => {
    assert.equal((await kubectl('apply', '-f', join(SAMPLES, 'virtual-service-all-v1.yaml'))).code, 0)
    const missingSubsets = await chaos([
      'plan',
      'experiments/ratings-delay.yaml',
      '--sandbox',
      '--state-dir',
      sandbox.dir,
      '-o',
      'diff',
    ])
    assert.equal(missingSubsets.code, 4, missingSubsets.stdout + missingSubsets.stderr)
    assert.match(missingSubsets.stderr, /✗ subsets: routes use subsets no DestinationRule defines: v1 of ratings/)
    assert.equal((await kubectl('apply', '-f', join(SAMPLES, 'destination-rule-all.yaml'))).code, 0)
    const ok = await chaos([
      'plan',
      'experiments/ratings-delay.yaml',
      '--sandbox',
      '--state-dir',
      sandbox.dir,
      '-o',
      'diff',
    ])
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /--- a\/default\/ratings/)
    assert.match(ok.stdout, /\+ {4}- name: faultline:/)
    const ratings = (await virtualServices()).find(v => v.metadata.name === 'ratings')
    assert.equal(
      ratings?.spec.http?.some(r => r.name?.startsWith('faultline:')),
      false,
      'plan wrote nothing',
    )
  })

  it('an unreachable Prometheus stops the run before anything is injected (exit 4)', async () => {
    const file = join(reports, 'promql.yaml')
    const experiment = readFileSync(join(REPO, 'experiments/ratings-delay-promql.yaml'), 'utf8')
    await writeFile(file, experiment)
    const r = await run(file, '--phases', SHORT, '--prometheus-url', 'http://127.0.0.1:9')
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.match(r.stdout, /Prometheus at http:\/\/127\.0\.0\.1:9 did not answer/)
    assert.doesNotMatch(r.stdout, /applied VirtualService/)
    assert.deepEqual(await virtualServices(), [])
  })
})

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the run to get there')
    await new Promise(r => setTimeout(r, 50))
  }
}

describe('chaos run with PromQL probes on an ephemeral sandbox (integration)', function () {
  this.timeout(240_000)

  it('starts its own sandbox with Prometheus, evaluates the mesh-view probes, and stops it again', async function () {
    if (builtCliProblem(['src/commands/run.ts', 'src/runner/target.ts']) !== undefined || !(await have('prometheus'))) {
      console.log('      (skipped: prometheus is not on PATH, or dist/ is stale)')
      return this.skip()
    }
    const empty = await mkdtemp(join(tmpdir(), 'faultline-no-sandbox-'))
    const reports = await mkdtemp(join(tmpdir(), 'faultline-promql-reports-'))
    try {
      // baseline 15s: a 1m rate() needs two scrapes of the baseline's traffic at the sandbox's 5 s interval;
      // fault 20s: the DI series first appears in the fault phase, and increase() needs it in several scrapes
      // (at 10 s a clean-clone CI run under load saw it in one and missed)
      const r = await chaos([
        'run',
        'experiments/ratings-delay-promql.yaml',
        '--sandbox',
        '--state-dir',
        empty,
        '--report-dir',
        reports,
        '--phases',
        'baseline=15s,fault=20s,recovery=5s',
      ])
      assert.ok(r.code === 0 || r.code === 1, r.stdout + r.stderr)
      assert.match(r.stdout, /starting an ephemeral sandbox/)
      assert.match(r.stdout, /productpage 5xx ratio \(mesh view\)\s+baseline\s+held\s+0\b/)
      assert.match(r.stdout, /the delay was injected \(mesh view\)\s+fault\s+held/)
      assert.equal(existsSync(join(empty, 'sandbox.json')), false, 'the ephemeral sandbox was stopped')
      const journalFile = /Journal: (.*journal\.json)/.exec(r.stdout)?.[1] as string
      const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as {
        series: {probe: string; series: {points: [number, number][]}[]; error?: string}[]
      }
      const injected = journal.series.find(s => s.probe === 'the delay was injected (mesh view)')
      assert.ok(
        injected !== undefined && injected.error === undefined,
        JSON.stringify(journal.series.map(s => [s.probe, s.error])),
      )
      assert.ok(
        injected.series.some(s => s.points.length >= 10),
        'a range series over the run, for the report',
      )
    } finally {
      await rm(empty, {recursive: true, force: true})
      await rm(reports, {recursive: true, force: true})
    }
  })
})
