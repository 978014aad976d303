/**
 * The Istio endpoints: networking.istio.io VirtualServices and DestinationRules in v1, v1beta1 and
 * v1alpha3, security.istio.io PeerAuthentications in v1 and v1beta1, namespaced and across namespaces — list/watch, get, create, update, patch, delete, with dryRun,
 * field validation and optimistic concurrency, answering what kube-apiserver answers for a CRD.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {RESOURCES, servedAs, type ObjectStore, type Preconditions, type StoredKind} from '../store.js'
import type {StoredObject} from '../types.js'
import {decodeIstioObject, fieldValidationOf, validateAdmission, type AdmissionContext} from './admission.js'
import {flag, mediaType, parseJson, readBody, sendJson, timeoutSecondsOf, warningHeaders} from './http.js'
import {fieldManagerOf, parseApplyBody, recordUpdate, serverSideApply} from './managed.js'
import {jsonPatch, mergePatch, PatchError, type Json} from './patch.js'
import {parseFieldSelector, parseLabelSelector} from './selectors.js'
import {ApiError, badRequest, methodNotAllowed, notFound, success, unsupportedMediaType} from './status.js'
import {printerFor, tableVersion, toTable} from './table.js'
import {streamWatch} from './watch.js'

/** Where an Istio request points. */
export interface IstioTarget {
  kind: Extract<StoredKind, 'VirtualService' | 'DestinationRule' | 'Gateway' | 'PeerAuthentication'>
  version: string
  namespace: string | undefined
  name: string | undefined
}

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json']
const APPLY_PATCH = 'application/apply-patch+yaml'

/** Routes one request to an Istio resource. */
export async function handleIstio(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  target: IstioTarget,
): Promise<void> {
  const method = req.method ?? 'GET'
  if (target.name === undefined) {
    if (method === 'GET') return list(req, res, query, store, target)
    if (method === 'POST' && target.namespace !== undefined)
      return create(req, res, query, store, {...target, namespace: target.namespace})
    throw methodNotAllowed(method)
  }
  if (target.namespace === undefined) throw methodNotAllowed(method)
  const item = {...target, namespace: target.namespace, name: target.name}
  switch (method) {
    case 'GET':
      return get(req, res, store, item)
    case 'PUT':
      return update(req, res, query, store, item)
    case 'PATCH':
      return patch(req, res, query, store, item)
    case 'DELETE':
      return remove(req, res, query, store, item)
    default:
      throw methodNotAllowed(method)
  }
}

type Item = IstioTarget & {namespace: string; name: string}

function apiVersion(t: IstioTarget): string {
  return `${RESOURCES[t.kind].group}/${t.version}`
}

function dryRun(query: URLSearchParams): boolean {
  const v = query.getAll('dryRun')
  if (v.some(x => x !== 'All'))
    throw badRequest(`dryRun: Unsupported value: ${JSON.stringify(v.find(x => x !== 'All'))}: supported values: "All"`)
  return v.length > 0
}

function list(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  t: IstioTarget,
): void {
  const byLabel = parseLabelSelector(query.get('labelSelector'))
  const byField = parseFieldSelector(query.get('fieldSelector'))
  const selects = (o: StoredObject) => byLabel(o.metadata.labels) && byField(o.metadata)
  const table = tableVersion(req)
  const printer = printerFor(t.kind, t.version)
  if (flag(query, 'watch')) {
    let first = true
    const serveTable = (o: StoredObject, v: 'v1' | 'v1beta1') => {
      const out = toTable(printer, [servedAs(o, apiVersion(t))], v, o.metadata.resourceVersion, first)
      first = false
      return out
    }
    streamWatch(req, res, store, {
      filter: {kind: t.kind, ...(t.namespace === undefined ? {} : {namespace: t.namespace})},
      serve: o => (table === undefined ? servedAs(o, apiVersion(t)) : serveTable(o, table)),
      selects,
      resourceVersion: query.get('resourceVersion') ?? undefined,
      timeoutSeconds: timeoutSecondsOf(query),
    })
    return
  }
  const resourceVersion = store.resourceVersion()
  const items = store
    .list(t.kind, t.namespace)
    .filter(selects)
    .map(o => servedAs(o, apiVersion(t)))
  if (table !== undefined) return sendJson(res, 200, toTable(printer, items, table, resourceVersion))
  sendJson(res, 200, {
    apiVersion: apiVersion(t),
    kind: `${t.kind}List`,
    metadata: {resourceVersion, continue: ''},
    items,
  })
}

function get(req: IncomingMessage, res: ServerResponse, store: ObjectStore, t: Item): void {
  const obj = store.get(t.kind, t.namespace, t.name)
  if (obj === undefined) throw notFound(RESOURCES[t.kind], t.name)
  const table = tableVersion(req)
  const served = servedAs(obj, apiVersion(t))
  sendJson(
    res,
    200,
    table === undefined
      ? served
      : toTable(printerFor(t.kind, t.version), [served], table, obj.metadata.resourceVersion),
  )
}

function admissionContext(
  query: URLSearchParams,
  t: IstioTarget & {namespace: string},
  operation: AdmissionContext['operation'],
): AdmissionContext {
  return {
    kind: t.kind,
    version: t.version,
    namespace: t.namespace,
    operation,
    fieldValidation: fieldValidationOf(query),
    ...(t.name === undefined ? {} : {urlName: t.name}),
  }
}

