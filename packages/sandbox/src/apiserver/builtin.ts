/**
 * Kubernetes' own kinds that `chaos schedule` emits — ServiceAccount, Secret, ConfigMap,
 * PersistentVolumeClaim, Service (core/v1), Role and RoleBinding (rbac.authorization.k8s.io/v1),
 * CronJob and Job (batch/v1), Deployment (apps/v1) — stored and served (list, get, create, update,
 * merge/JSON patch, delete, dryRun), validated against Kubernetes' own OpenAPI v3 schemas
 * (schema/kubernetes-openapi/, see its SOURCE.md) the way `fieldValidation=Strict` decodes: unknown
 * fields and wrong types are refused with kube-apiserver's message. Nothing runs them: a CronJob
 * never fires, a Deployment has no pods. Kubernetes' semantic validation (required values, formats)
 * is not reproduced.
 */
import {randomUUID} from 'node:crypto'
import {readFileSync} from 'node:fs'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {fileURLToPath} from 'node:url'

import type {StoredObject} from '../types.js'
import {flag, mediaType, parseJson, readBody, sendJson} from './http.js'
import {fieldManagerOf, parseApplyBody, recordUpdate, serverSideApply} from './managed.js'
import {jsonPatch, mergePatch, PatchError, type Json} from './patch.js'
import {parseLabelSelector} from './selectors.js'
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  methodNotAllowed,
  notFound,
  success,
  unsupportedMediaType,
} from './status.js'

/** One built-in resource the sandbox stores. */
export interface BuiltinResource {
  group: string
  version: string
  plural: string
  singular: string
  kind: string
  shortNames?: string[]
  /** The document under schema/kubernetes-openapi/ and its schema name. */
  document: string
  schema: string
}

const R = (
  group: string,
  version: string,
  plural: string,
  kind: string,
  schema: string,
  shortNames?: string[],
): BuiltinResource => ({
  group,
  version,
  plural,
  singular: kind.toLowerCase(),
  kind,
  ...(shortNames === undefined ? {} : {shortNames}),
  document: group === '' ? 'api/v1' : `apis/${group}/${version}`,
  schema,
})

export const BUILTIN_RESOURCES: readonly BuiltinResource[] = [
  R('', 'v1', 'configmaps', 'ConfigMap', 'io.k8s.api.core.v1.ConfigMap', ['cm']),
  R('', 'v1', 'secrets', 'Secret', 'io.k8s.api.core.v1.Secret'),
  R('', 'v1', 'serviceaccounts', 'ServiceAccount', 'io.k8s.api.core.v1.ServiceAccount', ['sa']),
  R('', 'v1', 'persistentvolumeclaims', 'PersistentVolumeClaim', 'io.k8s.api.core.v1.PersistentVolumeClaim', ['pvc']),
  R('', 'v1', 'services', 'Service', 'io.k8s.api.core.v1.Service', ['svc']),
  R('rbac.authorization.k8s.io', 'v1', 'roles', 'Role', 'io.k8s.api.rbac.v1.Role'),
  R('rbac.authorization.k8s.io', 'v1', 'rolebindings', 'RoleBinding', 'io.k8s.api.rbac.v1.RoleBinding'),
  R('batch', 'v1', 'cronjobs', 'CronJob', 'io.k8s.api.batch.v1.CronJob', ['cj']),
  R('batch', 'v1', 'jobs', 'Job', 'io.k8s.api.batch.v1.Job'),
  R('apps', 'v1', 'deployments', 'Deployment', 'io.k8s.api.apps.v1.Deployment', ['deploy']),
]

/** The group-versions whose Kubernetes OpenAPI v3 documents are shipped (`api/v1`, `apis/batch/v1`, …). */
export const KUBERNETES_DOCUMENTS = [
  'api/v1',
  'apis/apps/v1',
  'apis/batch/v1',
  'apis/rbac.authorization.k8s.io/v1',
] as const

const SCHEMA_DIR = fileURLToPath(new URL('../../schema/kubernetes-openapi/', import.meta.url))
const documentTexts = new Map<string, string>()

