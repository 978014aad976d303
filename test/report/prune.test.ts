import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {UsageError} from '@faultline/core/errors.js'
import {checkKeep, LIVE_RUN_MS, pruneRuns} from '../../src/report/prune.js'
import {scanReports} from '../../src/report/index/scan.js'
import {writeIndex} from '../../src/report/write.js'

const FIXTURES = 'test/fixtures/journals'

describe('--keep: pruning run folders', () => {
  let root: string
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'faultline-prune-'))
  })
  afterEach(() => rm(root, {recursive: true, force: true}))

  /** A run folder of `experiment` at `stamp` holding a copy of a fixture journal (its name rewritten). */
  async function run(
    experiment: string,
    stamp: string,
    fixture = 'held.json',
    edit: (doc: Record<string, unknown>) => void = () => undefined,
  ): Promise<string> {
    const dir = join(root, experiment, stamp)
    await mkdir(dir, {recursive: true})
    const doc = JSON.parse(await readFile(join(FIXTURES, fixture), 'utf8')) as Record<string, unknown> & {
      experiment: {name: string}
    }
    doc.experiment.name = experiment
    edit(doc)
    await writeFile(join(dir, 'journal.json'), JSON.stringify(doc, null, 1))
    return dir
  }

  it('keeps the N newest Faultline run folders of the experiment and removes the older ones; the index then lists exactly those', async () => {
    const oldest = await run('ratings-abort', '2026-11-24T031515Z', 'held.json')
    const middle = await run('ratings-abort', '2026-11-25T031515Z', 'deviated.json')
    const newest = await run('ratings-abort', '2026-11-26T031515Z', 'aborted.json')
    const other = await run('ratings-delay', '2026-11-20T031515Z', 'deviated.json')
    const pruned = await pruneRuns(root, 'ratings-abort', 2)
    assert.deepEqual(pruned.kept, [newest, middle])
    assert.deepEqual(pruned.removed, [oldest])
    assert.ok(
      !existsSync(oldest) && existsSync(middle) && existsSync(newest) && existsSync(other),
      'another experiment is never touched',
    )
    await writeIndex(root)
    const listed = (await scanReports(root)).map(r => r.dir).sort()
    assert.deepEqual(listed, [
      'ratings-abort/2026-11-25T031515Z',
      'ratings-abort/2026-11-26T031515Z',
      'ratings-delay/2026-11-20T031515Z',
    ])
    const index = await readFile(join(root, 'index.html'), 'utf8')
    assert.ok(!index.includes('2026-11-24T031515Z'))
    assert.ok(index.includes('2026-11-25T031515Z') && index.includes('2026-11-26T031515Z'))
  })

  it('removes nothing that is not a Faultline run folder: other folders, files, foreign journals, symbolic links', async () => {
    await run('x', '2026-11-26T031515Z')
    await run('x', '2026-11-25T031515Z')
    const noJournal = join(root, 'x', '2026-11-01T000000Z')
    await mkdir(noJournal)
    await writeFile(join(noJournal, 'notes.txt'), 'mine')
    const foreign = join(root, 'x', '2026-11-02T000000Z')
    await mkdir(foreign)
    await writeFile(join(foreign, 'journal.json'), JSON.stringify({kind: 'SomethingElse'}))
    const notAStamp = join(root, 'x', 'keep-me')
    await mkdir(notAStamp)
    await writeFile(join(notAStamp, 'journal.json'), await readFile(join(FIXTURES, 'held.json')))
    await writeFile(join(root, 'x', '2026-11-03T000000Z'), 'a file named like a run')
    const outside = await mkdtemp(join(tmpdir(), 'faultline-prune-outside-'))
    await writeFile(join(outside, 'journal.json'), await readFile(join(FIXTURES, 'held.json')))
    await symlink(outside, join(root, 'x', '2026-11-04T000000Z'))
    try {
      const pruned = await pruneRuns(root, 'x', 1)
      assert.deepEqual(pruned.removed, [join(root, 'x', '2026-11-25T031515Z')])
      for (const kept of [
        noJournal,
        foreign,
        notAStamp,
        join(root, 'x', '2026-11-03T000000Z'),
        join(root, 'x', '2026-11-04T000000Z'),
        join(outside, 'journal.json'),
      ])
        assert.ok(existsSync(kept), kept)
    } finally {
      await rm(outside, {recursive: true, force: true})
    }
  })

  it('a run still being written (journal running, written recently) is never removed; one that died long ago is', async () => {
    const live = await run('x', '2026-11-20T000000Z', 'held.json', doc => {
      doc.status = 'running'
    })
    const dead = await run('x', '2026-11-21T000000Z', 'held.json', doc => {
      doc.status = 'running'
    })
    const old = new Date(Date.now() - 2 * LIVE_RUN_MS)
    await utimes(join(dead, 'journal.json'), old, old)
    await run('x', '2026-11-26T000000Z')
    const pruned = await pruneRuns(root, 'x', 1)
    assert.deepEqual(pruned.removed, [dead])
    assert.ok(existsSync(live))
  })

  it('game-day folders (gameday.json) are pruned like runs', async () => {
    for (const stamp of ['2026-11-24T100000Z', '2026-11-25T100000Z', '2026-11-26T100000Z']) {
      await mkdir(join(root, 'weekly', stamp), {recursive: true})
      await writeFile(
        join(root, 'weekly', stamp, 'gameday.json'),
        `${JSON.stringify({kind: 'FaultlineGameDay', version: 1, name: 'weekly'}, null, 1)}\n`,
      )
    }
    const pruned = await pruneRuns(root, 'weekly', 2)
    assert.deepEqual(pruned.removed, [join(root, 'weekly', '2026-11-24T100000Z')])
  })

  it('refuses --keep below 1 (exit 2), a missing experiment folder is nothing to do, a name with a path is refused', async () => {
    for (const bad of [0, -1, 1.5])
      assert.throws(
        () => checkKeep(bad),
        (err: unknown) =>
          err instanceof UsageError && err.exitCode === 2 && err.message === `--keep ${bad}: keep at least 1 run`,
      )
    assert.equal(checkKeep(undefined), undefined)
    assert.deepEqual(await pruneRuns(root, 'never-ran', 3), {name: 'never-ran', kept: [], removed: []})
    await assert.rejects(pruneRuns(root, '../x', 3))
    await assert.rejects(pruneRuns(root, '..', 3))
  })
})
