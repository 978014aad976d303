/**
 * Kubernetes Service objects for the sandbox's services, read-only and built from the topology:
 * what `kubectl get svc` shows and what the runner's preflight reads to check that a fault's host
 * exists. They look like the Services of Istio's samples (bookinfo, httpbin): labelled `app` and
 * `service`, one port named `http` (the name tells Istio the protocol), type ClusterIP.
 */
import {createHash} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {Service, StoredObject, Topology} from '../types.js'
import {sendJson} from './http.js'
import {parseFieldSelector, parseLabelSelector} from './selectors.js'
import {methodNotAllowed, notFound} from './status.js'
import {printerFor, tableVersion, toTable} from './table.js'

function digest(service: Service): Buffer {
  return createHash('sha1').update(`service/${service.namespace}/${service.name}`).digest()
}

/** A stable uid, so repeated reads (and `kubectl get -o yaml` twice) agree. */
function serviceUid(service: Service): string {
  const h = digest(service).toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`
}

/**
 * A stable ClusterIP. Like the pods' IPs it is a loopback address: nothing in the sandbox listens on
 * it (services are reached by name, through the forward proxy), and no sandbox address ever points
 * outside 127.0.0.0/8.
 */
function clusterIp(service: Service): string {
  const d = digest(service)
  return `127.96.${d[0] ?? 0}.${1 + ((d[1] ?? 0) % 254)}`
}

/** The Kubernetes Service object (v1) for a sandbox service; `since` is when the sandbox started. */
export function serviceObject(service: Service, since: string): StoredObject {
  const ip = clusterIp(service)
  // A LoadBalancer Service (the ingress gateway's) as on a cluster without a load-balancer controller
  // (kind): a node port, and no address in its status (kubectl shows EXTERNAL-IP <pending>).
  const lb =
    service.type === 'LoadBalancer' ? {externalTrafficPolicy: 'Cluster', allocateLoadBalancerNodePorts: true} : {}
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: service.name,
      namespace: service.namespace,
      uid: serviceUid(service),
      resourceVersion: '1',
      creationTimestamp: since,
      labels: service.labels ?? {...service.selector, service: service.name},
    },
    spec: {
      type: service.type ?? 'ClusterIP',
      clusterIP: ip,
      clusterIPs: [ip],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      internalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      selector: {...service.selector},
      ...lb,
      ports: [
        {
          name: service.portName ?? 'http',
          port: service.port,
          protocol: 'TCP',
          targetPort: service.targetPort ?? service.port,
          ...(service.nodePort === undefined ? {} : {nodePort: service.nodePort}),
        },
      ],
    },
    status: {loadBalancer: {}},
  }
}

/** Services of one namespace (or all), filtered by label and field selectors, ordered by namespace/name. */
export function listServiceObjects(
  topology: Topology,
  namespace: string | undefined,
  query: URLSearchParams,
  since: string,
): StoredObject[] {
  const byLabel = parseLabelSelector(query.get('labelSelector'))
  const byField = parseFieldSelector(query.get('fieldSelector'))
  return topology
    .services()
    .filter(s => namespace === undefined || s.namespace === namespace)
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
    .map(s => serviceObject(s, since))
    .filter(o => byLabel(o.metadata.labels) && byField(o.metadata))
}

/** `/api/v1/[namespaces/<ns>/]services[/<name>]` (GET only: the sandbox's services are its topology). */
export function handleServices(
  req: IncomingMessage,
  res: ServerResponse,
  query: URLSearchParams,
  topology: Topology,
  since: string,
  namespace: string | undefined,
  name: string | undefined,
): void {
  if ((req.method ?? 'GET') !== 'GET') throw methodNotAllowed(req.method ?? '')
  const table = tableVersion(req)
  if (name === undefined) {
    const items = listServiceObjects(topology, namespace, query, since)
    if (table !== undefined) return sendJson(res, 200, toTable(printerFor('Service', 'v1'), items, table, '1'))
    return sendJson(res, 200, {apiVersion: 'v1', kind: 'ServiceList', metadata: {resourceVersion: '1'}, items})
  }
  const service = topology.services().find(s => s.namespace === namespace && s.name === name)
  if (service === undefined) throw notFound({group: '', resource: 'services'}, name)
  const obj = serviceObject(service, since)
  sendJson(res, 200, table === undefined ? obj : toTable(printerFor('Service', 'v1'), [obj], table, '1'))
}
