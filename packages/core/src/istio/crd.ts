/**
 * Validation of Istio objects against Istio's own CRD schemas (Istio 1.30.3, vendored verbatim in
 * `schema/istio/`), the way a Kubernetes API server does it: OpenAPI v3 structural schema, the
 * CEL rules those CRDs carry, and unknown-field detection for `fieldValidation=Strict`.
 */
import {existsSync, readFileSync} from 'node:fs'

import {Ajv, type AnySchema, type ErrorObject, type ValidateFunction} from 'ajv'
import {parseAllDocuments} from 'yaml'

import {parseDurationNs} from '../duration.js'

/** A schema violation, located by a Kubernetes-style field path (`spec.http[0].fault`). */
export interface SchemaViolation {
  path: string
  message: string
  /** For a CEL rule (`x-kubernetes-validations`): the type of the value it judged, which kube-apiserver prints as the value. */
  celType?: string
  /** The OpenAPI keyword that failed (`enum`, `type`, `required`, …); CEL rules are `x-kubernetes-validations`. */
  keyword?: string
}

interface CrdVersion {
  name: string
  served: boolean
  storage: boolean
  schema: {openAPIV3Schema: Record<string, unknown>}
}

/** One CustomResourceDefinition, as much as we use of it. */
export interface Crd {
  group: string
  kind: string
  plural: string
  singular: string
  shortNames: string[]
  versions: CrdVersion[]
}

const CRD_FILES = {
  VirtualService: 'virtualservice.yaml',
  DestinationRule: 'destinationrule.yaml',
  Gateway: 'gateway.yaml',
  PeerAuthentication: 'peerauthentication.yaml',
} as const
/** The Istio kinds whose CRDs we carry. */
export type IstioKind = keyof typeof CRD_FILES

const crds = new Map<IstioKind, Crd>()

/** Reads Istio's CRD YAML (as vendored, verbatim) into the fields we use. Slow: ~1s for the largest. */
export function parseCrdYaml(text: string): Crd {
  const doc = parseAllDocuments(text)[0]
  if (doc === undefined || Array.isArray(doc)) throw new Error('no CRD document')
  const raw = doc.toJS() as {
    spec: {
      group: string
      names: {kind: string; plural: string; singular: string; shortNames?: string[]}
      versions: CrdVersion[]
    }
  }
  return {
    group: raw.spec.group,
    kind: raw.spec.names.kind,
    plural: raw.spec.names.plural,
    singular: raw.spec.names.singular,
    shortNames: raw.spec.names.shortNames ?? [],
    versions: raw.spec.versions,
  }
}

/** The vendored CRD YAML and its JSON rendering (`npm run schema` writes it; a test keeps the two equal). */
export function crdFiles(kind: IstioKind): {yaml: URL; json: URL} {
  const base = CRD_FILES[kind].replace(/\.yaml$/, '')
  return {
    yaml: new URL(`../../schema/istio/${base}.yaml`, import.meta.url),
    json: new URL(`../../schema/istio/${base}.json`, import.meta.url),
  }
}

/** The CRD of an Istio kind, read once from `schema/istio/` (the JSON rendering: parsing the YAML takes a second). */
export function crdFor(kind: IstioKind): Crd {
  let crd = crds.get(kind)
  if (crd === undefined) {
    const {yaml, json} = crdFiles(kind)
    crd = existsSync(json) ? (JSON.parse(readFileSync(json, 'utf8')) as Crd) : parseCrdYaml(readFileSync(yaml, 'utf8'))
    crds.set(kind, crd)
  }
  return crd
}

/** Every kind we carry a CRD for. */
export const ISTIO_KINDS = Object.keys(CRD_FILES) as IstioKind[]

