/**
 * The record at the bottom of report.html: every lifecycle event in order (times relative to the
 * run's start) and the environment the run happened in.
 */
import {cutShortText, inFlightText, type RunEvent} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {html, type SafeHtml} from '../assets.js'
import {formatInstant, formatMs, formatRunClock} from './html-format.js'

/** An event in words, and its tone. */
export interface DescribedEvent {
  text: string
  tone: 'good' | 'bad' | 'warn' | 'none'
}

/** One event in words; the tone marks what a reader must not miss. */
export function describeEvent(e: RunEvent): DescribedEvent {
  return describeFaultEvent(e) ?? describeRunEvent(e)
}

/** The events of the fault itself (written, seen firing or not, reverted), or undefined for the others. */
function describeFaultEvent(e: RunEvent): DescribedEvent | undefined {
  switch (e.kind) {
    case 'fault-applied':
      return {
        text: `${e.fault.action} VirtualService ${e.fault.namespace}/${e.fault.name} (resourceVersion ${e.fault.resourceVersion})`,
        tone: 'none',
      }
    case 'setup-applied':
      return {
        text: `setup: patched DestinationRule ${e.setup.namespace}/${e.setup.name} (resourceVersion ${e.setup.resourceVersion})`,
        tone: 'none',
      }
    case 'fault-evidence':
      return {text: `fault fired ${formatMs(e.afterWriteMs)} after the write (${e.source}): ${e.message}`, tone: 'good'}
    case 'fault-not-fired':
      return {text: `fault NOT fired: ${e.message} — ${e.hint}`, tone: 'bad'}
    case 'control-evidence':
      return {
        text: `control ${e.untouched ? 'untouched' : 'AFFECTED'}: ${e.message}`,
        tone: e.untouched ? 'good' : 'warn',
      }
    case 'revert':
      return {
        text: `${e.action} ${e.resource === undefined ? '' : `${e.resource} `}${e.namespace}/${e.name}: ${e.message}`,
        tone: 'good',
      }
    case 'last-evidence':
      return {
        text: `${e.message}${e.afterRevertMs > 0 ? ` (${formatMs(e.afterRevertMs)} after the revert)` : ''}`,
        tone: 'none',
      }
    case 'revert-failed':
      return {
        text: `REVERT FAILED for ${e.resource === undefined ? '' : `${e.resource} `}${e.namespace}/${e.name}: ${e.message} — run ${e.command}`,
        tone: 'bad',
      }
    default:
      return undefined
  }
}

/** The run's other events: start and end, preflight, phases, load, probes, guardrails, log lines. */
function describeRunEvent(e: RunEvent): DescribedEvent {
  switch (e.kind) {
    case 'run-started':
      return {
        text: `run ${e.runId} of ${e.experiment} (${e.file}) against ${e.target.source} ${e.target.context ?? ''}, driver ${e.driver} ${e.driverVersion}`,
        tone: 'none',
      }
    case 'preflight':
      return {
        text: `${e.check}: ${e.status} — ${e.message}${e.hint === undefined ? '' : ` (${e.hint})`}`,
        tone: e.status === 'failed' ? 'bad' : e.status === 'warning' ? 'warn' : 'none',
      }
    case 'phase-started':
      return {text: `${e.phase} started (planned ${formatMs(e.plannedMs)})`, tone: 'none'}
    case 'phase-ended':
      return e.cutShort === undefined
        ? {text: `${e.phase} ended`, tone: 'none'}
        : {text: `${e.phase} ended incomplete: ${cutShortText(e.cutShort)}`, tone: 'warn'}
    case 'load-progress':
      return {text: `in flight: ${inFlightText(e.inFlight)}`, tone: 'none'}
    case 'load-second':
      return {text: `load second ${e.second.second} of ${e.second.traffic}`, tone: 'none'}
    case 'probe-result':
      return {
        text: `${e.result.probe} [${e.result.phase}] ${e.result.status}: ${e.result.actual} (expected ${e.result.expected})${e.result.message === undefined ? '' : ` — ${e.result.message}`}`,
        tone: e.result.status === 'held' ? 'none' : 'bad',
      }
    case 'probe-series':
      return {
        text: `series of ${e.series.probe}: ${e.series.series.length} label set(s)${e.series.error === undefined ? '' : ` — ${e.series.error}`}`,
        tone: e.series.error === undefined ? 'none' : 'warn',
      }
    case 'blast-radius':
      return {
        text: `blast-radius map: ${e.blastRadius.map.edges.length} edge(s) from ${e.blastRadius.map.source}; diagnosis: ${e.blastRadius.diagnosis.length} finding(s)`,
        tone: 'none',
      }
    case 'guardrail-breached':
      return {text: `guardrail breached: ${e.guardrail} — ${e.message}`, tone: 'bad'}
    case 'log':
      return {text: e.message, tone: e.level === 'error' ? 'bad' : e.level === 'warn' ? 'warn' : 'none'}
    case 'run-finished':
      return {text: `${e.outcome} (exit ${e.exitCode}): ${e.reason}`, tone: e.outcome === 'held' ? 'good' : 'bad'}
    default:
      return {text: JSON.stringify(e), tone: 'none'}
  }
}

/** The event log as a table. */
export function eventLogSection(doc: JournalDocument): SafeHtml {
  const rows = doc.events.map(e => {
    const {text, tone} = describeEvent(e)
    return html`<tr class="tone-${tone}"><td class="num">${formatRunClock(e.t)}</td><td><code>${e.kind}</code></td><td>${text}</td></tr>`
  })
  return html`<section id="events"><h2>Event log <span class="muted">${doc.events.length} events; time since the run started at ${formatInstant(doc.startedAt)}</span></h2>
<table class="events"><thead><tr><th>time</th><th>event</th><th>what happened</th></tr></thead><tbody>${rows}</tbody></table>
${doc.status === 'finished' ? '' : html`<p class="tone-warn loud">The log ends here: the run never wrote its end.</p>`}
</section>`
}

const ENVIRONMENT_LABELS: Record<string, string> = {
  cluster: 'cluster',
  context: 'kube context',
  server: 'API server',
  namespace: 'namespace',
  runner: 'runner version',
  node: 'Node.js',
  driver: 'load driver',
  driverVersion: 'load driver version',
  user: 'run by',
}

/** The environment: cluster or sandbox, context, namespace, driver and versions, who ran it. */
export function environmentSection(doc: JournalDocument): SafeHtml {
  const env = Object.entries(doc.environment)
  const known = env
    .filter(([k]) => k in ENVIRONMENT_LABELS)
    .sort(([a], [b]) => Object.keys(ENVIRONMENT_LABELS).indexOf(a) - Object.keys(ENVIRONMENT_LABELS).indexOf(b))
  const rest = env.filter(([k]) => !(k in ENVIRONMENT_LABELS))
  const items = [
    ...known.map(([k, v]) => [ENVIRONMENT_LABELS[k] ?? k, v] as const),
    ...rest,
    ['run id', doc.runId],
    ['experiment file', doc.experiment.file],
    ['started', formatInstant(doc.startedAt)],
    ['finished', doc.finishedAt === undefined ? 'never (journal still running)' : formatInstant(doc.finishedAt)],
    ['journal version', String(doc.version)],
  ] as const
  return html`<section id="environment"><h2>Environment</h2>
<dl class="environment">${items.map(([k, v]) => html`<div><dt>${k}</dt><dd>${v}</dd></div>`)}</dl></section>`
}
