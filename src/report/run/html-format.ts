/**
 * Numbers and times as report.html shows them: the text reports' numbers (three significant
 * figures, always with a unit), plus what a page with charts and a log needs — run-clock times in
 * the charts' `m:ss` form, counts, and instants in UTC.
 */

export {formatMs, formatPercent, significant} from '../format.js'

/** A moment on the run clock as `+m:ss.s` (or `+h:mm:ss`), the form the charts' time axis uses. */
export function formatRunClock(ms: number): string {
  const sign = ms < 0 ? '−' : '+'
  // Round once, in tenths, so 59.96 s reads 1:00.0 rather than 0:60.0.
  const tenths = Math.round(Math.abs(ms) / 100)
  const h = Math.floor(tenths / 36_000)
  const m = Math.floor((tenths % 36_000) / 600)
  const s = (tenths % 600) / 10
  if (h > 0) return `${sign}${h}:${String(m).padStart(2, '0')}:${String(Math.floor(s)).padStart(2, '0')}`
  return `${sign}${m}:${s.toFixed(1).padStart(4, '0')}`
}

/** A count with thousands separators: 12345 → `12,345`. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

/** A wall-clock instant in UTC, to the second: `2026-11-26 03:15:15 UTC`; the text itself when unreadable. */
export function formatInstant(iso: string): string {
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`
}
