/** Go/Kubernetes/Istio duration strings (`500ms`, `1m30s`, `1.5s`), as used across experiment files and Istio objects. */

const UNIT_NS: Record<string, number> = {ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9}
const PART = /([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)/y

/** Parses a Go duration into nanoseconds; undefined when it is not one. */
export function parseDurationNs(text: string): number | undefined {
  let s = text.trim()
  let sign = 1
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s.startsWith('-')) sign = -1
    s = s.slice(1)
  }
  if (s === '0') return 0
  if (s === '') return undefined
  let total = 0
  PART.lastIndex = 0
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s)
    if (m === null || m[1] === '' || m[1] === '.') return undefined
    total += Number(m[1]) * (UNIT_NS[m[2] as string] as number)
  }
  return sign * total
}

/** Parses a duration into milliseconds (fractional when finer than 1ms); undefined when invalid. */
export function parseDurationMs(text: string): number | undefined {
  const ns = parseDurationNs(text)
  return ns === undefined ? undefined : ns / 1e6
}

/** Formats milliseconds the way Go prints durations, compactly: 7000 → `7s`, 90000 → `1m30s`, 250 → `250ms`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s'
  if (ms < 1000) return `${ms}ms`
  const h = Math.floor(ms / 3_600_000)
  const m = Math.floor((ms % 3_600_000) / 60_000)
  const s = (ms % 60_000) / 1000
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 ? `${s}s` : ''}`
}
