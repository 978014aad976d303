/**
 * What a kube-apiserver does to an Istio object between decoding and storage: field validation
 * (`fieldValidation=Strict|Warn|Ignore` — reject, warn about or silently prune undeclared fields),
 * metadata checks, the CRD's OpenAPI + CEL schema, then istiod's validating webhook for
 * VirtualServices — each failure phrased as the real server phrases it, so that kubectl prints what
 * it prints against a cluster with Istio installed.
 */
import {crdFor, validateIstioObject, type IstioKind} from '@faultline/core/istio/crd.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {validateVirtualService} from '@faultline/core/istio/validate.js'
import type {StoredObject} from '../types.js'
import {badRequest, invalid, webhookDenied, type FieldError} from './status.js'

/** How the server treats fields the schema does not declare (the `fieldValidation` query parameter). */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore'

/** The request an object arrives with. */
export interface AdmissionContext {
  kind: Extract<IstioKind, 'VirtualService' | 'DestinationRule' | 'Gateway' | 'PeerAuthentication'>
  version: string
  namespace: string
  /** The name in the URL (update and patch). */
  urlName?: string
  operation: 'create' | 'update' | 'patch'
  fieldValidation: FieldValidation
}

/** A decoded object (still to be validated), and the warnings to send with the answer. */
export interface Admitted {
  object: StoredObject
  warnings: string[]
}

const ROOT_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status'])
const META_FIELDS = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
])
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/

/** The `fieldValidation` parameter; absent means Warn, as on Kubernetes 1.27+. */
export function fieldValidationOf(query: URLSearchParams): FieldValidation {
  const v = query.get('fieldValidation')
  if (v === null || v === '') return 'Warn'
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v
  throw badRequest(`fieldValidation must be one of "Ignore", "Warn", "Strict", got ${JSON.stringify(v)}`)
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function specSchema(kind: IstioKind, version: string): Record<string, unknown> | undefined {
  const v = crdFor(kind).versions.find(x => x.name === version)
  return (v?.schema.openAPIV3Schema['properties'] as Record<string, Record<string, unknown>> | undefined)?.['spec']
}

/** Removes what the structural schema does not declare, as a CRD's pruning does (same walk as `unknownFields`). */
export function prune(schema: Record<string, unknown>, value: unknown): unknown {
  if (value === null || typeof value !== 'object' || schema['x-kubernetes-preserve-unknown-fields'] === true)
    return value
  if (Array.isArray(value)) {
    const items = schema['items'] as Record<string, unknown> | undefined
    return items === undefined ? value : value.map(v => prune(items, v))
  }
  const props = schema['properties'] as Record<string, Record<string, unknown>> | undefined
  const additional = schema['additionalProperties']
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const sub = props?.[k] ?? (isRecord(additional) ? additional : undefined)
    if (sub === undefined) {
      if (props === undefined || additional === true) out[k] = v
      continue
    }
    out[k] = prune(sub, v)
  }
  return out
}

/** The value at a field path (`spec.http[0].timeout`), to quote it in an `Invalid value` message. */
export function valueAt(obj: unknown, path: string): unknown {
  let cur = obj
  for (const m of path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (cur === null || typeof cur !== 'object') return undefined
    cur = (cur as Record<string, unknown>)[m[1] ?? m[2] ?? '']
  }
  return cur
}

/** A Go `%v`-ish rendering of a value: strings quoted, others as JSON. */
function goValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'null' : JSON.stringify(v)
}

/**
 * The OpenAPI failures that keep kube-apiserver from evaluating a CRD's CEL rules: NotSupported (enum),
 * Required, TooLong (maxLength), TooMany (maxItems, maxProperties), TypeInvalid (type) —
 * apiextensions-apiserver `pkg/registry/customresource/strategy.go` hasBlockingErr, which then adds
 * `field.Invalid(nil, nil, …)`, printed `<nil>: Invalid value: "null": …`.
 */
