/**
 * `spec.setup` (pure): patching an existing DestinationRule's trafficPolicy for the run, and
 * undoing it. The patched object carries the same ownership marks as a faulted VirtualService
 * (label `faultline.dev/managed`, run id, owner, experiment, expiry, the original spec, the
 * fingerprint of what we wrote) plus the patch itself, so a revert — by the run, by `chaos
 * revert` after a crash, or by the reaper once it expired — restores it from the object alone:
 * exactly as it was when nobody touched it since, and only our fields when someone did.
 */
import {isDeepStrictEqual} from 'node:util'

import {UnsafeFault} from '@faultline/core/errors.js'
import type {SetupDestinationRule} from '../experiment/model.js'
import {closest} from '../experiment/suggest.js'
import {validateDestinationRule} from '@faultline/core/istio/destination-rule.js'
import type {DestinationRule, DestinationRuleSpec, TrafficPolicy} from '@faultline/core/istio/types.js'
import {
  ANNOTATION_EXPERIMENT,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_FINGERPRINT,
  ANNOTATION_ORIGINAL_SPEC,
  ANNOTATION_OWNER,
  ANNOTATION_RUN_ID,
  canonicalJson,
  isLabelValue,
  LABEL_MANAGED,
  LABEL_RUN_ID,
  OWNED_ANNOTATIONS,
  OWNED_LABELS,
  ownerMarks,
  rfc3339,
  specFingerprint,
  withoutOwnedMetadata,
} from './annotations.js'

/** Annotation: JSON of the trafficPolicy fields the run set (what a revert after foreign edits takes back). */
export const ANNOTATION_SETUP_PATCH = 'faultline.dev/setup-patch'
/** Every annotation key a setup writes. */
export const SETUP_OWNED_ANNOTATIONS: readonly string[] = [...OWNED_ANNOTATIONS, ANNOTATION_SETUP_PATCH]

/** The trafficPolicy fields one setup replaces, each whole. */
export type TrafficPolicyPatch = Partial<Pick<TrafficPolicy, 'connectionPool' | 'outlierDetection'>>

/** How to undo one setup write. */
export interface SetupRevertPlan {
  namespace: string
  name: string
  runId: string
  /** The spec before our patch: a clean revert restores exactly this. */
  originalSpec: DestinationRuleSpec
  /** What we set. */
  patch: TrafficPolicyPatch
  /** Fingerprint of the spec we write. */
  fingerprint: string
}

/** One DestinationRule the run patches. */
export interface PlannedSetup {
  /** As read from the cluster. */
  existing: DestinationRule
  /** What to write (carrying the read resourceVersion). */
  desired: DestinationRule
  revert: SetupRevertPlan
  /** Index into `spec.setup.destinationRules`. */
  index: number
}

/** A setup entry naming a DestinationRule the namespace does not have. */
export interface MissingSetup {
  index: number
  name: string
  /** The namespace's DestinationRules, sorted. */
  available: string[]
}

/** What planning needs. */
export interface SetupPlanInput {
  entries: readonly SetupDestinationRule[]
  /** The DestinationRules of the namespace as they are now. */
  existing: readonly DestinationRule[]
  namespace: string
  runId: string
  expiresAt: Date
  experiment: string
  owner?: string
}

/** What the run would write for its setup, and what it could not find. */
export interface SetupPlan {
  objects: PlannedSetup[]
  missing: MissingSetup[]
}

/** Who owns a patched object and until when, read from its marks; undefined when it carries none. */
export function setupInfo(dr: {metadata: DestinationRule['metadata']}): ReturnType<typeof ownerMarks> {
  return ownerMarks(dr.metadata)
}

/** The patch an entry asks for: only the fields it gives. */
export function patchOf(entry: SetupDestinationRule): TrafficPolicyPatch {
  return Object.fromEntries(
    Object.entries(entry.trafficPolicy).filter(([, v]) => v !== undefined),
  ) as TrafficPolicyPatch
}

/** `spec` with `patch`'s fields replacing those of its trafficPolicy, everything else kept. */
export function patchedSpec(spec: DestinationRuleSpec, patch: TrafficPolicyPatch): DestinationRuleSpec {
  return {...spec, trafficPolicy: {...spec.trafficPolicy, ...structuredClone(patch)}}
}

/**
 * The DestinationRules the run patches (pure). An entry whose DestinationRule is not in `existing`
 * is listed in `missing` (preflight's exit 4, or exit 2 offline); one already carrying a run's
 * marks is refused (a lock or a leftover: the runner checks and reverts those before planning);
 * an object that would not validate is refused with Istio's message.
 */
export function planSetup(input: SetupPlanInput): SetupPlan {
  const plan: SetupPlan = {objects: [], missing: []}
  const available = input.existing.map(d => d.metadata.name).sort()
  input.entries.forEach((entry, index) => {
    const existing = input.existing.find(
      d => d.metadata.name === entry.name && (d.metadata.namespace ?? input.namespace) === input.namespace,
    )
    if (existing === undefined) {
      plan.missing.push({index, name: entry.name, available})
      return
    }
    plan.objects.push(plannedSetup(input, entry, index, existing))
  })
  return plan
}

