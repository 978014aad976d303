/**
 * `chaos report`: re-renders reports from journals, so an old run gets today's report. The path is
 * a journal, a run folder, or a whole report root (every run under it, then its index).
 */
import {mkdir, stat} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'

import {UsageError} from '../errors.js'
import {JOURNAL_FILE, scanReports} from './scan.js'
import {readJournal, type ReportOptions, reportRootOf, writeIndex, writeRunReports} from './write.js'

/** What `chaos report` wrote, and which runs it could not read. */
export interface RerenderResult {
  files: string[]
  index?: string
  skipped: {dir: string; problem: string}[]
}

async function kindOf(path: string): Promise<'file' | 'run' | 'root'> {
  let info
  try {
    info = await stat(path)
  } catch {
    throw new UsageError(`${path} does not exist`, {hint: 'Pass a journal.json, a run folder (reports/<experiment>/<timestamp>) or a report root (reports/).'})
  }
  if (info.isFile()) return 'file'
  return (await stat(join(path, JOURNAL_FILE)).then(s => s.isFile(), () => false)) ? 'run' : 'root'
}

/** Re-renders the reports at `path`; `outDir` (one run only) writes them elsewhere, with a redacted journal. */
export async function rerender(path: string, options: Omit<ReportOptions, 'journal'> & {outDir?: string}): Promise<RerenderResult> {
  const kind = await kindOf(path)
  if (kind === 'root') {
    if (options.outDir !== undefined) throw new UsageError('-o/--output applies to one run; a report root is re-rendered in place', {hint: `Pass one run's journal.json with -o, or drop -o to re-render every run under ${path}.`})
    const files: string[] = []
    const skipped: RerenderResult['skipped'] = []
    for (const run of await scanReports(path)) {
      if (run.verdict === 'unreadable' || run.verdict === 'running') {
        skipped.push({dir: run.dir, problem: run.verdict === 'running' ? 'the run has not finished (or died; `chaos revert` cleans up after it)' : run.reason})
        continue
      }
      const dir = join(path, run.dir)
      files.push(...(await writeRunReports(await readJournal(join(dir, JOURNAL_FILE)), dir, options)).files)
    }
    return {files, skipped, ...(options.html ? {index: await writeIndex(path)} : {})}
  }
  const journalFile = kind === 'file' ? path : join(path, JOURNAL_FILE)
  const doc = await readJournal(journalFile)
  const runDir = dirname(resolve(journalFile))
  const dir = options.outDir === undefined ? runDir : resolve(options.outDir)
  await mkdir(dir, {recursive: true})
  const {files} = await writeRunReports(doc, dir, {...options, journal: dir !== runDir})
  const root = options.outDir === undefined && options.html ? reportRootOf(runDir) : undefined
  return {files, skipped: [], ...(root === undefined ? {} : {index: await writeIndex(root)})}
}
