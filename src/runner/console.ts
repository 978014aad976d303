/**
 * The run as a person watches it: preflight findings, phase changes, live per-class rate, error
 * ratio and p95, the evidence, the reverts, then a verdict table. A subscriber of the event stream,
 * like the journal; it computes nothing the journal does not have.
 */
import type {SecondStats} from '../load/recorder.js'
import type {Outcome, ProbeResult, RunEvent} from './events.js'

const VERDICT: Record<Outcome, string> = {
  'held': 'HELD', 'deviated': 'DEVIATED', 'aborted': 'ABORTED', 'could-not-run': 'COULD NOT RUN', 'revert-failed': 'REVERT FAILED',
}

const pad = (s: string, n: number) => (s.length >= n ? s.slice(0, n - 2) + '… ' : s + ' '.repeat(n - s.length))

/** Renders the probe results as a fixed-width table. */
export function resultTable(results: ProbeResult[]): string {
  const rows = results.map(r => [r.probe, r.phase, r.status, r.actual, r.expected])
  const head = ['PROBE', 'PHASE', 'STATUS', 'MEASURED', 'EXPECTED']
  const widths = head.map((h, i) => Math.min(i === 0 ? 44 : 40, Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)) + 2))
  return [head, ...rows].map(r => r.map((c, i) => pad(c ?? '', widths[i] ?? 10)).join('').trimEnd()).join('\n')
}

/** Writes a run's events to a stream as readable lines. */
export class ConsoleReporter {
  private phase = 'preflight'
  private phaseStart = 0
  private plannedMs = 0
  private readonly latest = new Map<string, SecondStats>()
  private lastProgress = 0
  private readonly results: ProbeResult[] = []

  constructor(private readonly out: NodeJS.WritableStream, private readonly progressEveryMs = 5000) {}

  private line(label: string, text: string): void {
    this.out.write(`${pad(label, 11)}${text}\n`)
  }

  /** Handles one event. */
  handle(e: RunEvent): void {
    switch (e.kind) {
      case 'run-started':
        this.out.write(`chaos run ${e.experiment} (run ${e.runId}) on ${e.target.source} ${e.target.server}, context ${e.target.context}, namespace ${e.target.namespace}; load: ${e.driverVersion}\n`)
        break
      case 'preflight':
        this.line('preflight', `${{ok: '✓', warning: '!', failed: '✗'}[e.status]} ${e.check}: ${e.message}${e.hint === undefined ? '' : `\n${' '.repeat(13)}${e.hint}`}`)
        break
      case 'phase-started':
        this.phase = e.phase
        this.phaseStart = e.t
        this.plannedMs = e.plannedMs
        this.line(e.phase, `started (${Math.round(e.plannedMs / 1000)}s)`)
        break
      case 'load-second':
        this.latest.set(e.second.traffic, e.second)
        if (e.t - this.lastProgress >= this.progressEveryMs) {
          this.lastProgress = e.t
          this.progress(e.t)
        }
        break
      case 'fault-applied': this.line('fault', `applied VirtualService ${e.fault.namespace}/${e.fault.name} (${e.fault.action}, resourceVersion ${e.fault.resourceVersion})`); break
      // Polled evidence times the effect from above only (the message says how finely).
      case 'fault-evidence': this.line(this.phase, `fault fired${e.afterWriteMs >= 0 ? ` ${e.afterWriteMs}ms after the write at the latest` : ''}: ${e.source}: ${e.message}`); break
      case 'fault-not-fired': this.line('WARNING', `the fault never fired: ${e.message}\n${' '.repeat(11)}${e.hint}`); break
      case 'control-evidence': this.line('evidence', `${e.untouched ? 'control traffic untouched' : 'CONTROL TRAFFIC AFFECTED'}: ${e.message}`); break
      case 'guardrail-breached': this.line('GUARDRAIL', `${e.guardrail}: ${e.message}`); break
      case 'revert': this.line('revert', `${e.action} ${e.namespace}/${e.name}: ${e.message}`); break
      case 'last-evidence': this.line('revert', e.message); break
      case 'revert-failed': this.line('REVERT', `FAILED for ${e.namespace}/${e.name}: ${e.message}\n${' '.repeat(11)}clean up with: ${e.command}`); break
      case 'probe-result': this.results.push(e.result); break
      case 'log': this.line(e.level, e.message); break
      case 'run-finished':
        if (this.results.length > 0) this.out.write(`\n${resultTable(this.results)}\n`)
        this.out.write(`\nVerdict: ${VERDICT[e.outcome]} (exit ${e.exitCode}) — ${e.reason}\n`)
        break
      default: break
    }
  }

  private progress(t: number): void {
    const elapsed = Math.round((t - this.phaseStart) / 1000)
    const remaining = Math.max(0, Math.round(this.plannedMs / 1000) - elapsed)
    const classes = [...this.latest.values()].map(s => `${s.traffic} ${s.requests}/s err ${s.requests === 0 ? 0 : Math.round((s.failed / s.requests) * 1000) / 10}% p95 ${Math.round(s.p95)}ms`)
    this.line(this.phase, `${elapsed}s elapsed, ${remaining}s left · ${classes.join(' · ')}`)
  }
}
