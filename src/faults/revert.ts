/**
 * Undoing what the compiler wrote (pure). Decides, from what the cluster holds now, whether to
 * restore the original exactly, to remove only our routes and marks (someone else edited the object
 * meanwhile and their edits must survive), to delete an object we created, or to do nothing.
 */
import type {HTTPRoute, VirtualService, VirtualServiceSpec} from '@faultline/core/istio/types.js'
import {
  ANNOTATION_BASE_FINGERPRINT,
  ANNOTATION_CREATED,
  ANNOTATION_FAULT_ROUTES,
  ANNOTATION_FINGERPRINT,
  ANNOTATION_ORIGINAL_SPEC,
  ANNOTATION_RUN_ID,
  LABEL_MANAGED,
  OWNED_ANNOTATIONS,
  OWNED_LABELS,
  ownerMarks,
  specFingerprint,
  withoutOwnedMetadata,
} from './annotations.js'
import {isFaultRouteName} from './names.js'
import type {RevertPlan} from './plan.js'

/** What a revert does to one object. */
export type RevertAction =
  | {action: 'none'; namespace: string; name: string; reason: string}
  | {action: 'delete'; namespace: string; name: string; resourceVersion?: string; reason: string}
  | {
      action: 'update'
      namespace: string
      name: string
      object: VirtualService
      keptForeignEdits: boolean
      reason: string
      warnings: string[]
    }

/** The facts a revert needs, whether they come from the run's memory or from the object's annotations. */
interface RevertFacts {
  namespace: string
  name: string
  runId: string
  created: boolean
  originalSpec: VirtualServiceSpec | undefined
  faultRouteNames: string[]
  fingerprint: string | undefined
  baseFingerprint: string | undefined
  writtenResourceVersion: string | undefined
}

/**
 * The revert of one write. `current` is what the cluster holds now (undefined when the object is
 * gone), `written` what our apply returned.
 */
export function planRevert(
  current: VirtualService | undefined,
  written: VirtualService,
  plan: RevertPlan,
): RevertAction {
  return revertWith(current, {
    namespace: plan.namespace,
    name: plan.name,
    runId: plan.runId,
    created: plan.created,
    originalSpec: plan.originalSpec,
    faultRouteNames: plan.faultRouteNames,
    fingerprint: plan.fingerprint,
    baseFingerprint: plan.baseFingerprint,
    writtenResourceVersion: written.metadata.resourceVersion,
  })
}

/** Reconstructs the revert from the object's own labels and annotations (after a crash or kill -9). */
export function revertFromAnnotations(current: VirtualService): RevertAction {
  const {name} = current.metadata
  const namespace = current.metadata.namespace ?? ''
  const a = current.metadata.annotations ?? {}
  if (current.metadata.labels?.[LABEL_MANAGED] === undefined && a[ANNOTATION_RUN_ID] === undefined) {
    return {action: 'none', namespace, name, reason: 'not managed by Faultline'}
  }
  const runId = a[ANNOTATION_RUN_ID] ?? ''
  const listed = parseJson<unknown>(a[ANNOTATION_FAULT_ROUTES])
  const faultRouteNames =
    Array.isArray(listed) && listed.every(n => typeof n === 'string')
      ? listed
      : (current.spec.http ?? [])
          .map(r => r.name)
          .filter((n): n is string => isFaultRouteName(n, runId === '' ? undefined : runId))
  return revertWith(current, {
    namespace,
    name,
    runId,
    created: a[ANNOTATION_CREATED] === 'true',
    originalSpec: parseJson<VirtualServiceSpec>(a[ANNOTATION_ORIGINAL_SPEC]),
    faultRouteNames,
    fingerprint: a[ANNOTATION_FINGERPRINT],
    baseFingerprint: a[ANNOTATION_BASE_FINGERPRINT],
    writtenResourceVersion: undefined,
  })
}

/** Who owns a managed object and until when, read from its annotations. */
export function managedInfo(vs: VirtualService): ReturnType<typeof ownerMarks> {
  return ownerMarks(vs.metadata)
}

function parseJson<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

