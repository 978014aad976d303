import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {REPO} from '../cli.js'
import type {JournalDocument} from '../../src/journal/journal.js'
import {rerender} from '../../src/report/rerender.js'
import {InvalidJournal, readJournal, reportRootOf, writeIndex, writeRunReports} from '../../src/report/write.js'

const FIXTURES = join(REPO, 'test/fixtures/journals')
const fixture = (name: string) => JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as JournalDocument

/** A report root holding the fixtures as runs of their experiments, as chaos run lays them out. */
function reportRoot(names: string[]): {root: string; dirs: Record<string, string>} {
  const root = mkdtempSync(join(tmpdir(), 'faultline-write-'))
  const dirs: Record<string, string> = {}
  names.forEach((name, i) => {
    const doc = fixture(name)
    const dir = join(root, doc.experiment.name, `2026-11-26T0${i}0000Z`)
    mkdirSync(dir, {recursive: true})
    writeFileSync(join(dir, 'journal.json'), JSON.stringify(doc))
    dirs[name] = dir
  })
  return {root, dirs}
}

describe('writing reports', () => {
  let root = ''
  afterEach(() => {
    if (root !== '') rmSync(root, {recursive: true, force: true})
    root = ''
  })

  it('writes report.html, junit.xml and summary.md beside the journal; --no-html leaves the page out', async () => {
    const made = reportRoot(['held'])
    root = made.root
    const dir = made.dirs.held as string
    const all = await writeRunReports(fixture('held'), dir, {html: true, redactHeaders: []})
    assert.deepEqual(
      all.files.map(f => f.slice(dir.length + 1)),
      ['report.html', 'junit.xml', 'summary.md'],
    )
    rmSync(join(dir, 'report.html'))
    await writeRunReports(fixture('held'), dir, {html: false, redactHeaders: []})
    assert.deepEqual(
      readdirSync(dir).sort(),
      ['journal.json', 'junit.xml', 'summary.md'],
      'no page and no temp file left behind',
    )
  })

  it('masks secret header values in every file it writes, the copied journal included', async () => {
    root = mkdtempSync(join(tmpdir(), 'faultline-write-'))
    const doc = fixture('held')
    const traffic = doc.experiment.spec.spec.load.traffic[0]
    assert.ok(traffic !== undefined)
    traffic.headers = {...traffic.headers, authorization: 'Bearer s3cr3t-token', 'x-tenant': 'tenant-s3cr3t'}
    const {files} = await writeRunReports(doc, root, {html: true, redactHeaders: ['X-Tenant'], journal: true})
    assert.equal(files.length, 4)
    for (const file of files) {
      const text = readFileSync(file, 'utf8')
      assert.doesNotMatch(text, /s3cr3t/, file)
    }
  })

  it('refreshes the root index over every run under it', async () => {
    const made = reportRoot(['held', 'deviated', 'aborted'])
    root = made.root
    const index = readFileSync(await writeIndex(root, new Date('2026-11-26T12:00:00Z')), 'utf8')
    for (const name of ['ratings-abort', 'ratings-delay']) assert.match(index, new RegExp(name))
    assert.equal(reportRootOf(made.dirs.held as string), root)
    assert.equal(reportRootOf(root), undefined)
  })

  it('refuses a file that is not a journal, naming the file and the problem (exit 2)', async () => {
    root = mkdtempSync(join(tmpdir(), 'faultline-write-'))
    const bad = join(root, 'journal.json')
    writeFileSync(bad, '{"kind": "FaultlineJournal", "version": 1')
    await assert.rejects(
      readJournal(bad),
      (e: InvalidJournal) =>
        e.exitCode === 2 && e.message.startsWith(`${bad} is not a Faultline journal`) && /JSON/.test(e.message),
    )
    writeFileSync(bad, JSON.stringify({...fixture('held'), runId: 7}))
    await assert.rejects(readJournal(bad), (e: InvalidJournal) => /\/runId: must be string/.test(e.message))
    await assert.rejects(readJournal(join(root, 'absent.json')), (e: InvalidJournal) => /no such file/.test(e.message))
  })

  it('re-renders a whole report root, skipping runs it cannot read, and refuses -o for a root', async () => {
    const made = reportRoot(['held', 'revert-failed', 'could-not-run'])
    root = made.root
    const broken = join(root, 'ratings-abort', '2026-11-26T090000Z')
    mkdirSync(broken)
    writeFileSync(join(broken, 'journal.json'), 'not json')
    const result = await rerender(root, {html: true, redactHeaders: []})
    assert.equal(result.files.filter(f => f.endsWith('report.html')).length, 3)
    assert.deepEqual(
      result.skipped.map(s => s.dir),
      ['ratings-abort/2026-11-26T090000Z'],
    )
    assert.equal(result.index, join(root, 'index.html'))
    await assert.rejects(
      rerender(root, {html: true, redactHeaders: [], outDir: join(root, 'out')}),
      /applies to one run/,
    )
  })

  it('re-renders one run into another folder with a redacted copy of its journal', async () => {
    const made = reportRoot(['deviated'])
    root = made.root
    const out = join(root, 'elsewhere')
    const result = await rerender(join(made.dirs.deviated as string, 'journal.json'), {
      html: true,
      redactHeaders: [],
      outDir: out,
    })
    assert.deepEqual(readdirSync(out).sort(), ['journal.json', 'junit.xml', 'report.html', 'summary.md'])
    assert.equal(result.index, undefined, "the history of the journal's own root is not touched")
  })
})
