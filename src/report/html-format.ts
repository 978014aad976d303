/**
 * Numbers and times as report.html shows them: always with a unit, rounded to what a person can
 * compare at a glance (three significant figures), times relative to the run's start.
 */

/** Three significant figures without a trailing `.0`: 0.01234 → `0.0123`, 6012.9 → `6013`. */
export function significant(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  if (value === 0) return '0'
  const abs = Math.abs(value)
  if (abs >= 1000) return String(Math.round(value))
  return String(Number(value.toPrecision(3)))
}

/** A latency or duration in the unit that reads best: `40.4 ms`, `6.01 s`, `2 min 5 s`, `1 h 2 min`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  const abs = Math.abs(ms)
  if (abs < 1000) return `${significant(ms)} ms`
  if (abs < 60_000) return `${significant(ms / 1000)} s`
  const sign = ms < 0 ? '−' : ''
  const totalS = Math.round(abs / 1000)
  const h = Math.floor(totalS / 3600)
  const m = Math.floor((totalS % 3600) / 60)
  const s = totalS % 60
  return h > 0 ? `${sign}${h} h ${m} min` : `${sign}${m} min${s > 0 ? ` ${s} s` : ''}`
}

/** A moment on the run clock as `+m:ss.s` (or `+h:mm:ss`), the form the event log and charts share. */
export function formatRunTime(ms: number): string {
  const sign = ms < 0 ? '−' : '+'
  const abs = Math.abs(ms)
  const h = Math.floor(abs / 3_600_000)
  const m = Math.floor((abs % 3_600_000) / 60_000)
  const s = (abs % 60_000) / 1000
  if (h > 0) return `${sign}${h}:${String(m).padStart(2, '0')}:${String(Math.floor(s)).padStart(2, '0')}`
  return `${sign}${m}:${s.toFixed(1).padStart(4, '0')}`
}

/** A ratio as a percentage: 0.0123 → `1.23 %`. */
export function formatPercent(ratio: number): string {
  return `${significant(ratio * 100)} %`
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
