/**
 * Run summaries kept between builds of the index, keyed by each journal's size and modification
 * time: summarising decodes every second's latency histogram (seconds for a one-hour run), and the
 * index is rebuilt after every run, so only new or rewritten journals should pay for it. A cache
 * file that is missing, corrupt or of another version is simply an empty cache.
 */
import {readFile, rename, writeFile} from 'node:fs/promises'

import {type RunSummary, VERDICTS} from './run-summary.js'

/** Bump when `RunSummary` or how it is computed changes: older entries are then recomputed. */
export const SUMMARY_CACHE_VERSION = 1

interface CacheEntry {
  size: number
  mtimeMs: number
  summary: RunSummary
}

/** Just enough shape for the page to render an entry; anything else is recomputed from the journal. */
function isEntry(value: unknown): value is CacheEntry {
  const e = value as Partial<CacheEntry> | null
  const s = e?.summary as Partial<RunSummary> | undefined
  return (
    typeof e?.size === 'number' &&
    typeof e.mtimeMs === 'number' &&
    typeof s === 'object' &&
    s !== null &&
    typeof s.dir === 'string' &&
    typeof s.experiment === 'string' &&
    typeof s.reason === 'string' &&
    VERDICTS.includes(s.verdict as RunSummary['verdict']) &&
    Array.isArray(s.classes) &&
    typeof s.roles === 'object' &&
    s.roles !== null &&
    typeof s.probes === 'object' &&
    s.probes !== null
  )
}

/** Summaries by run directory (relative to the report root). */
export class SummaryCache {
  private readonly fresh = new Map<string, CacheEntry>()

  private constructor(
    private readonly file: string,
    private readonly previous: ReadonlyMap<string, CacheEntry>,
  ) {}

  /** Reads `file`; a missing, corrupt or other-version file gives an empty cache. */
  static async load(file: string): Promise<SummaryCache> {
    const previous = new Map<string, CacheEntry>()
    try {
      const doc = JSON.parse(await readFile(file, 'utf8')) as {version?: unknown; runs?: unknown}
      if (doc.version === SUMMARY_CACHE_VERSION && typeof doc.runs === 'object' && doc.runs !== null) {
        for (const [dir, entry] of Object.entries(doc.runs))
          if (isEntry(entry) && entry.summary.dir === dir) previous.set(dir, entry)
      }
    } catch {
      // no cache yet, or one we cannot use: everything is summarised afresh
    }
    return new SummaryCache(file, previous)
  }

  /** The summary of `dir` if its journal still has this size and modification time. */
  get(dir: string, size: number, mtimeMs: number): RunSummary | undefined {
    const entry = this.previous.get(dir)
    if (entry === undefined || entry.size !== size || entry.mtimeMs !== mtimeMs) return undefined
    this.fresh.set(dir, entry)
    return entry.summary
  }

  /** Remembers a summary just computed. */
  set(dir: string, size: number, mtimeMs: number, summary: RunSummary): void {
    this.fresh.set(dir, {size, mtimeMs, summary})
  }

  /** Writes the entries used or made by this scan (runs deleted since drop out), atomically; false when it could not. */
  async save(): Promise<boolean> {
    const tmp = `${this.file}.${process.pid}.tmp`
    try {
      await writeFile(tmp, JSON.stringify({version: SUMMARY_CACHE_VERSION, runs: Object.fromEntries(this.fresh)}))
      await rename(tmp, this.file)
      return true
    } catch {
      return false
    }
  }
}
