/**
 * `chaos run --driver k6-operator` end to end through the real CLI on a detached sandbox, whose
 * controller plays grafana/k6-operator: ratings-delay and ratings-abort with `parallelism: 3` get
 * the builtin driver's verdicts, a fault on productpage the builtin driver's failure reasons
 * (`503 FI`), and no TestRun, ConfigMap, runner pod or k6 process is left behind — also after
 * Ctrl-C in the fault phase. The runners are the fake k6 (test/fixtures/k6), sending
 * real requests through the sandbox's proxy and remote-writing to its Prometheus; with
 * K6_BINARY pointing at a real k6 (e.g. ../shared/tools/k6/k6) the same runs use it.
 */
import assert from 'node:assert/strict'
import {execFile, spawn} from 'node:child_process'
import {existsSync, readFileSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {promisify} from 'node:util'

import {connect} from '../../src/cluster/connect.js'
import {k6OperatorApi} from '../../src/cluster/k6-operator.js'
import {findPrometheus} from '@faultline/sandbox/prometheus.js'
import {builtCliProblem, DEVIATION_PHASES, REPO, sh} from './sandbox-cli.js'

const FAKE_K6 = fileURLToPath(new URL('../fixtures/k6/k6', import.meta.url))
const SOURCES = [
  'src/commands/run.ts',
  'src/runner/leftovers.ts',
  'src/runner/k6-operator-cleanup.ts',
  'src/load/k6-operator.ts',
  'src/load/k6-operator-plan.ts',
  'src/load/k6-operator-promql.ts',
  'src/load/k6-operator-feed.ts',
  'packages/sandbox/src/k6-operator.ts',
  'packages/sandbox/src/sandbox.ts',
  'src/runner/run.ts',
]
const PHASES = 'baseline=5s,fault=8s,recovery=5s'

/** The k6 the runners run: K6_BINARY when it is set and exists, else the fake. */
function runnerK6(): {binary: string; real: boolean} {
  const given = process.env.K6_BINARY
  if (given !== undefined && given !== '' && existsSync(given)) return {binary: given, real: true}
  return {binary: FAKE_K6, real: false}
}

/** Each class's failure reasons over a run, from its journal's per-second series. */
function reasonsIn(journalFile: string): Record<string, Record<string, number>> {
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as {
    load: Record<string, {reasons?: Record<string, number>}[]>
  }
  const out: Record<string, Record<string, number>> = {}
  for (const [traffic, seconds] of Object.entries(journal.load)) {
    const sum: Record<string, number> = {}
    for (const s of seconds) for (const [r, n] of Object.entries(s.reasons ?? {})) sum[r] = (sum[r] ?? 0) + n
    out[traffic] = sum
  }
  return out
}

/** The journal a run's output names. */
function journalOf(stdout: string): string {
  const file = /Journal: (.*journal\.json)/.exec(stdout)?.[1]
  assert.ok(file !== undefined, stdout)
  return file
}

/** Each class's reason labels, sorted. */
function labelsOf(reasons: Record<string, Record<string, number>>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(reasons).map(([traffic, r]) => [traffic, Object.keys(r).sort()]))
}

