/**
 * One line of plain text per run event, for the text reports' event logs (junit.xml's system-out).
 * Objects the event carries (VirtualService specs, load seconds) are named, not dumped.
 */
import {cutShortText, inFlightText, type RunEvent} from '../../journal/events.js'
import {formatMs, formatRunTime} from '../format.js'

function describe(e: RunEvent): string {
  switch (e.kind) {
    case 'run-started':
      return `run ${e.runId} of ${e.experiment} (${e.file}) on ${e.target.context} ${e.target.server}, namespace ${e.target.namespace}; load: ${e.driverVersion || e.driver}`
    case 'preflight':
      return `${e.check} ${e.status}: ${e.message}${e.hint === undefined ? '' : ` (${e.hint})`}`
    case 'phase-started':
      return `${e.phase} started (planned ${formatMs(e.plannedMs)})`
    case 'phase-ended':
      return e.cutShort === undefined ? `${e.phase} ended` : `${e.phase} ended incomplete: ${cutShortText(e.cutShort)}`
    case 'fault-applied':
      return `applied VirtualService ${e.fault.namespace}/${e.fault.name} (${e.fault.action}, resourceVersion ${e.fault.resourceVersion})`
    case 'setup-applied':
      return `setup: patched DestinationRule ${e.setup.namespace}/${e.setup.name} (resourceVersion ${e.setup.resourceVersion})`
    case 'fault-evidence':
      return `fault fired${e.afterWriteMs >= 0 ? ` ${formatMs(e.afterWriteMs)} after the write` : ''}: ${e.source}: ${e.message}`
    case 'fault-not-fired':
      return `fault never fired: ${e.message} (${e.hint})`
    case 'control-evidence':
      return `control traffic ${e.untouched ? 'untouched' : 'AFFECTED'}: ${e.message}`
    case 'load-progress':
      return `in flight at load +${formatMs(e.loadMs)}: ${inFlightText(e.inFlight)}`
    case 'load-second':
      return `${e.second.traffic} second ${e.second.second}: ${e.second.requests} request(s), ${e.second.failed} failed`
    case 'probe-result':
      return `${e.result.probe} in ${e.result.phase}: ${e.result.status} (${e.result.actual}, expected ${e.result.expected})${e.result.message === undefined ? '' : ` — ${e.result.message}`}`
    case 'probe-series':
      return `series of ${e.series.probe}: ${e.series.series.length} label set(s)${e.series.error === undefined ? '' : ` — ${e.series.error}`}`
    case 'blast-radius':
      return `blast-radius map: ${e.blastRadius.map.edges.length} edge(s) from ${e.blastRadius.map.source}; diagnosis: ${e.blastRadius.diagnosis.length} finding(s)`
    case 'guardrail-breached':
      return `guardrail "${e.guardrail}" breached: ${e.message}`
    case 'revert':
      return `${e.action} ${e.resource === undefined ? '' : `${e.resource} `}${e.namespace}/${e.name}: ${e.message}`
    case 'last-evidence':
      return e.afterRevertMs > 0
        ? `last faulted request ${formatMs(e.afterRevertMs)} after the revert: ${e.message}`
        : e.message
    case 'revert-failed':
      return `revert FAILED for ${e.resource === undefined ? '' : `${e.resource} `}${e.namespace}/${e.name}: ${e.message}; clean up with: ${e.command}`
    case 'log':
      return `${e.level}: ${e.message}`
    case 'run-finished':
      return `${e.outcome} (exit ${e.exitCode}): ${e.reason}`
  }
}

/** The event as one line: run-clock time, kind, what happened. */
export function eventLine(e: RunEvent): string {
  return `${formatRunTime(e.t)} ${e.kind}: ${describe(e)}`
}
