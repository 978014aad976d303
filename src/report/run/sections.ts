/**
 * The top of report.html — what a room reads first: the verdict banner with its reason, the four
 * facts that decide whether the run means anything (did the fault fire, was it reverted, was the
 * control traffic untouched, how the probes came out), and the evidence behind those facts.
 */
import type {RunEvent} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {revertCommand} from '../../faults/revert.js'
import {html, type SafeHtml} from '../assets.js'
import {faultSentence, lastFaultedWords} from './faults.js'
import {formatInstant, formatMs, formatRunClock} from './html-format.js'
import type {Timeline, VerdictView} from './model.js'

type EventOf<K extends RunEvent['kind']> = Extract<RunEvent, {kind: K}>

function eventsOf<K extends RunEvent['kind']>(doc: JournalDocument, kind: K): EventOf<K>[] {
  return doc.events.filter((e): e is EventOf<K> => e.kind === kind)
}

/** The namespace the run worked in (for the `chaos revert` command). */
export function runNamespace(doc: JournalDocument): string {
  return doc.applied[0]?.namespace ?? doc.environment.namespace ?? 'default'
}

function runLength(doc: JournalDocument, timeline: Timeline): string {
  return doc.finishedAt === undefined
    ? `at least ${formatMs(timeline.endMs)} (never finished)`
    : formatMs(timeline.endMs)
}

/** A loud box with the command that cleans up by hand, and a copy button (the command is text, so print keeps it). */
export function commandBox(headline: string, lead: string, command: string): SafeHtml {
  return html`<div class="proof tone-bad loud"><p><b>${headline}</b></p><p>${lead}</p>
  <div class="command-row"><pre class="command"><code>${command}</code></pre><button type="button" class="copy no-print" data-copy="${command}">Copy</button></div></div>`
}

/** The commands that undo what may still be live: from failed reverts, or for writes no revert answered. */
export function cleanupCommands(doc: JournalDocument): string[] {
  const failed = eventsOf(doc, 'revert-failed').map(e => e.command)
  const unanswered = doc.applied.some(a => !doc.reverted.some(r => r.namespace === a.namespace && r.name === a.name))
  return [...new Set(failed.length > 0 ? failed : unanswered ? [revertCommand(doc.runId, runNamespace(doc))] : [])]
}

/**
 * What the experiment injects, one sentence per fault, from its spec: "Injected during the fault
 * phase: delay 7 s on 100 % of requests to ratings carrying x-chaos-test: true, …". A run that
 * never wrote its fault says the faults were planned only.
 */
export function injectedFaults(doc: JournalDocument): SafeHtml {
  const faults = doc.experiment.spec?.spec?.faults ?? []
  if (faults.length === 0) return html``
  const lead = doc.applied.length > 0 ? 'Injected during the fault phase' : 'Planned, never injected'
  const [only] = faults
  if (faults.length === 1 && only !== undefined)
    return html`<p class="injected"><b>${lead}:</b> ${faultSentence(only)}</p>`
  return html`<div class="injected"><p><b>${lead} (${faults.length} faults):</b></p>
  <ul class="injected-faults">${faults.map(f => html`<li>${faultSentence(f)}</li>`)}</ul></div>`
}

/** The verdict banner: verdict in words and symbol, the reason, which experiment, when and how long. */
export function verdictBanner(doc: JournalDocument, verdict: VerdictView, timeline: Timeline): SafeHtml {
  const meta = doc.experiment.spec?.metadata
  return html`<header class="verdict verdict-${verdict.key}">
  <div class="verdict-icon" aria-hidden="true">${verdict.icon}</div>
  <div class="verdict-body">
    <p class="verdict-title">${verdict.title}${doc.exitCode === undefined ? '' : html` <span class="exit">exit ${doc.exitCode}</span>`}</p>
    <p class="verdict-reason">${verdict.reason}</p>
    ${cleanupCommands(doc).map(c => commandBox('Faults may still be live in the cluster.', 'Clean up by hand with:', c))}
    <h1>${doc.experiment.name}</h1>
    ${meta?.description === undefined ? '' : html`<p class="description">${meta.description}</p>`}
    ${injectedFaults(doc)}
    <p class="meta">Started ${formatInstant(doc.startedAt)} · lasted ${runLength(doc, timeline)} · run <code>${doc.runId}</code> · ${doc.experiment.file}
      · ${doc.environment.cluster ?? 'cluster'} <code>${doc.environment.context ?? ''}</code> / ${runNamespace(doc)}</p>
  </div>
</header>`
}

type Tone = 'good' | 'bad' | 'warn' | 'none'
const TONE_ICON: Record<Tone, string> = {good: '✔', bad: '✘', warn: '⚠', none: '–'}

/** A fact card; `tooltip` (the detail's fine print) goes in the detail's title attribute. */
function fact(label: string, tone: Tone, headline: string, detail?: string, tooltip?: string): SafeHtml {
  const detailHtml =
    detail === undefined
      ? ''
      : tooltip === undefined
        ? html`<p class="fact-detail">${detail}</p>`
        : html`<p class="fact-detail has-tip" title="${tooltip}">${detail}</p>`
  return html`<div class="fact tone-${tone}"><span class="fact-icon" aria-hidden="true">${TONE_ICON[tone]}</span>
  <div><p class="fact-label">${label}</p><p class="fact-headline">${headline}</p>${detailHtml}</div></div>`
}