/** One entry's patch of the DestinationRule it names: refused when a run's setup is still on it or the result is invalid. */
function plannedSetup(
  input: SetupPlanInput,
  entry: SetupDestinationRule,
  index: number,
  existing: DestinationRule,
): PlannedSetup {
  const held = setupInfo(existing)
  if (held !== undefined) {
    throw new UnsafeFault(
      `DestinationRule ${input.namespace}/${entry.name} still carries the setup of run ${held.runId}`,
      {hint: `Revert it first: chaos revert --run ${held.runId} --namespace ${input.namespace}`},
    )
  }
  const patch = patchOf(entry)
  const spec = patchedSpec(existing.spec, patch)
  const desired = markedDestinationRule(input, existing, patch, spec)
  const violations = validateDestinationRule(desired)
  if (violations.length > 0) {
    throw new UnsafeFault(
      `the DestinationRule ${entry.name} spec.setup would write is not valid: ${violations.map(v => `${v.path}: ${v.message}`).join('; ')}`,
      {
        hint: `Fix spec.setup.destinationRules[${index}].trafficPolicy; if the existing object is already invalid, check it with kubectl apply --dry-run=server.`,
      },
    )
  }
  return {
    existing,
    desired,
    index,
    revert: {
      namespace: input.namespace,
      name: entry.name,
      runId: input.runId,
      originalSpec: structuredClone(existing.spec),
      patch,
      fingerprint: setupFingerprint(spec),
    },
  }
}

/** The object to write: `existing` with the patched `spec` and the run's marks, which carry all a revert needs. */
function markedDestinationRule(
  input: SetupPlanInput,
  existing: DestinationRule,
  patch: TrafficPolicyPatch,
  spec: DestinationRuleSpec,
): DestinationRule {
  const {managedFields: _managedFields, ...meta} = existing.metadata
  return {
    apiVersion: existing.apiVersion,
    kind: 'DestinationRule',
    metadata: {
      ...meta,
      namespace: input.namespace,
      labels: {
        ...existing.metadata.labels,
        [LABEL_MANAGED]: 'true',
        ...(isLabelValue(input.runId) ? {[LABEL_RUN_ID]: input.runId} : {}),
      },
      annotations: {
        ...existing.metadata.annotations,
        [ANNOTATION_RUN_ID]: input.runId,
        [ANNOTATION_EXPERIMENT]: input.experiment,
        [ANNOTATION_EXPIRES_AT]: rfc3339(input.expiresAt),
        ...(input.owner === undefined ? {} : {[ANNOTATION_OWNER]: input.owner}),
        [ANNOTATION_ORIGINAL_SPEC]: canonicalJson(existing.spec),
        [ANNOTATION_FINGERPRINT]: setupFingerprint(spec),
        [ANNOTATION_SETUP_PATCH]: canonicalJson(patch),
      },
    },
    spec,
  }
}

/** A resourceVersion-independent fingerprint of a DestinationRule spec. */
export function setupFingerprint(spec: DestinationRuleSpec): string {
  return specFingerprint(spec as never)
}

/** What reverting one setup does. */
export type SetupRevertAction =
  | {action: 'none'; namespace: string; name: string; reason: string}
  | {
      action: 'update'
      namespace: string
      name: string
      object: DestinationRule
      keptForeignEdits: boolean
      reason: string
      warnings: string[]
    }

/** The revert facts, from the run's memory or from the object's annotations. */
interface SetupFacts {
  namespace: string
  name: string
  runId: string
  originalSpec: DestinationRuleSpec | undefined
  patch: TrafficPolicyPatch | undefined
  fingerprint: string | undefined
  writtenResourceVersion: string | undefined
}

/** The object with our labels and annotations removed and `spec` in place: what was there before, plus others' later edits. */
function restoredObject(current: DestinationRule, spec: DestinationRuleSpec): DestinationRule {
  const {labels, annotations, managedFields: _managedFields, ...rest} = current.metadata
  const metadata = {...rest}
  const keptLabels = withoutOwnedMetadata(labels, OWNED_LABELS)
  const keptAnnotations = withoutOwnedMetadata(annotations, SETUP_OWNED_ANNOTATIONS)
  if (keptLabels !== undefined && Object.keys(keptLabels).length > 0) Object.assign(metadata, {labels: keptLabels})
  if (keptAnnotations !== undefined && Object.keys(keptAnnotations).length > 0)
    Object.assign(metadata, {annotations: keptAnnotations})
  return {apiVersion: current.apiVersion, kind: 'DestinationRule', metadata, spec}
}

