import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {journalProblem, scanReports, timeOfRunDir} from '../../../src/report/index/scan.js'
import type {JournalDocument} from '../../../src/journal/journal.js'

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'journals')
const HELD = readFileSync(join(FIXTURES, 'held.json'), 'utf8')

function journal(): JournalDocument {
  return JSON.parse(HELD) as JournalDocument
}

describe('report root scan', () => {
  let root = ''
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'faultline-scan-'))
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  function write(dir: string, text: string): void {
    mkdirSync(join(root, dir), {recursive: true})
    writeFileSync(join(root, dir, 'journal.json'), text)
  }

  it('finds nothing in a missing or empty root', async () => {
    assert.deepEqual(await scanReports(join(root, 'absent')), [])
    assert.deepEqual(await scanReports(root), [])
  })

  it('lists every broken journal as unreadable with why, next to the good ones, newest first', async () => {
    const running = journal()
    Object.assign(running, {status: 'running', startedAt: '2026-11-26T05:00:00.000Z'})
    delete running.outcome
    const cases: [string, string][] = [
      ['ratings-abort/2026-11-26T031515Z', HELD],
      ['ratings-abort/2026-11-26T040000Z', HELD.slice(0, 5000)],
      ['ratings-abort/2026-11-26T041000Z', ''],
      ['other/2026-11-26T042000Z', '[1, 2]'],
      ['other/2026-11-26T043000Z', JSON.stringify({kind: 'SomethingElse'})],
      ['other/2026-11-26T044000Z', JSON.stringify({...journal(), version: 2})],
      ['other/2026-11-26T045000Z', JSON.stringify({...journal(), events: null, startedAt: 'yesterday'})],
      ['ratings-abort/2026-11-26T050000Z', JSON.stringify(running)],
    ]
    for (const [dir, text] of cases) write(dir, text)
    const runs = await scanReports(root)
    assert.deepEqual(
      runs.map(r => [r.dir, r.experiment, r.verdict]),
      [
        ['ratings-abort/2026-11-26T050000Z', 'ratings-abort', 'running'],
        ['other/2026-11-26T045000Z', 'other', 'unreadable'],
        ['other/2026-11-26T044000Z', 'other', 'unreadable'],
        ['other/2026-11-26T043000Z', 'other', 'unreadable'],
        ['other/2026-11-26T042000Z', 'other', 'unreadable'],
        ['ratings-abort/2026-11-26T041000Z', 'ratings-abort', 'unreadable'],
        ['ratings-abort/2026-11-26T040000Z', 'ratings-abort', 'unreadable'],
        ['ratings-abort/2026-11-26T031515Z', 'ratings-abort', 'held'],
      ],
    )
    const reasons = runs.map(r => r.reason)
    assert.equal(
      reasons[1],
      'journal.json does not match the journal schema: /startedAt: must match format "date-time"; /events: must be array',
    )
    assert.match(reasons[2] as string, /journal version 2 is not the version this chaos reads \(1\)/)
    assert.match(reasons[3] as string, /not a Faultline journal \(kind "SomethingElse"\)/)
    assert.match(reasons[4] as string, /not a JSON object/)
    assert.match(reasons[5] as string, /is empty/)
    assert.match(reasons[6] as string, /not valid JSON, perhaps cut short/)
    assert.equal(runs[6]?.startedAt, '2026-11-26T04:00:00.000Z', 'an unreadable run is placed by its directory name')
    assert.ok(runs[0]?.lastWrittenAt !== undefined, 'a running journal says when it was last written')
  })

  it('lists a journal whose figures cannot be computed instead of failing the scan', async () => {
    const doc = journal()
    for (const seconds of Object.values(doc.load)) for (const s of seconds) s.histogram = 'not a histogram'
    write('ratings-abort/2026-11-26T031515Z', JSON.stringify(doc))
    const [run] = await scanReports(root)
    assert.equal(run?.verdict, 'unreadable')
    assert.equal(run?.experiment, 'ratings-abort')
    assert.match(run?.reason ?? '', /could not be summarised/)
  })

  it("keeps hostile directory and experiment names as they are (escaping is the page's job)", async () => {
    const name = `<script>alert(1)<\\script> "q" 'a'`
    const doc = journal()
    doc.experiment.name = name
    write(join(name, '2026-11-26T031515Z'), JSON.stringify(doc))
    const [run] = await scanReports(root)
    assert.equal(run?.dir, `${name}/2026-11-26T031515Z`)
    assert.equal(run?.experiment, name)
  })

  it('does not follow symbolic links (a link back up the tree cannot make the walk endless)', async () => {
    write('ratings-abort/2026-11-26T031515Z', HELD)
    symlinkSync(root, join(root, 'ratings-abort', 'loop'))
    assert.equal((await scanReports(root)).length, 1)
  })

  it('keeps summaries in a cache between scans, recomputing only journals that changed', async () => {
    const cacheFile = join(root, '.index-cache.json')
    write('ratings-abort/2026-11-26T031515Z', HELD)
    write('ratings-abort/2026-11-26T041515Z', HELD)
    const first = await scanReports(root, {cacheFile})
    assert.deepEqual(
      first.map(r => r.verdict),
      ['held', 'held'],
    )
    // Mark the cached entries: a scan that returns the mark read the cache instead of the journal.
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as {
      version: number
      runs: Record<string, {summary: {reason: string}}>
    }
    for (const entry of Object.values(cache.runs)) entry.summary.reason = 'from the cache'
    writeFileSync(cacheFile, JSON.stringify(cache))
    const touched = join(root, 'ratings-abort/2026-11-26T041515Z/journal.json')
    utimesSync(touched, new Date('2026-11-26T05:00:00Z'), new Date('2026-11-26T05:00:00Z'))
    const second = await scanReports(root, {cacheFile})
    assert.deepEqual(
      second.map(r => r.reason.startsWith('the hypothesis held')),
      [true, false],
      'the rewritten journal is summarised again, the other comes from the cache',
    )
    assert.equal(second[1]?.reason, 'from the cache')

    rmSync(join(root, 'ratings-abort/2026-11-26T031515Z'), {recursive: true})
    await scanReports(root, {cacheFile})
    assert.deepEqual(
      Object.keys((JSON.parse(readFileSync(cacheFile, 'utf8')) as typeof cache).runs),
      ['ratings-abort/2026-11-26T041515Z'],
      'deleted runs drop out',
    )
  })

  it('ignores a cache that is corrupt, of another version, or whose entries are malformed', async () => {
    const cacheFile = join(root, '.index-cache.json')
    write('ratings-abort/2026-11-26T031515Z', HELD)
    for (const text of [
      '{"version": 1, "runs": ',
      JSON.stringify({version: 99, runs: {}}),
      JSON.stringify({
        version: 1,
        runs: {'ratings-abort/2026-11-26T031515Z': {size: 1, mtimeMs: 1, summary: {dir: 3}}},
      }),
    ]) {
      writeFileSync(cacheFile, text)
      const [run] = await scanReports(root, {cacheFile})
      assert.equal(run?.verdict, 'held')
    }
  })

  it("reads the time of a run directory and checks a journal's shape", () => {
    assert.equal(timeOfRunDir('2026-11-26T031515Z')?.toISOString(), '2026-11-26T03:15:15.000Z')
    assert.equal(timeOfRunDir('2026-13-40T999999Z'), undefined)
    assert.equal(timeOfRunDir('latest'), undefined)
    assert.equal(journalProblem(journal()), undefined)
    assert.equal(journalProblem(null), 'journal.json is not a JSON object')
    assert.match(journalProblem({...journal(), load: {targeted: {}}}) ?? '', /\/load\/targeted: must be array/)
    const events = Array.from({length: 5}, () => ({kind: 'phase-exploded'}))
    assert.match(
      journalProblem({...journal(), events}) ?? '',
      /^journal\.json does not match the journal schema: \/events\/0: .*; … and 2 more$/,
    )
  })
})
