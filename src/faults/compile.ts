/**
 * The fault compiler (docs/architecture.md, "How faults are applied" in README): a pure function from (existing VirtualServices, faults, run id) to
 * the objects to write and how to undo them. For a host with a VirtualService, every HTTP route R
 * gets a copy R′ inserted just before it — R's match blocks AND-ed with the fault's match, R's
 * destinations and settings, plus the fault. With the order Q′,Q,R′,R,… a request the fault does
 * not target takes exactly the route it took before, and a targeted one takes the copy of that same
 * route, i.e. the same destinations, with the fault.
 */
import {UnsafeFault, UsageError} from '@faultline/core/errors.js'
import type {Fault} from '../experiment/model.js'
import {appliesToSidecars, fqdn, virtualServiceFor} from '@faultline/core/istio/routing.js'
import type {
  HTTPFaultInjection,
  HTTPMatchRequest,
  HTTPRoute,
  VirtualService,
  VirtualServiceSpec,
} from '@faultline/core/istio/types.js'
import {
  ANNOTATION_BASE_FINGERPRINT,
  ANNOTATION_CREATED,
  ANNOTATION_EXPERIMENT,
  ANNOTATION_EXPIRES_AT,
  ANNOTATION_FAULT_ROUTES,
  ANNOTATION_FINGERPRINT,
  ANNOTATION_ORIGINAL_SPEC,
  ANNOTATION_OWNER,
  ANNOTATION_RUN_ID,
  LABEL_MANAGED,
  LABEL_RUN_ID,
  canonicalJson,
  isLabelValue,
  rfc3339,
  specFingerprint,
} from './annotations.js'
import {andMatchBlock, type FaultMatchRequest} from './match.js'
import {DEFAULT_ROUTE_NAME, createdVirtualServiceName, faultRouteName, isFaultRouteName, runIdOfRoute} from './names.js'
import type {FaultPlan, PlannedVirtualService} from './plan.js'

/** What the compiler needs. */
export interface CompileInput {
  namespace: string
  /** VirtualServices that exist (any namespace; only `namespace`'s are candidates). */
  existing: VirtualService[]
  faults: Fault[]
  runId: string
  /** When the faults become stale (recorded on the objects for `chaos revert`). */
  expiresAt: Date
  owner?: string
  experiment?: string
  /**
   * The Gateways the load enters through (`namespace/name`), when it enters through a gateway. A
   * fault on a service that a VirtualService bound to one of them routes to directly is written
   * into that VirtualService too, scoped to the gateway: Istio builds a gateway's routes only from
   * the VirtualServices bound to it (istio 1.30.3 pilot/pkg/networking/core/gateway.go
   * buildGatewayHTTPRouteConfig → VirtualServicesForGateway; route/route.go sourceMatchHTTP keeps a
   * block for the gateway only when its `gateways` name it), so the gateway is the calling proxy
   * and the service's own VirtualService never sees that traffic.
   */
  gateways?: string[]
}

/** A fault bound to the service it targets. */
interface TargetedFault {
  index: number
  fault: Fault
  service: string
}

const CLUSTER_SUFFIX = '.svc.cluster.local'

