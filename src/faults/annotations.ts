/**
 * The marks Faultline leaves on every VirtualService it writes. `chaos revert` and the runner find
 * and undo our changes through these alone, so a crash or `kill -9` never strands a fault.
 */
import {createHash} from 'node:crypto'

import type {VirtualServiceSpec} from '@faultline/core/istio/types.js'

/** Label on every object we created or changed: `chaos revert` lists by it. */
export const LABEL_MANAGED = 'faultline.dev/managed'
/** Label carrying the run id (when the id is a valid label value), for label selectors. */
export const LABEL_RUN_ID = 'faultline.dev/run-id'
/** Annotation: the run that wrote the object. */
export const ANNOTATION_RUN_ID = 'faultline.dev/run-id'
/** Annotation: who started the run (user, CI job). */
export const ANNOTATION_OWNER = 'faultline.dev/owner'
/** Annotation: the experiment's name. */
export const ANNOTATION_EXPERIMENT = 'faultline.dev/experiment'
/** Annotation: RFC 3339 time after which the faults are stale and any `chaos revert` may remove them. */
export const ANNOTATION_EXPIRES_AT = 'faultline.dev/expires-at'
/** Annotation: the spec as it was before we changed it (JSON), present only on objects we updated. */
export const ANNOTATION_ORIGINAL_SPEC = 'faultline.dev/original-spec'
/** Annotation: `true` on objects Faultline created (revert deletes them). */
export const ANNOTATION_CREATED = 'faultline.dev/created-by-faultline'
/** Annotation: fingerprint of the spec we wrote; differs once someone else edits the object. */
export const ANNOTATION_FINGERPRINT = 'faultline.dev/fingerprint'
/** Annotation: fingerprint of what we wrote minus our fault routes (what a clean revert leaves). */
export const ANNOTATION_BASE_FINGERPRINT = 'faultline.dev/base-fingerprint'
/** Annotation: JSON list of the names of the fault routes we inserted. */
export const ANNOTATION_FAULT_ROUTES = 'faultline.dev/fault-routes'

/** Every label key we set. */
export const OWNED_LABELS = [LABEL_MANAGED, LABEL_RUN_ID] as const
/** Every annotation key we set. */
export const OWNED_ANNOTATIONS = [
  ANNOTATION_RUN_ID,
  ANNOTATION_OWNER,
  ANNOTATION_EXPERIMENT,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_ORIGINAL_SPEC,
  ANNOTATION_CREATED,
  ANNOTATION_FINGERPRINT,
  ANNOTATION_BASE_FINGERPRINT,
  ANNOTATION_FAULT_ROUTES,
] as const

/** Who owns an object Faultline marked, and until when, read from its marks; undefined when it carries none. */
export function ownerMarks(metadata: {
  labels?: Record<string, string>
  annotations?: Record<string, string>
}): {runId: string; owner?: string; expiresAt?: Date} | undefined {
  const a = metadata.annotations ?? {}
  const runId = a[ANNOTATION_RUN_ID]
  if (runId === undefined && metadata.labels?.[LABEL_MANAGED] === undefined) return undefined
  const expires = a[ANNOTATION_EXPIRES_AT] === undefined ? undefined : new Date(a[ANNOTATION_EXPIRES_AT])
  return {
    runId: runId ?? '',
    ...(a[ANNOTATION_OWNER] === undefined ? {} : {owner: a[ANNOTATION_OWNER]}),
    ...(expires === undefined || Number.isNaN(expires.getTime()) ? {} : {expiresAt: expires}),
  }
}

/** JSON with object keys sorted at every level, so equal values always serialise identically. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v
    return Object.fromEntries(
      Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    )
  })
}

/** A resourceVersion-independent fingerprint of a spec: `sha256:<hex>` of its canonical JSON. */
export function specFingerprint(spec: VirtualServiceSpec): string {
  return 'sha256:' + createHash('sha256').update(canonicalJson(spec)).digest('hex')
}

/** Whether a string is a valid Kubernetes label value (≤63 chars, alphanumeric ends, `-_.` inside). */
export function isLabelValue(value: string): boolean {
  return value.length <= 63 && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(value)
}

/** RFC 3339 in UTC without fractional seconds, e.g. `2026-11-26T01:00:00Z`. */
export function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.[0-9]{3}Z$/, 'Z')
}

/** Removes our label and annotation keys, keeping everything else (including others' later additions). */
export function withoutOwnedMetadata(
  map: Record<string, string> | undefined,
  owned: readonly string[],
): Record<string, string> | undefined {
  if (map === undefined) return undefined
  const kept = Object.fromEntries(Object.entries(map).filter(([k]) => !owned.includes(k)))
  return kept
}
