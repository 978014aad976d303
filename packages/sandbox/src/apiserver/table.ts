/**
 * Server-side printing (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), which kubectl asks
 * for on every `get`: Istio objects get their CRDs' `additionalPrinterColumns` (so `kubectl get vs`
 * shows GATEWAYS and HOSTS as on a cluster), pods, services and namespaces the columns kube-apiserver prints.
 */
import type {IncomingMessage} from 'node:http'

import {crdFor} from '@faultline/core/istio/crd.js'
import type {StoredKind} from '../store.js'
import type {StoredObject} from '../types.js'

/** One column of a Table. */
interface Column {
  name: string
  type: string
  format: string
  description: string
  priority: number
}

/** A Table answer's version, or undefined when the client did not ask for a Table. */
export function tableVersion(req: IncomingMessage): 'v1' | 'v1beta1' | undefined {
  for (const clause of (req.headers.accept ?? '').split(',')) {
    const params = new Map(
      clause
        .split(';')
        .slice(1)
        .map(p => p.trim().split('=') as [string, string]),
    )
    if (params.get('as') === 'Table' && params.get('g') === 'meta.k8s.io') {
      const v = params.get('v')
      if (v === 'v1' || v === 'v1beta1') return v
    }
  }
  return undefined
}

/** apimachinery's `duration.HumanDuration`: how kubectl shows AGE. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000)
  if (s < -1) return '<invalid>'
  if (s < 0) return '0s'
  if (s < 120) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`
  if (m < 180) return `${m}m`
  const h = Math.floor(m / 60)
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`
  if (h < 48) return `${h}h`
  if (h < 192) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`
  const y = Math.floor(h / 24 / 365)
  if (y < 8) return `${y}y${Math.floor(h / 24) % 365}d`
  return `${y}y`
}

function age(obj: StoredObject, now: number): string {
  const ts = obj.metadata.creationTimestamp
  return ts === undefined ? '<unknown>' : humanDuration(now - Date.parse(ts))
}

/** A simple `.a.b` JSONPath lookup, enough for printer columns. */
function lookup(obj: unknown, jsonPath: string): unknown {
  return jsonPath
    .split('.')
    .filter(p => p !== '')
    .reduce<unknown>(
      (cur, key) => (cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[key] : undefined),
      obj,
    )
}

const NAME: Column = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description: 'Name must be unique within a namespace.',
  priority: 0,
}
const AGE: Column = {
  name: 'Age',
  type: 'string',
  format: '',
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
  priority: 0,
}

interface Printer {
  columns: Column[]
  cells(obj: StoredObject, now: number): unknown[]
}

function crdPrinter(
  kind: 'VirtualService' | 'DestinationRule' | 'Gateway' | 'PeerAuthentication',
  version: string,
): Printer {
  const v = crdFor(kind).versions.find(x => x.name === version) as unknown as
    {additionalPrinterColumns?: {name: string; type: string; jsonPath: string; description?: string}[]} | undefined
  const extra = v?.additionalPrinterColumns ?? []
  return {
    columns: [
      NAME,
      ...extra.map(c => ({name: c.name, type: c.type, format: '', description: c.description ?? '', priority: 0})),
    ],
    cells: (obj, now) => [
      obj.metadata.name,
      ...extra.map(c => {
        const value = lookup(obj, c.jsonPath)
        if (value === undefined || value === null) return null
        if (c.type === 'date') return typeof value === 'string' ? humanDuration(now - Date.parse(value)) : null
        // The CRD table convertor prints string columns with JSONPath: arrays and objects as JSON.
        return c.type === 'string' ? (typeof value === 'string' ? value : JSON.stringify(value)) : value
      }),
    ],
  }
}

const podPrinter: Printer = {
  columns: [
    NAME,
    {
      name: 'Ready',
      type: 'string',
      format: '',
      description: 'The aggregate readiness state of this pod for accepting traffic.',
      priority: 0,
    },
    {
      name: 'Status',
      type: 'string',
      format: '',
      description: 'The aggregate status of the containers in this pod.',
      priority: 0,
    },
    {
      name: 'Restarts',
      type: 'string',
      format: '',
      description: 'The number of times the containers in this pod have been restarted.',
      priority: 0,
    },
    AGE,
    {name: 'IP', type: 'string', format: '', description: 'IP address allocated to the pod.', priority: 1},
    {name: 'Node', type: 'string', format: '', description: 'Name of the Node this pod is running on.', priority: 1},
  ],
  cells: (obj, now) => {
    // kube-apiserver's printPod counts restartable (native sidecar) init containers in READY too.
    const podStatus = obj['status'] as
      {containerStatuses?: {ready: boolean}[]; initContainerStatuses?: {ready: boolean}[]} | undefined
    const statuses = [...(podStatus?.initContainerStatuses ?? []), ...(podStatus?.containerStatuses ?? [])]
    return [
      obj.metadata.name,
      `${statuses.filter(c => c.ready).length}/${statuses.length}`,
      'Running',
      '0',
      age(obj, now),
      '127.0.0.1',
      'sandbox',
    ]
  },
}

