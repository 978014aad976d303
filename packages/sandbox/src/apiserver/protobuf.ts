/**
 * Just enough of Kubernetes' protobuf encoding to read the built-in objects kubectl writes to the
 * sandbox (a SelfSubjectAccessReview for `auth can-i`, a Namespace for `create namespace`): kubectl
 * sends built-in types as `application/vnd.kubernetes.protobuf` (`k8s\0` + a `runtime.Unknown`
 * envelope) and does not fall back to JSON on 415.
 */
import {badRequest} from './status.js'

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])

/** Length-delimited fields of a protobuf message, by field number (varints and fixed types skipped). */
function fields(buf: Buffer): Map<number, Buffer[]> {
  const out = new Map<number, Buffer[]>()
  let i = 0
  const varint = (): number => {
    let result = 0
    for (let shift = 0; ; shift += 7) {
      if (i >= buf.length) throw badRequest('truncated protobuf varint')
      const b = buf[i++] ?? 0
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
    }
  }
  while (i < buf.length) {
    const tag = varint()
    const wire = tag & 7
    if (wire === 0) varint()
    else if (wire === 1) i += 8
    else if (wire === 5) i += 4
    else if (wire === 2) {
      const n = varint()
      if (i + n > buf.length) throw badRequest('truncated protobuf field')
      const list = out.get(Math.floor(tag / 8)) ?? []
      list.push(buf.subarray(i, i + n))
      out.set(Math.floor(tag / 8), list)
      i += n
    } else throw badRequest(`unsupported protobuf wire type ${wire}`)
  }
  return out
}

function strings(msg: Buffer, names: Record<number, string>): Record<string, string> {
  const f = fields(msg)
  const out: Record<string, string> = {}
  for (const [n, name] of Object.entries(names)) {
    const v = f.get(Number(n))?.[0]
    if (v !== undefined && v.length > 0) out[name] = v.toString('utf8')
  }
  return out
}

/** The object inside the `runtime.Unknown` envelope. */
function unwrap(body: Buffer): Buffer | undefined {
  if (!body.subarray(0, 4).equals(MAGIC))
    throw badRequest('the protobuf body does not start with the Kubernetes magic number')
  return fields(body.subarray(4)).get(2)?.[0] // runtime.Unknown.raw
}

/** A map<string,string> field (repeated entries of key = 1, value = 2). */
function stringMap(entries: Buffer[] | undefined): Record<string, string> | undefined {
  if (entries === undefined) return undefined
  return Object.fromEntries(
    entries.map(e => {
      const kv = strings(e, {1: 'key', 2: 'value'})
      return [kv['key'] ?? '', kv['value'] ?? '']
    }),
  )
}

/** A protobuf-encoded Namespace as JSON: `metadata` with name, generateName, labels and annotations. */
export function namespaceObject(body: Buffer): {
  apiVersion: 'v1'
  kind: 'Namespace'
  metadata: Record<string, unknown>
} {
  const meta = fields(unwrap(body) ?? Buffer.alloc(0)).get(1)?.[0] // Namespace.metadata
  const f = meta === undefined ? new Map<number, Buffer[]>() : fields(meta)
  const labels = stringMap(f.get(11))
  const annotations = stringMap(f.get(12))
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      ...(meta === undefined ? {} : strings(meta, {1: 'name', 2: 'generateName'})),
      ...(labels === undefined ? {} : {labels}),
      ...(annotations === undefined ? {} : {annotations}),
    },
  }
}

/** The `spec` of a protobuf-encoded SelfSubjectAccessReview, in its JSON shape. */
export function selfSubjectAccessReviewSpec(body: Buffer): Record<string, unknown> {
  const raw = unwrap(body)
  const spec = raw === undefined ? undefined : fields(raw).get(2)?.[0] // SelfSubjectAccessReview.spec
  if (spec === undefined) return {}
  const f = fields(spec)
  const resource = f.get(1)?.[0]
  const nonResource = f.get(2)?.[0]
  return {
    ...(resource === undefined
      ? {}
      : {
          resourceAttributes: strings(resource, {
            1: 'namespace',
            2: 'verb',
            3: 'group',
            4: 'version',
            5: 'resource',
            6: 'subresource',
            7: 'name',
          }),
        }),
    ...(nonResource === undefined ? {} : {nonResourceAttributes: strings(nonResource, {1: 'path', 2: 'verb'})}),
  }
}
