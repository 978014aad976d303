/**
 * Finds every run under a report root (`<root>/<experiment>/<timestamp>/journal.json`) and reads
 * its key figures. A journal cut short, of another version, not ours at all, or still `running` is
 * listed as such: one bad file never hides the others, and nothing here throws over a journal.
 */
import type {Dirent, Stats} from 'node:fs'
import {readdir, readFile, stat} from 'node:fs/promises'
import {join, relative, sep} from 'node:path'

import {JOURNAL_VERSION, type JournalDocument} from '../../journal/journal.js'
import {journalIssues} from '../../journal/schema.js'
import {newestFirst, type RunSummary, summariseRun, unreadableRun} from './run-summary.js'
import {SummaryCache} from './summary-cache.js'

/** The journal's file name in a run directory. */
export const JOURNAL_FILE = 'journal.json'

/** Runs sit two levels down; a little more depth tolerates a root one level up, never a deep walk. */
const MAX_DEPTH = 4

/** Journals larger than this are not parsed (a one-hour run at one-second resolution is a few MB). */
const MAX_JOURNAL_BYTES = 256 * 1024 * 1024

/** How many journals are read at once. */
const CONCURRENCY = 8

type Found = {dir: string; problem?: string}

async function findRunDirs(dir: string, depth: number, found: Found[]): Promise<void> {
  let entries: Dirent[]
  try {
    entries = await readdir(dir, {withFileTypes: true})
  } catch (err) {
    if (depth > 0)
      found.push({
        dir,
        problem: `the directory could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      })
    return
  }
  if (entries.some(e => e.name === JOURNAL_FILE && e.isFile())) found.push({dir})
  if (depth >= MAX_DEPTH) return
  // Symbolic links are not followed: a link back up the tree must not make the walk endless.
  await Promise.all(entries.filter(e => e.isDirectory()).map(e => findRunDirs(join(dir, e.name), depth + 1, found)))
}

/** How many schema problems a listed journal names; the rest are counted (`chaos report` lists them all). */
const MAX_LISTED_ISSUES = 3

/**
 * What is wrong with a journal read from disk, or undefined for a usable one. Another kind of file
 * and another journal version are named as such; anything else is what the journal schema says.
 */
export function journalProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'journal.json is not a JSON object'
  const doc = value as Record<string, unknown>
  if (doc.kind !== 'FaultlineJournal')
    return `journal.json is not a Faultline journal (kind ${JSON.stringify(doc.kind) ?? 'missing'})`
  if (doc.version !== JOURNAL_VERSION)
    return `journal version ${JSON.stringify(doc.version) ?? 'missing'} is not the version this chaos reads (${JOURNAL_VERSION}); re-render it with the chaos that wrote it`
  const issues = journalIssues(value)
  if (issues.length === 0) return undefined
  const more = issues.length > MAX_LISTED_ISSUES ? `; … and ${issues.length - MAX_LISTED_ISSUES} more` : ''
  return `journal.json does not match the journal schema: ${issues.slice(0, MAX_LISTED_ISSUES).join('; ')}${more}`
}

/** `2026-11-26T031515Z` (the run directory's name) → that time. */
export function timeOfRunDir(name: string): Date | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})(\.\d+)?Z$/.exec(name)
  if (m === null) return undefined
  const at = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}${m[5] ?? ''}Z`)
  return Number.isNaN(at.getTime()) ? undefined : at
}

/** Reads and summarises one run directory; every failure becomes an `unreadable` entry. */
export async function readRun(root: string, found: Found, cache?: SummaryCache): Promise<RunSummary> {
  const segments = relative(root, found.dir)
    .split(sep)
    .filter(s => s !== '')
  const dir = segments.join('/')
  const experiment = segments.at(-2) ?? segments[0] ?? '(report root)'
  const file = join(found.dir, JOURNAL_FILE)
  const info = await stat(file).catch(() => undefined)
  const guess = timeOfRunDir(segments.at(-1) ?? '') ?? info?.mtime
  if (found.problem !== undefined) return unreadableRun(dir, experiment, found.problem, guess)
  const cached = info === undefined ? undefined : cache?.get(dir, info.size, info.mtimeMs)
  if (cached !== undefined) return cached
  const summary = await summariseDir(file, dir, experiment, info, guess)
  if (info !== undefined) cache?.set(dir, info.size, info.mtimeMs, summary)
  return summary
}

async function summariseDir(
  file: string,
  dir: string,
  experiment: string,
  info: Stats | undefined,
  guess: Date | undefined,
): Promise<RunSummary> {
  if (info !== undefined && info.size > MAX_JOURNAL_BYTES)
    return unreadableRun(
      dir,
      experiment,
      `journal.json is ${Math.round(info.size / 1048576)} MB, more than this index reads`,
      guess,
    )
  let value: unknown
  try {
    const text = await readFile(file, 'utf8')
    if (text.trim() === '') return unreadableRun(dir, experiment, 'journal.json is empty', guess)
    value = JSON.parse(text)
  } catch (err) {
    const why =
      err instanceof SyntaxError
        ? `journal.json is not valid JSON, perhaps cut short (${err.message})`
        : `journal.json could not be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`
    return unreadableRun(dir, experiment, why, guess)
  }
  const problem = journalProblem(value)
  if (problem !== undefined) return unreadableRun(dir, experiment, problem, guess)
  try {
    return summariseRun(value as JournalDocument, dir, info?.mtime)
  } catch (err) {
    return unreadableRun(
      dir,
      (value as JournalDocument).experiment.name,
      `journal.json could not be summarised (${(err as Error).message})`,
      guess,
    )
  }
}

/** How to scan. */
export interface ScanOptions {
  /** Keep summaries here between scans (e.g. `<root>/.index-cache.json`); only changed journals are summarised again. */
  cacheFile?: string
}

/** Every run under `root`, newest first; a missing root has no runs. */
export async function scanReports(root: string, options: ScanOptions = {}): Promise<RunSummary[]> {
  const found: Found[] = []
  await findRunDirs(root, 0, found)
  const cache = options.cacheFile === undefined ? undefined : await SummaryCache.load(options.cacheFile)
  const runs: RunSummary[] = new Array(found.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < found.length; i = next++) runs[i] = await readRun(root, found[i] as Found, cache)
  }
  await Promise.all(Array.from({length: Math.min(CONCURRENCY, found.length)}, worker))
  // A cache that cannot be written costs time on the next scan, never this one's result.
  if (cache !== undefined && found.length > 0) await cache.save()
  return runs.sort(newestFirst)
}