/** Compiles faults into the VirtualServices to write. Throws UnsafeFault when it cannot do so safely. */
export function compileFaults(input: CompileInput): FaultPlan {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(input.runId)) {
    throw new UsageError(`run id ${JSON.stringify(input.runId)} is not usable`, {
      hint: 'Use 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit.',
    })
  }
  const local = input.existing.filter(vs => (vs.metadata.namespace ?? input.namespace) === input.namespace)
  const groups = new Map<
    string,
    {vs: VirtualService | undefined; faults: TargetedFault[]; gatewayFaults: TargetedFault[]}
  >()
  const keyOf = (vs: VirtualService) => `update:${vs.metadata.namespace ?? input.namespace}/${vs.metadata.name}`
  for (const [index, fault] of input.faults.entries()) {
    const service = fqdn(fault.service, input.namespace)
    const vs = virtualServiceFor(local, service, input.namespace)
    const key = vs === undefined ? `create:${service}` : keyOf(vs)
    const group = groups.get(key) ?? {vs, faults: [], gatewayFaults: []}
    group.faults.push({index, fault, service})
    groups.set(key, group)
  }
  // Through a gateway: the gateway-bound VirtualServices that route a faulted service directly.
  for (const vs of gatewayBound(input)) {
    const ns = vs.metadata.namespace ?? input.namespace
    for (const [index, fault] of input.faults.entries()) {
      const service = fqdn(fault.service, input.namespace)
      if (!(vs.spec.http ?? []).some(r => (r.route ?? []).some(d => fqdn(d.destination.host, ns) === service))) continue
      const group = groups.get(keyOf(vs)) ?? {vs, faults: [], gatewayFaults: []}
      group.gatewayFaults.push({index, fault, service})
      groups.set(keyOf(vs), group)
    }
  }
  const taken = new Set(local.map(vs => vs.metadata.name))
  const objects = [...groups.values()]
    .map(g => {
      const planned =
        g.vs === undefined ? planCreate(input, g.faults, taken) : planUpdate(input, g.vs, g.faults, g.gatewayFaults)
      planned.notes.push(...foreignNamespaceNotes(input, g.faults))
      return planned
    })
    .filter(o => o.revert.faultRouteNames.length > 0 || o.action === 'create' || o.faults.length > 0) // a gateway VirtualService no fault could use is left alone
  return {runId: input.runId, namespace: input.namespace, expiresAt: rfc3339(input.expiresAt), objects}
}

/** Istio's HTTPFaultInjection for a fault, with percentages always explicit (test/reference/SEMANTICS.md (b)). */
export function faultInjection(fault: Fault): HTTPFaultInjection {
  const out: HTTPFaultInjection = {}
  if (fault.delay !== undefined)
    out.delay = {fixedDelay: fault.delay.fixedDelay, percentage: {value: fault.delay.percentage}}
  if (fault.abort !== undefined) {
    out.abort =
      'httpStatus' in fault.abort
        ? {httpStatus: fault.abort.httpStatus, percentage: {value: fault.abort.percentage}}
        : {grpcStatus: fault.abort.grpcStatus, percentage: {value: fault.abort.percentage}}
  }
  return out
}

function routeLabel(route: HTTPRoute, index: number): string {
  return route.name === undefined ? `#${index}` : JSON.stringify(route.name)
}

function refuseStale(vs: VirtualService): void {
  const staleRoute = (vs.spec.http ?? []).find(r => isFaultRouteName(r.name))
  const runId = vs.metadata.annotations?.[ANNOTATION_RUN_ID] ?? runIdOfRoute(staleRoute?.name)
  if (vs.metadata.labels?.[LABEL_MANAGED] === undefined && staleRoute === undefined) return
  const expires = vs.metadata.annotations?.[ANNOTATION_EXPIRES_AT]
  throw new UnsafeFault(
    `VirtualService ${vs.metadata.namespace ?? ''}/${vs.metadata.name} still carries Faultline faults from run ${runId ?? '(unknown)'}${expires === undefined ? '' : ` (expired or expiring at ${expires})`}`,
    {hint: 'A previous run did not revert (crash or kill -9). Run `chaos revert` to restore it, then try again.'},
  )
}

/** A regex for the authorities a sidecar sees for a service (`ratings`, `ratings.default`, … with optional port). */
export function authorityRegex(service: string): string {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  if (!service.endsWith(CLUSTER_SUFFIX)) return `${esc(service)}(:[0-9]+)?`
  const [name, ns] = service.slice(0, -CLUSTER_SUFFIX.length).split('.')
  return `${esc(name ?? '')}(\\.${esc(ns ?? '')}(\\.svc(\\.cluster\\.local)?)?)?(:[0-9]+)?`
}

/**
 * The fault's match as applied inside one VirtualService: restricted to the target's authority
 * when the object also routes other hosts, so the fault never reaches them.
 */