function faultFact(doc: JournalDocument): SafeHtml {
  const evidence = eventsOf(doc, 'fault-evidence')[0]
  const notFired = eventsOf(doc, 'fault-not-fired')[0]
  if (evidence !== undefined)
    return fact('Fault', 'good', `fired ${formatMs(evidence.afterWriteMs)} after the write`, evidence.source)
  if (notFired !== undefined) return fact('Fault', 'bad', 'NOT fired — the hypothesis was not tested', notFired.message)
  if (doc.applied.length === 0) return fact('Fault', 'none', 'never written', 'the run ended before the fault phase')
  return fact('Fault', 'warn', 'written, no evidence recorded', 'the run ended before any evidence was read')
}

function revertFact(doc: JournalDocument): SafeHtml {
  const failed = eventsOf(doc, 'revert-failed')
  if (failed.length > 0)
    return fact(
      'Revert',
      'bad',
      `FAILED for ${failed.map(f => `${f.namespace}/${f.name}`).join(', ')}`,
      `run: ${failed[0]?.command ?? ''}`,
    )
  if (doc.applied.length === 0) return fact('Revert', 'none', 'nothing to revert', 'no VirtualService was written')
  const missing = doc.applied.filter(a => !doc.reverted.some(r => r.namespace === a.namespace && r.name === a.name))
  if (missing.length > 0)
    return fact(
      'Revert',
      'bad',
      `NO revert recorded for ${missing.map(a => `${a.namespace}/${a.name}`).join(', ')}`,
      `faults may still be live: ${revertCommand(doc.runId, runNamespace(doc))}`,
    )
  const last = doc.reverted.reduce((t, r) => Math.max(t, r.t), 0)
  const lastEvidence = eventsOf(doc, 'last-evidence')[0]
  const reverts = doc.reverted.map(r => `${r.action} ${r.namespace}/${r.name}`).join(', ')
  if (lastEvidence === undefined) return fact('Revert', 'good', `reverted at ${formatRunClock(last)}`, reverts)
  // In plain words on the card; how the counters were polled is the tooltip.
  const words = lastFaultedWords(lastEvidence)
  return fact(
    'Revert',
    words.startsWith('unknown') ? 'warn' : 'good',
    `reverted at ${formatRunClock(last)}`,
    words,
    lastEvidence.message,
  )
}

function controlFact(doc: JournalDocument): SafeHtml {
  const control = eventsOf(doc, 'control-evidence')[0]
  if (control === undefined)
    return fact('Control traffic', 'none', 'not compared', 'no fault-phase traffic to compare with the baseline')
  return control.untouched
    ? fact('Control traffic', 'good', 'untouched', control.message)
    : fact('Control traffic', 'warn', 'AFFECTED', control.message)
}

function probesFact(doc: JournalDocument): SafeHtml {
  const count = (s: string) => doc.probes.filter(p => p.status === s).length
  const [held, missed, errored] = [count('held'), count('missed'), count('errored')]
  // A phase the run cut short was not evaluated: "2 held" alone would read as a hypothesis that held.
  const cut = doc.phases.filter(p => p.cutShort !== undefined)
  const tone: Tone = doc.probes.length === 0 ? 'none' : missed + errored > 0 ? 'bad' : cut.length > 0 ? 'warn' : 'good'
  const incomplete = cut
    .map(
      p =>
        `; the ${p.name} phase is incomplete (cut short at +${((p.cutShort?.afterMs ?? 0) / 1000).toFixed(1)} s): its probes were not evaluated`,
    )
    .join('')
  return fact(
    'Probes',
    tone,
    doc.probes.length === 0 ? 'none evaluated' : `${held} held · ${missed} missed · ${errored} errored`,
    `${doc.probes.length} result(s) over ${new Set(doc.probes.map(p => p.phase)).size} phase(s)${incomplete}`,
  )
}

/** The four facts under the banner. */
export function glance(doc: JournalDocument): SafeHtml {
  return html`<section class="glance" aria-label="at a glance">${faultFact(doc)}${revertFact(doc)}${controlFact(doc)}${probesFact(doc)}</section>`
}

function evidenceRow(e: RunEvent): SafeHtml | undefined {
  const t = formatRunClock(e.t)
  switch (e.kind) {
    case 'fault-evidence':
      return html`<li class="tone-good"><b>✔ Fault fired</b> ${formatMs(e.afterWriteMs)} after the write (${t}), seen by ${e.source}: ${e.message}</li>`
    case 'fault-not-fired':
      return html`<li class="tone-bad loud"><b>✘ Fault NOT fired</b> (${t}): ${e.message}<br><b>Hint:</b> ${e.hint}</li>`
    case 'control-evidence':
      return e.untouched
        ? html`<li class="tone-good"><b>✔ Control untouched</b> (${t}): ${e.message}</li>`
        : html`<li class="tone-warn loud"><b>⚠ Control traffic affected</b> (${t}): ${e.message}</li>`
    case 'last-evidence': {
      // Older journals' message is the plain words already; say it once.
      const words = lastFaultedWords(e)
      return html`<li class="tone-good"><b>Last evidence</b> (${t}): ${words}${words.replace(' seen', '') === e.message ? '' : ` — ${e.message}`}</li>`
    }
    case 'guardrail-breached':
      return html`<li class="tone-bad loud"><b>■ Guardrail breached</b> (${t}): ${e.guardrail} — ${e.message}</li>`
    default:
      return undefined
  }
}

/** Fault, control and last evidence and guardrail breaches, in the order they happened. */
export function evidenceSection(doc: JournalDocument): SafeHtml {
  const rows = doc.events.map(evidenceRow).filter((r): r is SafeHtml => r !== undefined)
  return html`<section id="evidence"><h2>Evidence</h2>
${rows.length === 0 ? html`<p class="empty">No evidence was recorded: ${doc.applied.length === 0 ? 'no fault was written.' : 'the run ended before any was read.'}</p>` : html`<ul class="evidence">${rows}</ul>`}
</section>`
}
