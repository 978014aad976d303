/**
 * Istio's `samples/bookinfo/networking/bookinfo-gateway.yaml` (1.30.3, verbatim in
 * `packages/sandbox/schema/istio-samples/`, see its SOURCE.md): the Gateway `bookinfo-gateway` (selector
 * `istio: ingressgateway`, HTTP port 8080, hosts `*`) and the VirtualService `bookinfo` bound to it
 * (`/productpage`, `/static`, `/login`, `/logout`, `/api/v1/products` → productpage:9080). The
 * sandbox creates both at start, as the bookinfo task's `kubectl apply -f` does.
 */
import {readFileSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import type {ObjectStore} from './store.js'
import type {ConfigSource, StoredObject} from './types.js'

const SAMPLE = new URL('../schema/istio-samples/bookinfo-gateway.yaml', import.meta.url)

/** The sample's objects, in `namespace`. */
export function bookinfoGatewayObjects(namespace: string): StoredObject[] {
  return parseAllDocuments(readFileSync(SAMPLE, 'utf8')).map(doc => {
    const obj = doc.toJS() as StoredObject
    return {...obj, metadata: {...obj.metadata, namespace}}
  })
}

/**
 * Creates the sample's Gateway and VirtualService in the store, as `kubectl apply -f` does in the
 * bookinfo task, and returns the mesh's config: the store, which serves Gateways to the ingress gateway.
 */
export function withBookinfoGateway(store: ObjectStore, namespace: string): ConfigSource {
  for (const obj of bookinfoGatewayObjects(namespace)) store.create(obj)
  return store
}
