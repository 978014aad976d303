/**
 * Istio's `samples/bookinfo/networking/bookinfo-gateway.yaml` (1.30.3, verbatim in
 * `schema/istio-samples/`, see its SOURCE.md): the Gateway `bookinfo-gateway` (selector
 * `istio: ingressgateway`, HTTP port 8080, hosts `*`) and the VirtualService `bookinfo` bound to it
 * (`/productpage`, `/static`, `/login`, `/logout`, `/api/v1/products` → productpage:9080). The
 * sandbox creates both at start, as the bookinfo task's `kubectl apply -f` does.
 */
import {readFileSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import type {GatewayObject} from './mesh/gateway-config.js'
import type {ObjectStore} from './store.js'
import type {ConfigSource, StoredObject} from './types.js'

const SAMPLE = new URL('../../schema/istio-samples/bookinfo-gateway.yaml', import.meta.url)

/** The sample's objects, in `namespace`. */
export function bookinfoGatewayObjects(namespace: string): StoredObject[] {
  return parseAllDocuments(readFileSync(SAMPLE, 'utf8')).map(doc => {
    const obj = doc.toJS() as StoredObject
    return {...obj, metadata: {...obj.metadata, namespace}}
  })
}

/**
 * Creates the sample's VirtualService `bookinfo` in the store and returns the mesh's config: the
 * store's objects plus the sample's Gateway. The API server does not serve Gateways yet, so the
 * Gateway is fixed for the sandbox's life (src/sandbox/mesh/README.md, differences).
 */
export function withBookinfoGateway(store: ObjectStore, namespace: string): ConfigSource {
  const objects = bookinfoGatewayObjects(namespace)
  for (const obj of objects.filter(o => o.kind === 'VirtualService')) store.create(obj)
  const gateways = objects.filter(o => o.kind === 'Gateway') as unknown as GatewayObject[]
  return {
    virtualServices: () => store.virtualServices(),
    destinationRules: () => store.destinationRules(),
    gateways: () => gateways,
    subscribe: listener => store.subscribe(listener),
  }
}
