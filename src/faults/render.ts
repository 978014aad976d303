/** How `chaos plan` shows a fault plan: YAML with a header per object, a kubectl List as JSON, or a diff. */
import {createTwoFilesPatch} from 'diff'
import {stringify} from 'yaml'

import type {Fault} from '../experiment/model.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import type {FaultPlan, PlannedVirtualService} from './plan.js'

/** The output formats of `chaos plan -o`. */
export const PLAN_FORMATS = ['yaml', 'json', 'diff'] as const
/** One output format. */
export type PlanFormat = (typeof PLAN_FORMATS)[number]

/** Renders an object as YAML the way kubectl users read it (no anchors, no folded lines). */
export function toYaml(value: unknown): string {
  return stringify(value, {aliasDuplicateObjects: false, lineWidth: 0})
}

/** A fault in a few words: `delay 7s (100%) + abort 503 (50%) on ratings for x-chaos-test="true"`. */
export function describeFault(fault: Fault): string {
  const parts: string[] = []
  if (fault.delay !== undefined) parts.push(`delay ${fault.delay.fixedDelay} (${fault.delay.percentage}%)`)
  if (fault.abort !== undefined)
    parts.push(
      `abort ${'httpStatus' in fault.abort ? fault.abort.httpStatus : fault.abort.grpcStatus} (${fault.abort.percentage}%)`,
    )
  const headers = Object.entries(fault.match?.headers ?? {}).map(
    ([k, m]) => `${k}${'exact' in m ? `="${m.exact}"` : 'prefix' in m ? `^="${m.prefix}"` : `~="${m.regex}"`}`,
  )
  return `${parts.join(' + ')} on ${fault.service}${headers.length > 0 ? ` for ${headers.join(', ')}` : ' for ALL requests'}`
}

function header(o: PlannedVirtualService, faults: readonly Fault[]): string {
  const ns = o.desired.metadata.namespace ?? ''
  const lines = [`# ${o.action} VirtualService ${ns}/${o.desired.metadata.name}`]
  for (const i of o.faults) {
    const f = faults[i]
    lines.push(`#   spec.faults[${i}]: ${f === undefined ? '?' : describeFault(f)}`)
  }
  for (const note of o.notes) lines.push(`#   note: ${note}`)
  const rv = o.revert.readResourceVersion
  if (o.action === 'update')
    lines.push(
      `#   revert: restore the original spec${rv === undefined ? '' : ` (the write is conditional on resourceVersion ${rv})`}`,
    )
  else lines.push('#   revert: delete the object')
  return lines.join('\n')
}

/** Multi-document YAML, one document per object, each with a comment saying what and why. */
export function renderYaml(plan: FaultPlan, faults: readonly Fault[]): string {
  return plan.objects.map(o => `${header(o, faults)}\n${toYaml(o.desired)}`).join('---\n')
}

/** The objects as a kubectl `List` (what `kubectl apply -f -` accepts). */
export function renderJson(plan: FaultPlan): string {
  return JSON.stringify({apiVersion: 'v1', kind: 'List', items: plan.objects.map(o => o.desired)}, null, 2) + '\n'
}

/** What is shown in a diff: the object without server-managed noise. */
function diffable(vs: VirtualService | undefined): string {
  if (vs === undefined) return ''
  const {managedFields: _m, ...metadata} = vs.metadata
  return toYaml({...vs, metadata})
}

/** A unified diff per object: existing → desired (created objects diff against /dev/null). */
export function renderDiff(plan: FaultPlan): string {
  return plan.objects
    .map(o => {
      const name = `${o.desired.metadata.namespace ?? ''}/${o.desired.metadata.name}`
      const from = o.existing === undefined ? '/dev/null' : `a/${name}`
      return createTwoFilesPatch(from, `b/${name}`, diffable(o.existing), diffable(o.desired), undefined, undefined, {
        context: 3,
      })
    })
    .join('')
}

/** Renders a plan in one of the formats. */
export function renderPlan(plan: FaultPlan, format: PlanFormat, faults: readonly Fault[]): string {
  if (format === 'json') return renderJson(plan)
  if (format === 'diff') return renderDiff(plan)
  return renderYaml(plan, faults)
}
