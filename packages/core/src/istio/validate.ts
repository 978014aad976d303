/**
 * What a real cluster checks before it accepts a VirtualService: the API server's CRD schema (via
 * `validateIstioObject`), then istiod's validating webhook (Istio 1.30.3, test/reference/SEMANTICS.md (c)), with
 * Istio's own message texts located by field path. The sandbox API server uses it too.
 */
import {validateIstioObject} from './crd.js'
import type {HTTPMatchRequest, HTTPRoute, VirtualService} from './types.js'
import {
  durationErrors,
  gatewayNameErrors,
  grpcStatusErrors,
  headerNameErrors,
  headerValueErrors,
  hostsOverlap,
  httpStatusErrors,
  isDns1123Label,
  isIpAddress,
  isJwtClaimKey,
  percentageErrors,
  portErrors,
  regexErrors,
  retryOnErrors,
  stringMatchErrors,
  wildcardDomainErrors,
} from './webhook-rules.js'

/** One reason the object would be rejected, located by field path. */
export interface Violation {
  path: string
  message: string
}

type Obj = Record<string, unknown>
type Report = (path: string, messages: string[]) => void

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

/**
 * Every reason a cluster would reject this VirtualService. Schema violations come first and alone,
 * as on a real API server (the webhook never sees an object the schema rejected).
 */
