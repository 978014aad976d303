/**
 * OpenAPI v3 documents, as much as kubectl reads of them: with a `post`/`put`/`patch` operation per
 * resource carrying `x-kubernetes-group-version-kind` and a `fieldValidation` parameter, kubectl
 * leaves field validation to the server (`?fieldValidation=Strict`) instead of refusing to apply.
 * Schemas come from the Istio CRDs' `openAPIV3Schema`, the way the apiextensions server publishes them;
 * core/v1, apps/v1, batch/v1 and rbac.authorization.k8s.io/v1 are Kubernetes' own documents
 * (schema/kubernetes-openapi/, see builtin.ts).
 */
import {createHash} from 'node:crypto'

import {crdFor, type IstioKind} from '@faultline/core/istio/crd.js'
import {SECURITY_GROUP, SECURITY_VERSIONS} from '@faultline/core/istio/peer-authentication.js'
import {ISTIO_GROUP, ISTIO_VERSIONS} from '@faultline/core/istio/types.js'
import {KUBERNETES_DOCUMENTS, kubernetesDocument} from './builtin.js'

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta'
const STRING_MAP = {type: 'object', additionalProperties: {type: 'string'}}

const objectMetaSchema = {
  type: 'object',
  properties: {
    name: {type: 'string'},
    generateName: {type: 'string'},
    namespace: {type: 'string'},
    selfLink: {type: 'string'},
    uid: {type: 'string'},
    resourceVersion: {type: 'string'},
    generation: {type: 'integer', format: 'int64'},
    creationTimestamp: {type: 'string', format: 'date-time'},
    deletionTimestamp: {type: 'string', format: 'date-time'},
    deletionGracePeriodSeconds: {type: 'integer', format: 'int64'},
    labels: STRING_MAP,
    annotations: STRING_MAP,
    ownerReferences: {type: 'array', items: {type: 'object', 'x-kubernetes-preserve-unknown-fields': true}},
    finalizers: {type: 'array', items: {type: 'string'}},
    managedFields: {type: 'array', items: {type: 'object', 'x-kubernetes-preserve-unknown-fields': true}},
  },
}

function param(name: string, where: 'query' | 'path', description: string): unknown {
  return {
    name,
    in: where,
    description,
    ...(where === 'path' ? {required: true} : {}),
    schema: {type: 'string', uniqueItems: true},
  }
}

const WRITE_PARAMS = [
  param('dryRun', 'query', 'When present, indicates that modifications should not be persisted.'),
  param('fieldManager', 'query', 'a name associated with the actor or entity that is making these changes'),
  param(
    'fieldValidation',
    'query',
    'instructs the server on how to handle objects in the request containing unknown or duplicate fields (Ignore, Warn, Strict)',
  ),
]

interface Resource {
  gvk: {group: string; version: string; kind: string}
  /** Path prefix up to the collection, e.g. `/apis/g/v/namespaces/{namespace}/virtualservices`. */
  collection: string
  schemaName: string
  verbs: {list: boolean; create: boolean; item: ('get' | 'put' | 'patch' | 'delete')[]}
}

function operations(r: Resource): Record<string, unknown> {
  const ref = {$ref: `#/components/schemas/${r.schemaName}`}
  const body = {content: {'application/json': {schema: ref}}, required: true}
  const ok = (code: string) => ({[code]: {description: 'OK', content: {'application/json': {schema: ref}}}})
  const op = (action: string, extra: Record<string, unknown>) => ({
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': r.gvk,
    ...extra,
  })
  const namespaced = r.collection.includes('{namespace}')
  const pathParams = namespaced ? [param('namespace', 'path', 'object name and auth scope')] : []
  const collection: Record<string, unknown> = {parameters: pathParams}
  if (r.verbs.list) collection['get'] = op('list', {responses: ok('200')})
  if (r.verbs.create)
    collection['post'] = op('post', {
      parameters: WRITE_PARAMS,
      requestBody: body,
      responses: {...ok('200'), ...ok('201')},
    })
  const item: Record<string, unknown> = {parameters: [param('name', 'path', 'name of the resource'), ...pathParams]}
  for (const verb of r.verbs.item) {
    if (verb === 'get') item['get'] = op('get', {responses: ok('200')})
    if (verb === 'put') item['put'] = op('put', {parameters: WRITE_PARAMS, requestBody: body, responses: ok('200')})
    if (verb === 'delete') item['delete'] = op('delete', {responses: ok('200')})
    if (verb === 'patch') {
      const types = ['application/json-patch+json', 'application/merge-patch+json']
      item['patch'] = op('patch', {
        parameters: WRITE_PARAMS,
        requestBody: {content: Object.fromEntries(types.map(t => [t, {schema: {type: 'object'}}])), required: true},
        responses: ok('200'),
      })
    }
  }
  return {[r.collection]: collection, [`${r.collection}/{name}`]: item}
}

function document(resources: Resource[], schemas: Record<string, unknown>): unknown {
  return {
    openapi: '3.0.0',
    info: {title: 'Kubernetes', version: 'v1.32.0'},
    paths: Object.assign({}, ...resources.map(operations)) as Record<string, unknown>,
    components: {schemas: {[OBJECT_META]: objectMetaSchema, ...schemas}},
  }
}

