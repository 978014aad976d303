/**
 * Latency histograms (HdrHistogram, microsecond resolution, 3 significant digits) — the one owner
 * of hdr-histogram-js. A live per-second histogram uses plain 32-bit counts (recording into it is
 * ~5× cheaper than into a packed one, and it only lives a second or two); sealed ones are kept
 * encoded, and decoded ones are packed.
 */
import * as hdr from 'hdr-histogram-js'

/** A latency histogram in microseconds. */
export type Histogram = hdr.Histogram

/** Durations up to one hour are tracked; longer ones are clamped. */
const HIGHEST_US = 3_600_000_000

/** A new, empty histogram: 32-bit counts (~94 KB) by default, `packed` to hold many for long. */
export function newHistogram(packed = false): Histogram {
  return hdr.build({
    bitBucketSize: packed ? 'packed' : 32,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  })
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
  const total = newHistogram()
  // Decoded into 32-bit counts, not packed: adding a packed histogram costs about 15× more
  // (bench/report-index.ts), and each decoded one is dropped at once.
  for (const e of encoded) total.add(hdr.decodeFromCompressedBase64(e, 32))
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

/** Summarises a histogram as a Trend in milliseconds (all zero when empty); `avg` is computed on first read. */
export function trendOf(h: Histogram): TrendSummary {
  const count = h.totalCount
  const ms = (us: number) => us / 1000
  return {
    count,
    // The mean walks every recorded bucket: sealing a second does not need it.
    get avg() {
      return count === 0 ? 0 : ms(h.mean)
    },
    min: count === 0 ? 0 : ms(h.minNonZeroValue),
    max: ms(h.maxValue),
    med: ms(h.getValueAtPercentile(50)),
    p: percentile => ms(h.getValueAtPercentile(percentile)),
  }
}
