/**
 * What an experiment's probes are, as data: each probe's kind and the phases it is evaluated in.
 * Pure: the runner evaluates probes by them, and the reports read a journal's experiment by them.
 */
import {type Experiment, PHASES, type PhaseName, type Probe} from './model.js'

/** The kinds of probe. */
export type ProbeKind = 'threshold' | 'prometheus' | 'envoy' | 'http'

/** The kind of a probe, told apart by its distinguishing key. */
export function probeKind(p: Probe): ProbeKind {
  if ('prometheus' in p) return 'prometheus'
  if ('envoy' in p) return 'envoy'
  if ('http' in p) return 'http'
  return 'threshold'
}

/**
 * The phases a probe is evaluated in: those it names, else all three, whatever its kind (README,
 * "The experiment file"). Thresholds used to default to baseline and fault only, so no run learnt
 * whether the system came back; the recovery is the question a recovery phase exists to answer.
 */
export function probePhases(p: Probe): readonly PhaseName[] {
  return p.phases ?? PHASES
}

/** The experiment with every probe's phases written out, as the journal records it. */
export function withProbePhases(experiment: Experiment): Experiment {
  return {
    ...experiment,
    spec: {
      ...experiment.spec,
      steadyState: experiment.spec.steadyState.map(p => ({...p, phases: [...probePhases(p)]})),
    },
  }
}

/**
 * The phases a probe of a journal's experiment was planned for. A journal records every probe's
 * phases (`withProbePhases`); a probe without them comes from a journal written before that, when
 * thresholds defaulted to baseline and fault only.
 */
export function recordedProbePhases(p: Probe): readonly PhaseName[] {
  return p.phases ?? (probeKind(p) === 'threshold' ? ['baseline', 'fault'] : PHASES)
}