function scopedFaultMatch(vs: VirtualService, t: TargetedFault, namespace: string): FaultMatchRequest {
  const match: FaultMatchRequest = {...t.fault.match}
  const ns = vs.metadata.namespace ?? namespace
  const onlyTarget = (vs.spec.hosts ?? []).every(h => fqdn(h, ns) === t.service)
  if (!onlyTarget) match.authority = {regex: authorityRegex(t.service)}
  return match
}

/** Restricts a block to sidecars: a fault must never reach traffic through a gateway. */
function sidecarOnly(block: HTTPMatchRequest, vs: VirtualService): HTTPMatchRequest | undefined {
  const gateways = block.gateways ?? vs.spec.gateways
  if (gateways === undefined || gateways.length === 0) return block
  if (!gateways.includes('mesh')) return undefined
  return gateways.length === 1 ? block : {...block, gateways: ['mesh']}
}

/** `gateways:` entries as Istio resolves them: `name` is the VirtualService's namespace's (istio 1.30.3 pilot/pkg/model/config.go resolveGatewayName). */
function resolveGateway(ref: string, vsNamespace: string): string {
  return ref === 'mesh' || ref.includes('/') ? ref : `${vsNamespace}/${ref}`
}

/** The VirtualServices bound to a gateway the load enters through. */
function gatewayBound(input: CompileInput): VirtualService[] {
  const entered = input.gateways ?? []
  if (entered.length === 0) return []
  return input.existing.filter(vs => {
    const ns = vs.metadata.namespace ?? input.namespace
    const refs = [
      ...(vs.spec.gateways ?? []),
      ...(vs.spec.http ?? []).flatMap(r => (r.match ?? []).flatMap(m => m.gateways ?? [])),
    ]
    return refs.some(g => entered.includes(resolveGateway(g, ns)))
  })
}

/** Restricts a block to the entered gateways, or undefined when it does not apply to any of them. */
function gatewayOnly(block: HTTPMatchRequest, vs: VirtualService, input: CompileInput): HTTPMatchRequest | undefined {
  const ns = vs.metadata.namespace ?? input.namespace
  const gateways = (block.gateways ?? vs.spec.gateways ?? []).filter(g =>
    (input.gateways ?? []).includes(resolveGateway(g, ns)),
  )
  if (gateways.length === 0) return undefined
  return {...block, gateways}
}

/**
 * R′ in a gateway-bound VirtualService: for a route whose destinations are the faulted service, its
 * blocks AND-ed with the fault's match (no authority scoping: the gateway sees the external host)
 * and restricted to the entered gateways, so sidecars bound by `mesh` never take it.
 */
function gatewayFaultCopy(
  vs: VirtualService,
  route: HTTPRoute,
  index: number,
  t: TargetedFault,
  input: CompileInput,
): HTTPRoute | undefined {
  const ns = vs.metadata.namespace ?? input.namespace
  const destinations = route.route ?? []
  const hits = destinations.filter(d => fqdn(d.destination.host, ns) === t.service)
  if (hits.length === 0) return undefined
  if (hits.length < destinations.length) {
    throw new UnsafeFault(
      `route ${routeLabel(route, index)} of gateway VirtualService ${vs.metadata.name} splits traffic between ${t.service} and other hosts, and a fault in the gateway would reach those too`,
      {
        hint: 'Send the load through a sidecar for this experiment, or target a service the gateway does not route to directly.',
      },
    )
  }
  const blocks = route.match === undefined || route.match.length === 0 ? [{}] : route.match
  const copies: HTTPMatchRequest[] = []
  for (const block of blocks) {
    const c = andMatchBlock(block, {...t.fault.match})
    if (c.kind === 'conflict') {
      throw new UnsafeFault(
        `route ${routeLabel(route, index)} of gateway VirtualService ${vs.metadata.name} matches on ${c.field} too, and the fault's condition on ${c.field} cannot be combined with it in one Istio match`,
        {
          hint: `Target the fault with a header the route does not match on, or align spec.faults[${t.index}].match.${c.field.split('.')[0] ?? c.field} with the route's.`,
        },
      )
    }
    const scoped = c.kind === 'match' ? gatewayOnly(c.value, vs, input) : undefined
    if (scoped !== undefined) copies.push(scoped)
  }
  if (copies.length === 0) return undefined
  const {name: _name, match: _match, ...settings} = route
  return {
    name: faultRouteName(input.runId, `gw-${route.name ?? String(index)}`, t.index),
    match: copies,
    ...structuredClone(settings),
    fault: faultInjection(t.fault),
  }
}

