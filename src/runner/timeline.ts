/** Phase durations and waiting on the run's clock. */
import {formatDuration, parseDurationMs} from '@faultline/core/duration.js'
import {UsageError} from '@faultline/core/errors.js'
import {PHASES, type Experiment, type PhaseName} from '../experiment/model.js'

/** Milliseconds per phase. */
export type PhaseDurations = Record<PhaseName, number>

/** The experiment's phases, with `--phases baseline=5s,fault=10s` overrides applied. */
export function phaseDurations(experiment: Experiment, override?: string): PhaseDurations {
  const out = Object.fromEntries(
    PHASES.map(p => [p, parseDurationMs(experiment.spec.phases[p]) ?? 0]),
  ) as PhaseDurations
  for (const part of (override ?? '')
    .split(',')
    .map(s => s.trim())
    .filter(Boolean)) {
    const [name, value] = part.split('=')
    const ms = value === undefined ? undefined : parseDurationMs(value)
    if (!PHASES.includes(name as PhaseName) || ms === undefined || ms < 1000) {
      throw new UsageError(`--phases: cannot read "${part}"`, {
        hint: 'Write phase=duration pairs separated by commas, e.g. --phases baseline=5s,fault=10s,recovery=5s (each at least 1s).',
      })
    }
    out[name as PhaseName] = ms
  }
  return out
}

/** The experiment with `--phases` overrides written into it (so fault expiry follows the real run's length). */
export function withPhases(experiment: Experiment, override?: string): Experiment {
  if (override === undefined) return experiment
  const d = phaseDurations(experiment, override)
  return {
    ...experiment,
    spec: {
      ...experiment.spec,
      phases: {
        baseline: formatDuration(d.baseline),
        fault: formatDuration(d.fault),
        recovery: formatDuration(d.recovery),
      },
    },
  }
}

/** Waits `ms` or until the signal aborts; true when the full time elapsed. */
export function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false)
  return new Promise(resolve => {
    const timer = setTimeout(
      () => {
        signal.removeEventListener('abort', onAbort)
        resolve(true)
      },
      Math.max(0, ms),
    )
    function onAbort() {
      clearTimeout(timer)
      resolve(false)
    }
    signal.addEventListener('abort', onAbort, {once: true})
  })
}
