/**
 * The runner image's invariants, checked statically (no docker on CI machines): a multi-stage build
 * whose final stage has production dependencies only, runs as the numeric UID `chaos schedule`
 * puts in the pod's securityContext, and has `chaos` as its entrypoint.
 */
import assert from 'node:assert/strict'
import {readFileSync, statSync} from 'node:fs'
import {builtinModules} from 'node:module'
import {join, relative} from 'node:path'

import ts from 'typescript'

import {RUNNER_UID} from '../../src/schedule/manifests.js'
import {REPO} from '../cli.js'
import {npmCommands, parseDockerfile, type Stage} from './dockerfile.js'

const read = (file: string) => readFileSync(join(REPO, file), 'utf8')
const pkg = JSON.parse(read('package.json')) as {
  license: string
  files: string[]
  scripts: Record<string, string>
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}
const stages = parseDockerfile(read('Dockerfile'))
const runtime = stages.at(-1) as Stage

describe('the runner image (Dockerfile, .dockerignore)', () => {
  it('is multi-stage: built in one stage, run from node:20-bookworm-slim in the last', () => {
    assert.ok(stages.length >= 2)
    assert.equal(runtime.from, 'node:20-bookworm-slim')
    const build = stages.find(s => s.name === 'build') as Stage
    assert.ok(build !== undefined)
    assert.ok(npmCommands(build).some(c => /^npm ci\b/.test(c) && c.includes('--ignore-scripts')))
    assert.ok(npmCommands(build).includes('npm run build'))
  })

  it('the final stage installs production dependencies only, without running `prepare`', () => {
    assert.ok(pkg.scripts['prepare'] !== undefined, 'package.json has a prepare script that npm ci would run')
    const npm = npmCommands(runtime)
    assert.ok(npm.length > 0)
    for (const c of npm) {
      assert.doesNotMatch(c, /^(npm (install|i|add)\b|yarn|pnpm|npx)/, `no ${c} in the final stage`)
      if (/^npm ci\b/.test(c)) {
        assert.match(c, /--omit=dev\b/)
        assert.match(c, /--ignore-scripts\b/)
      }
    }
    assert.ok(!npm.some(c => /npm run build/.test(c)), 'no build in the final stage')
    // Only the compiled code (and the command manifest the build writes) comes from the build stage:
    // its node_modules holds the dev dependencies.
    const fromBuild = runtime.instructions.filter(i => i.keyword === 'COPY' && i.args.includes('--from='))
    assert.deepEqual(
      fromBuild.map(i => i.args.split(/\s+/)[1]),
      ['/src/dist', '/src/packages/core/dist', '/src/oclif.manifest.json'],
    )
  })

  it('the final stage has no sandbox: nothing of packages/sandbox is copied, and the CLI needs it only as a dev dependency', () => {
    // The sources of every COPY (its last word is the destination): no sandbox, nor a folder holding it.
    const copied = runtime.instructions
      .filter(i => i.keyword === 'COPY')
      .flatMap(i =>
        i.args
          .split(/\s+/)
          .filter(a => !a.startsWith('--'))
          .slice(0, -1),
      )
    assert.ok(
      copied.some(a => a.includes('packages/core')),
      'the shared package is copied',
    )
    for (const a of copied)
      assert.doesNotMatch(a, /sandbox|^(\/src\/)?packages\/?$|^\.\/?$|^\/src\/?$/, `the runtime stage copies ${a}`)
    assert.equal(pkg.dependencies['@faultline/sandbox'], undefined, '@faultline/sandbox is not a production dependency')
    assert.ok(pkg.devDependencies['@faultline/sandbox'] !== undefined)
    for (const name of ['ws', 'spdy-transport'])
      assert.equal(pkg.dependencies[name], undefined, `${name} (the sandbox's) is not the CLI's dependency`)
  })

  it("runs as the numeric user chaos schedule's pods require (runAsNonRoot), set last", () => {
    const users = runtime.instructions.filter(i => i.keyword === 'USER')
    assert.equal(users.length, 1)
    assert.equal(users[0]?.args, `${RUNNER_UID}:${RUNNER_UID}`)
    const last = runtime.instructions.map(i => i.keyword)
    assert.ok(
      last.lastIndexOf('RUN') < last.indexOf('USER'),
      'nothing runs as root after USER, and the image ends non-root',
    )
  })

  it('chaos is the entrypoint (exec form), and every file package.json ships is in the image', () => {
    assert.deepEqual(JSON.parse(runtime.instructions.find(i => i.keyword === 'ENTRYPOINT')?.args ?? 'null'), ['chaos'])
    const copied = runtime.instructions
      .filter(i => i.keyword === 'COPY')
      .map(i =>
        i.args
          .split(/\s+/)
          .filter(a => !a.startsWith('--'))[0]
          ?.replace(/^\/src\//, ''),
      )
    for (const f of pkg.files) assert.ok(copied.includes(f), `${f} is copied into the image`)
    assert.ok((statSync(join(REPO, 'bin/chaos')).mode & 0o111) !== 0, 'bin/chaos is executable')
  })

  it("carries the OCI labels, with package.json's license", () => {
    const labels = runtime.instructions
      .filter(i => i.keyword === 'LABEL')
      .map(i => i.args)
      .join(' ')
    for (const key of ['title', 'description', 'source', 'licenses', 'version', 'revision'])
      assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`))
    assert.match(labels, new RegExp(`licenses="${pkg.license}"`))
  })

  it('.dockerignore is an allowlist that admits exactly what the stages copy from the context', () => {
    const lines = read('.dockerignore')
      .split('\n')
      .map(l => l.trim())
      .filter(l => l !== '' && !l.startsWith('#'))
    assert.equal(lines[0], '*')
    const allowed = lines.filter(l => l.startsWith('!')).map(l => l.slice(1))
    const fromContext = stages.flatMap(s =>
      s.instructions
        .filter(i => i.keyword === 'COPY' && !i.args.includes('--from='))
        .flatMap(i => i.args.split(/\s+/).slice(0, -1)),
    )
    assert.deepEqual([...new Set(fromContext)].sort(), [...allowed].sort())
    for (const never of ['node_modules', 'dist', '.git', 'reports', 'test']) assert.ok(!allowed.includes(never), never)
  })

  it('the runtime code imports only production dependencies (so --omit=dev is enough), and the sandbox only on demand', () => {
    /** Every package a tree's sources import statically → the files importing it. */
    const imported = (dir: string): Map<string, string[]> => {
      // src/build/ holds steps `npm run build` runs in the build stage, which has the dev dependencies.
      const files = ts.sys
        .readDirectory(join(REPO, dir), ['.ts'])
        .filter(f => !f.includes('/src/build/') && !f.endsWith('.d.ts'))
      const used = new Map<string, string[]>()
      for (const file of files) {
        for (const i of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
          const spec = i.fileName
          if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string)
          used.set(name, [...(used.get(name) ?? []), relative(REPO, file)])
        }
      }
      return used
    }
    const cli = imported('src')
    assert.ok(cli.size > 5)
    // Only its loader names the sandbox package, as a type (`typeof import(…)`); the import itself is dynamic.
    assert.deepEqual(cli.get('@faultline/sandbox'), ['src/runner/sandbox.ts'])
    cli.delete('@faultline/sandbox')
    for (const name of cli.keys())
      assert.ok(name in pkg.dependencies, `${name} is imported by src/ but is not a production dependency`)
    const core = JSON.parse(read('packages/core/package.json')) as {dependencies: Record<string, string>}
    const coreUses = imported('packages/core/src')
    assert.ok(coreUses.size > 0)
    for (const name of coreUses.keys())
      assert.ok(name in core.dependencies, `${name} is imported by packages/core/src/ but is not its dependency`)
  })
})