/** The shipped Kubernetes OpenAPI v3 document of a group-version, as JSON text. */
export function kubernetesDocument(groupVersion: string): string | undefined {
  if (!(KUBERNETES_DOCUMENTS as readonly string[]).includes(groupVersion)) return undefined
  let text = documentTexts.get(groupVersion)
  if (text === undefined) {
    text = readFileSync(`${SCHEMA_DIR}${groupVersion.replaceAll('/', '__')}_openapi.json`, 'utf8')
    documentTexts.set(groupVersion, text)
  }
  return text
}

type Schema = Record<string, unknown>
const parsedSchemas = new Map<string, Record<string, Schema>>()

function schemasOf(groupVersion: string): Record<string, Schema> {
  let s = parsedSchemas.get(groupVersion)
  if (s === undefined) {
    s = (JSON.parse(kubernetesDocument(groupVersion) ?? '{}') as {components: {schemas: Record<string, Schema>}})
      .components.schemas
    parsedSchemas.set(groupVersion, s)
  }
  return s
}

/** Follows `$ref` and single-element `allOf` to the schema that describes a value. */
function resolve(schema: Schema, all: Record<string, Schema>): Schema {
  let s = schema
  for (let i = 0; i < 10; i++) {
    const ref = s['$ref'] as string | undefined
    const allOf = s['allOf'] as Schema[] | undefined
    if (ref !== undefined) s = all[ref.split('/').pop() ?? ''] ?? {}
    else if (allOf?.length === 1 && allOf[0] !== undefined) s = allOf[0]
    else break
  }
  return s
}

const GO_TYPES: Record<string, string> = {
  string: 'string',
  integer: 'int32',
  boolean: 'bool',
  number: 'float64',
  array: 'array',
  object: 'object',
}

function jsonType(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  return typeof v === 'number' ? 'number' : typeof v === 'object' ? 'object' : typeof v
}

/**
 * What strict decoding finds in `value` against `schema`: unknown fields (`spec.foo`, as
 * kube-apiserver names them) and values of the wrong JSON type.
 */
export function decodeProblems(
  value: unknown,
  schema: Schema,
  all: Record<string, Schema>,
  path = '',
): {unknown: string[]; types: string[]} {
  const out = {unknown: [] as string[], types: [] as string[]}
  const walk = (v: unknown, raw: Schema, at: string) => {
    const s = resolve(raw, all)
    if (v === null || v === undefined) return
    if (s['x-kubernetes-int-or-string'] === true) {
      if (typeof v !== 'string' && typeof v !== 'number')
        out.types.push(`${at}: expected int or string, got ${jsonType(v)}`)
      return
    }
    const type = s['type'] as string | undefined
    if (type === undefined) return
    const got = jsonType(v)
    const ok =
      type === got ||
      ((type === 'integer' || type === 'number') && got === 'number') ||
      (type === 'string' && s['format'] === 'byte' && got === 'string')
    if (!ok) {
      out.types.push(
        `json: cannot unmarshal ${got} into Go struct field ${at === '' ? '.' : at} of type ${GO_TYPES[type] ?? type}`,
      )
      return
    }
    if (type === 'array') (v as unknown[]).forEach((item, i) => walk(item, (s['items'] ?? {}) as Schema, `${at}[${i}]`))
    if (type !== 'object') return
    const props = s['properties'] as Record<string, Schema> | undefined
    const additional = s['additionalProperties'] as Schema | undefined
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      const where = at === '' ? k : `${at}.${k}`
      if (props?.[k] !== undefined) walk(child, props[k], where)
      else if (additional !== undefined) walk(child, additional, where)
      else if (props !== undefined && s['x-kubernetes-preserve-unknown-fields'] !== true) out.unknown.push(where)
    }
  }
  walk(value, schema, path)
  return out
}

function groupResource(r: BuiltinResource): {group: string; resource: string} {
  return {group: r.group, resource: r.plural}
}

