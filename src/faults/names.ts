/** How Faultline names what it writes, and how it recognises its own routes later. */
import {randomBytes} from 'node:crypto'

/** Every fault route we insert is named `faultline:<runId>:…`. */
export const FAULT_ROUTE_PREFIX = 'faultline:'
/** The name of the plain default route in a VirtualService we create. */
export const DEFAULT_ROUTE_NAME = 'default'

/**
 * The name of the fault route inserted before an existing route: `faultline:<runId>:<route>` where
 * `<route>` is the original route's name or its index; `:f<n>` is appended when several faults
 * share the object so that each copy keeps a distinct, readable name.
 */
export function faultRouteName(runId: string, original: string, faultIndex: number | undefined): string {
  return `${FAULT_ROUTE_PREFIX}${runId}:${original}${faultIndex === undefined ? '' : `:f${faultIndex}`}`
}

/** Whether a route name marks a route Faultline inserted (for a given run, or any run). */
export function isFaultRouteName(name: string | undefined, runId?: string): boolean {
  if (name === undefined) return false
  return name.startsWith(runId === undefined ? FAULT_ROUTE_PREFIX : `${FAULT_ROUTE_PREFIX}${runId}:`)
}

/** The run id encoded in a fault route's name, if it is one of ours. */
export function runIdOfRoute(name: string | undefined): string | undefined {
  if (!isFaultRouteName(name)) return undefined
  return (name as string).slice(FAULT_ROUTE_PREFIX.length).split(':')[0]
}

/** The name of a VirtualService we create for a service that has none: `faultline-<service>`. */
export function createdVirtualServiceName(serviceShortName: string): string {
  return `faultline-${serviceShortName}`
    .slice(0, 253)
    .replace(/[^a-z0-9.-]/g, '-')
    .replace(/[-.]+$/, '')
}

/** A new run id: UTC timestamp plus 4 random hex digits, valid as a label value (`20261126-010203-a1b2`). */
export function newRunId(now: Date = new Date(), random: () => string = () => randomBytes(2).toString('hex')): string {
  const t = now.toISOString()
  return `${t.slice(0, 10).replace(/-/g, '')}-${t.slice(11, 19).replace(/:/g, '')}-${random()}`
}
