/**
 * How every report names a verdict: one word, a symbol that does not rely on colour (pages), and an
 * emoji (Markdown, where GitHub renders it) — so a verdict reads the same in report.html, the
 * history index, the game-day page and summary.md.
 */
import type {Outcome} from '../journal/events.js'

/** Every verdict a report shows: a run's outcome, or what a journal or a game day says instead. */
export type VerdictName = Outcome | 'unfinished' | 'running' | 'unreadable' | 'skipped'

/** The words and marks of one verdict. */
export interface VerdictLook {
  /** Lower-case word, e.g. `could not run`. */
  word: string
  /** A text symbol for pages, distinguishable without colour. */
  symbol: string
  /** For Markdown. */
  emoji: string
}

/** The one table of verdict words and marks. */
export const VERDICT_LOOK: Readonly<Record<VerdictName, VerdictLook>> = {
  held: {word: 'held', symbol: '✔', emoji: '✅'},
  deviated: {word: 'deviated', symbol: '✘', emoji: '❌'},
  aborted: {word: 'aborted', symbol: '■', emoji: '⛔'},
  'could-not-run': {word: 'could not run', symbol: '⊘', emoji: '⚠️'},
  'revert-failed': {word: 'revert failed', symbol: '⚠', emoji: '🚨'},
  unfinished: {word: 'unfinished', symbol: '⚠', emoji: '⏳'},
  running: {word: 'running', symbol: '◔', emoji: '⏳'},
  unreadable: {word: 'unreadable', symbol: '?', emoji: '❔'},
  skipped: {word: 'skipped', symbol: '»', emoji: '⏭️'},
}

/** `could not run` → `Could not run`. */
export function capitalised(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1)
}