/** R′ for one route and one fault, or undefined when no block of R can match targeted traffic. */
function faultCopy(
  vs: VirtualService,
  route: HTTPRoute,
  index: number,
  t: TargetedFault,
  ctx: {input: CompileInput; shared: boolean},
): HTTPRoute | undefined {
  const faultMatch = scopedFaultMatch(vs, t, ctx.input.namespace)
  const blocks = route.match === undefined || route.match.length === 0 ? [{}] : route.match
  const copies: HTTPMatchRequest[] = []
  for (const block of blocks) {
    const c = andMatchBlock(block, faultMatch)
    if (c.kind === 'conflict') {
      throw new UnsafeFault(
        `route ${routeLabel(route, index)} of VirtualService ${vs.metadata.name} matches on ${c.field} too, and the fault's condition on ${c.field} cannot be combined with it in one Istio match`,
        {
          hint: `Target the fault with a header the route does not match on (e.g. x-chaos-test), or align spec.faults[${t.index}].match.${c.field.split('.')[0] ?? c.field} with the route's.`,
        },
      )
    }
    const scoped = c.kind === 'match' ? sidecarOnly(c.value, vs) : undefined
    if (scoped !== undefined) copies.push(scoped)
  }
  if (copies.length === 0) return undefined
  const {name: _name, match: _match, ...settings} = route
  const isCatchAll = copies.length === 1 && Object.keys(copies[0] as object).length === 0
  return {
    name: faultRouteName(ctx.input.runId, route.name ?? String(index), ctx.shared ? t.index : undefined),
    ...(isCatchAll ? {} : {match: copies}),
    ...structuredClone(settings),
    fault: faultInjection(t.fault),
  }
}

function planUpdate(
  input: CompileInput,
  vs: VirtualService,
  faults: TargetedFault[],
  gatewayFaults: TargetedFault[] = [],
): PlannedVirtualService {
  refuseStale(vs)
  const http = vs.spec.http ?? []
  if (http.length === 0) {
    throw new UnsafeFault(
      `VirtualService ${vs.metadata.name} routes ${faults[0]?.service ?? ''} without HTTP routes (TCP/TLS only), and Istio injects faults only into HTTP routes`,
      {hint: 'Target an HTTP service, or give the VirtualService an HTTP route for it.'},
    )
  }
  const {out, notes, carried, gatewayCarried} = withFaultCopies(input, vs, http, faults, gatewayFaults)
  const ns = vs.metadata.namespace ?? input.namespace
  for (const t of gatewayFaults) {
    if (gatewayCarried.has(t.index))
      notes.push(
        `spec.faults[${t.index}] (${t.service}) is applied in the gateway ${(input.gateways ?? []).join(', ')}: the load enters there, and Istio evaluates the routes of ${ns}/${vs.metadata.name}, bound to it, in the gateway (not ${t.service}'s own VirtualService)`,
      )
  }
  for (const t of faults) {
    if (!carried.has(t.index)) {
      throw new UnsafeFault(
        `no route of VirtualService ${vs.metadata.name} can match requests that spec.faults[${t.index}] targets, so the fault would never fire`,
        {hint: "Check the fault's match against the routes' matches (uri, method, headers)."},
      )
    }
  }
  const spec: VirtualServiceSpec = structuredClone({...vs.spec, http: out})
  const {managedFields: _managedFields, ...metadata} = structuredClone(vs.metadata)
  const desired: VirtualService = {
    apiVersion: vs.apiVersion,
    kind: 'VirtualService',
    metadata: {...metadata, namespace: vs.metadata.namespace ?? input.namespace},
    spec,
  }
  return finish(input, desired, {
    action: 'update',
    existing: vs,
    faults: [
      ...faults,
      ...gatewayFaults.filter(t => gatewayCarried.has(t.index) && !faults.some(f => f.index === t.index)),
    ],
    notes,
    originalSpec: structuredClone(vs.spec),
  })
}

