/**
 * The core/v1 endpoints the sandbox serves — namespaces (list, watch, get, create, merge-patch) and
 * pods (read only, from the topology) — and the SelfSubjectAccessReview the runner's preflight asks.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {RESOURCES, type ObjectStore} from '../store.js'
import type {StoredObject, Topology} from '../types.js'
import {flag, mediaType, parseJson, readBody, sendJson, timeoutSecondsOf} from './http.js'
import {mergePatch, type Json} from './patch.js'
import {findPod, listPods, podObject} from './pods.js'
import {namespaceObject, selfSubjectAccessReviewSpec} from './protobuf.js'
import {parseFieldSelector, parseLabelSelector} from './selectors.js'
import {badRequest, invalid, methodNotAllowed, notFound, unsupportedMediaType} from './status.js'
import {printerFor, tableVersion, toTable} from './table.js'
import {streamWatch} from './watch.js'

const PROTOBUF = 'application/vnd.kubernetes.protobuf'
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

function namespaceFrom(body: unknown): StoredObject {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('Namespace in version "v1" cannot be handled as a Namespace: the body must be a JSON object')
  const b = body as {kind?: unknown; metadata?: {name?: unknown; labels?: unknown; annotations?: unknown}}
  if (b.kind !== undefined && b.kind !== 'Namespace')
    throw badRequest(`the kind in the data (${String(b.kind)}) does not match the expected kind (Namespace)`)
  const name = typeof b.metadata?.name === 'string' ? b.metadata.name : ''
  if (name === '')
    throw invalid({group: '', kind: 'Namespace'}, '', [
      {
        field: 'metadata.name',
        detail: 'Required value: name or generateName is required',
        reason: 'FieldValueRequired',
      },
    ])
  if (name.length > 63 || !DNS1123_LABEL.test(name)) {
    throw invalid({group: '', kind: 'Namespace'}, name, [
      {
        field: 'metadata.name',
        detail: `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
      },
    ])
  }
  const meta = b.metadata as Record<string, unknown>
  return {apiVersion: 'v1', kind: 'Namespace', metadata: {...meta, name}}
}

/** `/api/v1/namespaces[/<name>]`. */
export async function handleNamespaces(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  store: ObjectStore,
  name: string | undefined,
): Promise<void> {
  const method = req.method ?? 'GET'
  const dryRun = query.getAll('dryRun').includes('All')
  if (name === undefined) {
    if (method === 'GET') return listNamespaces(req, res, query, store)
    if (method === 'POST') return createNamespace(req, res, store, dryRun)
    throw methodNotAllowed(method)
  }
  const current = store.get('Namespace', undefined, name)
  if (current === undefined) throw notFound(RESOURCES.Namespace, name)
  if (method === 'GET') {
    const table = tableVersion(req)
    return sendJson(
      res,
      200,
      table === undefined
        ? current
        : toTable(printerFor('Namespace', 'v1'), [current], table, current.metadata.resourceVersion),
    )
  }
  if (method === 'PATCH') return patchNamespace(req, res, store, name, current, dryRun)
  throw methodNotAllowed(method)
}

/** GET `/api/v1/namespaces`: the list (or a Table), or a watch, by label and field selectors. */
function listNamespaces(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, store: ObjectStore): void {
  const byLabel = parseLabelSelector(query.get('labelSelector'))
  const byField = parseFieldSelector(query.get('fieldSelector'))
  const selects = (o: StoredObject) => byLabel(o.metadata.labels) && byField(o.metadata)
  if (flag(query, 'watch')) {
    return streamWatch(req, res, store, {
      filter: {kind: 'Namespace'},
      serve: o => o,
      selects,
      resourceVersion: query.get('resourceVersion') ?? undefined,
      timeoutSeconds: timeoutSecondsOf(query),
    })
  }
  const items = store.list('Namespace').filter(selects)
  const table = tableVersion(req)
  if (table !== undefined)
    return sendJson(res, 200, toTable(printerFor('Namespace', 'v1'), items, table, store.resourceVersion()))
  return sendJson(res, 200, {
    apiVersion: 'v1',
    kind: 'NamespaceList',
    metadata: {resourceVersion: store.resourceVersion()},
    items,
  })
}

