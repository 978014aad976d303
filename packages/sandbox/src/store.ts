/**
 * The sandbox API server's object store: namespaces, networking.istio.io VirtualServices and
 * DestinationRules and security.istio.io PeerAuthentications, with the bookkeeping etcd and the
 * generic registry give a real cluster — one monotonically increasing resourceVersion, uid,
 * generation, creationTimestamp, optimistic concurrency and a replayable event log for watches. Istio objects are kept in their storage
 * version (v1) and converted on the way out (`servedAs`), as a CRD with several served versions is.
 */
import {randomUUID} from 'node:crypto'

import {type PeerAuthentication, SECURITY_GROUP} from '@faultline/core/istio/peer-authentication.js'
import {ISTIO_GROUP, type DestinationRule, type VirtualService} from '@faultline/core/istio/types.js'
import {ApiError, alreadyExists, conflict, invalid, notFound, type GroupResource} from './apiserver/status.js'
import type {ConfigSource, GatewayObject, StoreEvent, StoredObject} from './types.js'

/** The kinds the store keeps. */
export type StoredKind = 'Namespace' | 'VirtualService' | 'DestinationRule' | 'Gateway' | 'PeerAuthentication'

/** How each kind is named in URLs and error messages. */
export const RESOURCES: Record<StoredKind, GroupResource & {namespaced: boolean}> = {
  Namespace: {group: '', resource: 'namespaces', namespaced: false},
  VirtualService: {group: ISTIO_GROUP, resource: 'virtualservices', namespaced: true},
  DestinationRule: {group: ISTIO_GROUP, resource: 'destinationrules', namespaced: true},
  Gateway: {group: ISTIO_GROUP, resource: 'gateways', namespaced: true},
  PeerAuthentication: {group: SECURITY_GROUP, resource: 'peerauthentications', namespaced: true},
}

/** The version Istio objects are stored in (the CRDs' `storage: true` version: v1 in both groups). */
const storageApiVersion = (kind: StoredKind) => `${RESOURCES[kind].group}/v1`
/** How many past events a watch can resume from before it gets 410 Gone. */
const EVENT_HISTORY = 1000
/** Namespaces every cluster starts with. */
const INITIAL_NAMESPACES = ['default', 'kube-system', 'istio-system', 'kube-public']

/** Options of a write: `dryRun` validates and returns the result without storing it. */
export interface WriteOptions {
  dryRun?: boolean
  /** Validation and admission, run on the object about to be stored, after the store's own preconditions. */
  admit?: (candidate: StoredObject) => void
}

/** Delete preconditions (`DeleteOptions.preconditions`). */
export interface Preconditions {
  uid?: string
  resourceVersion?: string
}

interface LoggedEvent {
  rv: number
  kind: StoredKind
  event: StoreEvent
  /** The object before a MODIFIED or DELETED write: a selector-filtered watch needs both sides. */
  previous: StoredObject | undefined
}

/** An event as a watch receives it: the change and the object as it was before. */
export interface WatchEvent {
  event: StoreEvent
  previous: StoredObject | undefined
}

/** Which objects a watch wants. */
export interface WatchFilter {
  kind: StoredKind
  namespace?: string
}

/** A started watch: the events to send first (replay or synthetic ADDED), then live ones via the listener. */
export interface StoreWatch {
  initial: WatchEvent[]
  stop(): void
}

/** The object with its `apiVersion` rewritten to the version it is served in. */
export function servedAs<T extends StoredObject>(obj: T, apiVersion: string): T {
  return {...obj, apiVersion}
}

