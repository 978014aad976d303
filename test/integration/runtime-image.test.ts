/**
 * The runtime image without docker: the Dockerfile's last stage assembled in a temporary directory
 * as it describes it — its COPY lines from this built tree (the build stage's /src is the
 * repository), its `npm ci` run (from npm's cache when it can) — and then proved to hold no
 * sandbox: no packages/sandbox, no @faultline/sandbox, none of the sandbox's compiled files, not
 * its own dependency spdy-transport (ws stays: @kubernetes/client-node depends on it too). The CLI there answers `--help` and `run --help`, validates an experiment
 * (Istio's CRDs come with @faultline/core), and refuses `chaos sandbox up` and `chaos run --sandbox`
 * saying that the sandbox is not part of this installation (exit 4).
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {basename, join} from 'node:path'

import {ensureBuilt, REPO} from '../cli.js'
import {parseDockerfile, type Stage} from '../schedule/dockerfile.js'

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {cwd, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.once('error', reject)
    child.once('close', code => resolve({code, stdout, stderr}))
  })
}

/** Every regular file under `dir` (symlinks are not followed: a workspace link is not the image's content). */
function files(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap(e => {
    const path = join(dir, e.name)
    return e.isDirectory() ? files(path) : e.isFile() ? [path] : []
  })
}

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex')

/** `COPY [--from=build] <src>… <dest>` into `root`, with Docker's rules: a folder's contents, a file into a folder when dest ends in `/`. */
function copy(args: string, root: string, workdir: string, buildWorkdir: string): void {
  const words = args.split(/\s+/)
  const fromBuild = words.some(w => w.startsWith('--from='))
  const [dest = '', ...sources] = words.filter(w => !w.startsWith('--')).reverse()
  const target = join(root, dest.startsWith('/') ? dest : join(workdir, dest))
  for (const source of sources.reverse()) {
    const from = fromBuild ? join(REPO, source.replace(new RegExp(`^${buildWorkdir}/?`), '')) : join(REPO, source)
    assert.ok(existsSync(from), `COPY ${source}: ${from} does not exist (is the tree built?)`)
    if (statSync(from).isDirectory()) cpSync(from, target, {recursive: true})
    else {
      const into = dest.endsWith('/') || sources.length > 1 ? join(target, basename(from)) : target
      mkdirSync(join(into, '..'), {recursive: true})
      cpSync(from, into)
    }
  }
}

/** The runtime stage in `root` (its WORKDIR under it): files copied, `npm ci` run; returns the WORKDIR and the stage's ENV. */
async function assemble(stages: Stage[], root: string): Promise<{dir: string; env: Record<string, string>}> {
  const build = stages.find(s => s.name === 'build') as Stage
  const buildWorkdir = build.instructions.find(i => i.keyword === 'WORKDIR')?.args ?? '/'
  const runtime = stages.at(-1) as Stage
  let workdir = '/'
  const env: Record<string, string> = {}
  for (const {keyword, args} of runtime.instructions) {
    if (keyword === 'WORKDIR') workdir = args
    else if (keyword === 'ENV') for (const [, k = '', v = ''] of args.matchAll(/(\w+)=(\S+)/g)) env[k] = v
    else if (keyword === 'COPY') copy(args, root, workdir, buildWorkdir)
    else if (keyword === 'RUN') {
      for (const command of args
        .split(/&&|;/)
        .map(c => c.trim())
        .filter(c => /^npm ci\b/.test(c))) {
        const dir = join(root, workdir)
        mkdirSync(dir, {recursive: true})
        // npm's cache first: the repository's own `npm ci` filled it.
        const r = await run('npm', [...command.split(/\s+/).slice(1), '--prefer-offline'], dir, {
          ...process.env,
          NODE_ENV: 'production',
        })
        assert.equal(r.code, 0, `${command} failed:\n${r.stderr}`)
      }
    }
  }
  return {dir: join(root, workdir), env}
}

