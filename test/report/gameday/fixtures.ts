/**
 * A finished game day made of the journal fixtures, written to disk as `chaos gameday` would: each
 * run's folder with its reports, then the game-day folder linking to them.
 */
import {mkdir} from 'node:fs/promises'
import {join} from 'node:path'

import {gate} from '../../../src/gameday/gate.js'
import {gameDayOutcomes, type GameDayRun} from '../../../src/gameday/run.js'
import {writeGameDayReports, type WrittenGameDay} from '../../../src/report/gameday/write.js'
import {writeRunReports} from '../../../src/report/write.js'
import type {Outcome} from '../../../src/journal/events.js'
import {runDirectory} from '../../../src/journal/journal.js'
import {journal, type JournalFixture} from '../journals.js'

/** Writes a game day that ran `ran` (journal fixtures, in order) and skipped `skipped` experiments. */
export async function writeFixtureGameDay(
  root: string,
  ran: JournalFixture[],
  skipped: string[],
  options: {html?: boolean; stoppedBecause?: string; name?: string} = {},
): Promise<WrittenGameDay> {
  const startedAt = new Date(Date.UTC(2026, 10, 26, 3, 0, 0))
  const entries: GameDayRun['entries'] = []
  let t = startedAt.getTime()
  for (const [i, fixture] of ran.entries()) {
    const doc = journal(fixture)
    const runDir = runDirectory(root, doc.experiment.name, new Date(doc.startedAt))
    await mkdir(runDir, {recursive: true})
    const written = await writeRunReports(doc, runDir, {html: options.html ?? true, redactHeaders: [], journal: true})
    const outcome = doc.outcome as Outcome
    entries.push({
      status: 'ran',
      startedAt: new Date(t),
      durationMs: 52_000,
      reason: doc.reason ?? '',
      item: {
        index: i,
        name: doc.experiment.name,
        file: doc.experiment.file,
        namespace: 'default',
        experiment: doc.experiment.spec,
      },
      result: {
        runId: doc.runId,
        outcome,
        exitCode: doc.exitCode ?? 0,
        reason: doc.reason ?? '',
        runDir,
        journalFile: join(runDir, 'journal.json'),
        journal: doc,
        reportFiles: written.files,
      },
    })
    t += 82_000
  }
  for (const [j, name] of skipped.entries()) {
    entries.push({
      status: 'skipped',
      reason: options.stoppedBecause ?? 'interrupted (signal)',
      item: {
        index: ran.length + j,
        name,
        file: `experiments/${name}.yaml`,
        namespace: 'default',
        experiment: journal('held').experiment.spec,
      },
    })
  }
  const run: GameDayRun = {
    startedAt,
    finishedAt: new Date(t),
    entries,
    interrupted: options.stoppedBecause !== undefined,
    ...(options.stoppedBecause === undefined ? {} : {stoppedBecause: options.stoppedBecause}),
  }
  const name = options.name ?? 'weekly-bookinfo'
  const verdict = gate(gameDayOutcomes(run), 'any')
  return writeGameDayReports(
    run,
    {
      name,
      description: 'Weekly resilience check of bookinfo.',
      file: 'experiments/weekly-gameday.yaml',
      dir: runDirectory(root, name, startedAt),
      failOn: 'any',
      verdict,
    },
    {html: options.html ?? true},
  )
}
