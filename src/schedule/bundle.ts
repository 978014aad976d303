/**
 * The experiment files a scheduled run carries in its ConfigMap: the file given, and for a GameDay
 * every experiment file it references, each under a valid ConfigMap key, with the GameDay's paths
 * rewritten to those keys so they resolve inside the mounted volume. Everything is validated
 * first, as `chaos validate` does: an invalid file is refused with its located diagnostics.
 */
import {basename, extname} from 'node:path'

import {parseDocument} from 'yaml'

import {parseDurationMs} from '@faultline/core/duration.js'
import {UsageError} from '@faultline/core/errors.js'
import {loadDocument, parseDocumentText, parseExperiment, readExperimentText} from '../experiment/load.js'
import type {Experiment, GameDay} from '../experiment/model.js'

/** One experiment of the schedule, as it will run (GameDay phase overrides applied). */
export interface ScheduledExperiment {
  experiment: Experiment
  /** `spec.experiments[i].namespace` of the GameDay, when it overrides the experiment's. */
  namespaceOverride?: string
  /** Where the override is written, for error messages: `<file>: spec.experiments[i].namespace`. */
  namespaceField?: string
}

/** What `chaos schedule` packs and how it runs. */
export interface ScheduleBundle {
  kind: 'Experiment' | 'GameDay'
  /** The file's metadata.name. */
  name: string
  /** ConfigMap key → file text, in the order the files were found. */
  files: Map<string, string>
  /** The key of the file given on the command line (the one the CronJob runs). */
  entry: string
  /** The experiments in run order. */
  experiments: ScheduledExperiment[]
  /** A GameDay's cooldown between experiments, in milliseconds (0 for an experiment). */
  cooldownMs: number
}

/** A ConfigMap holds at most 1 MiB of data (etcd's object limit); we stay under it with room for metadata. */
export const CONFIGMAP_DATA_MAX = 1_000_000

const KEY_MAX = 253
const KEY_CHARS = /[^-._a-zA-Z0-9]/g

/** A ConfigMap key for `file` (its base name, made valid), unique among `taken`. */
export function configMapKey(file: string, taken: ReadonlySet<string>): string {
  let base = basename(file).replace(KEY_CHARS, '-')
  if (base === '' || base === '.' || base === '..') base = 'experiment.yaml'
  const ext = extname(base)
  const stem = base.slice(0, base.length - ext.length).slice(0, KEY_MAX - ext.length - 4)
  let key = `${stem}${ext}`
  for (let n = 2; taken.has(key); n++) key = `${stem}-${n}${ext}`
  return key
}

/**
 * Rewrites a GameDay's `spec.experiments[i].path` to the keys its files are stored under, keeping
 * every comment and the rest of the text as written.
 */
export function rewriteGameDayPaths(text: string, keys: ReadonlyMap<number, string>): string {
  const document = parseDocument(text)
  for (const [index, key] of keys) document.setIn(['spec', 'experiments', index, 'path'], key)
  return document.toString({lineWidth: 0})
}

/** Loads, validates and packs a file for `chaos schedule`. */
export async function loadBundle(file: string): Promise<ScheduleBundle> {
  const loaded = await loadDocument(file)
  const text = await readExperimentText(file)
  const files = new Map<string, string>()
  if (loaded.kind === 'Experiment') {
    const entry = configMapKey(file, new Set())
    files.set(entry, text)
    return checkSize({
      kind: 'Experiment',
      name: loaded.experiment.metadata.name,
      files,
      entry,
      experiments: [{experiment: loaded.experiment}],
      cooldownMs: 0,
    })
  }
  const gameday = loaded.gameday
  // The GameDay's own key first: its name is what an operator looks for in the ConfigMap.
  const entry = configMapKey(file, new Set())
  const taken = new Set([entry])
  const keyOfPath = new Map<string, string>()
  const keyOfEntry = new Map<number, string>()
  const experiments: ScheduledExperiment[] = []
  for (const [i, e] of gameday.spec.experiments.entries()) {
    let experiment = e.experiment
    if (e.path !== undefined) {
      const experimentText = await readExperimentText(e.path)
      let key = keyOfPath.get(e.path)
      if (key === undefined) {
        key = configMapKey(e.path, taken)
        taken.add(key)
        keyOfPath.set(e.path, key)
        files.set(key, experimentText)
      }
      keyOfEntry.set(i, key)
      experiment = parseExperiment(experimentText, e.path)
    }
    if (experiment === undefined)
      throw new UsageError(`${file}: spec.experiments[${i}] has neither path nor experiment`, {
        hint: 'give each entry a path (relative to the GameDay file) or an inline experiment',
      })
    experiments.push({
      experiment: withPhaseOverrides(experiment, e.phases),
      ...(e.namespace === undefined
        ? {}
        : {namespaceOverride: e.namespace, namespaceField: `${file}: spec.experiments[${i}].namespace`}),
    })
  }
  const rewritten = rewriteGameDayPaths(text, keyOfEntry)
  // The rewritten text is what runs in the cluster: it must still be the same valid GameDay.
  parseDocumentText(rewritten, `${file} (paths rewritten for the ConfigMap)`)
  const ordered = new Map([[entry, rewritten], ...files])
  return checkSize({
    kind: 'GameDay',
    name: gameday.metadata.name,
    files: ordered,
    entry,
    experiments,
    cooldownMs: cooldownOf(gameday),
  })
}

function withPhaseOverrides(
  experiment: Experiment,
  phases: Partial<Experiment['spec']['phases']> | undefined,
): Experiment {
  if (phases === undefined) return experiment
  return {...experiment, spec: {...experiment.spec, phases: {...experiment.spec.phases, ...phases}}}
}

function cooldownOf(gameday: GameDay): number {
  return gameday.spec.cooldown === undefined ? 0 : (parseDurationMs(gameday.spec.cooldown) ?? 0)
}

function checkSize(bundle: ScheduleBundle): ScheduleBundle {
  const bytes = [...bundle.files].reduce((sum, [key, text]) => sum + key.length + Buffer.byteLength(text), 0)
  if (bytes > CONFIGMAP_DATA_MAX) {
    throw new UsageError(
      `the experiment files add up to ${bytes} bytes, over the ${CONFIGMAP_DATA_MAX} bytes a ConfigMap can hold`,
      {hint: 'Split the GameDay into smaller ones, each with its own schedule.'},
    )
  }
  return bundle
}