function apiVersionOf(r: BuiltinResource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`
}

/**
 * Decodes a written object the way kube-apiserver does for a built-in kind: apiVersion and kind must
 * match the URL, and with `fieldValidation=Strict` (kubectl's default) unknown fields are refused;
 * wrong types always are.
 */
export function decodeBuiltin(
  body: unknown,
  r: BuiltinResource,
  query: URLSearchParams,
): {object: StoredObject; warnings: string[]} {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('the body of the request was in an unknown format')
  const obj = structuredClone(body) as StoredObject
  obj.apiVersion ??= apiVersionOf(r)
  obj.kind ??= r.kind
  if (obj.apiVersion !== apiVersionOf(r) || obj.kind !== r.kind)
    throw badRequest(
      `the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersionOf(r)})`,
    )
  if (typeof obj.metadata !== 'object' || obj.metadata === null) obj.metadata = {name: ''}
  const all = schemasOf(r.document)
  const problems = decodeProblems(obj, all[r.schema] ?? {}, all)
  const head = `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}`
  if (problems.types.length > 0) throw badRequest(`${head}: ${problems.types[0] ?? ''}`)
  const validation = query.get('fieldValidation') ?? 'Warn'
  const unknown = problems.unknown.map(f => `unknown field "${f}"`)
  if (unknown.length > 0 && validation === 'Strict')
    throw badRequest(`${head}: strict decoding error: ${unknown.join(', ')}`)
  return {object: obj, warnings: validation === 'Warn' ? unknown : []}
}

const key = (kind: string, namespace: string, name: string) => `${kind}/${namespace}/${name}`

/** The built-in objects, by kind, namespace and name. */
export class BuiltinStore {
  private readonly objects = new Map<string, StoredObject>()
  private version = 0

  constructor(private readonly now: () => Date = () => new Date()) {}

  list(kind: string, namespace: string | undefined): StoredObject[] {
    return [...this.objects.values()]
      .filter(o => o.kind === kind && (namespace === undefined || o.metadata.namespace === namespace))
      .sort((a, b) =>
        `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace ?? ''}/${b.metadata.name}`,
        ),
      )
  }

  get(kind: string, namespace: string, name: string): StoredObject | undefined {
    const o = this.objects.get(key(kind, namespace, name))
    return o === undefined ? undefined : structuredClone(o)
  }

  resourceVersion(): string {
    return String(this.version)
  }

  /** Stores `obj` (create when `current` is undefined); fills what the server owns. */
  write(obj: StoredObject, current: StoredObject | undefined, dryRun: boolean): StoredObject {
    const out = structuredClone(obj)
    const meta = out.metadata
    const stamp = this.now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z')
    if (current === undefined) {
      meta.uid = randomUUID()
      meta.creationTimestamp = stamp
      if ('spec' in out && out.kind !== 'Service' && out.kind !== 'PersistentVolumeClaim') meta.generation = 1
    } else {
      if (current.metadata.uid !== undefined) meta.uid = current.metadata.uid
      if (current.metadata.creationTimestamp !== undefined) meta.creationTimestamp = current.metadata.creationTimestamp
      if (current.metadata.generation !== undefined)
        meta.generation =
          JSON.stringify(out['spec']) === JSON.stringify(current['spec'])
            ? current.metadata.generation
            : current.metadata.generation + 1
    }
    meta.resourceVersion = String(dryRun ? this.version : this.version + 1)
    if (dryRun) return out
    this.version += 1
    this.objects.set(key(out.kind, meta.namespace ?? '', meta.name), structuredClone(out))
    return out
  }

  delete(kind: string, namespace: string, name: string, dryRun: boolean): void {
    if (!dryRun) this.objects.delete(key(kind, namespace, name))
  }
}

const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
  'application/apply-patch+yaml',
]

function dryRunOf(query: URLSearchParams): boolean {
  const v = query.getAll('dryRun')
  if (v.some(x => x !== 'All'))
    throw badRequest(`dryRun: Unsupported value: ${JSON.stringify(v.find(x => x !== 'All'))}: supported values: "All"`)
  return v.length > 0
}

/** The built-in resource a path names (`/api/v1/namespaces/NS/secrets[/NAME]`, `/apis/batch/v1/…`), if any. */
export function builtinTarget(
  s: string[],
): {resource: BuiltinResource; namespace: string | undefined; name: string | undefined} | undefined {
  const core = s[0] === 'api' && s[1] === 'v1'
  const base = core ? 2 : s[0] === 'apis' ? 3 : -1
  if (base < 0) return undefined
  const group = core ? '' : s[1]
  const version = core ? 'v1' : s[2]
  const rest = s.slice(base)
  const namespaced = rest[0] === 'namespaces' && rest.length >= 3
  const [plural, name, ...extra] = namespaced ? rest.slice(2) : rest
  if (extra.length > 0) return undefined
  const resource = BUILTIN_RESOURCES.find(r => r.group === group && r.version === version && r.plural === plural)
  if (resource === undefined) return undefined
  return {resource, namespace: namespaced ? rest[1] : undefined, name}
}

/** The `Warning` headers that carry a decode's warnings, if any. */
function warningHeaders(warnings: string[]): Record<string, string[]> {
  return warnings.length === 0 ? {} : {Warning: warnings.map(w => `299 - "${w}"`)}
}

/** Serves one request to a built-in resource; `namespaceExists` says whether writes may go there. */
export async function handleBuiltin(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: BuiltinStore,
  target: {resource: BuiltinResource; namespace: string | undefined; name: string | undefined},
  namespaceExists: (ns: string) => boolean,
): Promise<void> {
  const {resource: r, namespace, name} = target
  const method = req.method ?? 'GET'
  const gr = groupResource(r)
  if (name === undefined) {
    if (method === 'GET') return listBuiltin(res, query, store, r, namespace)
    if (method !== 'POST' || namespace === undefined) throw methodNotAllowed(method)
    return createBuiltin(req, res, query, store, r, namespace, namespaceExists)
  }
  if (namespace === undefined) throw methodNotAllowed(method)
  const current = store.get(r.kind, namespace, name)
  if (method === 'GET') {
    if (current === undefined) throw notFound(gr, name)
    return sendJson(res, 200, current)
  }
  if (method === 'DELETE') {
    if (current === undefined) throw notFound(gr, name)
    store.delete(r.kind, namespace, name, dryRunOf(query))
    return sendJson(
      res,
      200,
      success({
        name,
        group: r.group,
        kind: r.plural,
        ...(current.metadata.uid === undefined ? {} : {uid: current.metadata.uid}),
      }),
    )
  }
  return writeBuiltin(req, res, query, store, {resource: r, namespace, name}, current, namespaceExists)
}

/** GET on a collection: the stored objects matching `labelSelector`; no watch. */
function listBuiltin(
  res: ServerResponse,
  query: URLSearchParams,
  store: BuiltinStore,
  r: BuiltinResource,
  namespace: string | undefined,
): void {
  const byLabel = parseLabelSelector(query.get('labelSelector'))
  if (flag(query, 'watch')) throw methodNotAllowed('WATCH')
  const items = store.list(r.kind, namespace).filter(o => byLabel(o.metadata.labels))
  return sendJson(res, 200, {
    apiVersion: apiVersionOf(r),
    kind: `${r.kind}List`,
    metadata: {resourceVersion: store.resourceVersion()},
    items,
  })
}

/** POST on a namespaced collection: creates the object the body holds. */
async function createBuiltin(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: BuiltinStore,
  r: BuiltinResource,
  namespace: string,
  namespaceExists: (ns: string) => boolean,
): Promise<void> {
  const type = mediaType(req.headers['content-type'])
  if (type !== '' && type !== 'application/json') throw unsupportedMediaType(type, ['application/json'])
  const {object, warnings} = decodeBuiltin(parseJson(await readBody(req)), r, query)
  object.metadata.namespace ??= namespace
  if (object.metadata.namespace !== namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
  if (!namespaceExists(namespace)) throw notFound({group: '', resource: 'namespaces'}, namespace)
  if ((object.metadata.name ?? '') === '')
    throw new ApiError(
      422,
      'Invalid',
      `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
    )
  if (store.get(r.kind, namespace, object.metadata.name) !== undefined)
    throw alreadyExists(groupResource(r), object.metadata.name)
  object.metadata.managedFields = recordUpdate(undefined, object, fieldManagerOf(query, req, false), apiVersionOf(r))
  const created = store.write(object, undefined, dryRunOf(query))
  return sendJson(res, 201, created, warningHeaders(warnings))
}