/**
 * The routes with the copies R′ of each fault (and each gateway fault) inserted before the route R
 * they copy, the notes on routes that cannot carry a fault, and the faults some copy carries.
 */
function withFaultCopies(
  input: CompileInput,
  vs: VirtualService,
  http: HTTPRoute[],
  faults: TargetedFault[],
  gatewayFaults: TargetedFault[],
): {out: HTTPRoute[]; notes: string[]; carried: Set<number>; gatewayCarried: Set<number>} {
  const notes: string[] = []
  const out: HTTPRoute[] = []
  const carried = new Set<number>()
  const shared = faults.length > 1
  const gatewayCarried = new Set<number>()
  for (const [index, route] of http.entries()) {
    if (handWrittenFaultAside(route, vs, faults, gatewayFaults, input)) {
      out.push(route) // a hand-written fault on a route to other hosts: not ours to stack on, and not in the way
      continue
    }
    if (route.fault !== undefined) {
      throw new UnsafeFault(
        `route ${routeLabel(route, index)} of VirtualService ${vs.metadata.name} already injects a fault that Faultline did not write`,
        {
          hint: 'Faultline does not stack faults on hand-written ones: remove that fault first, or target another service.',
        },
      )
    }
    const kind = faultlessKind(route)
    if (kind !== undefined) {
      // Leaving R without a copy keeps first-match order intact: targeted requests R catches are
      // answered by R as before, just without the fault.
      notes.push(
        `route ${routeLabel(route, index)} uses ${kind}, which cannot carry a fault in Istio; requests it answers are not faulted`,
      )
      out.push(route)
      continue
    }
    for (const t of faults) {
      const copy = faultCopy(vs, route, index, t, {input, shared})
      if (copy !== undefined) {
        out.push(copy)
        carried.add(t.index)
      }
    }
    for (const t of gatewayFaults) {
      const copy = gatewayFaultCopy(vs, route, index, t, input)
      if (copy !== undefined) {
        out.push(copy)
        gatewayCarried.add(t.index)
      }
    }
    out.push(route)
  }
  return {out, notes, carried, gatewayCarried}
}

/**
 * A hand-written fault on a route to hosts no gateway fault targets, when only gateway faults are
 * compiled: not ours to stack on, and not in the way of ours.
 */
function handWrittenFaultAside(
  route: HTTPRoute,
  vs: VirtualService,
  faults: TargetedFault[],
  gatewayFaults: TargetedFault[],
  input: CompileInput,
): boolean {
  return (
    route.fault !== undefined &&
    gatewayFaults.length > 0 &&
    faults.length === 0 &&
    !(route.route ?? []).some(d =>
      gatewayFaults.some(t => fqdn(d.destination.host, vs.metadata.namespace ?? input.namespace) === t.service),
    )
  )
}

/** The kind of a route that cannot carry a fault in Istio (redirect, directResponse, delegate), else undefined. */
function faultlessKind(route: HTTPRoute): 'redirect' | 'directResponse' | 'delegate' | undefined {
  if (route.redirect !== undefined) return 'redirect'
  if (route.directResponse !== undefined) return 'directResponse'
  if (route.delegate !== undefined) return 'delegate'
  return undefined
}

function planCreate(input: CompileInput, faults: TargetedFault[], taken: Set<string>): PlannedVirtualService {
  const service = (faults[0] as TargetedFault).service
  const local = service.endsWith(`.${input.namespace}${CLUSTER_SUFFIX}`)
  const host = local ? service.slice(0, service.indexOf('.')) : service
  let name = createdVirtualServiceName(local ? host : service.replace(CLUSTER_SUFFIX, ''))
  for (let n = 2; taken.has(name); n++) name = `${createdVirtualServiceName(host)}-${n}`
  taken.add(name)
  const destination = () => [{destination: {host}}]
  const shared = faults.length > 1
  const faultRoutes: HTTPRoute[] = faults.map(t => {
    const match = t.fault.match ?? {}
    const route: HTTPRoute = {name: faultRouteName(input.runId, DEFAULT_ROUTE_NAME, shared ? t.index : undefined)}
    if (Object.keys(match).length > 0) route.match = [structuredClone(match)]
    route.fault = faultInjection(t.fault)
    route.route = destination()
    return route
  })
  const spec: VirtualServiceSpec = {
    hosts: [host],
    http: [...faultRoutes, {name: DEFAULT_ROUTE_NAME, route: destination()}],
  }
  const desired: VirtualService = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {name, namespace: input.namespace},
    spec,
  }
  return finish(input, desired, {action: 'create', faults, notes: []})
}

