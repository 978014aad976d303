/**
 * `--keep N`: after a run, only the N newest run folders of that experiment (or game day) stay
 * under the report root. Only folders Faultline wrote are ever removed: a directory
 * `<root>/<name>/<timestamp>/` (the run folder's own name format) holding a Faultline journal or a
 * game day's gameday.json. Anything else — other files, other folders, symbolic links, a run still
 * being written — is left alone.
 */
import {open, readdir, rm, stat} from 'node:fs/promises'
import {basename, join} from 'node:path'

import {UsageError} from '@faultline/core/errors.js'
import {GAMEDAY_FILES} from './gameday/report.js'
import {JOURNAL_FILE, timeOfRunDir} from './index/scan.js'

/** A journal still `running` and written this recently may belong to a live run: never removed. */
export const LIVE_RUN_MS = 120_000

/** How much of a file is read to recognise it (its kind and status are its first fields). */
const HEAD_BYTES = 4096

/** Refuses a `--keep` below 1 (exit 2): keeping nothing would delete the run just written. */
export function checkKeep(keep: number | undefined, flag = '--keep'): number | undefined {
  if (keep === undefined) return undefined
  if (!Number.isInteger(keep) || keep < 1)
    throw new UsageError(`${flag} ${keep}: keep at least 1 run`, {
      hint: `${flag} N keeps the N newest run folders of the experiment or game day and removes older ones; leave it out to keep every run.`,
    })
  return keep
}

async function head(file: string): Promise<string | undefined> {
  let handle
  try {
    handle = await open(file, 'r')
    const buffer = Buffer.alloc(HEAD_BYTES)
    const {bytesRead} = await handle.read(buffer, 0, HEAD_BYTES, 0)
    return buffer.subarray(0, bytesRead).toString('utf8')
  } catch {
    return undefined
  } finally {
    await handle?.close()
  }
}

/** What a run folder holds, as far as pruning is concerned. */
type Folder = {dir: string; at: Date; live: boolean}

/** The folder's Faultline file, if any: a journal (whose liveness matters) or a gameday.json. */
async function faultlineFolder(dir: string, at: Date, now: Date): Promise<Folder | undefined> {
  const journal = await head(join(dir, JOURNAL_FILE))
  if (journal !== undefined && /^\s*\{\s*"kind"\s*:\s*"FaultlineJournal"/.test(journal)) {
    const running = /"status"\s*:\s*"running"/.test(journal)
    const written = running ? (await stat(join(dir, JOURNAL_FILE)).catch(() => undefined))?.mtimeMs : undefined
    return {dir, at, live: written !== undefined && now.getTime() - written < LIVE_RUN_MS}
  }
  const gameday = await head(join(dir, GAMEDAY_FILES.json))
  if (gameday !== undefined && /^\s*\{\s*"kind"\s*:\s*"FaultlineGameDay"/.test(gameday)) return {dir, at, live: false}
  return undefined
}

/** What pruning did for one experiment or game day. */
export interface Pruned {
  name: string
  /** Run folders kept, newest first. */
  kept: string[]
  removed: string[]
}

/**
 * Keeps the `keep` newest Faultline run folders of `name` under `root` (by the timestamp in their
 * names) and removes the older ones. Live runs are kept on top of `keep`.
 */
export async function pruneRuns(root: string, name: string, keep: number, now = new Date()): Promise<Pruned> {
  checkKeep(keep)
  if (name === '' || name !== basename(name) || name === '.' || name === '..')
    throw new Error(`not an experiment or game day name: ${JSON.stringify(name)}`)
  const parent = join(root, name)
  const entries = await readdir(parent, {withFileTypes: true}).catch(() => [])
  const folders: Folder[] = []
  for (const e of entries) {
    // Symbolic links are not directories here (Dirent does not follow them): never followed, never removed.
    if (!e.isDirectory()) continue
    const at = timeOfRunDir(e.name)
    if (at === undefined) continue
    const folder = await faultlineFolder(join(parent, e.name), at, now)
    if (folder !== undefined) folders.push(folder)
  }
  folders.sort((a, b) => b.at.getTime() - a.at.getTime() || b.dir.localeCompare(a.dir))
  const kept: string[] = []
  const removed: string[] = []
  for (const [i, f] of folders.entries()) {
    if (i < keep || f.live) {
      kept.push(f.dir)
      continue
    }
    await rm(f.dir, {recursive: true, force: true})
    removed.push(f.dir)
  }
  return {name, kept, removed}
}