/**
 * PUT, PATCH and server-side apply on one named object; an apply to an object that does not exist
 * creates it, every other write needs it to exist.
 */
async function writeBuiltin(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: BuiltinStore,
  target: {resource: BuiltinResource; namespace: string; name: string},
  current: StoredObject | undefined,
  namespaceExists: (ns: string) => boolean,
): Promise<void> {
  const {resource: r, namespace, name} = target
  const method = req.method ?? 'GET'
  const gr = groupResource(r)
  let body: unknown
  let applied = false
  if (method === 'PATCH' && mediaType(req.headers['content-type']) === 'application/apply-patch+yaml') {
    const patchDoc = parseApplyBody(await readBody(req))
    body = serverSideApply(current, patchDoc, fieldManagerOf(query, req, true), flag(query, 'force'), apiVersionOf(r))
    applied = true
    if (current === undefined) {
      const {object, warnings} = decodeBuiltin(body, r, query)
      object.metadata.namespace ??= namespace
      if (!namespaceExists(namespace)) throw notFound({group: '', resource: 'namespaces'}, namespace)
      if (object.metadata.name !== name)
        throw badRequest(
          `the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`,
        )
      return sendJson(res, 201, store.write(object, undefined, dryRunOf(query)), warningHeaders(warnings))
    }
  } else if (method === 'PUT') {
    body = parseJson(await readBody(req))
  } else if (method === 'PATCH') {
    body = await patchedBody(req, current, gr, name)
  } else {
    throw methodNotAllowed(method)
  }
  const {object, warnings} = decodeBuiltin(body, r, query)
  object.metadata.namespace ??= namespace
  if (object.metadata.name !== name) throw badRequest('the name of the object does not match the name on the URL')
  if (current === undefined) throw notFound(gr, name)
  const rv = object.metadata.resourceVersion
  if (!applied)
    object.metadata.managedFields = recordUpdate(current, object, fieldManagerOf(query, req, false), apiVersionOf(r))
  if (method === 'PUT' && rv !== undefined && rv !== '' && rv !== current.metadata.resourceVersion)
    throw conflict(gr, name)
  const updated = store.write(object, current, dryRunOf(query))
  sendJson(res, 200, updated, warningHeaders(warnings))
}

