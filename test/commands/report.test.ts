import assert from 'node:assert/strict'
import {copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {chaos, ensureBuilt, REPO} from '../cli.js'

/** The sources `chaos report` runs; dist/ must be at least as new as each of them. */
function sources(): string[] {
  return [
    'src/commands/report.ts',
    ...readdirSync(join(REPO, 'src/report'))
      .filter(f => f.endsWith('.ts'))
      .map(f => `src/report/${f}`),
  ]
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
    assert.deepEqual(
      result.files.map(f => f.slice(dir.length + 1)),
      ['report.html', 'junit.xml', 'summary.md'],
    )
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

  it('an experiment file (YAML) is not a journal: says so and what to pass instead, never a JSON parse error', async () => {
    const r = await chaos(['report', 'experiments/ratings-delay.yaml'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /Error: experiments\/ratings-delay\.yaml is not a journal: it looks like an experiment file \(YAML, kind: Experiment\)/,
    )
    assert.match(
      r.stderr,
      /Hint: Pass what a run wrote: its journal\.json .*, its run folder .*, or a report root \(reports\/\)\. To run this experiment: chaos run experiments\/ratings-delay\.yaml/,
    )
    assert.doesNotMatch(r.stderr, /JSON|Unexpected token/)
    const gameday = await chaos(['report', 'experiments/weekly-gameday.yaml', '--json'])
    assert.equal(gameday.code, 2)
    const {error} = JSON.parse(gameday.stdout) as {error: {code: string; message: string; hint: string}}
    assert.equal(error.code, 'INVALID_JOURNAL')
    assert.match(error.message, /looks like a GameDay file/)
    assert.match(error.hint, /chaos gameday experiments\/weekly-gameday\.yaml/)
  })

  it('a folder of experiment files with no journal under it is refused, and nothing is written into it', async () => {
    copyFileSync(join(REPO, 'experiments/ratings-delay.yaml'), join(root, 'ratings-delay.yaml'))
    const r = await chaos(['report', root])
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /is not a journal: it looks like a folder of experiment files \(ratings-delay\.yaml\), with no journal under it/,
    )
    assert.deepEqual(readdirSync(root), ['ratings-delay.yaml'])
    // An empty report root (a fresh clone's reports/) is still fine: an empty index.
    const empty = join(root, 'reports')
    mkdirSync(empty)
    const ok = await chaos(['report', empty])
    assert.equal(ok.code, 0, ok.stderr)
  })
})