/** Evaluates the CEL rules Istio's CRDs use; an unknown rule is not enforced (the webhook layer covers it). */
function celHolds(rule: string, value: unknown): boolean {
  switch (rule) {
    case "duration(self) >= duration('1ms')": {
      const ns = typeof value === 'string' ? parseDurationNs(value) : undefined
      return ns !== undefined && ns >= 1e6
    }
    case '!self.contains("*")':
      return typeof value !== 'string' || !value.includes('*')
    case 'self.all(key, !key.contains("*"))':
      return typeof value !== 'object' || value === null || Object.keys(value).every(k => !k.includes('*'))
    case 'self.all(key, key.size() != 0)':
      return typeof value !== 'object' || value === null || Object.keys(value).every(k => k.length > 0)
    // PeerAuthentication's portLevelMtls keys (istio 1.30.3 crd-all.gen.yaml).
    case 'self.all(key, 0 < int(key) && int(key) <= 65535)':
      return (
        typeof value !== 'object' ||
        value === null ||
        Object.keys(value).every(k => /^[0-9]+$/.test(k) && Number(k) > 0 && Number(k) <= 65535)
      )
    case 'has(self.portLevelMtls) ? (((has(self.selector) && has(self.selector.matchLabels)) ? self.selector.matchLabels : {}).size() > 0) : true': {
      const spec = (value ?? {}) as {portLevelMtls?: unknown; selector?: {matchLabels?: Record<string, unknown>}}
      return spec.portLevelMtls === undefined || Object.keys(spec.selector?.matchLabels ?? {}).length > 0
    }
    default:
      return true
  }
}

function newAjv(): Ajv {
  const ajv = new Ajv({allErrors: true, strict: false, validateFormats: false})
  ajv.addKeyword({keyword: 'x-kubernetes-preserve-unknown-fields'})
  ajv.addKeyword({
    keyword: 'x-kubernetes-int-or-string',
    schemaType: 'boolean',
    validate: (enabled: boolean, data: unknown) => !enabled || typeof data === 'string' || Number.isInteger(data),
  })
  ajv.addKeyword({
    keyword: 'x-kubernetes-validations',
    schemaType: 'array',
    errors: true,
    validate: function cel(rules: {rule: string; message?: string}[], data: unknown) {
      const failed = rules.filter(r => !celHolds(r.rule, data))
      if (failed.length > 0) {
        const type = Array.isArray(data)
          ? 'array'
          : data === null
            ? 'null'
            : typeof data === 'number'
              ? Number.isInteger(data)
                ? 'integer'
                : 'number'
              : typeof data
        ;(cel as unknown as {errors: Partial<ErrorObject>[]}).errors = failed.map(r => ({
          keyword: 'x-kubernetes-validations',
          message: r.message ?? `failed rule: ${r.rule}`,
          params: {type},
        }))
        return false
      }
      return true
    },
  })
  return ajv
}

const validators = new Map<string, ValidateFunction>()
let ajv: Ajv | undefined

function validatorFor(
  kind: IstioKind,
  version: string,
): {validate: ValidateFunction; schema: Record<string, unknown>} | undefined {
  const v = crdFor(kind).versions.find(x => x.name === version && x.served)
  if (v === undefined) return undefined
  const key = `${kind}/${version}`
  let validate = validators.get(key)
  if (validate === undefined) {
    ajv ??= newAjv()
    validate = ajv.compile(v.schema.openAPIV3Schema as AnySchema)
    validators.set(key, validate)
  }
  return {validate, schema: v.schema.openAPIV3Schema}
}

/** Converts an ajv JSON pointer (`/spec/http/0/fault`) into a field path (`spec.http[0].fault`). */
export function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, seg) => (/^[0-9]+$/.test(seg) ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '')
}

function describe(e: ErrorObject): SchemaViolation {
  return {
    ...describeMessage(e),
    keyword: e.keyword,
    ...(e.keyword === 'x-kubernetes-validations' ? {celType: String(e.params['type'])} : {}),
  }
}

