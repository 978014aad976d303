/**
 * Writes a run's report files next to its journal, and refreshes the history index of the report
 * root. `chaos run` calls it when a run ends; `chaos report` calls it to re-render old runs with
 * today's renderers. Every file is written atomically (temp file + rename), so a browser or a CI
 * upload never sees half a report.
 */
import {readFile, rename, writeFile} from 'node:fs/promises'
import {basename, dirname, join, resolve} from 'node:path'

import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import type {JournalDocument} from '../journal/journal.js'
import {renderHtml} from './run/html.js'
import {renderIndex} from './index/page.js'
import {journalIssues} from '../journal/schema.js'
import {renderJunit} from './run/junit.js'
import {renderMarkdown} from './run/markdown.js'
import {redactJournal} from '../journal/redact.js'
import {JOURNAL_FILE, scanReports, timeOfRunDir} from './index/scan.js'

/** The files of one run folder. */
export const REPORT_FILES = {
  journal: JOURNAL_FILE,
  html: 'report.html',
  junit: 'junit.xml',
  markdown: 'summary.md',
} as const

/** The history page at a report root. */
export const INDEX_FILE = 'index.html'

/** Run summaries kept between index rebuilds. */
export const INDEX_CACHE_FILE = '.index-cache.json'

/** What to write. */
export interface ReportOptions {
  /** report.html and the root's index.html (`--no-html` turns both off for headless CI). */
  html: boolean
  /** Header names whose values are masked in addition to the built-in secret ones (`--redact-header`). */
  redactHeaders: readonly string[]
  /** Also (re)write journal.json, redacted — when rendering into another folder than the journal's. */
  journal?: boolean
}

/** What was written. */
/** The report files written for one run, beside its journal, and the root's refreshed index. */
export interface RunReportFiles {
  /** report.html, junit.xml, summary.md as written (none when rendering failed). */
  reportFiles: string[]
  /** The report root's history page. */
  indexFile?: string
}

export interface WrittenReports {
  dir: string
  files: string[]
}

/** A journal that cannot be read or is not a Faultline journal (exit 2). */
export class InvalidJournal extends FaultlineError {
  constructor(file: string, problems: readonly string[]) {
    super(
      `${file} is not a Faultline journal:\n  ${problems.slice(0, 10).join('\n  ')}${problems.length > 10 ? `\n  … and ${problems.length - 10} more` : ''}`,
      ExitCode.Invalid,
      'INVALID_JOURNAL',
      {
        hint: 'Pass the journal.json of a run folder (reports/<experiment>/<timestamp>/journal.json), a run folder, or a report root; a journal written by another version of chaos may need that version.',
      },
    )
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, text)
  await rename(tmp, file)
}

/** Reads and checks a journal file against the journal schema. */
export async function readJournal(file: string): Promise<JournalDocument> {
  let value: unknown
  try {
    value = JSON.parse(await readFile(file, 'utf8'))
  } catch (err) {
    throw new InvalidJournal(file, [
      (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message,
    ])
  }
  const problems = journalIssues(value)
  if (problems.length > 0) throw new InvalidJournal(file, problems)
  return value as JournalDocument
}

/** Renders every report file of one run into `dir` (a journal is redacted before anything is rendered). */
export async function writeRunReports(
  doc: JournalDocument,
  dir: string,
  options: ReportOptions,
): Promise<WrittenReports> {
  const redacted = redactJournal(doc, options.redactHeaders)
  const files: [string, () => string][] = [
    [REPORT_FILES.junit, () => renderJunit(redacted)],
    [REPORT_FILES.markdown, () => renderMarkdown(redacted)],
  ]
  if (options.html) files.unshift([REPORT_FILES.html, () => renderHtml(redacted)])
  if (options.journal === true) files.push([REPORT_FILES.journal, () => `${JSON.stringify(redacted, null, 1)}\n`])
  const written: string[] = []
  for (const [name, render] of files) {
    const file = join(dir, name)
    await writeAtomically(file, render())
    written.push(file)
  }
  return {dir, files: written}
}

/** Rewrites `<root>/index.html` from every journal under the root; returns its path. */
export async function writeIndex(root: string, now = new Date()): Promise<string> {
  // Summaries are cached by journal size and mtime: after a run, only the new journal is read.
  const runs = await scanReports(root, {cacheFile: join(root, INDEX_CACHE_FILE)})
  const file = join(root, INDEX_FILE)
  await writeAtomically(file, renderIndex(runs, {generatedAt: now}))
  return file
}

/**
 * The report root a run folder belongs to (`<root>/<experiment>/<timestamp>`), or undefined when
 * the folder does not sit in such a tree.
 */
export function reportRootOf(runDir: string): string | undefined {
  const dir = resolve(runDir)
  return timeOfRunDir(basename(dir)) !== undefined ? dirname(dirname(dir)) : undefined
}