const namespacePrinter: Printer = {
  columns: [
    NAME,
    {name: 'Status', type: 'string', format: '', description: 'The status of the namespace', priority: 0},
    AGE,
  ],
  cells: (obj, now) => [
    obj.metadata.name,
    (obj['status'] as {phase?: string} | undefined)?.phase ?? 'Active',
    age(obj, now),
  ],
}

interface ServicePort {
  port: number
  protocol?: string
  nodePort?: number
}

interface ServiceSpec {
  type?: string
  clusterIPs?: string[]
  externalIPs?: string[]
  externalName?: string
  ports?: ServicePort[]
  selector?: Record<string, string>
}

/** kube-apiserver's `printService`: EXTERNAL-IP by type, PORT(S) as `port[:nodePort]/protocol`, SELECTOR (wide). */
const servicePrinter: Printer = {
  columns: [
    NAME,
    {
      name: 'Type',
      type: 'string',
      format: '',
      description: 'type determines how the Service is exposed. Defaults to ClusterIP.',
      priority: 0,
    },
    {
      name: 'Cluster-IP',
      type: 'string',
      format: '',
      description: 'clusterIP is the IP address of the service and is usually assigned randomly.',
      priority: 0,
    },
    {
      name: 'External-IP',
      type: 'string',
      format: '',
      description:
        'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.',
      priority: 0,
    },
    {
      name: 'Port(s)',
      type: 'string',
      format: '',
      description: 'The list of ports that are exposed by this service.',
      priority: 0,
    },
    AGE,
    {
      name: 'Selector',
      type: 'string',
      format: '',
      description: 'Route service traffic to pods with label keys and values matching this selector.',
      priority: 1,
    },
  ],
  cells: (obj, now) => {
    const spec = (obj['spec'] ?? {}) as ServiceSpec
    const type = spec.type ?? 'ClusterIP'
    // kubernetes pkg/printers/internalversion/printers.go getServiceExternalIP: a LoadBalancer shows its status's addresses (and externalIPs), else <pending>.
    const ingress = (
      (obj['status'] as {loadBalancer?: {ingress?: {ip?: string; hostname?: string}[]}} | undefined)?.loadBalancer
        ?.ingress ?? []
    ).map(i => i.ip ?? i.hostname ?? '')
    const external =
      type === 'ExternalName'
        ? (spec.externalName ?? '<none>')
        : type === 'LoadBalancer'
          ? [...ingress, ...(spec.externalIPs ?? [])].filter(a => a !== '').join(',') || '<pending>'
          : (spec.externalIPs ?? []).join(',') || '<none>'
    const ports =
      (spec.ports ?? [])
        .map(p => `${p.port}${p.nodePort === undefined ? '' : `:${p.nodePort}`}/${p.protocol ?? 'TCP'}`)
        .join(',') || '<none>'
    const selector =
      Object.entries(spec.selector ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '<none>'
    return [obj.metadata.name, type, spec.clusterIPs?.[0] ?? '<none>', external, ports, age(obj, now), selector]
  },
}

/** The printer for a kind in a version. */
export function printerFor(kind: StoredKind | 'Pod' | 'Service', version: string): Printer {
  if (kind === 'Pod') return podPrinter
  if (kind === 'Service') return servicePrinter
  if (kind === 'Namespace') return namespacePrinter
  return crdPrinter(kind, version)
}

/** Objects as a `meta.k8s.io` Table; rows carry PartialObjectMetadata, as with the default `includeObject=Metadata`. */
export function toTable(
  printer: Printer,
  objects: StoredObject[],
  tableApiVersion: 'v1' | 'v1beta1',
  resourceVersion: string | undefined,
  withHeaders = true,
): unknown {
  const now = Date.now()
  const apiVersion = `meta.k8s.io/${tableApiVersion}`
  return {
    kind: 'Table',
    apiVersion,
    metadata: resourceVersion === undefined ? {} : {resourceVersion},
    ...(withHeaders ? {columnDefinitions: printer.columns} : {}),
    rows: objects.map(o => ({
      cells: printer.cells(o, now),
      object: {kind: 'PartialObjectMetadata', apiVersion, metadata: o.metadata},
    })),
  }
}
