/**
 * A k6 that is not there, not a program or failing says so: the path, what is wrong with it and
 * how to fix it (point K6_BINARY at k6, unset it, or use --driver builtin), and k6's own last
 * lines of stderr when it ran and failed (issue 12).
 */
import assert from 'node:assert/strict'
import {chmod, mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {ensureBuilt, sh} from '../cli.js'
import {ExitCode} from '@faultline/core/errors.js'
import type {LoadPlan} from '../../src/load/driver.js'
import {findK6, K6Driver, K6Failed, K6Unavailable} from '../../src/load/k6.js'
import {Recorder} from '../../src/load/recorder.js'

const FAKE_DIR = fileURLToPath(new URL('../fixtures/k6/', import.meta.url))
const FAKE = join(FAKE_DIR, 'k6')

const plan: LoadPlan = {
  url: 'http://productpage:9080/productpage',
  method: 'GET',
  durationMs: 60_000,
  requestTimeoutMs: 5000,
  traffic: [{name: 'targeted', ratePerSecond: 5, headers: {'x-chaos-test': 'true'}}],
}

/** The error a promise rejects with (the test fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    v => assert.fail(`expected a rejection, got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  )
}

/** The hint every K6_BINARY problem gives: point it at k6, unset it, or use the builtin driver. */
function assertFixHint(err: K6Unavailable): void {
  assert.match(err.hint ?? '', /point K6_BINARY at the k6 binary/i)
  assert.match(err.hint ?? '', /unset K6_BINARY to use the k6 on PATH/)
  assert.match(err.hint ?? '', /--driver builtin/)
}

describe('k6: a K6_BINARY that is not k6, and a k6 that fails', function () {
  this.timeout(20_000)
  let dir: string

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-k6-binary-'))
  })
  afterEach(() => rm(dir, {recursive: true, force: true}))

  it('a directory: "is a directory", never spawn\'s raw EACCES', async () => {
    for (const attempt of [
      findK6({K6_BINARY: dir, PATH: ''}),
      new K6Driver({env: {K6_BINARY: dir, PATH: ''}}).version(),
    ]) {
      const err = await rejection(attempt)
      assert.ok(err instanceof K6Unavailable, String(err))
      assert.equal(err.exitCode, ExitCode.CouldNotRun)
      assert.ok(err.message.includes(JSON.stringify(dir)), err.message)
      assert.match(err.message, /is a directory/)
      assert.doesNotMatch(err.message, /EACCES|spawn/)
      assert.match(err.hint ?? '', /not a directory/)
      assertFixHint(err)
    }
  })

  it('a missing path: "does not exist"', async () => {
    const missing = join(dir, 'no-such-dir', 'k6')
    const err = await rejection(findK6({K6_BINARY: missing, PATH: FAKE_DIR}))
    assert.ok(err instanceof K6Unavailable)
    assert.match(
      err.message,
      new RegExp(`K6_BINARY is "${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}", which does not exist`),
    )
    assertFixHint(err)
  })

  it('a file without the execute bit: "is not executable", with the chmod that fixes it', async () => {
    const file = join(dir, 'k6')
    await writeFile(file, '#!/bin/sh\n')
    await chmod(file, 0o644)
    const err = await rejection(findK6({K6_BINARY: file, PATH: FAKE_DIR}))
    assert.ok(err instanceof K6Unavailable)
    assert.match(err.message, /which is not executable/)
    assert.ok(err.message.includes(file))
    assert.ok((err.hint ?? '').includes(`chmod +x ${file}`), err.hint)
    assertFixHint(err)
  })

  it('PATH: a directory named k6 is passed over for the k6 binary after it', async () => {
    await mkdir(join(dir, 'k6'))
    assert.equal(await findK6({PATH: `${dir}:${FAKE_DIR}`}), FAKE)
  })

  it('`k6 version` failing: its stderr is in the message', async () => {
    const err = await rejection(
      new K6Driver({env: {...process.env, K6_BINARY: FAKE, FAKE_K6_MODE: 'version-fails'}}).version(),
    )
    assert.ok(err instanceof K6Unavailable)
    assert.match(err.message, /version` exited with code 1: fake k6: broken/)
    assert.ok(err.message.includes(FAKE))
  })

  it('a K6_BINARY that cannot be started (its interpreter is missing): the path and what does not exist', async () => {
    const broken = join(dir, 'k6')
    await writeFile(broken, '#!/nonexistent/interpreter\n')
    await chmod(broken, 0o755)
    const err = await rejection(new K6Driver({env: {K6_BINARY: broken, PATH: ''}}).version())
    assert.ok(err instanceof K6Unavailable)
    assert.match(
      err.message,
      /could not start k6: .*\/k6 \(or the interpreter its first line names\) does not exist \(from K6_BINARY\)/,
    )
    assertFixHint(err)
  })

  it("k6 run exiting with an error: the last lines of its stderr are in the error (and so in the run's reason)", async () => {
    const k6 = join(dir, 'k6')
    // Twelve lines of stderr, then exit 1 (as k6 does on a bad option or an output it cannot open).
    await writeFile(
      k6,
      '#!/bin/sh\n[ "$1" = version ] && { echo "k6 v1.0.0"; exit 0; }\ni=1; while [ $i -le 12 ]; do echo "level=error msg=\\"line $i\\"" >&2; i=$((i+1)); done\nexit 1\n',
    )
    await chmod(k6, 0o755)
    const stop = new AbortController()
    const running = new K6Driver({env: {...process.env, K6_BINARY: k6}}).run(plan, new Recorder(['targeted']), {
      stop: stop.signal,
      abort: new AbortController().signal,
    })
    setTimeout(() => stop.abort(), 500)
    const err = await rejection(running)
    assert.ok(err instanceof K6Failed, String(err))
    assert.equal(err.exitCode, ExitCode.CouldNotRun)
    assert.match(err.message, /^k6 exited with code 1: /)
    assert.match(err.message, /line 3"\n[^]*line 12"$/)
    assert.doesNotMatch(err.message, /line 2"/, 'only the last ten lines')
    assert.match(err.hint ?? '', /--driver builtin/)
  })

  it('chaos run --driver k6 with K6_BINARY set to a directory: exit 4, the path, "is a directory" and the fix', async function () {
    this.timeout(180_000)
    await ensureBuilt(['src/load/k6-binary.ts', 'src/load/k6.ts', 'src/commands/run.ts'])
    const ran = await sh(process.execPath, ['bin/chaos', 'run', 'experiments/ratings-delay.yaml', '--driver', 'k6'], {
      ...process.env,
      NO_COLOR: '1',
      K6_BINARY: dir,
    })
    assert.equal(ran.code, ExitCode.CouldNotRun, ran.stderr)
    assert.match(ran.stderr, new RegExp(`Error: K6_BINARY is ".*", which is a directory`))
    assert.ok(ran.stderr.includes(dir), ran.stderr)
    assert.match(ran.stderr, /Hint: Point K6_BINARY at the k6 binary itself.*unset K6_BINARY.*--driver builtin/)
    assert.doesNotMatch(ran.stderr, /EACCES/)
  })
})
