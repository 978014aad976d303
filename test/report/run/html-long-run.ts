/**
 * A synthetic journal of a long run (default: one hour at one-second resolution, two traffic
 * classes) built on a real journal's shape, for the report's size and speed bars. Deterministic:
 * the same arguments give the same document. Every second carries a real encoded histogram, so a
 * renderer that embedded them would blow the size bar.
 */
import {readFileSync} from 'node:fs'

import type {SecondStats} from '../../../src/load/recorder.js'
import type {RunEvent} from '../../../src/journal/events.js'
import type {InFlightSample, JournalDocument} from '../../../src/journal/journal.js'

/** The fixture the long run is shaped after (a held ratings-abort run against the sandbox). */
export const TEMPLATE = new URL('../../fixtures/journals/held.json', import.meta.url)

/** A deterministic pseudo-random stream in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Options of the synthetic run. */
export interface LongRunOptions {
  seconds?: number
  classes?: readonly string[]
  ratePerS?: number
}

/**
 * A finished, deviated run: baseline a sixth, fault two thirds, recovery a sixth of `seconds`; in
 * the fault phase the first class slows down and fails 5% of its requests. Requests in flight are
 * sampled once a second, as the runner records them (rate × latency, the oldest about the slowest).
 */
export function longRunJournal(options: LongRunOptions = {}): JournalDocument {
  const total = options.seconds ?? 3600
  const classes = options.classes ?? ['targeted', 'control']
  const rate = options.ratePerS ?? 50
  const doc = JSON.parse(readFileSync(TEMPLATE, 'utf8')) as JournalDocument
  const histograms = Object.values(doc.load)
    .flat()
    .map(s => s.histogram)
  const offset = 500
  const [b, f] = [Math.round(total / 6), Math.round((total * 5) / 6)]
  const ms = (s: number) => offset + s * 1000
  doc.phases = [
    {name: 'baseline', startT: ms(0), endT: ms(b), plannedMs: b * 1000},
    {name: 'fault', startT: ms(b) + 50, endT: ms(f), plannedMs: (f - b) * 1000},
    {name: 'recovery', startT: ms(f) + 40, endT: ms(total), plannedMs: (total - f) * 1000},
  ]
  const next = random(42)
  doc.load = Object.fromEntries(
    classes.map((traffic, ci) => [
      traffic,
      Array.from({length: total}, (_, second): SecondStats => {
        const inFault = second >= b && second < f && ci === 0
        const p50 = (inFault ? 900 : 12) * (0.8 + next() * 0.4)
        const failed = inFault ? Math.round(rate * 0.05 * next() * 2) : 0
        return {
          traffic,
          second,
          requests: rate,
          failed,
          dropped: 0,
          statuses: failed > 0 ? {200: rate - failed, 503: failed} : {200: rate},
          p50,
          p95: p50 * (1.5 + next()),
          p99: p50 * (2.5 + next() * 2),
          max: p50 * 5,
          histogram: histograms[second % histograms.length] ?? '',
        }
      }),
    ]),
  )
  doc.inFlight = Object.fromEntries(
    classes.map(traffic => [
      traffic,
      (doc.load[traffic] ?? []).map((s): InFlightSample => {
        const count = Math.round(((rate * s.p50) / 1000) * (0.8 + next() * 0.4))
        return {
          loadMs: s.second * 1000 + 1000 + Math.round(next() * 40),
          count,
          oldestMs: count === 0 ? 0 : Math.round(s.max * (0.5 + next() * 0.5)),
        }
      }),
    ]),
  )
  const at = (t: number) => new Date(Date.parse(doc.startedAt) + t).toISOString()
  const event = (t: number, e: Record<string, unknown>) => ({...e, t, at: at(t)}) as RunEvent
  const applied = doc.applied[0]
  doc.events = [
    ...doc.events.filter(e => e.kind === 'run-started' || e.kind === 'preflight'),
    event(ms(0), {kind: 'phase-started', phase: 'baseline', plannedMs: b * 1000}),
    event(ms(b), {kind: 'phase-ended', phase: 'baseline'}),
    ...(applied === undefined ? [] : [event(ms(b) + 48, {kind: 'fault-applied', fault: applied})]),
    event(ms(b) + 50, {kind: 'phase-started', phase: 'fault', plannedMs: (f - b) * 1000}),
    event(ms(b) + 1100, {
      kind: 'fault-evidence',
      source: 'envoy fault filter',
      message: '3 request(s) faulted',
      afterWriteMs: 1052,
    }),
    event(ms(f), {kind: 'phase-ended', phase: 'fault'}),
    event(ms(f) + 30, {
      kind: 'revert',
      namespace: 'default',
      name: 'faultline-ratings',
      action: 'deleted',
      message: 'created by this run and unchanged since',
    }),
    event(ms(f) + 40, {kind: 'phase-started', phase: 'recovery', plannedMs: (total - f) * 1000}),
    event(ms(f) + 2100, {kind: 'last-evidence', afterRevertMs: 0, message: 'no faulted request after the revert'}),
    event(ms(total), {kind: 'phase-ended', phase: 'recovery'}),
    event(ms(total) + 300, {
      kind: 'run-finished',
      outcome: 'deviated',
      exitCode: 1,
      reason: 'the hypothesis deviated: synthetic slow fault phase',
    }),
  ]
  doc.reverted = [{namespace: 'default', name: 'faultline-ratings', action: 'deleted', t: ms(f) + 30}]
  Object.assign(doc, {
    outcome: 'deviated',
    deviated: true,
    exitCode: 1,
    reason: 'the hypothesis deviated: synthetic slow fault phase',
    finishedAt: at(ms(total) + 300),
  })
  return doc
}
