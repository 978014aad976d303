/**
 * `spec.setup` offline (`chaos plan --existing`, `chaos validate --existing`): when the manifests
 * given hold DestinationRules, every one the setup patches must be among them (else exit 2 at the
 * experiment's own field, with a did-you-mean), and the patched object must be one Istio accepts.
 * Manifests without any DestinationRule say nothing about them: preflight checks on the cluster.
 */
import {InvalidExperiment} from '@faultline/core/errors.js'
import {parseYaml} from '../experiment/document.js'
import {readExperimentText} from '../experiment/load.js'
import type {Experiment} from '../experiment/model.js'
import {locateIssues, type Issue} from '../experiment/position.js'
import type {DestinationRule} from '@faultline/core/istio/types.js'
import {faultExpiry, targetNamespace} from './experiment-plan.js'
import {missingSetupMessage, type PlannedSetup, planSetup} from './setup.js'

/** What the offline check found. */
export interface OfflineSetup {
  /** The DestinationRules the run would write, as planned from the manifests. */
  objects: PlannedSetup[]
  notes: string[]
}

/** The located problems of `issues` in `file` (as `chaos validate` shows them). */
async function located(file: string, issues: Issue[]): Promise<InvalidExperiment> {
  const parsed = parseYaml(await readExperimentText(file))
  if (!parsed.ok)
    return new InvalidExperiment(
      issues.map(i => ({
        file,
        line: 0,
        col: 0,
        path: i.path.join('.'),
        message: i.message,
        ...(i.hint === undefined ? {} : {hint: i.hint}),
      })),
    )
  return new InvalidExperiment(locateIssues(issues, file, parsed.parsed.sourceMap))
}

/** Issues of `spec.setup` against the DestinationRules the manifests show (none when they show none). */
export function offlineSetupIssues(
  experiment: Experiment,
  rules: readonly DestinationRule[],
  namespace: string,
): Issue[] {
  const entries = experiment.spec.setup?.destinationRules ?? []
  const inNamespace = rules.filter(r => (r.metadata.namespace ?? namespace) === namespace)
  if (entries.length === 0 || inNamespace.length === 0) return []
  const names = inNamespace.map(r => r.metadata.name).sort()
  return entries.flatMap((e, i) => {
    if (names.includes(e.name)) return []
    const {message, hint} = missingSetupMessage(e.name, i, namespace, names)
    return [
      {
        path: ['spec', 'setup', 'destinationRules', i, 'name'],
        at: 'value' as const,
        message: `${message.replace(/^spec\.setup\.destinationRules\[[0-9]+\]: /, '')} (according to the manifests given with --existing)`,
        hint,
      },
    ]
  })
}

/**
 * Checks and plans `spec.setup` from manifests. Throws InvalidExperiment (exit 2, located) when
 * they show a patched DestinationRule does not exist, UnsafeFault (exit 2) when the patched
 * object would not validate.
 */
export async function planSetupOffline(
  file: string,
  experiment: Experiment,
  rules: readonly DestinationRule[],
  options: {namespace?: string; runId: string; now: Date; owner?: string},
): Promise<OfflineSetup> {
  const entries = experiment.spec.setup?.destinationRules ?? []
  if (entries.length === 0) return {objects: [], notes: []}
  const namespace = targetNamespace(experiment, options.namespace)
  const inNamespace = rules.filter(r => (r.metadata.namespace ?? namespace) === namespace)
  if (inNamespace.length === 0) {
    return {
      objects: [],
      notes: [
        `spec.setup: the manifests hold no DestinationRule in ${namespace}, so whether ${entries.map(e => e.name).join(', ')} exist${entries.length === 1 ? 's' : ''} is left to preflight (exit 4 on the cluster when not)`,
      ],
    }
  }
  const issues = offlineSetupIssues(experiment, inNamespace, namespace)
  if (issues.length > 0) throw await located(file, issues)
  const plan = planSetup({
    entries,
    existing: inNamespace.map(r => ({...r, metadata: {...r.metadata, namespace}})),
    namespace,
    runId: options.runId,
    expiresAt: faultExpiry(experiment, options.now),
    experiment: experiment.metadata.name,
    ...(options.owner === undefined ? {} : {owner: options.owner}),
  })
  const notes = plan.objects.map(
    o =>
      `spec.setup: DestinationRule ${namespace}/${o.revert.name}: ${Object.keys(o.revert.patch)
        .map(f => `trafficPolicy.${f} set to ${JSON.stringify(o.revert.patch[f as keyof typeof o.revert.patch])}`)
        .join(', ')} for the whole run (before the baseline), restored exactly at its end`,
  )
  return {objects: plan.objects, notes}
}
