/**
 * The run as a person watches it: preflight findings, phase changes, live per-class rate, error
 * ratio and p95, the evidence, the reverts, then a verdict table. A subscriber of the event stream,
 * like the journal; it computes nothing the journal does not have.
 */
import {diagnosisLines} from '../diagnosis/text.js'
import {reasonsText} from '../load/reasons.js'
import type {InFlight, SecondStats} from '../load/recorder.js'
import {cutShortText, inFlightText, type Outcome, type ProbeResult, type RunEvent} from '../journal/events.js'

const VERDICT: Record<Outcome, string> = {
  held: 'HELD',
  deviated: 'DEVIATED',
  aborted: 'ABORTED',
  'could-not-run': 'COULD NOT RUN',
  'revert-failed': 'REVERT FAILED',
}

const pad = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - s.length))

/**
 * `text` cut into lines of at most `width` characters: at a space where it can, else after a stat
 * name's own separators (`.`, `|`, `;`, `,`), mid-word only where there is neither.
 */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = []
  let rest = text
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width)
    const separator = Math.max(...['.', '|', ';', ','].map(c => rest.lastIndexOf(c, width - 1) + 1))
    const cut = space > width / 3 ? space : separator > width / 3 ? separator : width
    lines.push(rest.slice(0, cut).trimEnd())
    rest = rest.slice(cut).trimStart()
  }
  return [...lines, rest]
}

/**
 * The probe results as a fixed-width table. A cell never loses characters: a long probe name, stat
 * or query wraps inside its column (the two circuit-breaker rows of a run differ only at the end of
 * `cluster.outbound|9080|…` — a truncated table would show them as one).
 */
export function resultTable(results: ProbeResult[]): string {
  const rows = results.map(r => [r.probe, r.phase, r.status, r.actual, r.expected])
  const head = ['PROBE', 'PHASE', 'STATUS', 'MEASURED', 'EXPECTED']
  const widths = head.map((h, i) =>
    Math.min(i === 0 ? 44 : 40, Math.max(h.length, ...rows.map(r => (r[i] ?? '').length))),
  )
  const lines = [head, ...rows].flatMap(row => {
    const cells = row.map((c, i) => wrap(c ?? '', widths[i] ?? 10))
    const height = Math.max(...cells.map(c => c.length))
    return Array.from({length: height}, (_, k) =>
      cells
        .map((c, i) => pad(c[k] ?? '', (widths[i] ?? 10) + 2))
        .join('')
        .trimEnd(),
    )
  })
  return lines.join('\n')
}

type Formatters = {[K in RunEvent['kind']]: (e: Extract<RunEvent, {kind: K}>) => void}

