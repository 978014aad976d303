/**
 * The run journal: every event, and every load second, kept in one versioned JSON document that is
 * rewritten atomically (write + rename) as the run goes, so a crash or `kill -9` leaves the last
 * consistent state on disk — including what was applied, which `chaos revert` needs.
 */
import {mkdirSync, renameSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Static} from '@sinclair/typebox'

import type {RunEvent} from './events.js'
import type {JournalDocument as JournalDocumentSchema} from './model.js'

/** Journal format version; bump on incompatible changes. */
export const JOURNAL_VERSION = 1

/**
 * The journal document (`journal.json`), as its TypeBox model (model.ts) describes it: fields that
 * older journals lack are optional there, so a renderer has to cope with every journal it may read.
 */
export type JournalDocument = Static<typeof JournalDocumentSchema>

/** One class's requests in flight at one moment of the load. */
export type InFlightSample = NonNullable<JournalDocument['inFlight']>[string][number]

/** The events that are samples (series, blast radius, requests in flight, load seconds): kept outside `events`. */
const SAMPLE_KINDS = [
  'probe-series',
  'blast-radius',
  'load-progress',
  'load-second',
] as const satisfies readonly RunEvent['kind'][]

/** An event of one of those kinds. */
type SampleEvent = Extract<RunEvent, {kind: (typeof SAMPLE_KINDS)[number]}>

/** Whether an event is a sample, saved at most once a second. */
function isSample(e: RunEvent): e is SampleEvent {
  return (SAMPLE_KINDS as readonly string[]).includes(e.kind)
}

/** Appends events to a journal document and persists it. */
export class Journal {
  readonly doc: JournalDocument
  readonly file: string
  private dirty = false
  private timer: NodeJS.Timeout | undefined

  /**
   * `redact` is applied to every write (secret header values must never reach the disk, not even
   * for the seconds a run is live); the document in memory stays whole.
   */
  constructor(
    dir: string,
    init: Pick<JournalDocument, 'runId' | 'experiment' | 'environment'>,
    startedAt: Date,
    private readonly redact: (doc: JournalDocument) => JournalDocument = doc => doc,
  ) {
    mkdirSync(dir, {recursive: true})
    this.file = join(dir, 'journal.json')
    this.doc = {
      kind: 'FaultlineJournal',
      version: JOURNAL_VERSION,
      status: 'running',
      startedAt: startedAt.toISOString(),
      phases: [],
      applied: [],
      reverted: [],
      probes: [],
      series: [],
      load: {},
      inFlight: {},
      events: [],
      ...init,
    }
    this.save()
  }

  /** Folds one event into the document. Safety-relevant events are written at once, samples at most once a second. */
  record(e: RunEvent): void {
    if (isSample(e)) {
      this.foldSample(e)
      this.scheduleSave()
      return
    }
    this.doc.events.push(e)
    this.foldEvent(e)
    this.persist()
  }

  /** Keeps a sample where the document holds it, outside `events`. */
  private foldSample(e: SampleEvent): void {
    switch (e.kind) {
      case 'probe-series':
        ;(this.doc.series ??= []).push(e.series)
        break
      case 'blast-radius':
        this.doc.blastRadius = e.blastRadius
        break
      case 'load-progress': {
        const byClass = (this.doc.inFlight ??= {})
        for (const f of e.inFlight)
          (byClass[f.traffic] ??= []).push({loadMs: e.loadMs, count: f.count, oldestMs: f.oldestMs})
        break
      }
      case 'load-second':
        ;(this.doc.load[e.second.traffic] ??= []).push(e.second)
        break
    }
  }

  /** What an event kept in `events` also changes: phases, applied and reverted objects, probe results, the outcome. */
  private foldEvent(e: Exclude<RunEvent, SampleEvent>): void {
    switch (e.kind) {
      case 'phase-started':
        this.doc.phases.push({name: e.phase, startT: e.t, plannedMs: e.plannedMs})
        break
      case 'phase-ended': {
        const phase = this.doc.phases.find(p => p.name === e.phase && p.endT === undefined)
        if (phase !== undefined) phase.endT = e.t
        if (phase !== undefined && e.cutShort !== undefined) phase.cutShort = e.cutShort
        break
      }
      case 'fault-applied':
        this.doc.applied.push(e.fault)
        break
      case 'setup-applied':
        this.doc.applied.push(e.setup)
        break
      case 'revert':
        this.doc.reverted.push({namespace: e.namespace, name: e.name, action: e.action, t: e.t})
        break
      case 'probe-result':
        this.doc.probes.push(e.result)
        break
      case 'run-finished':
        Object.assign(this.doc, {
          status: 'finished',
          outcome: e.outcome,
          deviated: e.outcome === 'deviated',
          exitCode: e.exitCode,
          reason: e.reason,
          finishedAt: e.at,
        })
        break
      default:
        break
    }
  }

  private scheduleSave(): void {
    this.dirty = true
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      if (this.dirty) this.persist()
    }, 1000)
  }

  /**
   * The first error a write after the first one met (a full volume), or undefined. Once the run
   * has started, a journal that cannot be written never stops it: the revert and the outcome come
   * first, and the report step names the volume.
   */
  writeError: Error | undefined

  /** `save()` that never throws; the first failure is kept in `writeError`. */
  private persist(): void {
    try {
      this.save()
    } catch (err) {
      this.writeError ??= err as Error
    }
  }

  /** Writes the document atomically. */
  save(): void {
    this.dirty = false
    const tmp = `${this.file}.tmp`
    writeFileSync(tmp, JSON.stringify(this.redact(this.doc), null, 1))
    renameSync(tmp, this.file)
  }

  /** Final write; stops the sample timer. */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.persist()
  }
}

/** `reports/<experiment>/<timestamp>/` for a run starting at `at` (timestamp sortable and filesystem-safe). */
export function runDirectory(reportDir: string, experiment: string, at: Date): string {
  return join(
    reportDir,
    experiment,
    at
      .toISOString()
      .replace(/[:]/g, '')
      .replace(/\.\d+Z$/, 'Z'),
  )
}
