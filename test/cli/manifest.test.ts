import assert from 'node:assert/strict'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import {commandManifest, MANIFEST} from '../../src/cli/manifest.js'
import {ensureBuilt, REPO, sh} from '../cli.js'

const COMMAND_SOURCES = readdirSync(join(REPO, 'src', 'commands'), {recursive: true, encoding: 'utf8'})
  .filter(f => f.endsWith('.ts'))
  .map(f => join('src', 'commands', f))
/** `sandbox/up.ts` → `sandbox:up`: the id oclif gives a command file. */
const ids = COMMAND_SOURCES.map(f => f.slice('src/commands/'.length, -'.ts'.length).replaceAll('/', ':')).sort()

type Manifest = Awaited<ReturnType<typeof commandManifest>>
const flagsOf = (m: Manifest) =>
  Object.fromEntries(Object.entries(m.commands).map(([id, c]) => [id, Object.keys(c.flags).sort()]))

describe('oclif.manifest.json: the CLI imports only the command it runs', () => {
  let built: Manifest
  before(async function () {
    this.timeout(120_000)
    await ensureBuilt(COMMAND_SOURCES)
    built = await commandManifest(REPO)
  })

  it('lists every command under src/commands', () => {
    assert.deepEqual(Object.keys(built.commands).sort(), ids)
  })

  it('the manifest in the package root is the one dist/ gives (npm run build writes it)', () => {
    const file = join(REPO, MANIFEST)
    assert.ok(existsSync(file), `${MANIFEST} is missing: run npm run build`)
    const written = JSON.parse(readFileSync(file, 'utf8')) as Manifest
    assert.deepEqual(flagsOf(written), flagsOf(built), `${MANIFEST} is stale: run npm run build`)
  })

  it('chaos --version reads the manifest and imports no command module', async function () {
    this.timeout(30_000)
    const ran = await sh(process.execPath, ['bin/chaos', '--version'], {...process.env, DEBUG: 'oclif:*'})
    assert.equal(ran.code, 0, ran.stderr)
    assert.match(ran.stderr, /using manifest from .*oclif\.manifest\.json/)
    assert.doesNotMatch(ran.stderr, /\(import\) .*dist\/commands\//)
  })
})
