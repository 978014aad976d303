/**
 * `chaos gameday` end to end: the real CLI on a real sandbox (its own process), checked with
 * kubectl. Two short experiments per game day at most: the machine's CPU is shared.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import type {GameDayReport} from '../../src/report/gameday/report.js'
import {chaos, REPO, SAMPLE_VIRTUAL_SERVICES, withDetachedSandbox} from './sandbox-cli.js'

const PHASES = 'baseline=3s,fault=5s,recovery=3s'

/** A probe no run can meet (median under a microsecond), checked only in the fault phase: the copy deviates. */
const IMPOSSIBLE = `    - name: an impossible median (this copy must deviate)
      traffic: control
      thresholds:
        http_req_duration: ["p(50)<0.001"]
      phases: [fault]
`

describe('chaos gameday (integration, real CLI on the sandbox)', function () {
  this.timeout(180_000)
  const sandbox = withDetachedSandbox('gameday-sandbox', [
    'src/commands/gameday.ts',
    'src/gameday/run.ts',
    'src/gameday/entries.ts',
    'src/report/gameday/report.ts',
    'src/runner/run.ts',
  ])
  const {kubectl} = sandbox
  let work: string
  const virtualServices = async () => {
    const r = await kubectl('get', 'vs', '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as {items: {metadata: {name: string}}[]}).items
      .map(v => v.metadata.name)
      .filter(n => !SAMPLE_VIRTUAL_SERVICES.includes(n))
  }
  const reportOf = (reports: string): GameDayReport => {
    const day = join(reports, 'gd-integration')
    const [stamp] = readdirSync(day)
    return JSON.parse(readFileSync(join(day, stamp ?? '', 'gameday.json'), 'utf8')) as GameDayReport
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'faultline-gameday-'))
    const abort = await readFile(join(REPO, 'experiments', 'ratings-abort.yaml'), 'utf8')
    await writeFile(join(work, 'first.yaml'), abort)
    const again = abort
      .replace('name: ratings-abort', 'name: ratings-abort-impossible')
      .replace('  guardrails:', `${IMPOSSIBLE}  guardrails:`)
    assert.notEqual(again, abort)
    await writeFile(join(work, 'second.yaml'), again)
    await writeFile(
      join(work, 'misspelt.yaml'),
      abort.replace('name: ratings-abort', 'name: misspelt').replace('- service: ratings', '- service: ratngs'),
    )
    const gameday = (name: string, second: string) =>
      `apiVersion: faultline.dev/v1alpha1\nkind: GameDay\nmetadata: {name: ${name}}\nspec:\n  cooldown: 1s\n  experiments:\n    - path: first.yaml\n    - path: ${second}\n`
    await writeFile(join(work, 'gameday.yaml'), gameday('gd-integration', 'second.yaml'))
    await writeFile(join(work, 'bad-gameday.yaml'), gameday('gd-bad', 'misspelt.yaml'))
  })

  after(async () => {
    if (work !== undefined) await rm(work, {recursive: true, force: true})
  })

  it("runs both experiments in order, writes the game-day report and each run's, and exits with the worst outcome (1)", async () => {
    const reports = join(work, 'reports-both')
    const r = await chaos([
      'gameday',
      join(work, 'gameday.yaml'),
      '--sandbox',
      '--state-dir',
      sandbox.dir,
      '--report-dir',
      reports,
      '--phases',
      PHASES,
      '--json',
    ])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(r.stderr, /preflight: 2 experiment\(s\) ready/)
    assert.match(r.stderr, /cooldown 1s before ratings-abort-impossible \(2\/2\)/)
    const printed = JSON.parse(r.stdout) as GameDayReport & {dir: string}
    const report = reportOf(reports)
    assert.deepEqual(
      {...printed, dir: undefined, files: undefined},
      {...report, dir: undefined, files: undefined},
      '--json prints gameday.json',
    )
    assert.equal(report.outcome, 'deviated')
    assert.equal(report.exitCode, 1)
    assert.deepEqual(
      report.experiments.map(e => [e.name, e.status, e.outcome]),
      [
        ['ratings-abort', 'ran', 'held'],
        ['ratings-abort-impossible', 'ran', 'deviated'],
      ],
    )
    const day = printed.dir
    for (const file of ['gameday.json', 'gameday.html', 'junit.xml', 'summary.md'])
      assert.ok(existsSync(join(day, file)), file)
    for (const e of report.experiments)
      assert.ok(existsSync(resolve(day, e.report ?? 'missing')), `${e.name}: ${e.report}`)
    assert.equal(readFileSync(join(day, 'junit.xml'), 'utf8').match(/<testsuite /g)?.length, 2)
    assert.deepEqual(await virtualServices(), [])
  })

  it("Ctrl-C in the first experiment's fault phase reverts it, skips the second and exits 3 (a second Ctrl-C does not skip the revert)", async () => {
    const reports = join(work, 'reports-interrupted')
    const child = spawn(
      process.execPath,
      [
        'bin/chaos',
        'gameday',
        join(work, 'gameday.yaml'),
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
        '--phases',
        'baseline=3s,fault=20s,recovery=3s',
        '--metrics-port',
        '0',
      ],
      {cwd: REPO},
    )
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const exited = new Promise<number | null>(resolveExit => child.on('exit', resolveExit))
    await until(() => /fault\s+started/.test(out), 60_000)
    assert.deepEqual(await virtualServices(), ['faultline-ratings'])
    // --metrics-port serves the game day's telemetry while it runs: the live fault is on it.
    const metricsUrl = /metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(out)?.[1]
    assert.ok(metricsUrl !== undefined, out)
    const scraped = await (await fetch(metricsUrl)).text()
    assert.match(scraped, /chaos_fault_active\{experiment="ratings-abort",service="ratings"\} 1/)
    child.kill('SIGINT')
    await until(() => /stopping the run and reverting/.test(out), 10_000)
    child.kill('SIGINT')
    assert.equal(await exited, 3, out)
    const report = reportOf(reports)
    assert.deepEqual(
      report.experiments.map(e => [e.name, e.status, e.outcome]),
      [
        ['ratings-abort', 'ran', 'aborted'],
        ['ratings-abort-impossible', 'skipped', undefined],
      ],
    )
    assert.equal(report.experiments[1]?.reason, 'interrupted (signal)')
    assert.doesNotMatch(out, /── ratings-abort-impossible/)
    assert.deepEqual(await virtualServices(), [])
  })

  it('a misspelt host in the second experiment stops the game day at its shared preflight: exit 4, nothing injected or run', async () => {
    const reports = join(work, 'reports-bad')
    const r = await chaos([
      'gameday',
      join(work, 'bad-gameday.yaml'),
      '--sandbox',
      '--state-dir',
      sandbox.dir,
      '--report-dir',
      reports,
      '--phases',
      PHASES,
    ])
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.match(r.stdout, /game day preflight failed, nothing was run: misspelt \(.*misspelt\.yaml\): .*ratngs/)
    assert.ok(!existsSync(join(reports, 'ratings-abort')), 'the first experiment never started')
    assert.deepEqual(await virtualServices(), [])
    const day = join(reports, 'gd-bad')
    const report = JSON.parse(
      readFileSync(join(day, readdirSync(day)[0] ?? '', 'gameday.json'), 'utf8'),
    ) as GameDayReport
    assert.equal(report.outcome, 'could-not-run')
    assert.deepEqual(
      report.experiments.map(e => e.status),
      ['skipped', 'skipped'],
    )
    // --fail-on deviated: a game day that tested nothing does not fail the gate, and says so.
    const tolerated = await chaos([
      'gameday',
      join(work, 'bad-gameday.yaml'),
      '--sandbox',
      '--state-dir',
      sandbox.dir,
      '--report-dir',
      reports,
      '--fail-on',
      'deviated',
    ])
    assert.equal(tolerated.code, 0, tolerated.stdout + tolerated.stderr)
    assert.match(tolerated.stdout, /--fail-on deviated: the gate tolerated could-not-run \(exit 4\); exit 0/)
  })

  it('chaos run --fail-on: a tolerated outcome exits 0 and --json says what the outcome was', async () => {
    const reports = join(work, 'reports-run')
    const run = (...failOn: string[]) =>
      chaos([
        'run',
        join(work, 'misspelt.yaml'),
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
        '--no-html',
        '--json',
        ...failOn,
      ])
    const strict = await run()
    assert.equal(strict.code, 4, strict.stderr)
    assert.deepEqual(pick(JSON.parse(strict.stdout)), {
      outcome: 'could-not-run',
      exitCode: 4,
      outcomeExitCode: 4,
      failOn: 'any',
      tolerated: false,
    })
    const lenient = await run('--fail-on', 'deviated')
    assert.equal(lenient.code, 0, lenient.stderr)
    assert.deepEqual(pick(JSON.parse(lenient.stdout)), {
      outcome: 'could-not-run',
      exitCode: 0,
      outcomeExitCode: 4,
      failOn: 'deviated',
      tolerated: true,
    })
    assert.match(lenient.stderr, /--fail-on deviated: the gate tolerated could-not-run \(exit 4\); exit 0/)
    assert.equal((await run('--fail-on', 'aborted')).code, 4)
  })
})

function pick(result: Record<string, unknown>): Record<string, unknown> {
  return {
    outcome: result.outcome,
    exitCode: result.exitCode,
    outcomeExitCode: result.outcomeExitCode,
    failOn: result.failOn,
    tolerated: result.tolerated,
  }
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the game day to get there')
    await new Promise(r => setTimeout(r, 50))
  }
}
