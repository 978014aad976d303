import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {chaos, ensureBuilt, REPO} from '../cli.js'

/** The sources `chaos report` runs; dist/ must be at least as new as each of them. */
function sources(): string[] {
  return ['src/commands/report.ts', ...readdirSync(join(REPO, 'src/report')).filter(f => f.endsWith('.ts')).map(f => `src/report/${f}`)]
}

describe('chaos report (the real CLI)', function () {
  this.timeout(60_000)
  let root = ''

  before(async function () {
    this.timeout(300_000)
    await ensureBuilt(sources())
  })
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'faultline-report-cli-'))
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  it('re-renders a run folder in place and refreshes its root index; --json lists the files', async () => {
    const dir = join(root, 'ratings-delay', '2026-11-26T031548Z')
    mkdirSync(dir, {recursive: true})
    copyFileSync(join(REPO, 'test/fixtures/journals/deviated.json'), join(dir, 'journal.json'))
    const r = await chaos(['report', dir, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const result = JSON.parse(r.stdout) as {files: string[]; index?: string}
    assert.deepEqual(result.files.map(f => f.slice(dir.length + 1)), ['report.html', 'junit.xml', 'summary.md'])
    assert.equal(result.index, join(root, 'index.html'))
    assert.deepEqual(readdirSync(dir).sort(), ['journal.json', 'junit.xml', 'report.html', 'summary.md'])
  })

  it('refuses what is not a journal with exit 2, naming the file and the problem', async () => {
    const bad = join(root, 'journal.json')
    writeFileSync(bad, JSON.stringify({kind: 'FaultlineJournal', version: 1}))
    const r = await chaos(['report', bad])
    assert.equal(r.code, 2)
    assert.match(r.stderr, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a Faultline journal`))
    assert.match(r.stderr, /must have required property 'runId'/)
    const missing = await chaos(['report', join(root, 'nope')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /does not exist/)
  })
})
