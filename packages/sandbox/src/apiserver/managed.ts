/**
 * `metadata.managedFields` and server-side apply, as kube-apiserver keeps them (structured-merge-diff),
 * at the granularity the sandbox needs: every write records which manager (`?fieldManager=`, else the
 * client's User-Agent up to its first `/`) set which fields — `operation: Update` for create, update
 * and patch, `operation: Apply` for `application/apply-patch+yaml` — and an apply that would change
 * a field another manager owns is refused with 409 and kube-apiserver's message unless `force=true`.
 *
 * Simplifications: every list is atomic (owned and replaced whole; Kubernetes merges associative
 * lists such as `containers` by key, Istio's CRD lists are atomic as here), and status is not tracked.
 */
import type {IncomingMessage} from 'node:http'

import {parse as parseYaml} from 'yaml'

import type {StoredObject} from '../types.js'
import {ApiError} from './status.js'

/** One `metadata.managedFields` entry. */
export interface ManagedFieldsEntry {
  manager: string
  operation: 'Apply' | 'Update'
  apiVersion: string
  time?: string
  fieldsType: 'FieldsV1'
  fieldsV1: Record<string, unknown>
  subresource?: string
}

/** Top-level and metadata fields the server owns, never in a field set. */
const SERVER_METADATA = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  'generateName',
])

const CLIENT_SIDE_APPLY = 'kubectl-client-side-apply'
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration'

type Path = string[]
const keyOf = (p: Path) => JSON.stringify(p)
const pathOf = (k: string) => JSON.parse(k) as Path

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** The leaf fields an object sets (maps are walked, lists and scalars are leaves). */
export function leafPaths(obj: unknown): Set<string> {
  const out = new Set<string>()
  const walk = (v: unknown, at: Path) => {
    if (isMap(v) && Object.keys(v).length > 0) {
      for (const [k, child] of Object.entries(v)) {
        if (at.length === 0 && (k === 'apiVersion' || k === 'kind' || k === 'status')) continue
        if (at.length === 1 && at[0] === 'metadata' && SERVER_METADATA.has(k)) continue
        walk(child, [...at, k])
      }
      return
    }
    if (at.length > 0 && v !== undefined) out.add(keyOf(at))
  }
  walk(obj, [])
  return out
}

function valueAt(obj: unknown, p: Path): unknown {
  let v = obj
  for (const k of p) {
    if (!isMap(v)) return undefined
    v = v[k]
  }
  return v
}

function deleteAt(obj: Record<string, unknown>, p: Path): void {
  const parents: Record<string, unknown>[] = []
  let v: unknown = obj
  for (const k of p.slice(0, -1)) {
    if (!isMap(v)) return
    parents.push(v)
    v = v[k]
  }
  if (!isMap(v)) return
  delete v[p[p.length - 1] ?? '']
  // Maps left empty by the removal go too, as structured-merge-diff prunes them.
  for (let i = parents.length - 1; i >= 0; i--) {
    const child = parents[i]?.[p[i] ?? '']
    if (isMap(child) && Object.keys(child).length === 0 && !(i === 0 && p[0] === 'metadata'))
      delete parents[i]?.[p[i] ?? '']
  }
}

/** The leaf paths a `fieldsV1` lists (`f:` names; `k:`/`v:` items and `.` are taken whole). */
export function parseFieldsV1(f: unknown, at: Path = []): Set<string> {
  const out = new Set<string>()
  if (!isMap(f)) return out
  const keys = Object.keys(f).filter(k => k !== '.')
  if (keys.length === 0 && at.length > 0) out.add(keyOf(at))
  for (const k of keys) {
    if (!k.startsWith('f:')) {
      if (at.length > 0) out.add(keyOf(at))
      continue
    }
    for (const p of parseFieldsV1(f[k], [...at, k.slice(2)])) out.add(p)
  }
  return out
}

/** `fieldsV1` for a set of leaf paths; `Update` entries mark the maps they set with `.` as kube-apiserver does. */
export function renderFieldsV1(paths: Iterable<string>, operation: 'Apply' | 'Update'): Record<string, unknown> {
  const root: Record<string, unknown> = {}
  for (const k of [...paths].sort()) {
    let node = root
    const p = pathOf(k)
    p.forEach((seg, i) => {
      const name = `f:${seg}`
      const last = i === p.length - 1
      const child = (node[name] ?? {}) as Record<string, unknown>
      if (!last && operation === 'Update' && !(i === 0 && seg === 'metadata')) child['.'] = {}
      node[name] = child
      node = child
    })
  }
  return root
}

function timestamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The field manager of a write: `?fieldManager=`, else the User-Agent's first word, as kube-apiserver derives it. */
export function fieldManagerOf(query: URLSearchParams, req: IncomingMessage, apply: boolean): string {
  const given = query.get('fieldManager')
  if (given !== null && given !== '') {
    if (given.length > 128)
      throw new ApiError(
        422,
        'Invalid',
        `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Too long: may not be more than 128 bytes`,
      )
    return given
  }
  if (apply) {
    throw new ApiError(
      422,
      'Invalid',
      'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      {
        group: 'meta.k8s.io',
        kind: 'PatchOptions',
        causes: [
          {reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager'},
        ],
      },
    )
  }
  const agent = String(req.headers['user-agent'] ?? '')
  const prefix = agent.split('/')[0]?.trim() ?? ''
  return prefix === '' ? 'unknown' : prefix.slice(0, 128)
}

function entriesOf(obj: StoredObject | undefined): ManagedFieldsEntry[] {
  const raw = obj?.metadata.managedFields
  return Array.isArray(raw) ? structuredClone(raw as ManagedFieldsEntry[]) : []
}

function finish(entries: {entry: ManagedFieldsEntry; set: Set<string>}[], object: StoredObject): ManagedFieldsEntry[] {
  const present = leafPaths(object)
  return entries
    .map(({entry, set}) => ({entry, set: new Set([...set].filter(p => present.has(p)))}))
    .filter(({set}) => set.size > 0)
    .map(({entry, set}) => ({
      ...entry,
      fieldsType: 'FieldsV1' as const,
      fieldsV1: renderFieldsV1(set, entry.operation),
    }))
}

/**
 * The managedFields after a create/update/patch by `manager`: the fields whose value it changed are
 * now its own (taken from whoever owned them). A body that carries its own `managedFields` replaces
 * the recorded ones first, as on a real server.
 */
export function recordUpdate(
  current: StoredObject | undefined,
  next: StoredObject,
  manager: string,
  apiVersion: string,
  now = new Date(),
): ManagedFieldsEntry[] {
  const base = next.metadata.managedFields === undefined ? entriesOf(current) : entriesOf(next)
  const before = current === undefined ? new Set<string>() : leafPaths(current)
  const changed = [...leafPaths(next)].filter(
    p => !before.has(p) || JSON.stringify(valueAt(current, pathOf(p))) !== JSON.stringify(valueAt(next, pathOf(p))),
  )
  const entries = base.map(entry => ({entry, set: parseFieldsV1(entry.fieldsV1)}))
  for (const e of entries) for (const p of changed) e.set.delete(p)
  if (changed.length > 0) {
    let mine = entries.find(
      e =>
        e.entry.manager === manager &&
        e.entry.operation === 'Update' &&
        e.entry.apiVersion === apiVersion &&
        e.entry.subresource === undefined,
    )
    if (mine === undefined) {
      mine = {entry: {manager, operation: 'Update', apiVersion, fieldsType: 'FieldsV1', fieldsV1: {}}, set: new Set()}
      entries.push(mine)
    }
    for (const p of changed) mine.set.add(p)
    mine.entry.time = timestamp(now)
  }
  return finish(entries, next)
}

function printManager(e: ManagedFieldsEntry): string {
  const name =
    JSON.stringify(e.manager) +
    (e.subresource === undefined ? '' : ` with subresource ${JSON.stringify(e.subresource)}`)
  if (e.operation !== 'Update') return name
  return e.time === undefined ? `${name} using ${e.apiVersion}` : `${name} using ${e.apiVersion} at ${e.time}`
}

function pathText(p: string): string {
  return pathOf(p)
    .map(s => `.${s}`)
    .join('')
}