const BLOCKING_KEYWORDS = new Set(['enum', 'required', 'maxLength', 'maxItems', 'maxProperties', 'type'])
const CEL_NOT_CHECKED: FieldError = {
  field: '<nil>',
  detail:
    'Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
}

/** Whether the CRD version carries CEL rules (only then does the server have a CEL validator to skip). */
function hasCelRules(kind: IstioKind, version: string): boolean {
  return JSON.stringify(crdFor(kind).versions.find(x => x.name === version)?.schema ?? {}).includes(
    '"x-kubernetes-validations"',
  )
}

function schemaErrors(obj: StoredObject): FieldError[] {
  const violations = validateIstioObject(obj)
  const blocked = violations.some(v => v.celType === undefined && BLOCKING_KEYWORDS.has(v.keyword ?? ''))
  const errors = violations
    .filter(v => !(blocked && v.celType !== undefined))
    .map((v): FieldError => {
      // A CEL rule's failure shows the type of the value it judged, not the value (`Invalid value: "string": …`).
      if (v.celType !== undefined)
        return {
          field: v.path,
          detail: `Invalid value: ${JSON.stringify(v.celType)}: ${v.message.replace(/^Invalid value: /, '')}`,
          reason: 'FieldValueInvalid',
        }
      const m = /^(Invalid value|Unsupported value): (.*)$/s.exec(v.message)
      const detail = m === null ? v.message : `${m[1] ?? ''}: ${goValue(valueAt(obj, v.path))}: ${m[2] ?? ''}`
      return {
        field: v.path,
        detail,
        reason:
          v.message === 'Required value'
            ? 'FieldValueRequired'
            : m?.[1] === 'Unsupported value'
              ? 'FieldValueNotSupported'
              : 'FieldValueInvalid',
      }
    })
  const version = String(obj.apiVersion).split('/')[1] ?? ''
  return blocked && hasCelRules(obj.kind as IstioKind, version) ? [...errors, CEL_NOT_CHECKED] : errors
}