function stripRoutes(spec: VirtualServiceSpec, f: RevertFacts): VirtualServiceSpec {
  if (spec.http === undefined) return spec
  return {...spec, http: spec.http.filter(r => !isOurs(r, f))}
}

function isOurs(route: HTTPRoute, f: RevertFacts): boolean {
  return route.name !== undefined && f.faultRouteNames.includes(route.name)
}

function cleanObject(current: VirtualService, spec: VirtualServiceSpec): VirtualService {
  const {labels, annotations, managedFields: _managedFields, ...rest} = current.metadata
  const metadata = {...rest}
  const keptLabels = withoutOwnedMetadata(labels, OWNED_LABELS)
  const keptAnnotations = withoutOwnedMetadata(annotations, OWNED_ANNOTATIONS)
  if (keptLabels !== undefined && Object.keys(keptLabels).length > 0) Object.assign(metadata, {labels: keptLabels})
  if (keptAnnotations !== undefined && Object.keys(keptAnnotations).length > 0)
    Object.assign(metadata, {annotations: keptAnnotations})
  return {apiVersion: current.apiVersion, kind: 'VirtualService', metadata, spec}
}

function faultWarnings(spec: VirtualServiceSpec): string[] {
  return (spec.http ?? []).flatMap((r, i) =>
    r.fault === undefined
      ? []
      : [
          `route ${r.name === undefined ? `#${i}` : JSON.stringify(r.name)} still injects a fault that is not one of this run's routes (someone added or renamed it); it was left in place`,
        ],
  )
}

function hasRoutes(spec: VirtualServiceSpec): boolean {
  return (spec.http?.length ?? 0) + (spec.tcp?.length ?? 0) + (spec.tls?.length ?? 0) > 0
}

function revertWith(current: VirtualService | undefined, f: RevertFacts): RevertAction {
  const {namespace, name} = f
  if (current === undefined) return {action: 'none', namespace, name, reason: 'already gone'}
  const rv = current.metadata.resourceVersion
  const unchanged =
    (f.writtenResourceVersion !== undefined && rv === f.writtenResourceVersion) ||
    (f.fingerprint !== undefined && specFingerprint(current.spec) === f.fingerprint)
  const stripped = stripRoutes(current.spec, f)
  const del = (reason: string): RevertAction => ({
    action: 'delete',
    namespace,
    name,
    ...(rv === undefined ? {} : {resourceVersion: rv}),
    reason,
  })
  const update = (
    spec: VirtualServiceSpec,
    keptForeignEdits: boolean,
    reason: string,
    extra: string[] = [],
  ): RevertAction => ({
    action: 'update',
    namespace,
    name,
    object: cleanObject(current, spec),
    keptForeignEdits,
    reason,
    warnings: [...extra, ...faultWarnings(spec)],
  })
  if (f.created) {
    if (unchanged) return del(`created by run ${f.runId} and unchanged since`)
    if (f.baseFingerprint !== undefined && specFingerprint(stripped) === f.baseFingerprint)
      return del(`created by run ${f.runId}; only our routes differed`)
    return update(
      stripped,
      true,
      `created by run ${f.runId}, but others have since changed it: removed our fault routes and marks, kept the object and their edits`,
    )
  }
  if (unchanged && f.originalSpec !== undefined)
    return update(f.originalSpec, false, `unchanged since run ${f.runId} wrote it: original spec restored`)
  if (!hasRoutes(stripped) && f.originalSpec !== undefined) {
    return update(f.originalSpec, false, `only our routes were left: original spec restored`, [
      'every route but ours was removed during the run; the original spec was restored',
    ])
  }
  const extra =
    f.originalSpec === undefined ? ['the original spec was not recorded; only our routes and marks were removed'] : []
  return update(
    stripped,
    !unchanged,
    unchanged
      ? `removed run ${f.runId}'s routes and marks`
      : `changed by someone else since run ${f.runId} wrote it: removed only our routes and marks, kept their edits`,
    extra,
  )
}

/** The command that cleans up by hand when an automatic revert failed. */
export function revertCommand(runId: string, namespace: string): string {
  return `chaos revert --run ${runId} --namespace ${namespace}`
}
