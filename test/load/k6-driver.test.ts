/**
 * The k6 driver's process plumbing against a fake k6 (test/fixtures/k6): arguments, environment,
 * streaming, exit codes, stopping and killing. The fake writes points the way k6 v2 does.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync, rmSync} from 'node:fs'
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {ExitCode} from '@faultline/core/errors.js'
import type {LoadPlan} from '../../src/load/driver.js'
import {findK6, K6Driver, K6Failed, K6Unavailable, k6ProxyProblem} from '../../src/load/k6.js'
import {Recorder, type SecondStats} from '../../src/load/recorder.js'

const FAKE_DIR = fileURLToPath(new URL('../fixtures/k6/', import.meta.url))
const FAKE = join(FAKE_DIR, 'k6')
const VERSION = 'k6 v2.2.0 (commit/devel, go1.25.12, linux/amd64)'

interface Recorded {
  pid: number
  args: string[]
  env: Record<string, string | undefined>
  script: string
}

const plan = (over: Partial<LoadPlan> = {}): LoadPlan => ({
  url: 'http://productpage:9080/productpage',
  method: 'GET',
  durationMs: 60_000,
  requestTimeoutMs: 5000,
  traffic: [
    {name: 'targeted', ratePerSecond: 20, headers: {'x-chaos-test': 'true'}},
    {name: 'control', ratePerSecond: 20, headers: {}},
  ],
  ...over,
})

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('k6 load driver (fake k6)', function () {
  this.timeout(30_000)
  let dir: string
  let record: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-k6-test-'))
    record = join(dir, 'record.json')
  })
  afterEach(() => rm(dir, {recursive: true, force: true}))

  /** Runs the driver against the fake with `env`, stopping it after `stopAfterMs` (or aborting). */
  async function run(
    env: Record<string, string>,
    {
      stopAfterMs = 2500,
      abortAfterMs,
      p = plan(),
      recorder = new Recorder(p.traffic.map(t => t.name)),
      stopGraceMs,
    }: {stopAfterMs?: number; abortAfterMs?: number; p?: LoadPlan; recorder?: Recorder; stopGraceMs?: number} = {},
  ) {
    rmSync(record, {force: true})
    const stop = new AbortController()
    const abort = new AbortController()
    const sealedAt: {second: SecondStats; ms: number}[] = []
    const started = Date.now()
    recorder.onSecond(second => sealedAt.push({second, ms: Date.now() - started}))
    // The clock for stopping starts once the fake has started (node takes a while to), so a signal
    // reaches its handlers rather than node's defaults.
    let timer: NodeJS.Timeout | undefined
    const poll = setInterval(() => {
      if (!existsSync(record)) return
      clearInterval(poll)
      timer =
        abortAfterMs === undefined
          ? setTimeout(() => stop.abort(), stopAfterMs)
          : setTimeout(() => abort.abort(), abortAfterMs)
    }, 10)
    const warnings: string[] = []
    const driver = new K6Driver({
      env: {...process.env, K6_BINARY: FAKE, FAKE_K6_RECORD: record, ...env},
      warn: m => warnings.push(m),
      ...(stopGraceMs === undefined ? {} : {stopGraceMs}),
    })
    try {
      await driver.run(p, recorder, {stop: stop.signal, abort: abort.signal})
      return {
        recorder,
        sealedAt,
        tookMs: Date.now() - started,
        warnings,
        recorded: JSON.parse(readFileSync(record, 'utf8')) as Recorded,
      }
    } finally {
      clearInterval(poll)
      clearTimeout(timer)
    }
  }

  const total = (r: Recorder, traffic: string, field: 'requests' | 'dropped' | 'failed' = 'requests') =>
    r.seconds(traffic).reduce((n, s) => n + s[field], 0)

  it("records `k6 version`'s first line", async () => {
    const driver = new K6Driver({env: {...process.env, K6_BINARY: FAKE}})
    assert.equal(await driver.version(), VERSION)
    assert.equal(driver.name, 'k6')
  })

  it('runs k6 with --no-usage-report --quiet --out json=… and K6_NO_USAGE_REPORT=true, then removes its files and process', async () => {
    const {recorded} = await run({}, {stopAfterMs: 1000})
    const [command, ...rest] = recorded.args
    assert.equal(command, 'run')
    assert.deepEqual(rest.slice(0, 3), ['--no-usage-report', '--quiet', '--out'])
    assert.match(rest[3] ?? '', /^json=.*points\.jsonl$/)
    assert.equal(recorded.env.K6_NO_USAGE_REPORT, 'true')
    assert.match(recorded.script, /executor":"constant-arrival-rate"/)
    assert.equal(existsSync(dirname(rest[4] ?? '/')), false, 'the temporary script directory is removed')
    assert.equal(alive(recorded.pid), false)
  })

  it('streams points into the recorder while k6 runs: per class, status and latency', async () => {
    const {recorder, sealedAt, tookMs, warnings} = await run(
      {FAKE_K6_LATENCY: '{"targeted":300}', FAKE_K6_STATUS: '{"targeted":503}'},
      {stopAfterMs: 4500},
    )
    assert.deepEqual(warnings, [], 'no point arrived after its second was sealed')
    for (const traffic of ['targeted', 'control']) {
      const n = total(recorder, traffic)
      assert.ok(n >= 80 && n <= 100, `${traffic}: ${n} requests in ~4.5 s at 20/s`)
    }
    assert.equal(total(recorder, 'targeted', 'failed'), total(recorder, 'targeted'))
    assert.equal(total(recorder, 'control', 'failed'), 0)
    assert.ok(recorder.summarise('targeted', 0, 10_000).duration.med >= 299)
    assert.ok(recorder.summarise('control', 0, 10_000).duration.max < 50)
    // Second 0 starts with k6's start-up; the later ones hold 20 requests each.
    const beforeEnd = sealedAt.filter(s => s.ms < tookMs - 500 && s.second.second > 0)
    assert.ok(
      beforeEnd.length >= 4,
      `seconds are sealed while the load runs, not only at its end (${JSON.stringify(sealedAt.map(s => [s.second.traffic, s.second.second, s.ms]))})`,
    )
    for (const {second, ms} of beforeEnd)
      assert.ok(
        second.requests >= 18,
        `second ${second.second} of ${second.traffic} sealed at ${ms} ms with only ${second.requests} requests`,
      )
  })

  it('without start marks (k6 before v0.45), requests are keyed by end − duration', async () => {
    const {recorder, warnings} = await run(
      {FAKE_K6_NO_METADATA: '1', FAKE_K6_LATENCY: '{"targeted":150}'},
      {stopAfterMs: 2000},
    )
    assert.deepEqual(warnings, [
      'k6 wrote no start marks (k6 older than v0.45?): live figures run 5s (the request timeout) behind',
    ])
    assert.ok(total(recorder, 'targeted') >= 30)
    assert.ok(recorder.summarise('targeted', 0, 10_000).duration.med >= 149)
  })

  it('counts dropped iterations in their class', async () => {
    const {recorder} = await run({FAKE_K6_DROP_EVERY: '4'}, {stopAfterMs: 2000})
    const dropped = total(recorder, 'control', 'dropped')
    assert.ok(
      dropped >= 8 && Math.abs(dropped * 3 - total(recorder, 'control')) <= 6,
      `${dropped} dropped, ${total(recorder, 'control')} sent`,
    )
  })

  it('runs a closed-model class (vus)', async () => {
    const p = plan({traffic: [{name: 'loop', vus: 2, headers: {}}]})
    const {recorder, recorded} = await run({FAKE_K6_LATENCY: '{"loop":100}'}, {stopAfterMs: 2000, p})
    assert.match(recorded.script, /executor":"constant-vus","vus":2/)
    const n = total(recorder, 'loop')
    assert.ok(n >= 25 && n <= 42, `${n} requests from 2 VUs at 100 ms for ~2 s`)
  })

  it('replays the recorded k6 output through the process: the same requests as the recording holds', async () => {
    const {recorder} = await run({FAKE_K6_MODE: 'replay'}, {stopAfterMs: 20_000})
    const recording = readFileSync(new URL('../reference/k6/points.jsonl', import.meta.url), 'utf8')
    const expected = (traffic: string) =>
      recording
        .split('\n')
        .filter(l => l.includes('"metric":"http_req_duration","type":"Point"') && l.includes(`"traffic":"${traffic}"`))
        .length
    assert.deepEqual(
      [total(recorder, 'targeted'), total(recorder, 'control')],
      [expected('targeted'), expected('control')],
    )
    assert.ok(expected('targeted') > 20)
  })

  it("sends the load through the plan's proxy (and only that one): HTTP_PROXY set, NO_PROXY cleared", async () => {
    const proxied = await run(
      {NO_PROXY: 'productpage', no_proxy: 'productpage'},
      {stopAfterMs: 500, p: plan({proxy: 'http://127.0.0.1:15001'})},
    )
    assert.deepEqual(proxied.recorded.env, {
      HTTP_PROXY: 'http://127.0.0.1:15001',
      http_proxy: 'http://127.0.0.1:15001',
      HTTPS_PROXY: 'http://127.0.0.1:15001',
      https_proxy: 'http://127.0.0.1:15001',
      K6_NO_USAGE_REPORT: 'true',
    })
    const direct = await run(
      {HTTP_PROXY: 'http://corporate:3128', http_proxy: 'http://corporate:3128'},
      {stopAfterMs: 500},
    )
    assert.deepEqual(direct.recorded.env, {K6_NO_USAGE_REPORT: 'true'})
  })

  it('exit 99 (a threshold crossed) is no failure: thresholds are ours to evaluate', async () => {
    const {recorder} = await run({FAKE_K6_MODE: 'thresholds'}, {stopAfterMs: 20_000, p: plan({durationMs: 1000})})
    assert.ok(total(recorder, 'control') >= 15)
  })

  it("exit 107: a clear error with k6's message, held until the load is stopped (never an unhandled rejection mid-run)", async () => {
    const started = Date.now()
    const err = await run({FAKE_K6_MODE: 'script-error'}, {stopAfterMs: 1000}).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(err instanceof K6Failed)
    assert.equal(err.exitCode, ExitCode.CouldNotRun)
    assert.match(err.message, /could not load the generated script \(exit 107\).*could not initialize 'bad\.js'/s)
    assert.ok(Date.now() - started >= 950, 'the rejection waited for the stop signal')
  })

  it("any other exit is an error carrying the tail of k6's stderr", async () => {
    const err = await run({FAKE_K6_MODE: 'crash'}, {stopAfterMs: 3000}).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(err instanceof K6Failed)
    assert.match(err.message, /k6 exited with code 1: .*fake k6 crashed"\npanic: runtime error/s)
  })

  it('stop: one SIGINT, k6 flushes and exits 105, which is a clean stop', async () => {
    const {recorded, tookMs} = await run({FAKE_K6_MODE: 'hang'}, {stopAfterMs: 800})
    assert.ok(tookMs < 3000, `${tookMs} ms`)
    assert.equal(alive(recorded.pid), false)
  })

  it('stop: a k6 that ignores SIGINT is killed after the grace period', async () => {
    const {recorded, tookMs} = await run({FAKE_K6_MODE: 'ignore-sigint'}, {stopAfterMs: 300, stopGraceMs: 700})
    assert.ok(tookMs >= 1000 && tookMs < 4000, `${tookMs} ms`)
    assert.equal(alive(recorded.pid), false)
  })

  it('abort: SIGKILL at once, even for a k6 that ignores SIGINT', async () => {
    const {recorded, tookMs} = await run({FAKE_K6_MODE: 'ignore-sigint'}, {abortAfterMs: 300})
    assert.ok(tookMs < 2500, `${tookMs} ms`)
    assert.equal(alive(recorded.pid), false)
  })

  it('an exception while streaming kills k6 and still rejects (after the stop)', async () => {
    const recorder = new Recorder(['targeted', 'control'])
    recorder.onSecond(() => {
      throw new Error('listener broke')
    })
    const running = run({}, {stopAfterMs: 8000, recorder}).then(
      () => undefined,
      (e: unknown) => e,
    )
    await until(() => existsSync(record))
    const {pid} = JSON.parse(readFileSync(record, 'utf8')) as Recorded
    await until(() => !alive(pid))
    const killedAt = Date.now()
    const err = await running
    assert.match((err as Error).message, /listener broke/)
    assert.ok(Date.now() - killedAt > 2000, 'k6 was killed at the exception, not when the load was stopped')
  })

  it('a k6 that cannot be started: K6Unavailable (exit 4)', async () => {
    const broken = join(dir, 'k6')
    await writeFile(broken, '#!/nonexistent/interpreter\n')
    await chmod(broken, 0o755)
    const stop = new AbortController()
    const never = new AbortController().signal
    const running = new K6Driver({env: {...process.env, K6_BINARY: broken}}).run(
      plan(),
      new Recorder(['targeted', 'control']),
      {stop: stop.signal, abort: never},
    )
    // The failure is held until the load is stopped.
    setTimeout(() => stop.abort(), 500)
    const err = await running.then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(err instanceof K6Unavailable, String(err))
    assert.match(err.message, /could not start k6/)
  })

  it('refuses a loopback load URL behind a proxy: Go would bypass the proxy for it', () => {
    for (const url of ['http://127.0.0.1:9080/', 'http://localhost:9080/', 'http://127.3.2.1/', 'http://[::1]:80/'])
      assert.match(k6ProxyProblem(url, 'http://127.0.0.1:15001') ?? '', /loopback/, url)
    for (const url of ['http://productpage:9080/productpage', 'http://10.0.0.1/', 'http://localhost.example/'])
      assert.equal(k6ProxyProblem(url, 'http://127.0.0.1:15001'), undefined, url)
    assert.equal(k6ProxyProblem('http://127.0.0.1:9080/', undefined), undefined)
  })

  describe('finding k6', () => {
    it('K6_BINARY first; then PATH', async () => {
      assert.equal(await findK6({K6_BINARY: FAKE, PATH: ''}), FAKE)
      assert.equal(await findK6({PATH: `/nonexistent:${FAKE_DIR}`}), join(FAKE_DIR, 'k6'))
    })

    it('absent or not executable: exit 4 with a hint to install k6 or set K6_BINARY', async () => {
      const notExecutable = join(dir, 'k6')
      await writeFile(notExecutable, '#!/bin/sh\n')
      await chmod(notExecutable, 0o644)
      for (const env of [{PATH: dir}, {K6_BINARY: notExecutable, PATH: FAKE_DIR}]) {
        const err = await findK6(env).then(
          () => undefined,
          (e: unknown) => e,
        )
        assert.ok(err instanceof K6Unavailable, JSON.stringify(env))
        assert.equal(err.exitCode, ExitCode.CouldNotRun)
        assert.match(err.hint ?? '', /install k6/i)
        assert.match(err.hint ?? '', /K6_BINARY/)
      }
      const version = await new K6Driver({
        env: {K6_BINARY: FAKE, FAKE_K6_MODE: 'version-fails', PATH: process.env.PATH ?? ''},
      })
        .version()
        .then(
          () => undefined,
          (e: unknown) => e,
        )
      assert.ok(version instanceof K6Unavailable)
    })
  })
})