function describeMessage(e: ErrorObject): SchemaViolation {
  const path = fieldPath(e.instancePath)
  if (e.keyword === 'type') return {path, message: `Invalid value: must be of type ${String(e.params['type'])}`}
  if (e.keyword === 'required')
    return {
      path: path === '' ? String(e.params['missingProperty']) : `${path}.${String(e.params['missingProperty'])}`,
      message: 'Required value',
    }
  if (e.keyword === 'enum')
    return {
      path,
      message: `Unsupported value: supported values: ${(e.params['allowedValues'] as unknown[]).map(v => JSON.stringify(v)).join(', ')}`,
    }
  if (e.keyword === 'oneOf')
    return {path, message: 'Invalid value: must set exactly one of the alternatives the schema allows'}
  return {path, message: `Invalid value: ${e.message ?? e.keyword}`}
}

/** Fields in `value` that the structural schema does not declare (what `fieldValidation=Strict` rejects). */
export function unknownFields(schema: Record<string, unknown>, value: unknown, path = ''): string[] {
  if (value === null || typeof value !== 'object' || schema['x-kubernetes-preserve-unknown-fields'] === true) return []
  if (Array.isArray(value)) {
    const items = schema['items'] as Record<string, unknown> | undefined
    return items === undefined ? [] : value.flatMap((v, i) => unknownFields(items, v, `${path}[${i}]`))
  }
  const props = schema['properties'] as Record<string, Record<string, unknown>> | undefined
  const additional = schema['additionalProperties']
  const out: string[] = []
  for (const [k, v] of Object.entries(value)) {
    const p = path === '' ? k : `${path}.${k}`
    const sub =
      props?.[k] ??
      (typeof additional === 'object' && additional !== null ? (additional as Record<string, unknown>) : undefined)
    if (sub === undefined) {
      if (props !== undefined && additional !== true) out.push(p)
      continue
    }
    out.push(...unknownFields(sub, v, p))
  }
  return out
}

/**
 * Validates an Istio object (`apiVersion`, `kind`, `metadata`, `spec`) against its CRD's schema for
 * the object's version. With `strict`, undeclared fields are errors too. Returns every violation.
 */
export function validateIstioObject(
  obj: {apiVersion?: unknown; kind?: unknown; spec?: unknown},
  options: {strict?: boolean} = {},
): SchemaViolation[] {
  const kind = obj.kind as IstioKind
  if (!(kind in CRD_FILES))
    return [
      {
        path: 'kind',
        message: `Unsupported value: ${JSON.stringify(obj.kind)}: supported values: ${Object.keys(CRD_FILES).join(', ')}`,
      },
    ]
  const [group, version] = String(obj.apiVersion ?? '').split('/')
  if (group !== crdFor(kind).group || version === undefined)
    return [
      {
        path: 'apiVersion',
        message: `Unsupported value: ${JSON.stringify(obj.apiVersion)}: must be ${crdFor(kind).group}/<version>`,
      },
    ]
  const v = validatorFor(kind, version)
  if (v === undefined)
    return [
      {
        path: 'apiVersion',
        message: `version ${version} of ${kind} is not served (served: ${crdFor(kind)
          .versions.map(x => x.name)
          .join(', ')})`,
      },
    ]
  const body = {spec: obj.spec}
  const violations = v.validate(body)
    ? []
    : (v.validate.errors ?? []).filter(e => e.keyword !== 'if' && e.keyword !== 'not').map(describe)
  if (options.strict === true) {
    const specSchema = (v.schema['properties'] as Record<string, Record<string, unknown>> | undefined)?.['spec']
    if (specSchema !== undefined)
      for (const p of unknownFields(specSchema, obj.spec, 'spec'))
        violations.push({path: p, message: 'field not declared in schema'})
  }
  return dedupe(violations)
}

function dedupe(vs: SchemaViolation[]): SchemaViolation[] {
  const seen = new Set<string>()
  return vs.filter(v => {
    const k = `${v.path}\0${v.message}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}