/** A JSON, merge or strategic merge PATCH applied to the current object. */
async function patchedBody(
  req: IncomingMessage,
  current: StoredObject | undefined,
  gr: {group: string; resource: string},
  name: string,
): Promise<unknown> {
  const type = mediaType(req.headers['content-type'])
  if (!PATCH_TYPES.includes(type)) throw unsupportedMediaType(type, PATCH_TYPES)
  if (current === undefined) throw notFound(gr, name)
  const patchDoc = parseJson(await readBody(req))
  try {
    // Strategic merge is a merge patch here: no list of these kinds is merged by key in what chaos schedule writes.
    return type === 'application/json-patch+json'
      ? jsonPatch(current as unknown as Json, patchDoc)
      : mergePatch(current as unknown as Json, patchDoc as Json)
  } catch (err) {
    if (err instanceof PatchError) throw new ApiError(422, 'Invalid', err.message)
    throw err
  }
}

/** Discovery entries (`APIResource`) for the built-in kinds of one group-version. */
export function builtinDiscovery(group: string, version: string): Record<string, unknown>[] {
  return BUILTIN_RESOURCES.filter(r => r.group === group && r.version === version).map(r => ({
    name: r.plural,
    singularName: r.singular,
    namespaced: true,
    kind: r.kind,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'],
    ...(r.shortNames === undefined ? {} : {shortNames: r.shortNames}),
  }))
}