/** The group's document: `kinds` from their CRDs, schemas named `io.istio.<networking|security>.<version>.<Kind>`. */
function istioDocument(
  version: string,
  group = ISTIO_GROUP,
  kinds: readonly IstioKind[] = ['VirtualService', 'DestinationRule', 'Gateway'],
): unknown {
  const resources: Resource[] = []
  const schemas: Record<string, unknown> = {}
  for (const kind of kinds) {
    const crd = crdFor(kind)
    const crdSchema = crd.versions.find(v => v.name === version)?.schema.openAPIV3Schema ?? {}
    const schemaName = `io.istio.${group.split('.')[0] ?? ''}.${version}.${kind}`
    const gvk = {group, version, kind}
    const props = (crdSchema['properties'] ?? {}) as Record<string, unknown>
    schemas[schemaName] = {
      ...crdSchema,
      type: 'object',
      'x-kubernetes-group-version-kind': [gvk],
      properties: {
        apiVersion: {type: 'string'},
        kind: {type: 'string'},
        metadata: {allOf: [{$ref: `#/components/schemas/${OBJECT_META}`}]},
        ...props,
      },
    }
    resources.push({
      gvk,
      collection: `/apis/${group}/${version}/namespaces/{namespace}/${crd.plural}`,
      schemaName,
      verbs: {list: true, create: true, item: ['get', 'put', 'patch', 'delete']},
    })
    resources.push({
      gvk,
      collection: `/apis/${group}/${version}/${crd.plural}`,
      schemaName,
      verbs: {list: true, create: false, item: []},
    })
  }
  return document(resources, schemas)
}

function coreDocument(): unknown {
  const gvk = {group: '', version: 'v1', kind: 'Namespace'}
  const loose = {type: 'object', 'x-kubernetes-preserve-unknown-fields': true}
  const schemas = {
    'io.k8s.api.core.v1.Namespace': {
      type: 'object',
      'x-kubernetes-group-version-kind': [gvk],
      properties: {
        apiVersion: {type: 'string'},
        kind: {type: 'string'},
        metadata: {allOf: [{$ref: `#/components/schemas/${OBJECT_META}`}]},
        spec: loose,
        status: loose,
      },
    },
  }
  return document(
    [
      {
        gvk,
        collection: '/api/v1/namespaces',
        schemaName: 'io.k8s.api.core.v1.Namespace',
        verbs: {list: true, create: true, item: ['get', 'patch']},
      },
    ],
    schemas,
  )
}

/** Group-version path (`apis/networking.istio.io/v1`, `api/v1`) → its document, built once. */
const documents = new Map<string, {body: string; hash: string}>()

function documentFor(groupVersion: string): {body: string; hash: string} | undefined {
  let doc = documents.get(groupVersion)
  if (doc !== undefined) return doc
  let value: unknown
  const kubernetes = kubernetesDocument(groupVersion)
  if (kubernetes !== undefined) {
    doc = {body: kubernetes, hash: createHash('sha512').update(kubernetes).digest('hex').slice(0, 128).toUpperCase()}
    documents.set(groupVersion, doc)
    return doc
  }
  if (groupVersion === 'api/v1') value = coreDocument()
  else if (groupVersion.startsWith(`apis/${SECURITY_GROUP}/`)) {
    const version = groupVersion.slice(`apis/${SECURITY_GROUP}/`.length)
    if (!(SECURITY_VERSIONS as readonly string[]).includes(version)) return undefined
    value = istioDocument(version, SECURITY_GROUP, ['PeerAuthentication'])
  } else {
    const version = groupVersion.startsWith(`apis/${ISTIO_GROUP}/`)
      ? groupVersion.slice(`apis/${ISTIO_GROUP}/`.length)
      : ''
    if (!(ISTIO_VERSIONS as readonly string[]).includes(version)) return undefined
    value = istioDocument(version)
  }
  const body = JSON.stringify(value)
  doc = {body, hash: createHash('sha512').update(body).digest('hex').slice(0, 128).toUpperCase()}
  documents.set(groupVersion, doc)
  return doc
}

/** `GET /openapi/v3`: where each group-version's document is. */
export function openApiIndex(): unknown {
  const gvs = [
    ...KUBERNETES_DOCUMENTS,
    ...ISTIO_VERSIONS.map(v => `apis/${ISTIO_GROUP}/${v}`),
    ...SECURITY_VERSIONS.map(v => `apis/${SECURITY_GROUP}/${v}`),
  ]
  return {
    paths: Object.fromEntries(
      gvs.map(gv => [gv, {serverRelativeURL: `/openapi/v3/${gv}?hash=${documentFor(gv)?.hash ?? ''}`}]),
    ),
  }
}

/** `GET /openapi/v3/<group-version>`: the document's JSON text, or undefined. */
export function openApiDocument(groupVersion: string): string | undefined {
  return documentFor(groupVersion)?.body
}