function finish(
  input: CompileInput,
  desired: VirtualService,
  o: {
    action: 'create' | 'update'
    existing?: VirtualService
    faults: TargetedFault[]
    notes: string[]
    originalSpec?: VirtualServiceSpec
  },
): PlannedVirtualService {
  const faultRouteNames = (desired.spec.http ?? [])
    .map(r => r.name)
    .filter((n): n is string => isFaultRouteName(n, input.runId))
  const base: VirtualServiceSpec = {
    ...desired.spec,
    http: (desired.spec.http ?? []).filter(r => !faultRouteNames.includes(r.name ?? '')),
  }
  const fingerprint = specFingerprint(desired.spec)
  const baseFingerprint = specFingerprint(base)
  const labels: Record<string, string> = {...desired.metadata.labels, [LABEL_MANAGED]: 'true'}
  if (isLabelValue(input.runId)) labels[LABEL_RUN_ID] = input.runId
  const annotations: Record<string, string> = {
    ...desired.metadata.annotations,
    [ANNOTATION_RUN_ID]: input.runId,
    [ANNOTATION_EXPIRES_AT]: rfc3339(input.expiresAt),
  }
  if (input.owner !== undefined) annotations[ANNOTATION_OWNER] = input.owner
  if (input.experiment !== undefined) annotations[ANNOTATION_EXPERIMENT] = input.experiment
  if (o.originalSpec !== undefined) annotations[ANNOTATION_ORIGINAL_SPEC] = canonicalJson(o.originalSpec)
  if (o.action === 'create') annotations[ANNOTATION_CREATED] = 'true'
  annotations[ANNOTATION_FINGERPRINT] = fingerprint
  annotations[ANNOTATION_BASE_FINGERPRINT] = baseFingerprint
  annotations[ANNOTATION_FAULT_ROUTES] = JSON.stringify(faultRouteNames)
  desired.metadata = {...desired.metadata, labels, annotations}
  const namespace = desired.metadata.namespace ?? input.namespace
  const revert = {
    namespace,
    name: desired.metadata.name,
    created: o.action === 'create',
    faultRouteNames,
    fingerprint,
    baseFingerprint,
    runId: input.runId,
    ...(o.originalSpec === undefined ? {} : {originalSpec: o.originalSpec}),
    ...(o.existing?.metadata.resourceVersion === undefined
      ? {}
      : {readResourceVersion: o.existing.metadata.resourceVersion}),
  }
  return {
    action: o.action,
    ...(o.existing === undefined ? {} : {existing: o.existing}),
    desired,
    revert,
    faults: o.faults.map(t => t.index),
    services: [...new Set(o.faults.map(t => t.service))],
    notes: o.notes,
  }
}

/** Notes about VirtualServices in other namespaces that also route the target for sidecars. */
function foreignNamespaceNotes(input: CompileInput, faults: TargetedFault[]): string[] {
  const notes: string[] = []
  for (const t of faults) {
    for (const vs of input.existing) {
      const ns = vs.metadata.namespace ?? input.namespace
      if (ns === input.namespace || !appliesToSidecars(vs)) continue
      if ((vs.spec.hosts ?? []).some(h => fqdn(h, ns) === t.service)) {
        notes.push(
          `VirtualService ${ns}/${vs.metadata.name} also routes ${t.service}; sidecars in ${ns} may use it instead, so the fault may not reach traffic from there`,
        )
      }
    }
  }
  return [...new Set(notes)]
}
