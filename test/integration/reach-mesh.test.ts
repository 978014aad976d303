/**
 * Reaching the mesh, end to end through the built CLI on a detached sandbox: a run whose load URL
 * does not resolve from here stops in preflight (exit 4, within seconds, nothing injected) naming
 * ENOTFOUND and the ways in; and the sandbox's own kubeconfig, which carries its proxy
 * (faultline.dev/sandbox), runs an experiment exactly as --sandbox does.
 */
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {parse, stringify} from 'yaml'

import {besidesSample, chaos, withDetachedSandbox} from './sandbox-cli.js'

const SHORT = 'baseline=3s,fault=6s,recovery=3s'

describe('reaching the mesh (integration, real CLI on the sandbox)', function () {
  this.timeout(180_000)
  const sandbox = withDetachedSandbox('reach-mesh', [
    'src/runner/reachability.ts',
    'src/runner/run.ts',
    'src/runner/target.ts',
    'src/cluster/connect.ts',
    'packages/sandbox/src/kubeconfig.ts',
    'packages/sandbox/src/sandbox.ts',
    'src/load/reasons.ts',
  ])
  const {kubectl} = sandbox

  afterEach(() => kubectl('delete', 'vs,dr', '--all'))

  it("a load URL that does not resolve (the sandbox's API without its proxy): exit 4 within seconds, ENOTFOUND and the ways in everywhere, nothing injected", async () => {
    // The sandbox's kubeconfig without its extension: a cluster whose services do not resolve from this machine.
    const doc = parse(readFileSync(sandbox.state.kubeconfig, 'utf8')) as {
      clusters: {cluster: Record<string, unknown>}[]
    }
    for (const c of doc.clusters) delete c.cluster['extensions']
    const plain = join(sandbox.dir, 'plain-kubeconfig')
    writeFileSync(plain, stringify(doc), {mode: 0o600})
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
})
