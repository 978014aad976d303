/** Exit codes: documented, stable (README, "Exit codes"). */
export const ExitCode = {
  /** The steady-state hypothesis held. */
  Held: 0,
  /** The hypothesis deviated. */
  Deviated: 1,
  /** The experiment file or the command line is invalid. */
  Invalid: 2,
  /** Aborted by a guardrail, a signal or the time limit; faults were reverted. */
  Aborted: 3,
  /** Could not run (cluster, Prometheus, k6 unavailable, baseline not steady); nothing was injected. */
  CouldNotRun: 4,
  /** Revert failed: faults may still be live. */
  RevertFailed: 5,
} as const

/** One of the documented exit codes. */
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

/** Options shared by every Faultline error. */
export interface FaultlineErrorOptions {
  /** What to do about it, in one sentence. */
  hint?: string
  /** The lower-level error this one wraps. */
  cause?: unknown
}

/** The base of every error the CLI reports; only the command layer prints them. */
export class FaultlineError extends Error {
  /** Process exit code for this category of failure. */
  readonly exitCode: ExitCode
  /** Stable machine-readable code, e.g. `INVALID_EXPERIMENT`. */
  readonly code: string
  /** How to fix it. */
  readonly hint: string | undefined

  constructor(message: string, exitCode: ExitCode, code: string, options: FaultlineErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = new.target.name
    this.exitCode = exitCode
    this.code = code
    this.hint = options.hint
  }
}

/** A located problem in an input file. */
export interface Diagnostic {
  /** The file the problem is in (as the user named it). */
  file: string
  /** 1-based line, 0 when unknown. */
  line: number
  /** 1-based column, 0 when unknown. */
  col: number
  /** Field path in the document, e.g. `spec.faults[0].delay.fixedDelay`; empty for the whole document. */
  path: string
  /** What is wrong. */
  message: string
  /** How to fix it. */
  hint?: string
}

/** Renders a diagnostic as `file:line:col: path: message (hint)`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.col}` : d.file
  const field = d.path === '' ? '' : `${d.path}: `
  const hint = d.hint === undefined ? '' : `\n    hint: ${d.hint}`
  return `${where}: ${field}${d.message}${hint}`
}

/** The experiment file (or GameDay file) is invalid; carries every problem found. */
export class InvalidExperiment extends FaultlineError {
  /** Every problem found, in document order. */
  readonly diagnostics: Diagnostic[]

  constructor(diagnostics: Diagnostic[], options: FaultlineErrorOptions = {}) {
    const n = diagnostics.length
    super(
      `${n} problem${n === 1 ? '' : 's'} found:\n` + diagnostics.map(d => '  ' + formatDiagnostic(d)).join('\n'),
      ExitCode.Invalid,
      'INVALID_EXPERIMENT',
      options,
    )
    this.diagnostics = diagnostics
  }
}

/** The command line itself is wrong (a flag value, a missing file). */
export class UsageError extends FaultlineError {
  constructor(message: string, options: FaultlineErrorOptions = {}) {
    super(message, ExitCode.Invalid, 'USAGE', options)
  }
}

/** A fault cannot be safely compiled into the target's routing. */
export class UnsafeFault extends FaultlineError {
  constructor(message: string, options: FaultlineErrorOptions = {}) {
    super(`fault cannot be safely injected because ${message}`, ExitCode.Invalid, 'UNSAFE_FAULT', options)
  }
}

/** The cluster, Prometheus or k6 could not be reached or used; nothing was injected. */
export class ClusterUnavailable extends FaultlineError {
  constructor(message: string, options: FaultlineErrorOptions = {}) {
    super(message, ExitCode.CouldNotRun, 'CLUSTER_UNAVAILABLE', options)
  }
}

/** Reverting failed: faults may still be live. The message says what and how to clean up. */
export class RevertFailed extends FaultlineError {
  constructor(message: string, options: FaultlineErrorOptions = {}) {
    super(message, ExitCode.RevertFailed, 'REVERT_FAILED', options)
  }
}
