/**
 * The two patch formats a kube-apiserver accepts for custom resources: JSON merge patch (RFC 7386,
 * what `kubectl apply` sends for CRDs) and JSON patch (RFC 6902, what client-node 1.x sends by
 * default). Pure functions over JSON values; failures are `PatchError`s the server answers with 422.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | {[key: string]: Json}

/** A patch that cannot be applied (bad operation, missing path, failed `test`). */
export class PatchError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'PatchError'
  }
}

function isObject(v: unknown): v is {[key: string]: Json} {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** RFC 7386: objects merge recursively, `null` removes a key, anything else (arrays too) replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch)
  const result: {[key: string]: Json} = isObject(target) ? {...target} : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete result[k]
    else result[k] = mergePatch(result[k], v)
  }
  return result
}

/** One RFC 6902 operation. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test'
  path: string
  from?: string
  value?: Json
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return []
  if (!pointer.startsWith('/'))
    throw new PatchError(`invalid JSON pointer ${JSON.stringify(pointer)}: must start with "/"`)
  return pointer
    .slice(1)
    .split('/')
    .map(t => t.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function arrayIndex(arr: Json[], token: string, forAdd: boolean, pointer: string): number {
  if (forAdd && token === '-') return arr.length
  if (!/^(0|[1-9][0-9]*)$/.test(token))
    throw new PatchError(`invalid array index ${JSON.stringify(token)} in ${pointer}`)
  const i = Number(token)
  if (i > arr.length || (!forAdd && i === arr.length))
    throw new PatchError(`array index ${i} out of bounds in ${pointer}`)
  return i
}

/** The container holding the pointer's last token, and that token. */
function parentOf(doc: Json, pointer: string): {parent: Json; token: string} {
  const tokens = parsePointer(pointer)
  const token = tokens.pop()
  if (token === undefined) throw new PatchError('the root cannot be the parent of anything')
  let cur: Json = doc
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[arrayIndex(cur, t, false, pointer)] as Json
    else if (isObject(cur) && t in cur) cur = cur[t] as Json
    else throw new PatchError(`doc is missing path: ${JSON.stringify(pointer)}`)
  }
  return {parent: cur, token}
}

function getAt(doc: Json, pointer: string): Json {
  if (pointer === '') return doc
  const {parent, token} = parentOf(doc, pointer)
  if (Array.isArray(parent)) return parent[arrayIndex(parent, token, false, pointer)] as Json
  if (isObject(parent) && token in parent) return parent[token] as Json
  throw new PatchError(`doc is missing path: ${JSON.stringify(pointer)}`)
}

function add(doc: Json, pointer: string, value: Json): Json {
  if (pointer === '') return value
  const {parent, token} = parentOf(doc, pointer)
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, token, true, pointer), 0, value)
  else if (isObject(parent)) parent[token] = value
  else throw new PatchError(`doc is missing path: ${JSON.stringify(pointer)}`)
  return doc
}

function remove(doc: Json, pointer: string): Json {
  const {parent, token} = parentOf(doc, pointer)
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, token, false, pointer), 1)
  else if (isObject(parent) && token in parent) delete parent[token]
  else throw new PatchError(`unable to remove nonexistent key: ${token}: missing value`)
  return doc
}

/** RFC 6902, applied to a copy; any failing operation fails the whole patch. */
export function jsonPatch(target: Json, operations: unknown): Json {
  if (!Array.isArray(operations)) throw new PatchError('a JSON patch must be an array of operations')
  let doc = structuredClone(target)
  for (const raw of operations as unknown[]) {
    if (!isObject(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string')
      throw new PatchError(`invalid operation ${JSON.stringify(raw)}: needs "op" and "path"`)
    const {op, path} = raw
    const needsValue = op === 'add' || op === 'replace' || op === 'test'
    if (needsValue && !('value' in raw)) throw new PatchError(`${op} operation does not apply: doc is missing "value"`)
    const from = typeof raw['from'] === 'string' ? raw['from'] : undefined
    if ((op === 'move' || op === 'copy') && from === undefined)
      throw new PatchError(`${op} operation does not apply: missing "from"`)
    switch (op) {
      case 'add':
        doc = add(doc, path, structuredClone(raw['value'] as Json))
        break
      case 'remove':
        doc = remove(doc, path)
        break
      case 'replace':
        getAt(doc, path)
        doc = add(path === '' ? doc : remove(doc, path), path, structuredClone(raw['value'] as Json))
        break
      case 'move': {
        const value = getAt(doc, from as string)
        if (path.startsWith(`${from as string}/`))
          throw new PatchError(`cannot move ${from as string} into its own child ${path}`)
        doc = add(remove(doc, from as string), path, value)
        break
      }
      case 'copy':
        doc = add(doc, path, structuredClone(getAt(doc, from as string)))
        break
      case 'test':
        if (JSON.stringify(canonical(getAt(doc, path))) !== JSON.stringify(canonical(raw['value'] as Json)))
          throw new PatchError(`testing value ${path} failed: test failed`)
        break
      default:
        throw new PatchError(`Unexpected kind: ${op}`)
    }
  }
  return doc
}

/** Sorts object keys so that equal JSON values stringify equally. */
function canonical(v: Json): Json {
  if (Array.isArray(v)) return v.map(canonical)
  if (isObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map(k => [k, canonical(v[k] as Json)]),
    )
  return v
}
