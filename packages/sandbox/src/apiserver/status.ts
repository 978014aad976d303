/**
 * Kubernetes `Status` objects and the error that carries one. Every failure the sandbox API server
 * answers is one of these, with the `reason` and `code` a real kube-apiserver would use, so clients
 * (kubectl, client-node, our own `src/cluster/`) take the same branches they take against a cluster.
 */

/** One cause of an `Invalid` status (`details.causes[]`). */
export interface StatusCause {
  reason: string
  message: string
  field?: string
}

/** The `details` of a Status: which object it is about and why. */
export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  uid?: string
  causes?: StatusCause[]
  retryAfterSeconds?: number
}

/** A `meta.k8s.io/v1` Status, as every Kubernetes API server returns it for errors. */
export interface KubeStatus {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Success' | 'Failure'
  message?: string
  reason?: string
  details?: StatusDetails
  code: number
}

/**
 * A request that fails with a Kubernetes Status. It stays inside the sandbox (the server turns it
 * into a response), so it is a plain Error rather than a CLI-facing FaultlineError.
 */
export class ApiError extends Error {
  /** The Status to send. */
  readonly status: KubeStatus

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message)
    this.name = 'ApiError'
    // An empty reason is omitted, as Go's `omitempty` does (admission webhook denials have none).
    this.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      ...(reason === '' ? {} : {reason}),
      ...(details === undefined ? {} : {details}),
      code,
    }
  }
}

/** A resource as Status details name it: plural `kind` and API `group` ('' for core). */
export interface GroupResource {
  group: string
  resource: string
}

function qualified(gr: GroupResource): string {
  return gr.group === '' ? gr.resource : `${gr.resource}.${gr.group}`
}

/** 404 `virtualservices.networking.istio.io "x" not found`. */
export function notFound(gr: GroupResource, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(gr)} "${name}" not found`, {
    name,
    group: gr.group,
    kind: gr.resource,
  })
}

/** 409 `virtualservices.networking.istio.io "x" already exists`. */
export function alreadyExists(gr: GroupResource, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, {
    name,
    group: gr.group,
    kind: gr.resource,
  })
}

/** 409 Conflict: the optimistic-concurrency failure every controller retries on. */
export function conflict(
  gr: GroupResource,
  name: string,
  why = 'the object has been modified; please apply your changes to the latest version and try again',
): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`, {
    name,
    group: gr.group,
    kind: gr.resource,
  })
}

/** One field error of an `Invalid` status, rendered the way apimachinery's `field.Error` prints. */
export interface FieldError {
  field: string
  /** e.g. `Invalid value: "0.5ms": must be a valid duration greater than 1ms`, `Required value`. */
  detail: string
  reason?: string
}

/** 422 Invalid: `VirtualService.networking.istio.io "x" is invalid: <field>: <detail>` (several in `[…]`). */
export function invalid(kind: {group: string; kind: string}, name: string, errors: FieldError[]): ApiError {
  const rendered = errors.map(e => (e.field === '' ? e.detail : `${e.field}: ${e.detail}`))
  const qualifiedKind = kind.group === '' ? kind.kind : `${kind.kind}.${kind.group}`
  const list = rendered.length === 1 ? rendered[0] : `[${rendered.join(', ')}]`
  const causes = errors.map(e => ({reason: e.reason ?? 'FieldValueInvalid', message: e.detail, field: e.field}))
  return new ApiError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${list}`, {
    name,
    group: kind.group,
    kind: kind.kind,
    causes,
  })
}

/**
 * 400 from a validating admission webhook: `admission webhook "<name>" denied the request: <message>`,
 * with no reason, as the API server wraps a webhook's rejection.
 */
export function webhookDenied(webhook: string, message: string): ApiError {
  return new ApiError(400, '', `admission webhook ${JSON.stringify(webhook)} denied the request: ${message}`)
}

/** 400 BadRequest with a message. */
export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message)
}

/** 401: no or wrong bearer token. */
export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized')
}

/** 405 for a verb the resource does not support. */
export function methodNotAllowed(method: string): ApiError {
  return new ApiError(
    405,
    'MethodNotAllowed',
    `the server does not allow this method on the requested resource (${method})`,
  )
}

/** 404 for a path no resource lives at. */
export function pathNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource')
}

/** 415 for a body in a format the resource does not take. */
export function unsupportedMediaType(contentType: string, accepted: string[]): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
    {kind: contentType},
  )
}

/** The `Success` status (deletions, exec exit 0). */
export function success(details?: StatusDetails): KubeStatus {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    ...(details === undefined ? {} : {details}),
    code: 200,
  }
}
