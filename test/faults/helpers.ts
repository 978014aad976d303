/** Builders shared by the fault compiler's tests. */
import type {Fault} from '../../src/experiment/model.js'
import type {HTTPRouteDestination, HTTPRoute, VirtualService} from '@faultline/core/istio/types.js'

/** The header every test fault targets. */
export const CHAOS = {'x-chaos-test': {exact: 'true'}}

/** The typical fault: 7s delay for 100% and abort 503 for 50% of `x-chaos-test: true` requests. */
export function typicalFault(service: string): Fault {
  return {
    service,
    match: {headers: CHAOS},
    delay: {fixedDelay: '7s', percentage: 100},
    abort: {httpStatus: 503, percentage: 50},
  }
}

/** A delay-only fault. */
export function delayFault(service: string, match: Fault['match'] = {headers: CHAOS}): Fault {
  return {service, ...(match === undefined ? {} : {match}), delay: {fixedDelay: '7s', percentage: 100}}
}

/** Istio's fault block for `delayFault`. */
export const DELAY = {delay: {fixedDelay: '7s', percentage: {value: 100}}}

/** A VirtualService in `default` with the given routes. */
export function virtualService(
  name: string,
  http: HTTPRoute[],
  extra: Partial<VirtualService['spec']> = {},
  rv = '100',
): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {name, namespace: 'default', resourceVersion: rv},
    spec: {hosts: [name], ...extra, http},
  }
}

/** Destinations: `to('reviews', 'v1')`, or weighted `to('reviews', ['v1', 80], ['v2', 20])`. */
export function to(host: string, ...subsets: (string | [string, number])[]): HTTPRouteDestination[] {
  if (subsets.length === 0) return [{destination: {host}}]
  return subsets.map(s =>
    typeof s === 'string' ? {destination: {host, subset: s}} : {destination: {host, subset: s[0]}, weight: s[1]},
  )
}

/** A fixed expiry for deterministic output. */
export const EXPIRES = new Date('2026-11-26T02:00:00Z')