async function jsonBody(req: IncomingMessage, accepted: string[]): Promise<unknown> {
  const type = mediaType(req.headers['content-type'])
  if (type !== '' && !accepted.includes(type)) throw unsupportedMediaType(type, accepted)
  return parseJson(await readBody(req))
}

async function create(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  t: IstioTarget & {namespace: string},
): Promise<void> {
  const body = await jsonBody(req, ['application/json'])
  const {object, warnings} = decodeIstioObject(body, admissionContext(query, {...t, name: undefined}, 'create'))
  object.metadata.managedFields = recordUpdate(undefined, object, fieldManagerOf(query, req, false), apiVersion(t))
  const created = store.create(object, {dryRun: dryRun(query), admit: validateAdmission})
  sendJson(res, 201, servedAs(created, apiVersion(t)), warningHeaders(warnings))
}

async function update(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  t: Item,
): Promise<void> {
  const body = await jsonBody(req, ['application/json'])
  const {object, warnings} = decodeIstioObject(body, admissionContext(query, t, 'update'))
  const current = store.get(t.kind, t.namespace, t.name)
  object.metadata.managedFields = recordUpdate(
    current === undefined ? undefined : servedAs(current, apiVersion(t)),
    object,
    fieldManagerOf(query, req, false),
    apiVersion(t),
  )
  const updated = store.update(object, {dryRun: dryRun(query), admit: validateAdmission})
  sendJson(res, 200, servedAs(updated, apiVersion(t)), warningHeaders(warnings))
}

async function patch(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  t: Item,
): Promise<void> {
  const type = mediaType(req.headers['content-type'])
  if (type === APPLY_PATCH) return apply(req, res, query, store, t)
  // Custom resources have no Go struct, hence no patch strategy: a real server refuses strategic merge for them.
  if (!PATCH_TYPES.includes(type)) throw unsupportedMediaType(type, [...PATCH_TYPES, APPLY_PATCH])
  const patchDoc = parseJson(await readBody(req))
  const current = store.get(t.kind, t.namespace, t.name)
  if (current === undefined) throw notFound(RESOURCES[t.kind], t.name)
  const served = servedAs(current, apiVersion(t)) as unknown as Json
  let patched: Json
  try {
    patched =
      type === 'application/merge-patch+json' ? mergePatch(served, patchDoc as Json) : jsonPatch(served, patchDoc)
  } catch (err) {
    if (err instanceof PatchError) throw new ApiError(422, 'Invalid', err.message)
    throw err
  }
  const {object, warnings} = decodeIstioObject(patched, admissionContext(query, t, 'patch'))
  // A patch that does not name a resourceVersion applies to whatever is current (no precondition).
  object.metadata.resourceVersion ??= current.metadata.resourceVersion ?? ''
  object.metadata.managedFields = recordUpdate(
    served as unknown as StoredObject,
    object,
    fieldManagerOf(query, req, false),
    apiVersion(t),
  )
  const updated = store.update(object, {dryRun: dryRun(query), admit: validateAdmission})
  sendJson(res, 200, servedAs(updated, apiVersion(t)), warningHeaders(warnings))
}

/** Server-side apply (`kubectl apply --server-side`, Argo CD, Flux): creates or merges, owning what it applied (managed.ts). */
async function apply(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  t: Item,
): Promise<void> {
  const manager = fieldManagerOf(query, req, true)
  const applied = parseApplyBody(await readBody(req))
  const current = store.get(t.kind, t.namespace, t.name)
  const served = current === undefined ? undefined : servedAs(current, apiVersion(t))
  const merged = serverSideApply(served, applied, manager, flag(query, 'force'), apiVersion(t))
  const operation = current === undefined ? 'create' : 'patch'
  const {object, warnings} = decodeIstioObject(merged, admissionContext(query, t, operation))
  const options = {dryRun: dryRun(query), admit: validateAdmission}
  if (current === undefined)
    return sendJson(res, 201, servedAs(store.create(object, options), apiVersion(t)), warningHeaders(warnings))
  object.metadata.resourceVersion ??= current.metadata.resourceVersion ?? ''
  sendJson(res, 200, servedAs(store.update(object, options), apiVersion(t)), warningHeaders(warnings))
}

function preconditionsOf(body: unknown): Preconditions | undefined {
  if (typeof body !== 'object' || body === null) return undefined
  const pre = (body as {preconditions?: unknown}).preconditions
  if (typeof pre !== 'object' || pre === null) return undefined
  const {uid, resourceVersion} = pre as Record<string, unknown>
  return {...(typeof uid === 'string' ? {uid} : {}), ...(typeof resourceVersion === 'string' ? {resourceVersion} : {})}
}

async function remove(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  t: Item,
): Promise<void> {
  const raw = await readBody(req)
  const options = raw.toString('utf8').trim() === '' ? undefined : parseJson(raw)
  const dry =
    dryRun(query) ||
    (Array.isArray((options as {dryRun?: unknown} | undefined)?.dryRun) &&
      (options as {dryRun: unknown[]}).dryRun.includes('All'))
  const preconditions = preconditionsOf(options)
  const deleted = store.delete(t.kind, t.namespace, t.name, {
    dryRun: dry,
    ...(preconditions === undefined ? {} : {preconditions}),
  })
  const {group, resource} = RESOURCES[t.kind]
  sendJson(
    res,
    200,
    success({
      name: t.name,
      group,
      kind: resource,
      ...(deleted.metadata.uid === undefined ? {} : {uid: deleted.metadata.uid}),
    }),
  )
}