function key(kind: StoredKind, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ''}/${name}`
}

function timestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** Structural equality of JSON values (key order ignored), for no-op detection and generation bumps. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]))
  const ak = Object.keys(a).filter(k => (a as Record<string, unknown>)[k] !== undefined)
  const bk = Object.keys(b).filter(k => (b as Record<string, unknown>)[k] !== undefined)
  return (
    ak.length === bk.length &&
    ak.every(k => jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
  )
}

/** The sandbox's etcd + registry. Reads return copies; writes notify subscribers synchronously. */
export class ObjectStore implements ConfigSource {
  private readonly objects = new Map<string, StoredObject>()
  private readonly log: LoggedEvent[] = []
  private readonly istioListeners = new Set<(event: StoreEvent) => void>()
  private readonly watchers = new Set<{filter: WatchFilter; listener: (event: WatchEvent) => void}>()
  private rv = 0
  private readonly now: () => Date

  constructor(options: {now?: () => Date} = {}) {
    this.now = options.now ?? (() => new Date())
    for (const name of INITIAL_NAMESPACES) this.create({apiVersion: 'v1', kind: 'Namespace', metadata: {name}})
  }

  /** The store's current resourceVersion (what a list reports). */
  resourceVersion(): string {
    return String(this.rv)
  }

  /** Every VirtualService, all namespaces, in storage version. */
  virtualServices(): VirtualService[] {
    return this.list('VirtualService') as unknown as VirtualService[]
  }

  /** Every DestinationRule, all namespaces, in storage version. */
  destinationRules(): DestinationRule[] {
    return this.list('DestinationRule') as unknown as DestinationRule[]
  }

  /** Every Gateway, all namespaces, in storage version (the servers the ingress gateway's routes are built from). */
  gateways(): GatewayObject[] {
    return this.list('Gateway') as unknown as GatewayObject[]
  }

  /** Every PeerAuthentication, all namespaces, in storage version (what the inbound sidecars enforce). */
  peerAuthentications(): PeerAuthentication[] {
    return this.list('PeerAuthentication') as unknown as PeerAuthentication[]
  }

  /** Istio object changes, delivered synchronously after each write. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.istioListeners.add(listener)
    return () => this.istioListeners.delete(listener)
  }

  /** Objects of a kind, in one namespace or all, ordered by namespace then name (as etcd keys sort). */
  list(kind: StoredKind, namespace?: string): StoredObject[] {
    const prefix = namespace === undefined ? `${kind}/` : `${kind}/${namespace}/`
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => structuredClone(o))
  }

  /** One object, or undefined. */
  get(kind: StoredKind, namespace: string | undefined, name: string): StoredObject | undefined {
    const o = this.objects.get(key(kind, namespace, name))
    return o === undefined ? undefined : structuredClone(o)
  }

  /** Creates an object (fills uid, resourceVersion, generation, creationTimestamp). */
  create(input: StoredObject, options: WriteOptions = {}): StoredObject {
    const kind = input.kind as StoredKind
    const res = RESOURCES[kind]
    const {name} = input.metadata
    const namespace = res.namespaced ? (input.metadata.namespace ?? 'default') : undefined
    if (namespace !== undefined && !this.objects.has(key('Namespace', undefined, namespace)))
      throw notFound(RESOURCES.Namespace, namespace)
    options.admit?.(structuredClone(input))
    if (this.objects.has(key(kind, namespace, name))) throw alreadyExists(res, name)
    const obj = structuredClone(input)
    if (kind !== 'Namespace') {
      obj.apiVersion = storageApiVersion(kind)
      delete obj['status'] // status is a subresource: create ignores it
    } else {
      obj['spec'] = {finalizers: ['kubernetes']}
      obj['status'] = {phase: 'Active'}
      obj.metadata.labels = {...obj.metadata.labels, 'kubernetes.io/metadata.name': name}
    }
    const {resourceVersion: _rv, uid: _uid, generation: _gen, creationTimestamp: _ts, ...meta} = obj.metadata
    obj.metadata = {
      ...meta,
      name,
      ...(namespace === undefined ? {} : {namespace}),
      uid: randomUUID(),
      creationTimestamp: timestamp(this.now()),
    }
    if (kind !== 'Namespace') obj.metadata.generation = 1
    if (options.dryRun === true) return {...obj, metadata: {...obj.metadata}}
    return this.commit(kind, 'ADDED', obj)
  }

  /** Replaces an object; `metadata.resourceVersion` must match the stored one (optimistic concurrency). */
  update(input: StoredObject, options: WriteOptions = {}): StoredObject {
    const kind = input.kind as StoredKind
    const res = RESOURCES[kind]
    const {name} = input.metadata
    const namespace = res.namespaced ? (input.metadata.namespace ?? 'default') : undefined
    const current = this.objects.get(key(kind, namespace, name))
    if (current === undefined) throw notFound(res, name)
    const rv = input.metadata.resourceVersion
    if (rv === undefined || rv === '') {
      throw invalid({group: res.group, kind}, name, [
        {field: 'metadata.resourceVersion', detail: 'Invalid value: 0x0: must be specified for an update'},
      ])
    }
    if (rv !== current.metadata.resourceVersion) throw conflict(res, name)
    const obj = structuredClone(input)
    if (kind !== 'Namespace') obj.apiVersion = storageApiVersion(kind)
    for (const f of ['status', ...(kind === 'Namespace' ? ['spec'] : [])]) {
      if (current[f] === undefined) delete obj[f]
      else obj[f] = structuredClone(current[f])
    }
    const {uid, creationTimestamp} = current.metadata
    obj.metadata = {
      ...obj.metadata,
      name,
      ...(namespace === undefined ? {} : {namespace}),
      ...(uid === undefined ? {} : {uid}),
      ...(creationTimestamp === undefined ? {} : {creationTimestamp}),
    }
    if (kind !== 'Namespace') {
      const generation = current.metadata.generation ?? 1
      obj.metadata.generation = jsonEqual(obj['spec'], current['spec']) ? generation : generation + 1
    }
    options.admit?.(structuredClone(obj))
    // A write that changes nothing is not a write: no new resourceVersion, no event (as etcd3's GuaranteedUpdate).
    if (jsonEqual(obj, current)) return structuredClone(current)
    if (options.dryRun === true) return obj
    return this.commit(kind, 'MODIFIED', obj, current)
  }

  /** Deletes an object and returns it as it was, with the deletion's resourceVersion. */
  delete(
    kind: StoredKind,
    namespace: string | undefined,
    name: string,
    options: WriteOptions & {preconditions?: Preconditions} = {},
  ): StoredObject {
    const res = RESOURCES[kind]
    const k = key(kind, res.namespaced ? namespace : undefined, name)
    const current = this.objects.get(k)
    if (current === undefined) throw notFound(res, name)
    const pre = options.preconditions
    if (pre?.uid !== undefined && pre.uid !== current.metadata.uid) {
      throw conflict(
        res,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${current.metadata.uid ?? ''}`,
      )
    }
    if (pre?.resourceVersion !== undefined && pre.resourceVersion !== current.metadata.resourceVersion) {
      throw conflict(
        res,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion ?? ''}`,
      )
    }
    if (options.dryRun === true) return structuredClone(current)
    this.objects.delete(k)
    return this.commit(kind, 'DELETED', structuredClone(current), current)
  }

  /**
   * Starts a watch. Without `fromResourceVersion` (or with "0") the current objects come first as
   * synthetic ADDED events; with one, the logged events after it are replayed, or 410 Gone when the
   * log no longer reaches back that far.
   */
  watch(
    filter: WatchFilter,
    fromResourceVersion: string | undefined,
    listener: (event: WatchEvent) => void,
  ): StoreWatch {
    let initial: WatchEvent[]
    if (fromResourceVersion === undefined || fromResourceVersion === '' || fromResourceVersion === '0') {
      initial = this.list(filter.kind, filter.namespace).map(object => ({
        event: {type: 'ADDED', object},
        previous: undefined,
      }))
    } else {
      const from = Number(fromResourceVersion)
      if (!Number.isInteger(from) || from < 0)
        throw new ApiError(400, 'BadRequest', `invalid resource version: ${fromResourceVersion}`)
      const oldest = this.log[0]?.rv ?? this.rv + 1
      if (from < oldest - 1) throw new ApiError(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`)
      initial = this.log
        .filter(e => e.rv > from && matches(filter, e))
        .map(e => structuredClone({event: e.event, previous: e.previous}))
    }
    const watcher = {filter, listener}
    this.watchers.add(watcher)
    return {initial, stop: () => this.watchers.delete(watcher)}
  }

  private commit(kind: StoredKind, type: StoreEvent['type'], obj: StoredObject, previous?: StoredObject): StoredObject {
    this.rv += 1
    obj.metadata.resourceVersion = String(this.rv)
    if (type !== 'DELETED') this.objects.set(key(kind, obj.metadata.namespace, obj.metadata.name), obj)
    const logged: LoggedEvent = {rv: this.rv, kind, event: {type, object: obj}, previous}
    this.log.push(logged)
    if (this.log.length > EVENT_HISTORY) this.log.shift()
    for (const w of [...this.watchers])
      if (matches(w.filter, logged)) w.listener(structuredClone({event: logged.event, previous}))
    if (kind !== 'Namespace') for (const l of [...this.istioListeners]) l(structuredClone(logged.event))
    return structuredClone(obj)
  }
}

function matches(filter: WatchFilter, e: LoggedEvent): boolean {
  return (
    e.kind === filter.kind && (filter.namespace === undefined || e.event.object.metadata.namespace === filter.namespace)
  )
}