/** Writes a run's events to a stream as readable lines. */
export class ConsoleReporter {
  private phase = 'preflight'
  private phaseStart = 0
  private plannedMs = 0
  private readonly latest = new Map<string, SecondStats>()
  private inFlight: InFlight[] = []
  private lastProgress = 0
  private readonly results: ProbeResult[] = []
  private diagnosis: string[] = []

  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly progressEveryMs = 5000,
  ) {}

  private line(label: string, text: string): void {
    this.out.write(`${pad(label, 11)}${text}\n`)
  }

  /** One formatter per event kind: a new kind that prints nothing does not compile. */
  private readonly formatters: Formatters = {
    'run-started': e =>
      this.out.write(
        `chaos run ${e.experiment} (run ${e.runId}) on ${e.target.source} ${e.target.server}, context ${e.target.context}, namespace ${e.target.namespace}; load: ${e.driverVersion}\n`,
      ),
    preflight: e =>
      this.line(
        'preflight',
        `${{ok: '✓', warning: '!', failed: '✗'}[e.status]} ${e.check}: ${e.message}${e.hint === undefined ? '' : `\n${' '.repeat(13)}${e.hint}`}`,
      ),
    'phase-started': e => {
      this.phase = e.phase
      this.phaseStart = e.t
      this.plannedMs = e.plannedMs
      this.line(e.phase, `started (${Math.round(e.plannedMs / 1000)}s)`)
    },
    'phase-ended': e => {
      if (e.cutShort !== undefined)
        this.line(e.phase, `INCOMPLETE: ${cutShortText(e.cutShort)}; its probes are not evaluated`)
    },
    'load-second': e => {
      this.latest.set(e.second.traffic, e.second)
    },
    'load-progress': e => {
      this.inFlight = e.inFlight
      if (e.t - this.lastProgress < this.progressEveryMs) return
      this.lastProgress = e.t
      this.progress(e.t)
    },
    'fault-applied': e =>
      this.line(
        'fault',
        `applied VirtualService ${e.fault.namespace}/${e.fault.name} (${e.fault.action}, resourceVersion ${e.fault.resourceVersion})`,
      ),
    'setup-applied': e =>
      this.line(
        'setup',
        `patched DestinationRule ${e.setup.namespace}/${e.setup.name} (resourceVersion ${e.setup.resourceVersion}); restored at the end of the run`,
      ),
    // Polled evidence times the effect from above only (the message says how finely).
    'fault-evidence': e =>
      this.line(
        this.phase,
        `fault fired${e.afterWriteMs >= 0 ? ` ${e.afterWriteMs}ms after the write at the latest` : ''}: ${e.source}: ${e.message}`,
      ),
    'fault-not-fired': e => this.line('WARNING', `the fault never fired: ${e.message}\n${' '.repeat(11)}${e.hint}`),
    'control-evidence': e =>
      this.line('evidence', `${e.untouched ? 'control traffic untouched' : 'CONTROL TRAFFIC AFFECTED'}: ${e.message}`),
    'probe-result': e => {
      this.results.push(e.result)
    },
    'probe-series': () => undefined, // the report's charts; nothing to say live
    'blast-radius': e => {
      this.diagnosis = diagnosisLines(e.blastRadius)
    },
    'guardrail-breached': e => this.line('GUARDRAIL', `${e.guardrail}: ${e.message}`),
    revert: e =>
      this.line(
        'revert',
        `${e.action} ${e.resource === undefined ? '' : `${e.resource} `}${e.namespace}/${e.name}: ${e.message}`,
      ),
    'last-evidence': e => this.line('revert', e.message),
    'revert-failed': e =>
      this.line(
        'REVERT',
        `FAILED for ${e.resource === undefined ? '' : `${e.resource} `}${e.namespace}/${e.name}: ${e.message}\n${' '.repeat(11)}clean up with: ${e.command}`,
      ),
    log: e => this.line(e.level, e.message),
    'run-finished': e => {
      if (this.results.length > 0) this.out.write(`\n${resultTable(this.results)}\n`)
      this.out.write(`\nVerdict: ${VERDICT[e.outcome]} (exit ${e.exitCode}) — ${e.reason}\n`)
      if (this.diagnosis.length > 0)
        this.out.write(`\nWhy (diagnosis from the mesh's own counters):\n${this.diagnosis.join('\n')}\n`)
    },
  }

  /** Handles one event. */
  handle(e: RunEvent): void {
    ;(this.formatters[e.kind] as (e: RunEvent) => void)(e)
  }

  /**
   * What each class is doing now: its rate, what is in flight and for how long (a delay shows while
   * it happens, not 7 s later when the delayed requests end), and the completed requests' errors and p95.
   */
  private progress(t: number): void {
    const elapsed = Math.round((t - this.phaseStart) / 1000)
    const remaining = Math.max(0, Math.round(this.plannedMs / 1000) - elapsed)
    const names = new Set([...this.inFlight.map(f => f.traffic), ...this.latest.keys()])
    const classes = [...names].map(name => {
      const s = this.latest.get(name)
      const f = this.inFlight.find(x => x.traffic === name)
      const flying = f === undefined ? '' : ` · ${inFlightText([f]).slice(name.length + 1)}`
      // Why they failed: the second's top reasons (`ENOTFOUND productpage × 5`); a bare ratio says nothing.
      const why = s !== undefined && s.failed > 0 && s.reasons !== undefined ? ` (${reasonsText(s.reasons, 2)})` : ''
      const done =
        s === undefined
          ? ' · nothing completed yet'
          : ` · p95 of completed ${Math.round(s.p95)}ms, err ${s.requests === 0 ? 0 : Math.round((s.failed / s.requests) * 1000) / 10}%${why}`
      return `${name} ${s?.requests ?? 0}/s${flying}${done}`
    })
    this.line(this.phase, `${elapsed}s elapsed, ${remaining}s left · ${classes.join(' | ')}`)
  }
}
