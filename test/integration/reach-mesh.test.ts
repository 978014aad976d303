/**
 * Reaching the mesh, end to end through the built CLI on a detached sandbox: a run whose load URL
 * does not resolve from here stops in preflight (exit 4, within seconds, nothing injected) naming
 * ENOTFOUND and the ways in, and so do a game day's shared preflight (before its first experiment)
 * and `chaos plan --live`; and the sandbox's own kubeconfig, which carries its proxy
 * (faultline.dev/sandbox), runs an experiment exactly as --sandbox does.
 */
import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {parse, stringify} from 'yaml'

import type {GameDayReport} from '../../src/report/gameday/report.js'
import {besidesSample, chaos, REPO, withDetachedSandbox} from './sandbox-cli.js'

const SHORT = 'baseline=3s,fault=6s,recovery=3s'

describe('reaching the mesh (integration, real CLI on the sandbox)', function () {
  this.timeout(180_000)
  const sandbox = withDetachedSandbox('reach-mesh', [
    'src/runner/reachability.ts',
    'src/runner/run.ts',
    'src/runner/live-plan.ts',
    'src/commands/plan.ts',
    'src/commands/gameday.ts',
    'src/gameday/entries.ts',
    'src/cli/way-in.ts',
    'src/runner/target.ts',
    'src/cluster/connect.ts',
    'packages/sandbox/src/kubeconfig.ts',
    'packages/sandbox/src/sandbox.ts',
    'src/load/reasons.ts',
  ])
  const {kubectl} = sandbox

  afterEach(() => kubectl('delete', 'vs,dr', '--all'))

  /** The sandbox's kubeconfig without its extension: a cluster whose services do not resolve from this machine. */
  function plainKubeconfig(): string {
    const doc = parse(readFileSync(sandbox.state.kubeconfig, 'utf8')) as {
      clusters: {cluster: Record<string, unknown>}[]
    }
    for (const c of doc.clusters) delete c.cluster['extensions']
    const plain = join(sandbox.dir, 'plain-kubeconfig')
    writeFileSync(plain, stringify(doc), {mode: 0o600})
    return plain
  }

  it("a load URL that does not resolve (the sandbox's API without its proxy): exit 4 within seconds, ENOTFOUND and the ways in everywhere, nothing injected", async () => {
    const plain = plainKubeconfig()
    const reports = join(sandbox.dir, 'reports-unresolved')
    const started = Date.now()
    const r = await chaos(['run', 'experiments/ratings-abort.yaml', '--kubeconfig', plain, '--report-dir', reports])
    const seconds = (Date.now() - started) / 1000
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.ok(seconds < 20, `took ${seconds} s`)
    const journalFile = /Journal: (.*journal\.json)/.exec(r.stdout)?.[1]
    assert.ok(journalFile !== undefined, r.stdout)
    const runDir = journalFile.replace(/journal\.json$/, '')
    for (const [where, text] of [
      ['console', r.stdout + r.stderr],
      ...['journal.json', 'report.html', 'summary.md', 'junit.xml'].map(f => [
        f,
        readFileSync(join(runDir, f), 'utf8'),
      ]),
    ]) {
      assert.match(text ?? '', /ENOTFOUND productpage/, where)
      assert.match(text ?? '', /Ways into the mesh/, where)
    }
    const vs = await kubectl('get', 'vs', '-o', 'name')
    assert.deepEqual(besidesSample(vs.stdout), [], 'nothing was injected')
  })

  it("chaos run --kubeconfig <state-dir>/kubeconfig enters the mesh through the sandbox's proxy: the same outcome as --sandbox", async () => {
    const kubeconfig = join(sandbox.dir, 'kubeconfig')
    assert.match(
      readFileSync(kubeconfig, 'utf8'),
      /name: faultline\.dev\/sandbox[\s\S]*proxy: http:\/\/127\.0\.0\.1:\d+/,
    )
    const byKubeconfig = await chaos([
      'run',
      'experiments/ratings-abort.yaml',
      '--kubeconfig',
      kubeconfig,
      '--phases',
      SHORT,
      '--report-dir',
      join(sandbox.dir, 'reports-kubeconfig'),
      '--json',
    ])
    const bySandbox = await chaos([
      'run',
      'experiments/ratings-abort.yaml',
      '--sandbox',
      '--state-dir',
      sandbox.dir,
      '--phases',
      SHORT,
      '--report-dir',
      join(sandbox.dir, 'reports-sandbox'),
      '--json',
    ])
    const outcome = (r: {stdout: string}) => (JSON.parse(r.stdout) as {outcome: string}).outcome
    assert.equal(
      byKubeconfig.code,
      bySandbox.code,
      `--kubeconfig: ${byKubeconfig.stdout}${byKubeconfig.stderr}\n--sandbox: ${bySandbox.stdout}${bySandbox.stderr}`,
    )
    assert.equal(outcome(byKubeconfig), outcome(bySandbox))
    assert.match(byKubeconfig.stderr, /through its proxy http:\/\/127\.0\.0\.1:\d+/)
    assert.doesNotMatch(byKubeconfig.stderr, /ENOTFOUND/)
  })

  it("a game day whose second experiment's load URL does not resolve stops at its shared preflight, before the first injects anything: exit 4 within seconds, naming the file, the class and ENOTFOUND", async () => {
    const plain = plainKubeconfig()
    // The first enters through the sandbox's proxy (its own spec.load.entry), the second as written: from this machine.
    const abort = readFileSync(join(REPO, 'experiments', 'ratings-abort.yaml'), 'utf8')
    const proxied = abort
      .replace('name: ratings-abort', 'name: through-the-proxy')
      .replace('  load:\n', `  load:\n    entry: {proxy: "${sandbox.state.proxy}"}\n`)
    assert.notEqual(proxied, abort)
    writeFileSync(join(sandbox.dir, 'through-the-proxy.yaml'), proxied)
    writeFileSync(join(sandbox.dir, 'unresolved.yaml'), abort.replace('name: ratings-abort', 'name: unresolved'))
    const file = join(sandbox.dir, 'reach-gameday.yaml')
    writeFileSync(
      file,
      'apiVersion: faultline.dev/v1alpha1\nkind: GameDay\nmetadata: {name: gd-reach}\nspec:\n  experiments:\n    - path: through-the-proxy.yaml\n    - path: unresolved.yaml\n',
    )
    const reports = join(sandbox.dir, 'reports-gameday-unresolved')
    const started = Date.now()
    const r = await chaos(['gameday', file, '--kubeconfig', plain, '--report-dir', reports, '--phases', SHORT])
    const seconds = (Date.now() - started) / 1000
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.ok(seconds < 20, `took ${seconds} s`)
    assert.match(
      r.stdout,
      /game day preflight failed, nothing was run: unresolved \(.*unresolved\.yaml\): traffic class targeted cannot reach http:\/\/productpage:9080\/productpage: (ENOTFOUND|EAI_AGAIN) productpage/,
    )
    assert.match(r.stdout, /Ways into the mesh/)
    assert.doesNotMatch(r.stdout, /through-the-proxy \(/, 'the first experiment reaches the mesh')
    assert.ok(!existsSync(join(reports, 'through-the-proxy')), 'the first experiment never started')
    const day = join(reports, 'gd-reach')
    const report = JSON.parse(
      readFileSync(join(day, readdirSync(day)[0] ?? '', 'gameday.json'), 'utf8'),
    ) as GameDayReport
    assert.equal(report.outcome, 'could-not-run')
    assert.deepEqual(
      report.experiments.map(e => e.status),
      ['skipped', 'skipped'],
    )
    const vs = await kubectl('get', 'vs', '-o', 'name')
    assert.deepEqual(besidesSample(vs.stdout), [], 'nothing was injected')
  })

  it('chaos plan --live runs the reachability check: ✗ and exit 4 within seconds where the URL does not resolve, ✓ through the sandbox’s proxy; writes nothing', async () => {
    const started = Date.now()
    const unresolved = await chaos(['plan', 'experiments/ratings-abort.yaml', '--kubeconfig', plainKubeconfig()])
    const seconds = (Date.now() - started) / 1000
    assert.equal(unresolved.code, 4, unresolved.stdout + unresolved.stderr)
    assert.ok(seconds < 20, `took ${seconds} s`)
    assert.match(
      unresolved.stderr,
      /preflight ✗ reachability: traffic class targeted cannot reach http:\/\/productpage:9080\/productpage: (ENOTFOUND|EAI_AGAIN) productpage .*Ways into the mesh/,
    )
    assert.match(unresolved.stderr, /A run would stop here, before injecting anything \(exit 4\)/)
    const reached = await chaos([
      'plan',
      'experiments/ratings-abort.yaml',
      '--kubeconfig',
      join(sandbox.dir, 'kubeconfig'),
    ])
    assert.equal(reached.code, 0, reached.stdout + reached.stderr)
    assert.match(
      reached.stderr,
      /preflight ✓ reachability: every traffic class reaches http:\/\/productpage:9080\/productpage through the proxy http:\/\/127\.0\.0\.1:\d+ \(3 requests each\)/,
    )
    const vs = await kubectl('get', 'vs', '-o', 'name')
    assert.deepEqual(besidesSample(vs.stdout), [], 'plan wrote nothing')
  })
})
