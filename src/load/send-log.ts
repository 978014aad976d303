/**
 * How well an open-model schedule was kept: each arrival's intended start against the moment the
 * driver handed it to a connection (send lag), and the arrival rate achieved over the sending
 * window itself — not over the run's wall time, which also holds the last responses and shutdown.
 */
import {newHistogram, recordMs, trendOf} from './histogram.js'

/** One class's schedule keeping over a run. */
export interface SendReport {
  traffic: string
  /** Arrivals handled (sent or dropped). */
  sent: number
  /** Milliseconds since load start of the first and last send. */
  firstSendMs: number
  lastSendMs: number
  /** Arrivals per second between the first and the last send. */
  arrivalRate: number
  /** Send lag (actual − intended send time) in milliseconds. */
  lag: {p50: number; p99: number; max: number}
}

/** Collects send times for one open-model class. */
export class SendLog {
  private readonly lag = newHistogram()
  private count = 0
  private first = 0
  private last = 0

  /** An arrival meant for `intendedMs` was handed over at `actualMs` (both since load start). */
  sent(intendedMs: number, actualMs: number): void {
    if (this.count === 0) this.first = actualMs
    this.last = actualMs
    this.count++
    recordMs(this.lag, Math.max(0, actualMs - intendedMs))
  }

  /** The summary for class `traffic`. */
  report(traffic: string): SendReport {
    const t = trendOf(this.lag)
    const window = this.last - this.first
    return {
      traffic,
      sent: this.count,
      firstSendMs: this.first,
      lastSendMs: this.last,
      arrivalRate: this.count < 2 || window <= 0 ? 0 : ((this.count - 1) * 1000) / window,
      lag: {p50: t.med, p99: t.p(99), max: t.max},
    }
  }
}