/** POST `/api/v1/namespaces`, the Namespace in JSON or protobuf. */
async function createNamespace(
  req: IncomingMessage,
  res: ServerResponse,
  store: ObjectStore,
  dryRun: boolean,
): Promise<void> {
  const type = mediaType(req.headers['content-type'])
  const raw = await readBody(req)
  if (type === PROTOBUF) return sendJson(res, 201, store.create(namespaceFrom(namespaceObject(raw)), {dryRun}))
  if (type !== '' && type !== 'application/json') throw unsupportedMediaType(type, ['application/json', PROTOBUF])
  return sendJson(res, 201, store.create(namespaceFrom(parseJson(raw)), {dryRun}))
}

/** PATCH `/api/v1/namespaces/<name>` with a merge (or strategic merge) patch; the name stays. */
async function patchNamespace(
  req: IncomingMessage,
  res: ServerResponse,
  store: ObjectStore,
  name: string,
  current: StoredObject,
  dryRun: boolean,
): Promise<void> {
  const type = mediaType(req.headers['content-type'])
  // Namespace metadata has no merge-keyed lists we touch, so strategic merge behaves as merge patch here.
  if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json')
    throw unsupportedMediaType(type, ['application/merge-patch+json', 'application/strategic-merge-patch+json'])
  const patched = mergePatch(
    current as unknown as Json,
    parseJson(await readBody(req)) as Json,
  ) as unknown as StoredObject
  const next = namespaceFrom(patched)
  if (next.metadata.name !== name)
    throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`)
  return sendJson(
    res,
    200,
    store.update(
      {
        ...next,
        metadata: {
          ...next.metadata,
          resourceVersion: patched.metadata.resourceVersion ?? current.metadata.resourceVersion ?? '',
        },
      },
      {dryRun},
    ),
  )
}

/** Pods that are not the topology's: the sandbox k6-operator's runners. */
export interface ExtraPods {
  pods(namespace: string | undefined, labelSelector: string | null): Record<string, unknown>[]
  pod(namespace: string, name: string): Record<string, unknown> | undefined
}

/** `/api/v1/[namespaces/<ns>/]pods[/<name>]` (GET only). */
export function handlePods(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  topology: Topology,
  since: string,
  namespace: string | undefined,
  name: string | undefined,
  extra?: ExtraPods,
): void {
  if ((req.method ?? 'GET') !== 'GET') throw methodNotAllowed(req.method ?? '')
  const table = tableVersion(req)
  if (name === undefined) {
    const items = [
      ...listPods(topology, namespace, query, since),
      ...(extra?.pods(namespace, query.get('labelSelector')) ?? []),
    ] as unknown as StoredObject[]
    if (table !== undefined) return sendJson(res, 200, toTable(printerFor('Pod', 'v1'), items, table, '1'))
    return sendJson(res, 200, {apiVersion: 'v1', kind: 'PodList', metadata: {resourceVersion: '1'}, items})
  }
  const pod = namespace === undefined ? undefined : findPod(topology, namespace, name)
  const runner =
    pod !== undefined || namespace === undefined
      ? undefined
      : (extra?.pod(namespace, name) as unknown as StoredObject | undefined)
  if (runner !== undefined)
    return sendJson(res, 200, table === undefined ? runner : toTable(printerFor('Pod', 'v1'), [runner], table, '1'))
  if (pod === undefined) throw notFound({group: '', resource: 'pods'}, name)
  const obj = podObject(pod, since) as unknown as StoredObject
  sendJson(res, 200, table === undefined ? obj : toTable(printerFor('Pod', 'v1'), [obj], table, '1'))
}

/** `POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews`: the sandbox's only user may do everything. */
export async function handleAccessReview(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') throw methodNotAllowed(req.method ?? '')
  const type = mediaType(req.headers['content-type'])
  const raw = await readBody(req)
  let spec: unknown
  if (type === PROTOBUF) spec = selfSubjectAccessReviewSpec(raw)
  else if (type === '' || type === 'application/json') spec = (parseJson(raw) as {spec?: unknown} | null)?.spec
  else throw unsupportedMediaType(type, ['application/json', PROTOBUF])
  if (typeof spec !== 'object' || spec === null || Object.keys(spec).length === 0) {
    throw invalid({group: 'authorization.k8s.io', kind: 'SelfSubjectAccessReview'}, '', [
      {
        field: 'spec',
        detail: 'Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified',
      },
    ])
  }
  sendJson(res, 201, {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    metadata: {creationTimestamp: null},
    spec,
    status: {allowed: true, reason: 'the Faultline sandbox grants its bearer token every permission'},
  })
}