export function validateVirtualService(vs: VirtualService, options: {strict?: boolean} = {}): Violation[] {
  const schema = validateIstioObject(vs, {strict: options.strict === true})
  const out: Violation[] = []
  const report: Report = (path, messages) => {
    for (const message of messages) out.push({path, message})
  }
  const name = vs.metadata?.name
  if (typeof name !== 'string' || name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
    report('metadata.name', [
      `Invalid value: ${JSON.stringify(name)}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
    ])
  }
  if (schema.length > 0) return [...out, ...schema]
  webhook(vs, report)
  return out
}

function webhook(vs: VirtualService, report: Report): void {
  const spec = vs.spec
  const hosts = spec.hosts ?? []
  const gateways = spec.gateways ?? []
  if (hosts.length === 0) {
    if (gateways.length > 0) report('spec.gateways', ['delegate virtual service must have no gateways specified'])
    if ((spec.tls ?? []).length > 0) report('spec.tls', ['delegate virtual service must have no tls route specified'])
    if ((spec.tcp ?? []).length > 0) report('spec.tcp', ['delegate virtual service must have no tcp route specified'])
  }
  gateways.forEach((g, i) => {
    if (g !== 'mesh') report(`spec.gateways[${i}]`, gatewayNameErrors(g))
  })
  const appliesToGateway = gateways.length > 0 && !gateways.includes('mesh')
  if (!appliesToGateway) jwtClaimChecks(vs, report)
  let allHostsValid = true
  hosts.forEach((h, i) => {
    const errs = wildcardDomainErrors(h)
    if (errs.length > 0 && !isIpAddress(h)) {
      report(`spec.hosts[${i}]`, errs)
      allHostsValid = false
    } else if (errs.length === 0 && !appliesToGateway && h === '*') {
      report(`spec.hosts[${i}]`, ['wildcard host * is not allowed for virtual services bound to the mesh gateway'])
      allHostsValid = false
    }
  })
  if (allHostsValid) {
    hosts.forEach((a, i) =>
      hosts.slice(i + 1).forEach(b => {
        if (hostsOverlap(a, b)) report('spec.hosts', [`duplicate hosts in virtual service: ${a} & ${b}`])
      }),
    )
  }
  if ((spec.http ?? []).length + (spec.tcp ?? []).length + (spec.tls ?? []).length === 0) {
    report('spec', ['http, tcp or tls must be provided in virtual service'])
  }
  ;(spec.http ?? []).forEach((route, i) => validateHTTPRoute(route, `spec.http[${i}]`, hosts.length === 0, report))
  exportToChecks(spec.exportTo, report)
}

function jwtClaimChecks(vs: VirtualService, report: Report): void {
  for (const [i, route] of (vs.spec.http ?? []).entries()) {
    for (const [j, m] of (route.match ?? []).entries()) {
      for (const key of [...Object.keys(m.headers ?? {}), ...Object.keys(m.withoutHeaders ?? {})]) {
        if (isJwtClaimKey(key))
          report(`spec.http[${i}].match[${j}]`, [
            `JWT claim based routing (key: ${key}) is only supported for gateway, found no gateways: [${(vs.spec.gateways ?? []).join(' ')}]`,
          ])
      }
    }
  }
}

function exportToChecks(exportTo: string[] | undefined, report: Report): void {
  if (exportTo === undefined) return
  const seen = new Set<string>()
  for (const e of exportTo) {
    if (seen.has(e)) report('spec.exportTo', [`duplicate entries in exportTo for entry ${e}`])
    seen.add(e)
  }
  if (seen.has('*') && seen.size > 1)
    report('spec.exportTo', ['cannot have both public (*) and non-public exportTo values for a resource'])
}

function routeConflicts(r: HTTPRoute, path: string, delegate: boolean, report: Report): void {
  if (r.delegate !== undefined && !delegate) {
    if (r.redirect !== undefined) report(path, [`root HTTP route ${r.name ?? ''} must not specify redirect`])
    if (r.route !== undefined) report(path, [`root HTTP route ${r.name ?? ''} must not specify route`])
    return
  }
  if (delegate && r.delegate !== undefined) report(path, ['delegate HTTP route cannot contain delegate'])
  const hasRoute = (r.route ?? []).length > 0
  const errs: string[] = []
  if (r.redirect !== undefined) {
    if (hasRoute) errs.push('HTTP route cannot contain both route and redirect')
    if (r.fault !== undefined) errs.push('HTTP route cannot contain both fault and redirect')
    if (r['rewrite'] !== undefined) errs.push('HTTP route rule cannot contain both rewrite and redirect')
    if (r.directResponse !== undefined) errs.push('HTTP route rule cannot contain both direct_response and redirect')
  } else if (r.directResponse !== undefined) {
    if (hasRoute) errs.push('HTTP route cannot contain both route and direct_response')
    if (r.fault !== undefined) errs.push('HTTP route cannot contain both fault and direct_response')
    if (r['rewrite'] !== undefined) errs.push('HTTP route rule cannot contain both rewrite and direct_response')
  } else if (!hasRoute) {
    errs.push('HTTP route, redirect or direct_response is required')
  }
  if (r['mirror'] !== undefined && ((r['mirrors'] as unknown[] | undefined) ?? []).length > 0)
    errs.push('HTTP route cannot contain both mirror and mirrors')
  report(path, errs)
}

function matchChecks(m: HTTPMatchRequest, path: string, report: Report): void {
  for (const [name, sm] of Object.entries(m.headers ?? {})) {
    if (sm === null) report(`${path}.headers`, [`header match ${name} cannot be null`])
    report(`${path}.headers`, headerNameErrors(name))
    report(`${path}.headers[${name}]`, stringMatchErrors(sm ?? undefined, 'headers'))
  }
  for (const [name, sm] of Object.entries(m.withoutHeaders ?? {})) {
    report(`${path}.withoutHeaders`, headerNameErrors(name))
    // `*` is not RE2: Istio turns it into a presence match.
    if (sm !== null && sm.regex !== '*')
      report(`${path}.withoutHeaders[${name}]`, stringMatchErrors(sm, 'withoutHeaders'))
  }
  report(`${path}.uri`, regexErrors(m.uri, 'uri'))
  report(`${path}.scheme`, stringMatchErrors(m.scheme, 'scheme'))
  report(`${path}.method`, stringMatchErrors(m.method, 'method'))
  report(`${path}.authority`, stringMatchErrors(m.authority, 'authority'))
  for (const [name, sm] of Object.entries(m.queryParams ?? {}))
    report(`${path}.queryParams[${name}]`, stringMatchErrors(sm, 'queryParams'))
  if (m.port !== undefined && m.port !== 0) report(`${path}.port`, portErrors(m.port))
  ;(m.gateways ?? []).forEach((g, i) => {
    if (g !== 'mesh') report(`${path}.gateways[${i}]`, gatewayNameErrors(g))
  })
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== '' && !isDns1123Label(m.sourceNamespace)) {
    report(`${path}.sourceNamespace`, [`sourceNamespace match ${m.sourceNamespace} is invalid`])
  }
}

function headerOperations(headers: unknown, path: string, report: Report): void {
  const h = (headers ?? {}) as {request?: Obj; response?: Obj}
  const check = (side: 'request' | 'response', op: 'add' | 'set' | 'remove') => {
    const value = h[side]?.[op]
    const names =
      op === 'remove' ? ((value as string[] | undefined) ?? []) : Object.keys((value as Obj | undefined) ?? {})
    for (const name of names) {
      const p = `${path}.headers.${side}.${op}`
      if (name === '') report(p, ['header name cannot be empty'])
      else if (side === 'request' && op !== 'remove') {
        const lower = name.toLowerCase()
        if (name.startsWith(':') && lower !== ':authority')
          report(p, [`invalid header ${JSON.stringify(name)}: header cannot have ":" prefix`])
      } else if (name.toLowerCase() === 'host')
        report(p, [`invalid header ${JSON.stringify(name)}: cannot set Host header`])
      else if (name.startsWith(':'))
        report(p, [`invalid header ${JSON.stringify(name)}: header cannot have ":" prefix`])
      if (op !== 'remove') report(p, headerValueErrors((value as Obj)[name]))
    }
  }
  for (const side of ['request', 'response'] as const)
    for (const op of ['add', 'set', 'remove'] as const) check(side, op)
}

function faultChecks(fault: HTTPRoute['fault'], path: string, report: Report): void {
  if (fault === undefined) return
  if (fault.abort === undefined && fault.delay === undefined)
    report(path, ['HTTP fault injection must have an abort and/or a delay'])
  const abort = fault.abort as Obj | undefined
  if (abort !== undefined) {
    report(`${path}.abort.percentage`, percentageErrors(abort['percentage'] as {value?: unknown} | undefined))
    if (abort['grpcStatus'] !== undefined) report(`${path}.abort.grpcStatus`, grpcStatusErrors(abort['grpcStatus']))
    else if (abort['http2Error'] !== undefined)
      report(`${path}.abort.http2Error`, ['HTTP/2 abort fault injection not supported yet'])
    else if (abort['httpStatus'] !== undefined)
      report(`${path}.abort.httpStatus`, httpStatusErrors(abort['httpStatus']))
  }
  const delay = fault.delay as Obj | undefined
  if (delay !== undefined) {
    report(`${path}.delay.percentage`, percentageErrors(delay['percentage'] as {value?: unknown} | undefined))
    if (delay['fixedDelay'] !== undefined) report(`${path}.delay.fixedDelay`, durationErrors(delay['fixedDelay']))
    if (delay['exponentialDelay'] !== undefined) {
      report(`${path}.delay.exponentialDelay`, [
        ...durationErrors(delay['exponentialDelay']),
        'exponentialDelay not supported yet',
      ])
    }
  }
}

function destinationChecks(d: Obj | undefined, path: string, report: Report): void {
  if (d === undefined) return
  const host = String(d['host'] ?? '')
  report(`${path}.host`, host === '*' ? ['invalid destination host *'] : wildcardDomainErrors(host))
  const subset = d['subset']
  if (typeof subset === 'string' && subset !== '' && !isDns1123Label(subset))
    report(`${path}.subset`, [`subset name is invalid: ${subset}`])
  const port = d['port'] as Obj | undefined
  if (port !== undefined) report(`${path}.port.number`, portErrors(port['number'] ?? 0))
}

function retryChecks(retries: Obj | undefined, path: string, report: Report): void {
  if (retries === undefined) return
  const attempts = typeof retries['attempts'] === 'number' ? retries['attempts'] : 0
  if (attempts < 0) report(`${path}.attempts`, ['attempts cannot be negative'])
  const retryOn = typeof retries['retryOn'] === 'string' ? retries['retryOn'] : ''
  if (
    attempts === 0 &&
    (retries['perTryTimeout'] !== undefined || retryOn !== '' || retries['retryRemoteLocalities'] !== undefined)
  ) {
    report(path, ['http retry policy configured when attempts are set to 0 (disabled)'])
  }
  if (retries['perTryTimeout'] !== undefined) report(`${path}.perTryTimeout`, durationErrors(retries['perTryTimeout']))
  if (retryOn !== '') report(`${path}.retryOn`, retryOnErrors(retryOn))
  if (retries['backoff'] !== undefined) report(`${path}.backoff`, durationErrors(retries['backoff']))
}

function redirectChecks(redirect: Obj | undefined, path: string, report: Report): void {
  if (redirect === undefined) return
  const str = (k: string) => (typeof redirect[k] === 'string' ? (redirect[k] as string) : '')
  if (
    str('uri') === '' &&
    str('authority') === '' &&
    redirect['port'] === undefined &&
    redirect['derivePort'] === undefined &&
    str('scheme') === ''
  ) {
    report(path, ['redirect must specify URI, authority, scheme, or port'])
    return
  }
  const code = redirect['redirectCode']
  if (typeof code === 'number' && code !== 0 && (code < 300 || code > 399))
    report(`${path}.redirectCode`, [`${code} is not a valid redirect code, must be 3xx`])
  else if (str('scheme') !== '' && str('scheme') !== 'http' && str('scheme') !== 'https')
    report(`${path}.scheme`, ['invalid redirect scheme, must be "http" or "https"'])
  else if (typeof redirect['port'] === 'number' && redirect['port'] > 0)
    report(`${path}.port`, portErrors(redirect['port']))
}

function destinationsChecks(route: HTTPRoute, path: string, report: Report): void {
  let total = 0
  ;(route.route ?? []).forEach((w, i) => {
    const p = `${path}.route[${i}]`
    headerOperations(w['headers'], p, report)
    destinationChecks(w.destination as Obj | undefined, `${p}.destination`, report)
    const weight = w.weight ?? 0
    if (weight < 0) report(`${p}.weight`, [`weight ${weight} < 0`])
    total += weight
  })
  if ((route.route ?? []).length > 1 && total === 0) report(`${path}.route`, ['total destination weight = 0'])
}

function validateHTTPRoute(route: HTTPRoute, path: string, delegate: boolean, report: Report): void {
  routeConflicts(route, path, delegate, report)
  ;(route.match ?? []).forEach((m, i) => matchChecks(m, `${path}.match[${i}]`, report))
  headerOperations(route['headers'], path, report)
  faultChecks(route.fault, `${path}.fault`, report)
  const cors = route['corsPolicy'] as Obj | undefined
  if (cors?.['maxAge'] !== undefined) report(`${path}.corsPolicy.maxAge`, durationErrors(cors['maxAge']))
  const mirrorPct = (route['mirrorPercentage'] as {value?: number} | undefined)?.value
  if (mirrorPct !== undefined && mirrorPct > 100)
    report(`${path}.mirrorPercentage`, [
      `mirror_percentage must have a max value of 100 (it has ${mirrorPct.toFixed(6)})`,
    ])
  if (mirrorPct !== undefined && mirrorPct < 0)
    report(`${path}.mirrorPercentage`, [
      `mirror_percentage must have a min value of 0 (it has ${mirrorPct.toFixed(6)})`,
    ])
  destinationChecks(route['mirror'] as Obj | undefined, `${path}.mirror`, report)
  ;((route['mirrors'] as Obj[] | undefined) ?? []).forEach((m, i) => {
    if (m['destination'] === undefined) report(`${path}.mirrors[${i}]`, ['destination is required for mirrors'])
    else destinationChecks(m['destination'] as Obj, `${path}.mirrors[${i}].destination`, report)
  })
  redirectChecks(route.redirect as Obj | undefined, `${path}.redirect`, report)
  const direct = route.directResponse as Obj | undefined
  if (direct !== undefined) report(`${path}.directResponse.status`, httpStatusErrors(direct['status']))
  retryChecks(route.retries as Obj | undefined, `${path}.retries`, report)
  const rewrite = route['rewrite'] as Obj | undefined
  if (rewrite?.['uri'] !== undefined && rewrite['uriRegexRewrite'] !== undefined)
    report(`${path}.rewrite`, ['rewrite may only contain one of URI or UriRegexRewrite'])
  destinationsChecks(route, path, report)
  if (route.timeout !== undefined) report(`${path}.timeout`, durationErrors(route.timeout))
}

function sortedJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    v === null || typeof v !== 'object' || Array.isArray(v)
      ? v
      : Object.fromEntries(Object.entries(v as Obj).sort(([a], [b]) => (a < b ? -1 : 1))),
  )
}

/**
 * The webhook's warnings about rules that can never match (`VirtualServiceUnreachableRule`,
 * `VirtualServiceIneffectiveMatch` for identical matches); they do not block an apply.
 */
export function virtualServiceWarnings(vs: VirtualService): Violation[] {
  const out: Violation[] = []
  const seen = new Map<string, number>()
  const http = vs.spec.http ?? []
  const ruleName = (i: number) =>
    http[i]?.name === undefined || http[i]?.name === '' ? `#${i}` : JSON.stringify(http[i]?.name)
  let catchAllAt = -1
  http.forEach((route, i) => {
    const warn = (message: string) => out.push({path: `spec.http[${i}]`, message})
    const blocks = route.match ?? []
    if (blocks.length === 0) {
      if (catchAllAt >= 0) warn(`virtualService rule ${ruleName(i)} not used (only the last rule can have no matches)`)
      catchAllAt = i
      return
    }
    let duplicates = 0
    blocks.forEach((block, j) => {
      if (catchAllAt >= 0) {
        warn(`virtualService rule ${ruleName(i)} not used (route without matches defined before)`)
        return
      }
      const {name, ...conditions} = block
      const key = sortedJson(conditions)
      const earlier = seen.get(key)
      if (earlier !== undefined) {
        warn(
          `virtualService rule ${ruleName(i)} match ${name === undefined || name === '' ? `#${j}` : JSON.stringify(name)} is not used (duplicate/overlapping match in rule ${ruleName(earlier)})`,
        )
        duplicates++
        return
      }
      seen.set(key, i)
    })
    if (duplicates === blocks.length)
      warn(`virtualService rule ${ruleName(i)} not used (all matches used by prior rules)`)
  })
  return out
}