/** kube-apiserver's 409 for apply conflicts (`Apply failed with N conflicts: …`, one cause per field). */
export function conflictError(conflicts: {entry: ManagedFieldsEntry; path: string}[]): ApiError {
  let text: string
  if (conflicts.length === 1 && conflicts[0] !== undefined)
    text = `conflict with ${printManager(conflicts[0].entry)}: ${pathText(conflicts[0].path)}`
  else {
    const byManager = new Map<string, string[]>()
    for (const c of conflicts)
      byManager.set(printManager(c.entry), [...(byManager.get(printManager(c.entry)) ?? []), pathText(c.path)])
    text = [...byManager.keys()]
      .sort()
      .flatMap(m => [`conflicts with ${m}:`, ...(byManager.get(m) ?? []).map(p => `- ${p}`)])
      .join('\n')
  }
  const n = conflicts.length
  return new ApiError(409, 'Conflict', `Apply failed with ${n} conflict${n === 1 ? '' : 's'}: ${text}`, {
    causes: conflicts.map(c => ({
      reason: 'FieldManagerConflict',
      message: `conflict with ${printManager(c.entry)}`,
      field: pathText(c.path),
    })),
  })
}

function merge(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return structuredClone(over)
  const out: Record<string, unknown> = structuredClone(base)
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : structuredClone(v)
  return out
}

/** Parses an apply body (`application/apply-patch+yaml`: YAML or JSON) into an object. */
export function parseApplyBody(body: Buffer): Record<string, unknown> {
  let value: unknown
  try {
    value = parseYaml(body.toString('utf8'))
  } catch (err) {
    throw new ApiError(400, 'BadRequest', `error decoding YAML: ${(err as Error).message}`)
  }
  if (!isMap(value))
    throw new ApiError(400, 'BadRequest', "couldn't get version/kind; json parse error: the body is not an object")
  return value
}

/**
 * Server-side apply of `applied` by `manager` over `current` (undefined: the object is created):
 * the merged object and its managedFields. Fields `manager` applied before and no longer applies are
 * removed unless someone else owns them; a field another manager owns whose value would change is a
 * conflict (409) unless `force`, which takes it over.
 */
export function serverSideApply(
  current: StoredObject | undefined,
  applied: Record<string, unknown>,
  manager: string,
  force: boolean,
  apiVersion: string,
  now = new Date(),
): StoredObject {
  const entries = entriesOf(current).map(entry => ({entry, set: parseFieldsV1(entry.fieldsV1)}))
  const appliedPaths = leafPaths(applied)
  const isMine = (e: ManagedFieldsEntry) =>
    e.manager === manager && e.operation === 'Apply' && e.subresource === undefined
  const conflicts: {entry: ManagedFieldsEntry; path: string}[] = []
  for (const {entry, set} of entries) {
    if (isMine(entry)) continue
    for (const p of appliedPaths) {
      if (set.has(p) && JSON.stringify(valueAt(current, pathOf(p))) !== JSON.stringify(valueAt(applied, pathOf(p))))
        conflicts.push({entry, path: p})
    }
  }
  // kube-apiserver's lastAppliedManager: conflicts only with client-side apply's manager, on an object
  // that carries its last-applied annotation, are the CSA → SSA upgrade and are taken over.
  const upgrade =
    conflicts.length > 0 &&
    conflicts.every(c => c.entry.manager === CLIENT_SIDE_APPLY) &&
    current?.metadata.annotations?.[LAST_APPLIED] !== undefined
  if (conflicts.length > 0 && !force && !upgrade) throw conflictError(conflicts)
  for (const c of conflicts) entries.find(e => e.entry === c.entry)?.set.delete(c.path)
  const merged = merge(current === undefined ? {} : current, applied) as StoredObject
  const previous = entries.find(e => isMine(e.entry))?.set ?? new Set<string>()
  for (const p of previous) {
    if (appliedPaths.has(p)) continue
    if (entries.some(e => !isMine(e.entry) && e.set.has(p))) continue
    deleteAt(merged as unknown as Record<string, unknown>, pathOf(p))
  }
  const others = entries.filter(e => !isMine(e.entry))
  const mine = {
    entry: {
      manager,
      operation: 'Apply' as const,
      apiVersion,
      time: timestamp(now),
      fieldsType: 'FieldsV1' as const,
      fieldsV1: {},
    },
    set: appliedPaths,
  }
  const at = entries.findIndex(e => isMine(e.entry))
  const ordered =
    at < 0 ? [...others, mine] : [...entries.slice(0, at).filter(e => !isMine(e.entry)), mine, ...entries.slice(at + 1)]
  merged.metadata = {...merged.metadata}
  merged.metadata.managedFields = finish(ordered, merged)
  return merged
}
