/**
 * `chaos report`: re-renders reports from journals, so an old run gets today's report. The path is
 * a journal, a run folder, or a whole report root (every run under it, then its index).
 */
import {mkdir, open, readdir, stat} from 'node:fs/promises'
import {dirname, extname, join, resolve} from 'node:path'

import {ExitCode, FaultlineError, UsageError} from '@faultline/core/errors.js'
import {JOURNAL_FILE, scanReports} from './index/scan.js'
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
    throw new UsageError(`${path} does not exist`, {
      hint: 'Pass a journal.json, a run folder (reports/<experiment>/<timestamp>) or a report root (reports/).',
    })
  }
  if (info.isFile()) return 'file'
  return (await stat(join(path, JOURNAL_FILE)).then(
    s => s.isFile(),
    () => false,
  ))
    ? 'run'
    : 'root'
}

/** What `chaos report` takes, for every "that is not it" message. */
const WHAT_TO_PASS =
  'Pass what a run wrote: its journal.json (reports/<experiment>/<timestamp>/journal.json), its run folder (reports/<experiment>/<timestamp>), or a report root (reports/)'

/** What was passed is plainly not a journal (exit 2, as every file chaos report cannot read). */
export class NotAJournal extends FaultlineError {
  constructor(path: string, looksLike: string, instead: string) {
    super(`${path} is not a journal: it looks like ${looksLike}`, ExitCode.Invalid, 'INVALID_JOURNAL', {
      hint: `${WHAT_TO_PASS}. ${instead}`,
    })
  }
}

/** The first bytes of a file: enough to tell a journal from the files people pass by mistake. */
async function head(file: string, bytes = 4096): Promise<string> {
  const handle = await open(file, 'r')
  try {
    const buffer = Buffer.alloc(bytes)
    const {bytesRead} = await handle.read(buffer, 0, bytes, 0)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } finally {
    await handle.close()
  }
}

/**
 * Why `file` is plainly not a journal — an experiment or GameDay file, other YAML, a rendered
 * report or a game-day report — with what to pass instead; undefined when it may be one (the
 * journal schema then has the last word). A journal is JSON, so it starts with `{`.
 */
export async function notAJournal(file: string): Promise<NotAJournal | undefined> {
  const text = await head(file).catch(() => undefined)
  if (text === undefined) return undefined
  const start = text.replace(/^\uFEFF/, '').trimStart()
  const ext = extname(file).toLowerCase()
  const kind =
    /^kind:\s*["']?(Experiment|GameDay)\b/m.exec(text)?.[1] ??
    /"kind"\s*:\s*"(Experiment|GameDay|FaultlineGameDay)"/.exec(text)?.[1]
  const refuse = (looksLike: string, instead: string) => new NotAJournal(file, looksLike, instead)
  if (kind === 'Experiment')
    return refuse(
      'an experiment file (YAML, kind: Experiment)',
      `To run this experiment: chaos run ${file}; to check it: chaos validate ${file}.`,
    )
  if (kind === 'GameDay')
    return refuse(
      'a GameDay file (YAML, kind: GameDay)',
      `To run the game day: chaos gameday ${file}; to check it: chaos validate ${file}.`,
    )
  if (kind === 'FaultlineGameDay')
    return refuse(
      'a game-day report (gameday.json)',
      "Its experiments' run folders (linked from it) each hold a journal.json; or pass the whole report root.",
    )
  if (ext === '.html' || /^<(!doctype|html)/i.test(start))
    return refuse('a rendered report (HTML)', 'chaos report writes report.html from the journal.json beside it.')
  if (ext === '.xml' || start.startsWith('<?xml'))
    return refuse(
      'a rendered report (XML, e.g. junit.xml)',
      'chaos report writes junit.xml from the journal.json beside it.',
    )
  if (ext === '.md')
    return refuse(
      'a Markdown file (e.g. summary.md)',
      'chaos report writes summary.md from the journal.json beside it.',
    )
  const firstLine = start.split('\n').find(l => l.trim() !== '' && !l.startsWith('#')) ?? ''
  if (ext === '.yaml' || ext === '.yml' || /^(---|[\w.-]+:(\s|$))/.test(firstLine))
    return refuse(
      'a YAML file',
      'Experiment and GameDay files are run with chaos run / chaos gameday and checked with chaos validate.',
    )
  return undefined
}

/** Re-renders the reports at `path`; `outDir` (one run only) writes them elsewhere, with a redacted journal. */
export async function rerender(
  path: string,
  options: Omit<ReportOptions, 'journal'> & {outDir?: string},
): Promise<RerenderResult> {
  const kind = await kindOf(path)
  if (kind === 'root') {
    if (options.outDir !== undefined)
      throw new UsageError('-o/--output applies to one run; a report root is re-rendered in place', {
        hint: `Pass one run's journal.json with -o, or drop -o to re-render every run under ${path}.`,
      })
    const files: string[] = []
    const skipped: RerenderResult['skipped'] = []
    const runs = await scanReports(path)
    if (runs.length === 0) {
      const yaml = (await readdir(path).catch(() => [])).filter(f => /\.ya?ml$/i.test(f))
      if (yaml.length > 0)
        throw new NotAJournal(
          path,
          `a folder of experiment files (${yaml.slice(0, 3).join(', ')}${yaml.length > 3 ? ', …' : ''}), with no journal under it`,
          'Run an experiment first (chaos run <file>); its reports go to reports/.',
        )
    }
    for (const run of runs) {
      if (run.verdict === 'unreadable' || run.verdict === 'running') {
        skipped.push({
          dir: run.dir,
          problem:
            run.verdict === 'running'
              ? 'the run has not finished (or died; `chaos revert` cleans up after it)'
              : run.reason,
        })
        continue
      }
      const dir = join(path, run.dir)
      files.push(...(await writeRunReports(await readJournal(join(dir, JOURNAL_FILE)), dir, options)).files)
    }
    return {files, skipped, ...(options.html ? {index: await writeIndex(path)} : {})}
  }
  const journalFile = kind === 'file' ? path : join(path, JOURNAL_FILE)
  const wrongFile = await notAJournal(journalFile)
  if (wrongFile !== undefined) throw wrongFile
  const doc = await readJournal(journalFile)
  const runDir = dirname(resolve(journalFile))
  const dir = options.outDir === undefined ? runDir : resolve(options.outDir)
  await mkdir(dir, {recursive: true})
  const {files} = await writeRunReports(doc, dir, {...options, journal: dir !== runDir})
  const root = options.outDir === undefined && options.html ? reportRootOf(runDir) : undefined
  return {files, skipped: [], ...(root === undefined ? {} : {index: await writeIndex(root)})}
}
