/**
 * Reading the VirtualServices a plan starts from out of manifest files (`kubectl get vs -o yaml`
 * output, or the files someone applied): multi-document YAML and `kind: List` are accepted; other
 * kinds are skipped with a note.
 */
import {readFile} from 'node:fs/promises'

import {parseAllDocuments} from 'yaml'

import {UsageError} from '@faultline/core/errors.js'
import {ISTIO_GROUP, type DestinationRule, type VirtualService} from '@faultline/core/istio/types.js'

/** The VirtualServices found, and what was skipped. */
export interface ExistingObjects {
  virtualServices: VirtualService[]
  /** DestinationRules (what `spec.setup` patches must exist among them, when any are given). */
  destinationRules: DestinationRule[]
  notes: string[]
}

interface KubeObject {
  apiVersion?: unknown
  kind?: unknown
  metadata?: {name?: unknown; namespace?: unknown}
  spec?: unknown
  items?: unknown
}

/** Parses manifest text; `file` names the source in errors and notes. */
export function parseExistingObjects(text: string, file: string): ExistingObjects {
  const out: ExistingObjects = {virtualServices: [], destinationRules: [], notes: []}
  const skipped = new Map<string, number>()
  for (const [index, doc] of parseAllDocuments(text).entries()) {
    const error = doc.errors[0]
    if (error !== undefined) {
      const at = error.linePos?.[0]
      throw new UsageError(
        `${file}${at === undefined ? '' : `:${at.line}:${at.col}`}: not valid YAML: ${error.message.split('\n')[0] ?? ''}`,
        {hint: 'Pass manifests as written for kubectl apply, or the output of kubectl get virtualservices -o yaml.'},
      )
    }
    const value = doc.toJS() as unknown
    if (value === null || value === undefined) continue
    const objects = isList(value) ? (value.items as unknown[]) : [value]
    for (const obj of objects) {
      const kind = describeKind(obj)
      if (kind === 'DestinationRule') {
        out.destinationRules.push(
          checkObject(obj as KubeObject, `${file} (document ${index + 1})`, kind) as unknown as DestinationRule,
        )
        continue
      }
      if (kind !== 'VirtualService') {
        skipped.set(kind, (skipped.get(kind) ?? 0) + 1)
        continue
      }
      out.virtualServices.push(checkVirtualService(obj as KubeObject, `${file} (document ${index + 1})`))
    }
  }
  for (const [kind, n] of skipped)
    out.notes.push(
      `${file}: ignored ${n} ${kind} object${n === 1 ? '' : 's'} (only VirtualServices and DestinationRules matter to a plan)`,
    )
  return out
}

/** Reads and parses every file, in order. */
export async function readExistingObjects(files: readonly string[]): Promise<ExistingObjects> {
  const all: ExistingObjects = {virtualServices: [], destinationRules: [], notes: []}
  for (const file of files) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, {
        hint: 'Check the path given to --existing.',
        cause: e,
      })
    }
    const parsed = parseExistingObjects(text, file)
    all.virtualServices.push(...parsed.virtualServices)
    all.destinationRules.push(...parsed.destinationRules)
    all.notes.push(...parsed.notes)
  }
  return all
}

function isList(value: unknown): value is {items: unknown[]} {
  const v = value as KubeObject
  return typeof v === 'object' && typeof v.kind === 'string' && v.kind.endsWith('List') && Array.isArray(v.items)
}

function describeKind(obj: unknown): string {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return 'non-object'
  const {apiVersion, kind} = obj as KubeObject
  if (
    (kind === 'VirtualService' || kind === 'DestinationRule') &&
    typeof apiVersion === 'string' &&
    apiVersion.startsWith(`${ISTIO_GROUP}/`)
  )
    return kind
  return typeof kind === 'string' ? kind : 'kind-less'
}

function checkVirtualService(obj: KubeObject, where: string): VirtualService {
  return checkObject(obj, where, 'VirtualService') as unknown as VirtualService
}

function checkObject(obj: KubeObject, where: string, kind: string): KubeObject {
  const name = obj.metadata?.name
  if (typeof name !== 'string' || name === '')
    throw new UsageError(`${where}: a ${kind} without metadata.name`, {hint: 'Every object needs a name.'})
  if (typeof obj.spec !== 'object' || obj.spec === null || Array.isArray(obj.spec)) {
    throw new UsageError(`${where}: ${kind} ${name} has no spec mapping`, {
      hint: `Pass complete objects (kubectl get ${kind.toLowerCase()}s -o yaml).`,
    })
  }
  return obj
}