describe('chaos run --driver k6-operator (integration, real CLI on the sandbox)', function () {
  this.timeout(300_000)
  let dir: string
  let kubeconfig: string
  const k6 = runnerK6()

  before(async function () {
    const stale = builtCliProblem(SOURCES)
    const problem =
      stale ??
      (findPrometheus() === undefined
        ? "no prometheus on PATH: the runners' metrics come back only through Prometheus"
        : undefined)
    if (problem !== undefined) {
      console.log(`      (skipped: ${problem})`)
      return this.skip()
    }
    console.log(
      `      (runners: ${k6.real ? `the real k6 at ${k6.binary}` : 'the fake k6 (set K6_BINARY to a real k6 to run them with it)'})`,
    )
    dir = await mkdtemp(join(tmpdir(), 'faultline-k6-operator-'))
    const up = await sh(
      process.execPath,
      ['bin/chaos', 'sandbox', 'up', '--detach', '--state-dir', join(dir, 'state'), '--json'],
      {...process.env, NO_COLOR: '1', K6_BINARY: k6.binary, FAKE_K6_HTTP: '1'},
    )
    assert.equal(up.code, 0, up.stdout + up.stderr)
    kubeconfig = (JSON.parse(up.stdout) as {state: {kubeconfig: string}}).state.kubeconfig
  })

  after(async () => {
    if (dir === undefined) return
    await sh(process.execPath, ['bin/chaos', 'sandbox', 'down', '--state-dir', join(dir, 'state')])
    await rm(dir, {recursive: true, force: true})
  })

  /** The example with `spec.load.k6Operator.parallelism: 3` (and `edit`), in the test's folder as `name`. */
  async function withParallelism(example: string, edit = (text: string) => text, name = example): Promise<string> {
    const text = edit(readFileSync(join(REPO, 'experiments', example), 'utf8'))
    assert.match(text, /^ {2}load:\n/m)
    const file = join(dir, name)
    await writeFile(file, text.replace(/^ {2}load:\n/m, '  load:\n    k6Operator: {parallelism: 3}\n'))
    return file
  }

  const run = (file: string, driver: string, phases = PHASES) =>
    sh(
      process.execPath,
      [
        'bin/chaos',
        'run',
        file,
        '--sandbox',
        '--state-dir',
        join(dir, 'state'),
        '--report-dir',
        join(dir, 'reports'),
        '--phases',
        phases,
        '--driver',
        driver,
      ],
      {...process.env, NO_COLOR: '1'},
    )

  /** Every TestRun, ConfigMap and runner pod of ours, and every k6 runner process still alive. */
  async function leftovers(): Promise<string[]> {
    const cluster = connect({kubeconfig})
    assert.ok(cluster !== undefined)
    const api = k6OperatorApi(cluster)
    assert.ok(api !== undefined)
    const left = [
      ...(await api.listTestRuns('default', 'faultline.dev/managed=true')).map(t => `TestRun ${t.name}`),
      ...(await api.listConfigMaps('default', 'faultline.dev/managed=true')).map(c => `ConfigMap ${c.name}`),
      ...(await api.listPods('default', 'app=k6')).map(p => `pod ${p.name}`),
    ]
    const {stdout} = await promisify(execFile)('ps', ['-eo', 'pid,args'])
    left.push(
      ...stdout
        .split('\n')
        .filter(l => /testrun_name=faultline-k6-/.test(l))
        .map(l => `process ${l.trim()}`),
    )
    return left
  }

  for (const [example, expected] of [
    ['ratings-delay.yaml', 1],
    ['ratings-abort.yaml', 0],
  ] as const) {
    it(`${example}: parallelism 3 gets the builtin driver's verdict (exit ${expected}) and leaves nothing behind`, async () => {
      const phases = example === 'ratings-delay.yaml' ? DEVIATION_PHASES : PHASES
      const builtin = await run(join(REPO, 'experiments', example), 'builtin', phases)
      assert.equal(builtin.code, expected, `builtin: ${builtin.stdout}${builtin.stderr}`)
      const file = await withParallelism(example)
      const r = await run(file, 'k6-operator', phases)
      assert.equal(r.code, builtin.code, `k6-operator: ${r.stdout}${r.stderr}`)
      assert.match(r.stdout, /k6-operator sidecars: the mesh injects/)
      assert.match(r.stdout, /TestRun default\/faultline-k6-\S+: 3 runners, each sending 1\/3 of every class/)
      assert.match(r.stdout, /k6-operator started: TestRun \S+ started/)
      const journalFile = /Journal: (.*journal\.json)/.exec(r.stdout)?.[1]
      assert.ok(journalFile !== undefined, r.stdout)
      const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as {
        environment: {driver: string}
        load: Record<string, {requests: number; statuses: Record<string, number>}[]>
      }
      assert.equal(journal.environment.driver, 'k6-operator')
      for (const traffic of ['targeted', 'control']) {
        const requests = (journal.load[traffic] ?? []).reduce((n, s) => n + s.requests, 0)
        // 5/s over 18 s of phases, split across three runners.
        assert.ok(requests >= 60, `${traffic}: ${requests} requests in the journal's per-second series`)
      }
      if (example === 'ratings-abort.yaml') {
        // productpage degrades gracefully: the builtin run's load sees no failures, nor must this one.
        const expected = reasonsIn(journalOf(builtin.stdout))
        assert.deepEqual(labelsOf(reasonsIn(journalFile)), labelsOf(expected))
      }
      assert.deepEqual(await leftovers(), [])
    })
  }

  it("productpage aborted: the k6-operator run counts the load's failures under the builtin run's reasons (503 FI)", async () => {
    // ratings-abort with its fault on the Service the load calls: half the targeted requests fail at the client's sidecar.
    const file = await withParallelism(
      'ratings-abort.yaml',
      text => text.replace(/^ {4}- service: ratings$/m, '    - service: productpage'),
      'productpage-abort.yaml',
    )
    assert.match(readFileSync(file, 'utf8'), /- service: productpage/)
    const builtin = await run(file, 'builtin')
    const r = await run(file, 'k6-operator')
    assert.equal(r.code, builtin.code, `k6-operator: ${r.stdout}${r.stderr}\nbuiltin: ${builtin.stdout}`)
    const expected = reasonsIn(journalOf(builtin.stdout))
    assert.ok(
      (expected['targeted']?.['503 FI'] ?? 0) > 0,
      `the builtin run saw the aborts: ${JSON.stringify(expected)}`,
    )
    const journalFile = journalOf(r.stdout)
    const got = reasonsIn(journalFile)
    assert.deepEqual(labelsOf(got), labelsOf(expected))
    // Every failure labelled, none twice (a reason pushed a step after its request may label the next one).
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as {load: Record<string, {failed: number}[]>}
    for (const [traffic, seconds] of Object.entries(journal.load)) {
      const failed = seconds.reduce((n, s) => n + s.failed, 0)
      const labelled = Object.entries(got[traffic] ?? {})
        .filter(([reason]) => !/^(\d+|error)$/.test(reason))
        .reduce((n, [, c]) => n + c, 0)
      assert.ok(labelled <= failed && labelled >= failed - 1, `${traffic}: ${labelled} of ${failed} failures labelled`)
    }
    assert.deepEqual(await leftovers(), [])
  })

  it('Ctrl-C in the fault phase: exit 3, reverted, and no TestRun, ConfigMap, pod or k6 process left', async () => {
    const file = await withParallelism('ratings-abort.yaml')
    const child = spawn(
      process.execPath,
      [
        'bin/chaos',
        'run',
        file,
        '--sandbox',
        '--state-dir',
        join(dir, 'state'),
        '--report-dir',
        join(dir, 'reports'),
        '--phases',
        'baseline=5s,fault=60s,recovery=5s',
        '--driver',
        'k6-operator',
      ],
      {cwd: REPO, env: {...process.env, NO_COLOR: '1'}},
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const deadline = Date.now() + 120_000
    while (!/fault\s+started/.test(out) && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
    assert.match(out, /fault\s+started/)
    assert.ok(
      (await leftovers()).some(l => l.startsWith('TestRun')),
      'the TestRun runs during the fault',
    )
    child.kill('SIGINT')
    const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
    assert.equal(code, 3, out)
    assert.deepEqual(await leftovers(), [])
  })

  it('kill -9 in the fault phase leaves the TestRun running; chaos revert --all deletes it, its ConfigMap and its runners', async () => {
    const file = await withParallelism('ratings-abort.yaml')
    const child = spawn(
      process.execPath,
      [
        'bin/chaos',
        'run',
        file,
        '--sandbox',
        '--state-dir',
        join(dir, 'state'),
        '--report-dir',
        join(dir, 'reports'),
        '--phases',
        'baseline=5s,fault=60s,recovery=5s',
        '--driver',
        'k6-operator',
      ],
      {cwd: REPO, env: {...process.env, NO_COLOR: '1'}},
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const deadline = Date.now() + 120_000
    while (!/fault\s+started/.test(out) && Date.now() < deadline) await new Promise(r => setTimeout(r, 100))
    child.kill('SIGKILL')
    await new Promise(resolve => child.on('exit', resolve))
    const left = await leftovers()
    assert.ok(
      left.some(l => l.startsWith('TestRun')) &&
        left.some(l => l.startsWith('ConfigMap')) &&
        left.some(l => l.startsWith('process')),
      left.join('\n'),
    )
    const revert = await sh(
      process.execPath,
      ['bin/chaos', 'revert', '--sandbox', '--state-dir', join(dir, 'state'), '--all'],
      {...process.env, NO_COLOR: '1'},
    )
    assert.equal(revert.code, 0, revert.stdout + revert.stderr)
    assert.match(revert.stdout, /TestRun\/faultline-k6-\S+: deleted/)
    assert.match(revert.stdout, /ConfigMap\/faultline-k6-\S+: deleted/)
    assert.deepEqual(await leftovers(), [])
  })
})
