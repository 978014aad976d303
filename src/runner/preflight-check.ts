/** One preflight finding: what was checked, how it came out, and what to do about it. */
export interface PreflightCheck {
  check: string
  status: 'ok' | 'warning' | 'failed'
  message: string
  hint?: string
}
