/**
 * The runner image's invariants, checked statically (no docker on CI machines): a multi-stage build
 * whose final stage has production dependencies only, runs as the numeric UID `chaos schedule`
 * puts in the pod's securityContext, and has `chaos` as its entrypoint.
 */
import assert from 'node:assert/strict'
import {readFileSync, statSync} from 'node:fs'
import {builtinModules} from 'node:module'
import {join} from 'node:path'

import ts from 'typescript'

import {RUNNER_UID} from '../../src/schedule/manifests.js'
import {REPO} from '../cli.js'

interface Instruction {keyword: string; args: string}
interface Stage {from: string; name: string | undefined; instructions: Instruction[]}

/** Dockerfile → stages of instructions (continuations joined, comments dropped, ARG defaults substituted in FROM). */
function parseDockerfile(text: string): Stage[] {
  const logical = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
  const args = new Map<string, string>()
  const stages: Stage[] = []
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? []
    const instruction = {keyword: keyword.toUpperCase(), args: rest}
    if (instruction.keyword === 'ARG' && stages.length === 0) {
      const [name = '', value = ''] = rest.split('=')
      args.set(name, value)
    } else if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = rest.split(/\s+/)
      stages.push({from: image.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? ''), name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: []})
    } else {
      stages.at(-1)?.instructions.push(instruction)
    }
  }
  return stages
}

const read = (file: string) => readFileSync(join(REPO, file), 'utf8')
const pkg = JSON.parse(read('package.json')) as {license: string; files: string[]; scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string>}
const stages = parseDockerfile(read('Dockerfile'))
const runtime = stages.at(-1) as Stage
const runs = (stage: Stage) => stage.instructions.filter(i => i.keyword === 'RUN').map(i => i.args)
const npmCommands = (stage: Stage) => runs(stage).flatMap(r => r.split(/&&|;/).map(c => c.trim()).filter(c => /^(npm|npx|yarn|pnpm)\b/.test(c)))

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
    assert.deepEqual(fromBuild.map(i => i.args.split(/\s+/)[1]), ['/src/dist', '/src/oclif.manifest.json'])
  })

  it('runs as the numeric user chaos schedule\'s pods require (runAsNonRoot), set last', () => {
    const users = runtime.instructions.filter(i => i.keyword === 'USER')
    assert.equal(users.length, 1)
    assert.equal(users[0]?.args, `${RUNNER_UID}:${RUNNER_UID}`)
    const last = runtime.instructions.map(i => i.keyword)
    assert.ok(last.lastIndexOf('RUN') < last.indexOf('USER'), 'nothing runs as root after USER, and the image ends non-root')
  })

  it('chaos is the entrypoint (exec form), and every file package.json ships is in the image', () => {
    assert.deepEqual(JSON.parse(runtime.instructions.find(i => i.keyword === 'ENTRYPOINT')?.args ?? 'null'), ['chaos'])
    const copied = runtime.instructions.filter(i => i.keyword === 'COPY').map(i => i.args.split(/\s+/).filter(a => !a.startsWith('--'))[0]?.replace(/^\/src\//, ''))
    for (const f of pkg.files) assert.ok(copied.includes(f), `${f} is copied into the image`)
    assert.ok((statSync(join(REPO, 'bin/chaos')).mode & 0o111) !== 0, 'bin/chaos is executable')
  })

  it('carries the OCI labels, with package.json\'s license', () => {
    const labels = runtime.instructions.filter(i => i.keyword === 'LABEL').map(i => i.args).join(' ')
    for (const key of ['title', 'description', 'source', 'licenses', 'version', 'revision']) assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`))
    assert.match(labels, new RegExp(`licenses="${pkg.license}"`))
  })

  it('.dockerignore is an allowlist that admits exactly what the stages copy from the context', () => {
    const lines = read('.dockerignore').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
    assert.equal(lines[0], '*')
    const allowed = lines.filter(l => l.startsWith('!')).map(l => l.slice(1))
    const fromContext = stages.flatMap(s => s.instructions.filter(i => i.keyword === 'COPY' && !i.args.includes('--from=')).flatMap(i => i.args.split(/\s+/).slice(0, -1)))
    assert.deepEqual([...new Set(fromContext)].sort(), [...allowed].sort())
    for (const never of ['node_modules', 'dist', '.git', 'reports', 'test']) assert.ok(!allowed.includes(never), never)
  })

  it('the runtime code imports only production dependencies (so --omit=dev is enough)', () => {
    // src/build/ holds steps `npm run build` runs in the build stage, which has the dev dependencies.
    const files = ts.sys.readDirectory(join(REPO, 'src'), ['.ts']).filter(f => !f.includes('/src/build/'))
    const used = new Set<string>()
    for (const file of files) {
      for (const i of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
        const spec = i.fileName
        if (spec.startsWith('.') || spec.startsWith('node:') || builtinModules.includes(spec)) continue
        used.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0] as string)
      }
    }
    assert.ok(used.size > 5)
    for (const name of used) assert.ok(name in pkg.dependencies, `${name} is imported by src/ but is not a production dependency`)
  })
})
