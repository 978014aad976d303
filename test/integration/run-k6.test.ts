/**
 * `chaos run --driver k6` end to end through the real CLI: without k6 it stops before anything
 * starts (exit 4, how to install it); with k6 (the fake in test/fixtures/k6, sending real
 * requests through the sandbox's proxy as Go would) a run on an ephemeral sandbox completes.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {builtCliProblem, sh} from './sandbox-cli.js'

const FAKE_K6 = fileURLToPath(new URL('../fixtures/k6/k6', import.meta.url))
const VERSION = 'k6 v2.2.0 (commit/devel, go1.25.12, linux/amd64)'
const SOURCES = [
  'src/commands/run.ts',
  'src/load/k6.ts',
  'src/load/k6-points.ts',
  'src/load/k6-script.ts',
  'src/load/k6-binary.ts',
  'src/runner/run.ts',
]

interface Journal {
  status: string
  outcome: string
  exitCode: number
  environment: {driver: string; driverVersion: string}
  load: Record<string, {second: number; requests: number; statuses: Record<string, number>}[]>
}

describe('chaos run --driver k6 (integration, real CLI)', function () {
  this.timeout(180_000)
  let dir: string

  before(function () {
    const stale = builtCliProblem(SOURCES)
    if (stale !== undefined) {
      console.log(`      (skipped: ${stale})`)
      return this.skip()
    }
  })
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-run-k6-'))
  })
  afterEach(() => rm(dir, {recursive: true, force: true}))

  const chaos = (args: string[], env: NodeJS.ProcessEnv) =>
    sh(process.execPath, ['bin/chaos', ...args], {...process.env, NO_COLOR: '1', ...env})

  it('without k6: exit 4 before any sandbox starts, with how to install k6 or set K6_BINARY', async () => {
    const r = await chaos(
      [
        'run',
        'experiments/ratings-abort.yaml',
        '--driver',
        'k6',
        '--sandbox',
        '--state-dir',
        dir,
        '--report-dir',
        join(dir, 'reports'),
      ],
      {PATH: join(dir, 'no-k6-here'), K6_BINARY: ''},
    )
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.match(r.stderr, /k6 was asked for .* not on PATH and K6_BINARY is not set/)
    assert.match(r.stderr, /Hint: Install k6 .*K6_BINARY/)
    assert.doesNotMatch(r.stdout, /starting an ephemeral sandbox/)
    assert.equal(existsSync(join(dir, 'reports')), false, 'no run folder: nothing started')
  })

  it("on an ephemeral sandbox: the run completes with k6's load and the journal records k6's version", async () => {
    const reports = join(dir, 'reports')
    const r = await chaos(
      [
        'run',
        'experiments/ratings-abort.yaml',
        '--driver',
        'k6',
        '--sandbox',
        '--state-dir',
        join(dir, 'state'),
        '--report-dir',
        reports,
        '--phases',
        'baseline=2s,fault=3s,recovery=2s',
      ],
      {K6_BINARY: FAKE_K6, FAKE_K6_HTTP: '1'},
    )
    assert.match(r.stdout, new RegExp(`load driver: ${VERSION.replace(/[()]/g, '\\$&')}`))
    assert.ok(r.code === 0 || r.code === 1, `a verdict, not a failure to run: exit ${r.code}\n${r.stdout}${r.stderr}`)
    const journalFile = /Journal: (.*journal\.json)/.exec(r.stdout)?.[1]
    assert.ok(journalFile !== undefined, r.stdout)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as Journal
    assert.equal(journal.status, 'finished')
    assert.deepEqual(journal.environment.driver, 'k6')
    assert.equal(journal.environment.driverVersion, VERSION)
    for (const traffic of ['targeted', 'control']) {
      const seconds = journal.load[traffic] ?? []
      const requests = seconds.reduce((n, s) => n + s.requests, 0)
      // 5/s for 7 s of phases (k6 starts a moment after the load clock)
      assert.ok(requests >= 25, `${traffic}: ${requests} requests`)
      assert.equal(new Set(seconds.map(s => s.second)).size, seconds.length, `${traffic}: each second sealed once`)
      // productpage resolves only inside the sandbox: a 200 means the request went through its proxy.
      const ok = seconds.reduce((n, s) => n + (s.statuses['200'] ?? 0), 0)
      assert.ok(ok >= requests * 0.9, `${traffic}: ${ok} of ${requests} answered 200 through the sandbox proxy`)
    }
  })
})
