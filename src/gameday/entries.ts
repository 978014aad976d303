/**
 * A GameDay's entries made runnable: each experiment loaded (file or inline), its namespace and
 * phase overrides applied, and one shared preflight over all of them before anything is injected.
 */
import {loadExperiment} from '../experiment/load.js'
import type {Experiment, GameDay} from '../experiment/model.js'
import {FaultlineError, ExitCode} from '@faultline/core/errors.js'
import type {PreflightCheck} from '../runner/preflight-check.js'
import {planAgainstCluster} from '../runner/live-plan.js'
import type {Target} from '../runner/target.js'
import {withPhases} from '../runner/timeline.js'

/** One experiment of the game day, ready for `runExperiment`. */
export interface GameDayItem {
  /** 0-based position in `spec.experiments`. */
  index: number
  name: string
  /** The experiment's file, or `<gameday file>#spec.experiments[i]` for an inline one. */
  file: string
  /** With the entry's `phases` merged over the file's. */
  experiment: Experiment
  namespace: string
}

/** Overrides from the command line that apply to every entry. */
export interface GameDayOverrides {
  /** `-n/--namespace`: wins over each entry's and experiment's namespace. */
  namespace?: string
  /** `--phases`: applied on top of each entry's phases. */
  phases?: string
}

/** The game day's shared preflight found a problem: nothing was run (exit 4). */
export class GameDayPreflightFailed extends FaultlineError {
  constructor(
    message: string,
    readonly findings: PreflightFinding[],
  ) {
    super(message, ExitCode.CouldNotRun, 'GAMEDAY_PREFLIGHT_FAILED', {
      hint: "Fix what preflight names (chaos plan --live <experiment> shows one experiment's checks); no experiment of the game day was started.",
    })
  }
}

/** Preflight's checks for one experiment of the game day. */
export interface PreflightFinding {
  name: string
  /** The experiment's file (or its place in the GameDay file), for the failure message. */
  file: string
  namespace: string
  checks: PreflightCheck[]
}

/** Loads every entry (paths were resolved against the GameDay file by `loadDocument`) and applies the overrides. */
export async function gameDayItems(
  gameday: GameDay,
  file: string,
  target: Pick<Target, 'namespace'>,
  overrides: GameDayOverrides = {},
): Promise<GameDayItem[]> {
  const items: GameDayItem[] = []
  for (const [index, entry] of gameday.spec.experiments.entries()) {
    const loaded = entry.path === undefined ? entry.experiment : await loadExperiment(entry.path)
    if (loaded === undefined)
      throw new Error(`spec.experiments[${index}] has neither path nor experiment (validation should have refused it)`)
    const experiment = withEntryPhases(loaded, entry)
    items.push({
      index,
      name: experiment.metadata.name,
      experiment,
      file: entry.path ?? `${file}#spec.experiments[${index}]`,
      namespace: overrides.namespace ?? entry.namespace ?? experiment.spec.target?.namespace ?? target.namespace,
    })
  }
  return items
}

/** The entry's partial `phases` over the experiment's own. */
export function withEntryPhases(experiment: Experiment, entry: GameDay['spec']['experiments'][number]): Experiment {
  if (entry.phases === undefined) return experiment
  return {...experiment, spec: {...experiment.spec, phases: {...experiment.spec.phases, ...entry.phases}}}
}

/**
 * Preflight for every experiment before the first one starts (read-only, as `chaos plan --live`):
 * experiment 3's missing permission, misspelt host or unreachable load URL must stop the game day
 * before experiment 1 injects anything. Each item is as its run will send it, through its way in
 * (already open), so the reachability requests take that way. Throws `GameDayPreflightFailed`
 * naming every failed check of every experiment, with its file.
 */
export async function preflightGameDay(
  target: Target,
  items: readonly GameDayItem[],
  options: {phases?: string; prometheusUrl?: string; owner?: string},
): Promise<PreflightFinding[]> {
  const findings: PreflightFinding[] = []
  for (const item of items) {
    const live = await planAgainstCluster(
      {...target, namespace: item.namespace},
      withPhases(item.experiment, options.phases),
      {
        ...(options.owner === undefined ? {} : {owner: options.owner}),
        ...(options.prometheusUrl === undefined ? {} : {prometheusUrl: options.prometheusUrl}),
      },
    )
    findings.push({name: item.name, file: item.file, namespace: item.namespace, checks: live.checks})
  }
  const failed = findings.flatMap(f =>
    f.checks
      .filter(c => c.status === 'failed')
      .map(c => `${f.name} (${f.file}): ${c.message}${c.hint === undefined ? '' : ` — ${c.hint}`}`),
  )
  if (failed.length > 0)
    throw new GameDayPreflightFailed(`game day preflight failed, nothing was run: ${failed.join('; ')}`, findings)
  return findings
}