describe("the runtime image (the Dockerfile's last stage, assembled without docker)", function () {
  this.timeout(180_000)
  let root: string
  let dir: string
  let chaos: (...args: string[]) => Promise<Ran>

  before(async () => {
    await ensureBuilt([
      'src/commands/run.ts',
      'src/commands/sandbox/up.ts',
      'src/runner/sandbox.ts',
      'src/runner/target.ts',
      'packages/core/src/errors.ts',
      'packages/core/src/istio/crd.ts',
    ])
    root = mkdtempSync(join(tmpdir(), 'faultline-runtime-image-'))
    const image = await assemble(parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8')), root)
    dir = image.dir
    // As in the image: HOME is an empty folder (no kubeconfig), no KUBECONFIG, no sandbox state dir.
    const home = join(root, 'home')
    mkdirSync(home)
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...image.env,
      HOME: home,
      XDG_STATE_HOME: join(home, 'state'),
    }
    chaos = (...args) => run(process.execPath, [join(dir, 'bin', 'chaos'), ...args], dir, env)
  })

  after(() => {
    if (root !== undefined) rmSync(root, {recursive: true, force: true})
  })

  it("holds no sandbox: no packages/sandbox, no @faultline/sandbox, no spdy-transport, and none of the sandbox's compiled files", () => {
    assert.ok(
      existsSync(join(dir, 'node_modules/@faultline/core/dist/istio/crd.js')),
      'the shared package is there (the check below looks at a real install)',
    )
    assert.ok(
      existsSync(join(dir, 'dist/commands/sandbox/up.js')),
      'the sandbox commands stay (they say the sandbox is absent)',
    )
    for (const absent of [
      'packages/sandbox',
      'node_modules/@faultline/sandbox',
      'node_modules/spdy-transport',
      'node_modules/typescript',
    ]) {
      assert.ok(!existsSync(join(dir, absent)) && !isLink(join(dir, absent)), `${absent} is in the image`)
    }
    const sandboxFiles = files(join(REPO, 'packages/sandbox/dist')).filter(f => f.endsWith('.js'))
    assert.ok(sandboxFiles.length > 50, 'the sandbox package is built, so its files can be looked for')
    const bySize = new Map<number, Set<string>>()
    for (const f of sandboxFiles) {
      const size = statSync(f).size
      bySize.set(size, (bySize.get(size) ?? new Set()).add(sha(f)))
    }
    const found = files(dir).filter(f => bySize.get(statSync(f).size)?.has(sha(f)) === true)
    assert.deepEqual(
      found.map(f => f.slice(dir.length + 1)),
      [],
      'compiled sandbox files in the image',
    )
  })

  it('runs the CLI: chaos --help, chaos run --help, chaos validate', async () => {
    const help = await chaos('--help')
    assert.equal(help.code, 0, help.stderr)
    assert.match(help.stdout, /\brun\b/)
    const runHelp = await chaos('run', '--help')
    assert.equal(runHelp.code, 0, runHelp.stderr)
    assert.match(runHelp.stdout, /--sandbox/)
    const valid = await chaos('validate', 'experiments/ratings-delay.yaml')
    assert.equal(valid.code, 0, valid.stdout + valid.stderr)
  })

  it('chaos sandbox up, status and chaos run --sandbox say the sandbox is not part of this installation (exit 4)', async () => {
    for (const args of [
      ['sandbox', 'up'],
      ['sandbox', 'status'],
      ['run', 'experiments/ratings-delay.yaml', '--sandbox'],
      ['run', 'experiments/ratings-delay.yaml'],
    ]) {
      const r = await chaos(...args)
      assert.equal(r.code, 4, `chaos ${args.join(' ')}: ${r.stdout}${r.stderr}`)
      assert.match(r.stderr, /the sandbox is not part of this installation/, `chaos ${args.join(' ')}`)
      assert.doesNotMatch(r.stderr, /ERR_MODULE_NOT_FOUND|at .*\.js:\d+/, 'a message, not a stack trace')
    }
  })
})

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink()
  } catch {
    return false
  }
}
