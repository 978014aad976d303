/**
 * Numbers as the text reports (summary.md, junit.xml, annotations) print them: always with a unit,
 * three significant figures — what a person compares at a glance, not what a float holds.
 */

/** Three significant figures without trailing zeros: 0.012345 → `0.0123`, 6012.9 → `6013`. */
export function significant(value: number): string {
  if (!Number.isFinite(value)) return '—'
  if (value === 0) return '0'
  if (Math.abs(value) >= 1000) return String(Math.round(value))
  return String(Number(value.toPrecision(3)))
}

/** A latency or duration: `40.4 ms`, `6.01 s`, `2 min 5 s`, `1 h 2 min`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '—'
  const abs = Math.abs(ms)
  // Bounds are where three significant figures would round up into the next unit (999.5 ms → 1 s).
  if (abs < 999.5) return `${significant(ms)} ms`
  if (abs < 59_950) return `${significant(ms / 1000)} s`
  const sign = ms < 0 ? '-' : ''
  const totalS = Math.round(abs / 1000)
  const [h, m, s] = [Math.floor(totalS / 3600), Math.floor((totalS % 3600) / 60), totalS % 60]
  return h > 0 ? `${sign}${h} h ${m} min` : `${sign}${m} min${s > 0 ? ` ${s} s` : ''}`
}

/** A ratio as a percentage: 0.0123 → `1.23%`. */
export function formatPercent(ratio: number): string {
  return `${significant(ratio * 100)}%`
}

/** A request rate: `20.1/s`. */
export function formatRate(perSecond: number): string {
  return `${significant(perSecond)}/s`
}

/** A moment on the run clock: `+5.86 s`, `+2 min 5 s`. */
export function formatRunTime(ms: number): string {
  return `${ms < 0 ? '' : '+'}${formatMs(ms)}`
}
