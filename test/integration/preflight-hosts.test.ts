/**
 * A fault's host must exist: the real CLI against a running sandbox. `chaos plan --live` and
 * `chaos run` stop (exit 4, nothing written) on a misspelt host with a did-you-mean, and the
 * Services preflight reads are the ones kubectl shows, formatted as on a real cluster.
 */
import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {parse} from 'yaml'

import type {SandboxState} from '@faultline/sandbox/state.js'
import {ensureBuilt} from '../cli.js'
import {
  besidesSample,
  chaos,
  type DetachedSandbox,
  kubectlProblem,
  REPO,
  sh,
  startDetachedSandbox,
} from './sandbox-cli.js'

describe("preflight: the faults' hosts exist (integration, real CLI on the sandbox)", function () {
  this.timeout(120_000)
  let sandbox: DetachedSandbox | undefined
  let dir: string
  let state: SandboxState
  let typo: string

  before(async function () {
    this.timeout(300_000)
    await ensureBuilt([
      'src/runner/preflight.ts',
      'src/cluster/kube.ts',
      'packages/sandbox/src/apiserver.ts',
      'packages/sandbox/src/apiserver/services.ts',
      'src/commands/plan.ts',
      'src/commands/run.ts',
    ])
    sandbox = await startDetachedSandbox('hosts')
    ;({dir, state} = sandbox)
    const original = await readFile(join(REPO, 'experiments/ratings-abort.yaml'), 'utf8')
    assert.match(original, /^ {4}- service: ratings$/m)
    typo = join(dir, 'ratngs-abort.yaml')
    await writeFile(typo, original.replace(/^( {4}- service: )ratings$/m, '$1ratngs'))
  })

  after(() => sandbox?.stop())

  it('chaos plan --live passes the hosts check for ratings-abort as it is', async () => {
    const r = await chaos(['plan', 'experiments/ratings-abort.yaml', '--live', '--sandbox', '--state-dir', dir])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /^preflight ✓ hosts: the faults' Services exist: ratings\.default$/m)
  })

  it('chaos plan --live on a misspelt host: exit 4 with a did-you-mean', async () => {
    const r = await chaos(['plan', typo, '--live', '--sandbox', '--state-dir', dir])
    assert.equal(r.code, 4, r.stderr)
    assert.match(
      r.stderr,
      /^preflight ✗ hosts: no Service ratngs in namespace default \(ratngs → ratngs\.default\.svc\.cluster\.local\): did you mean "ratings"\?/m,
    )
    assert.match(
      r.stderr,
      /Fix spec\.faults\[0\]\.service\. Services in default: details, productpage, ratings, reviews\./,
    )
    assert.match(r.stderr, /A run would stop here, before injecting anything \(exit 4\)\./)
  })

  it('chaos run on a misspelt host: exit 4 before any load or write, with the did-you-mean', async () => {
    const reports = join(dir, 'reports')
    const r = await chaos(['run', typo, '--sandbox', '--state-dir', dir, '--report-dir', reports, '--json'])
    assert.equal(r.code, 4, r.stderr + r.stdout)
    const result = JSON.parse(r.stdout) as {outcome: string; reason: string; journalFile: string}
    assert.equal(result.outcome, 'could-not-run')
    assert.match(result.reason, /^preflight failed: no Service ratngs in namespace default .*did you mean "ratings"\?/)
    const journal = JSON.parse(await readFile(result.journalFile, 'utf8')) as {outcome: string; applied: unknown[]}
    assert.deepEqual([journal.outcome, journal.applied], ['could-not-run', []])
  })

  describe('kubectl get svc, as on a cluster', () => {
    let kubectl: (...args: string[]) => ReturnType<typeof sh>
    before(async function () {
      const problem = await kubectlProblem()
      if (problem !== undefined) {
        console.log(`      (skipped: ${problem})`)
        return this.skip()
      }
      kubectl = (...args) =>
        sh('kubectl', ['--kubeconfig', state.kubeconfig, '--cache-dir', join(dir, 'kube-cache'), ...args])
    })

    it("lists bookinfo's Services with kube-apiserver's columns", async () => {
      const r = await kubectl('get', 'svc')
      assert.equal(r.code, 0, r.stderr)
      const [header, ...rows] = r.stdout
        .trim()
        .split('\n')
        .map(l => l.split(/\s+/))
      assert.deepEqual(header, ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE'])
      assert.deepEqual(
        rows.map(c => [c[0], c[1], c[3], c[4]]),
        ['details', 'productpage', 'ratings', 'reviews'].map(n => [n, 'ClusterIP', '<none>', '9080/TCP']),
      )
      for (const c of rows) assert.match(c[5] ?? '', /^\d+(s|m\d*s?)$/)
      const wide = await kubectl('get', 'svc', 'ratings', '-o', 'wide')
      assert.deepEqual(
        wide.stdout
          .trim()
          .split('\n')
          .map(l => l.split(/\s+/).at(-1)),
        ['SELECTOR', 'app=ratings'],
      )
    })

    it('prints one Service as YAML, selects by label, and names a missing one', async () => {
      const yaml = await kubectl('get', 'svc', 'reviews', '-o', 'yaml')
      assert.equal(yaml.code, 0, yaml.stderr)
      const svc = parse(yaml.stdout) as {
        apiVersion: string
        kind: string
        metadata: {name: string; labels: Record<string, string>}
        spec: {selector: Record<string, string>; ports: unknown[]; type: string}
      }
      assert.deepEqual(
        [svc.apiVersion, svc.kind, svc.metadata.name, svc.spec.type],
        ['v1', 'Service', 'reviews', 'ClusterIP'],
      )
      assert.deepEqual(svc.metadata.labels, {app: 'reviews', service: 'reviews'})
      assert.deepEqual(svc.spec.selector, {app: 'reviews'})
      assert.deepEqual(svc.spec.ports, [{name: 'http', port: 9080, protocol: 'TCP', targetPort: 9080}])
      const byLabel = await kubectl('get', 'svc', '-l', 'app=reviews', '-o', 'name')
      assert.equal(byLabel.stdout.trim(), 'service/reviews')
      const missing = await kubectl('get', 'svc', 'ratngs')
      assert.equal(missing.code, 1)
      assert.equal(missing.stderr.trim(), 'Error from server (NotFound): services "ratngs" not found')
    })

    it('left nothing behind from the refused run', async () => {
      const r = await kubectl('get', 'vs', '-o', 'name')
      assert.deepEqual(besidesSample(r.stdout), [])
    })
  })
})