/** The revert of one setup, decided from the object as it is now and the facts of the run that patched it. */
function setupRevertWith(current: DestinationRule | undefined, f: SetupFacts): SetupRevertAction {
  const {namespace, name} = f
  if (current === undefined)
    return {
      action: 'none',
      namespace,
      name,
      reason: 'the DestinationRule is gone (someone deleted it): nothing to restore',
    }
  const info = setupInfo(current)
  if (info === undefined || (f.runId !== '' && info.runId !== '' && info.runId !== f.runId)) {
    return {
      action: 'none',
      namespace,
      name,
      reason: `nothing of run ${f.runId} is left on it (an earlier attempt landed, or someone removed it)`,
    }
  }
  const unchanged =
    (f.writtenResourceVersion !== undefined && current.metadata.resourceVersion === f.writtenResourceVersion) ||
    (f.fingerprint !== undefined && setupFingerprint(current.spec) === f.fingerprint)
  if (unchanged && f.originalSpec !== undefined) {
    return {
      action: 'update',
      namespace,
      name,
      object: restoredObject(current, f.originalSpec),
      keptForeignEdits: false,
      reason: `unchanged since run ${f.runId} patched it: original spec restored`,
      warnings: [],
    }
  }
  if (f.patch === undefined || f.originalSpec === undefined) {
    return {
      action: 'update',
      namespace,
      name,
      object: restoredObject(current, current.spec),
      keptForeignEdits: true,
      reason: `the patch of run ${f.runId} was not recorded: only our marks were removed`,
      warnings: ['the original trafficPolicy was not recorded: check the DestinationRule by hand'],
    }
  }
  // Someone changed it since: take back only the fields we set that still hold what we set.
  return takeBackOurFields(current, f, f.patch, f.originalSpec)
}

/** The revert of an object someone else edited since we patched it: our fields back to the original, theirs kept. */
function takeBackOurFields(
  current: DestinationRule,
  f: SetupFacts,
  patch: TrafficPolicyPatch,
  originalSpec: DestinationRuleSpec,
): SetupRevertAction {
  const {namespace, name} = f
  const policy: Record<string, unknown> = {...current.spec.trafficPolicy}
  const original = (originalSpec.trafficPolicy ?? {}) as Record<string, unknown>
  const warnings: string[] = []
  for (const [field, ours] of Object.entries(patch)) {
    if (!isDeepStrictEqual(policy[field], ours)) {
      warnings.push(
        `trafficPolicy.${field} was changed by someone else since run ${f.runId} set it; their value was kept`,
      )
      continue
    }
    if (original[field] === undefined) delete policy[field]
    else policy[field] = structuredClone(original[field])
  }
  const {trafficPolicy: _tp, ...restSpec} = current.spec
  const spec: DestinationRuleSpec =
    Object.keys(policy).length === 0 && originalSpec.trafficPolicy === undefined
      ? (restSpec as DestinationRuleSpec)
      : {...restSpec, trafficPolicy: policy}
  return {
    action: 'update',
    namespace,
    name,
    object: restoredObject(current, spec),
    keptForeignEdits: true,
    reason: `changed by someone else since run ${f.runId} patched it: took back only our trafficPolicy fields, kept their edits`,
    warnings,
  }
}

/** The revert of one setup write: `current` is what the cluster holds now, `written` what our write returned (if its answer arrived). */
export function planSetupRevert(
  current: DestinationRule | undefined,
  plan: SetupRevertPlan,
  written: DestinationRule | undefined,
): SetupRevertAction {
  return setupRevertWith(current, {...plan, writtenResourceVersion: written?.metadata.resourceVersion})
}

function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

/** Reconstructs the revert from the object's own marks (after a crash or `kill -9`). */
export function setupRevertFromAnnotations(current: DestinationRule): SetupRevertAction {
  const namespace = current.metadata.namespace ?? ''
  const {name} = current.metadata
  const info = setupInfo(current)
  if (info === undefined) return {action: 'none', namespace, name, reason: 'not managed by Faultline'}
  const a = current.metadata.annotations ?? {}
  return setupRevertWith(current, {
    namespace,
    name,
    runId: info.runId,
    originalSpec: parseJson<DestinationRuleSpec>(a[ANNOTATION_ORIGINAL_SPEC]),
    patch: parseJson<TrafficPolicyPatch>(a[ANNOTATION_SETUP_PATCH]),
    fingerprint: a[ANNOTATION_FINGERPRINT],
    writtenResourceVersion: undefined,
  })
}

/** Whether `dr` still carries anything of run `runId` (our marks). */
export function carriesSetup(dr: DestinationRule, runId: string): boolean {
  const info = setupInfo(dr)
  return info !== undefined && (info.runId === runId || info.runId === '')
}

const listOf = (names: string[]) =>
  names.length <= 12 ? names.join(', ') : `${names.slice(0, 12).join(', ')} and ${names.length - 12} more`

/** The finding for a setup on a DestinationRule the namespace does not have (exit 4 in preflight, 2 offline). */
export function missingSetupMessage(
  name: string,
  index: number,
  namespace: string,
  available: string[],
): {message: string; hint: string} {
  const near = closest(name, available)
  return {
    message: `spec.setup.destinationRules[${index}]: no DestinationRule ${name} in namespace ${namespace}${near === undefined ? '' : `: did you mean "${near}"?`}`,
    hint: `${available.length === 0 ? `Namespace ${namespace} has no DestinationRules.` : `DestinationRules in ${namespace}: ${listOf(available)}.`} spec.setup patches an existing DestinationRule and never creates one (a new one without the existing subsets would break the routes that use them): apply your app's DestinationRules first, or fix the name.`,
  }
}