function metadataErrors(meta: StoredObject['metadata']): FieldError[] {
  const errors: FieldError[] = []
  const name = meta['name']
  if (typeof name !== 'string' || name === '')
    errors.push({
      field: 'metadata.name',
      detail: 'Required value: name or generateName is required',
      reason: 'FieldValueRequired',
    })
  else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    errors.push({
      field: 'metadata.name',
      detail: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
    })
  }
  for (const field of ['labels', 'annotations'] as const) {
    const map = meta[field]
    if (map === undefined || map === null) continue
    if (!isRecord(map) || Object.values(map).some(v => typeof v !== 'string')) {
      errors.push({field: `metadata.${field}`, detail: 'Invalid value: must be a map of strings to strings'})
      continue
    }
    if (field === 'labels') {
      for (const v of Object.values(map as Record<string, string>)) {
        if (v.length > 63 || !LABEL_VALUE.test(v))
          errors.push({
            field: `metadata.labels`,
            detail: `Invalid value: ${JSON.stringify(v)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
          })
      }
    }
  }
  return errors
}

function unknownFieldPaths(obj: Record<string, unknown>, ctx: AdmissionContext): string[] {
  const paths = Object.keys(obj).filter(k => !ROOT_FIELDS.has(k))
  if (isRecord(obj['metadata']))
    paths.push(
      ...Object.keys(obj['metadata'])
        .filter(k => !META_FIELDS.has(k))
        .map(k => `metadata.${k}`),
    )
  const candidate = {apiVersion: `${crdFor(ctx.kind).group}/${ctx.version}`, kind: ctx.kind, spec: obj['spec']}
  paths.push(
    ...validateIstioObject(candidate, {strict: true})
      .filter(v => v.message === 'field not declared in schema')
      .map(v => v.path),
  )
  return paths
}

/**
 * Decodes one Istio object for create, update or the result of a patch: field validation, pruning,
 * and the checks of the URL against the body. Throws the ApiError (400) a real server's decoder does.
 */
export function decodeIstioObject(body: unknown, ctx: AdmissionContext): Admitted {
  if (!isRecord(body))
    throw badRequest(
      `${ctx.kind} in version "${ctx.version}" cannot be handled as a ${ctx.kind}: the body must be a JSON object`,
    )
  const expected = `${crdFor(ctx.kind).group}/${ctx.version}`
  if (body['apiVersion'] !== undefined && body['apiVersion'] !== expected) {
    throw badRequest(
      `the API version in the data (${String(body['apiVersion'])}) does not match the expected API version (${expected})`,
    )
  }
  if (body['kind'] !== undefined && body['kind'] !== ctx.kind)
    throw badRequest(`the kind in the data (${String(body['kind'])}) does not match the expected kind (${ctx.kind})`)
  const unknown = unknownFieldPaths(body, ctx)
  if (unknown.length > 0 && ctx.fieldValidation === 'Strict') {
    const reason = `strict decoding error: ${unknown.map(p => `unknown field ${JSON.stringify(p)}`).join(', ')}`
    if (ctx.operation === 'patch')
      throw invalid({group: '', kind: ''}, '', [
        {field: 'patch', detail: `Invalid value: ${JSON.stringify(JSON.stringify(body))}: ${reason}`},
      ])
    throw badRequest(`${ctx.kind} in version "${ctx.version}" cannot be handled as a ${ctx.kind}: ${reason}`)
  }
  const warnings = ctx.fieldValidation === 'Warn' ? unknown.map(p => `unknown field ${JSON.stringify(p)}`) : []
  const rawMeta = isRecord(body['metadata']) ? body['metadata'] : {}
  const metadata = Object.fromEntries(Object.entries(rawMeta).filter(([k]) => META_FIELDS.has(k)))
  if (
    ctx.operation === 'create' &&
    (metadata['name'] === undefined || metadata['name'] === '') &&
    typeof metadata['generateName'] === 'string'
  ) {
    metadata['name'] = `${metadata['generateName']}${Math.random().toString(36).slice(2, 7).padEnd(5, 'x')}`
  }
  if (metadata['namespace'] !== undefined && metadata['namespace'] !== '' && metadata['namespace'] !== ctx.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
  }
  metadata['namespace'] = ctx.namespace
  if (ctx.urlName !== undefined && metadata['name'] !== ctx.urlName) {
    throw badRequest(
      `the name of the object (${String(metadata['name'] ?? '')}) does not match the name on the URL (${ctx.urlName})`,
    )
  }
  const schema = specSchema(ctx.kind, ctx.version)
  const object = {
    apiVersion: expected,
    kind: ctx.kind,
    metadata: metadata as StoredObject['metadata'],
    ...(body['spec'] === undefined ? {} : {spec: schema === undefined ? body['spec'] : prune(schema, body['spec'])}),
    ...(body['status'] === undefined ? {} : {status: body['status']}),
  } as StoredObject
  return {object, warnings}
}

/**
 * Validation and validating admission of a decoded object: ObjectMeta and the CRD schema (422
 * Invalid), then the Istio webhook. The store runs it after its own preconditions, so a stale
 * update is a 409 Conflict whatever it contains, as in the generic registry.
 */
export function validateAdmission(object: StoredObject): void {
  const kind = object.kind as AdmissionContext['kind']
  const errors = [...metadataErrors(object.metadata), ...schemaErrors(object)]
  if (errors.length > 0) throw invalid({group: crdFor(kind).group, kind}, object.metadata.name, errors)
  if (kind === 'VirtualService') istioWebhook(object)
}

/**
 * istiod's `validation.istio.io` webhook, which sees only what the schema admitted. Its denial
 * carries Istio's messages without field paths, several in go-multierror's list format.
 */
function istioWebhook(object: StoredObject): void {
  const messages = validateVirtualService(object as unknown as VirtualService).map(v => v.message)
  if (messages.length === 0) return
  const detail =
    messages.length === 1
      ? (messages[0] ?? '')
      : `${messages.length} errors occurred:\n${messages.map(m => `\t* ${m}`).join('\n')}\n\n`
  throw webhookDenied('validation.istio.io', `configuration is invalid: ${detail}`)
}
