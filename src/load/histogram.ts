/**
 * Latency histograms (HdrHistogram, microsecond resolution, 3 significant digits) — the one owner
 * of hdr-histogram-js. Per-second histograms are packed while live and kept encoded once sealed.
 */
import * as hdr from 'hdr-histogram-js'

/** A latency histogram in microseconds. */
export type Histogram = hdr.Histogram

/** Durations up to one hour are tracked; longer ones are clamped. */
const HIGHEST_US = 3_600_000_000

/** A new, empty histogram; `packed` for many small live ones. */
export function newHistogram(packed = true): Histogram {
  return hdr.build({bitBucketSize: packed ? 'packed' : 32, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, autoResize: false})
}

/** Records a duration given in milliseconds. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))))
}

/** Compact text form for the journal. */
export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h)
}

/** Reads a histogram back from `encodeHistogram`'s output. */
export function decodeHistogram(text: string): Histogram {
  return hdr.decodeFromCompressedBase64(text, 'packed')
}

/** Merges encoded histograms into one (for a phase or a whole run). */
export function mergeEncoded(encoded: Iterable<string>): Histogram {
  const total = newHistogram(false)
  for (const e of encoded) total.add(decodeHistogram(e))
  return total
}

/** The latency figures k6 reports for a Trend, in milliseconds. */
export interface TrendSummary {
  count: number
  avg: number
  min: number
  max: number
  med: number
  /** Percentile 0–100 → value. */
  p: (percentile: number) => number
}

/** Summarises a histogram as a Trend in milliseconds (all zero when empty). */
export function trendOf(h: Histogram): TrendSummary {
  const count = h.totalCount
  const ms = (us: number) => us / 1000
  return {
    count,
    avg: count === 0 ? 0 : ms(h.mean),
    min: count === 0 ? 0 : ms(h.minNonZeroValue),
    max: ms(h.maxValue),
    med: ms(h.getValueAtPercentile(50)),
    p: percentile => ms(h.getValueAtPercentile(percentile)),
  }
}
