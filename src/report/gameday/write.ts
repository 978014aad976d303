/** Writes a game day's folder: gameday.json, gameday.html (unless --no-html), junit.xml, summary.md. */
import {mkdir, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {GameDayRun} from '../../gameday/run.js'
import type {JournalDocument} from '../../journal/journal.js'
import {
  GAMEDAY_FILES,
  type GameDayFacts,
  gameDayReport,
  type GameDayReport,
  renderGameDayJunit,
  renderGameDayMarkdown,
} from './report.js'
import {renderGameDayHtml} from './html.js'
import {readJournal} from '../write.js'

/** What was written. */
export interface WrittenGameDay {
  report: GameDayReport
  dir: string
  files: string[]
}

/**
 * Writes the folder `facts.dir`. Each run's junit testsuite is rendered from its journal as written
 * (redacted), so the game day's junit.xml says exactly what the run's own does.
 */
export async function writeGameDayReports(
  run: GameDayRun,
  facts: GameDayFacts,
  options: {html: boolean},
): Promise<WrittenGameDay> {
  const report = gameDayReport(run, facts)
  const journals = new Map<number, JournalDocument>()
  for (const [i, e] of run.entries.entries()) {
    if (e.status !== 'ran') continue
    const doc = await readJournal(e.result.journalFile).catch(() => undefined)
    if (doc !== undefined) journals.set(i, doc)
    const entry = report.experiments[i]
    if (doc?.blastRadius !== undefined && entry !== undefined)
      entry.diagnosis = doc.blastRadius.diagnosis.map(f => f.sentence)
  }
  await mkdir(facts.dir, {recursive: true})
  const outputs: [string, string][] = [
    [GAMEDAY_FILES.json, `${JSON.stringify(report, null, 1)}\n`],
    ...(options.html ? [[GAMEDAY_FILES.html, renderGameDayHtml(report)] as [string, string]] : []),
    [GAMEDAY_FILES.junit, renderGameDayJunit(report, journals)],
    [GAMEDAY_FILES.markdown, renderGameDayMarkdown(report)],
  ]
  const files: string[] = []
  for (const [name, text] of outputs) {
    const file = join(facts.dir, name)
    await writeFile(file, text)
    files.push(file)
  }
  return {report, dir: facts.dir, files}
}
