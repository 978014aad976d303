/**
 * What the run wrote to the cluster and the proof it was undone: a unified diff of each
 * VirtualService spec (YAML, as `chaos plan -o diff` shows it) and, beside it, the revert that
 * answered it — or, loudly, that none did, with the exact `chaos revert` command to run.
 */
import {createTwoFilesPatch} from 'diff'

import {toYaml} from '../../faults/render.js'
import type {AppliedFault, RunEvent} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {revertCommand} from '../../faults/revert.js'
import {html, type SafeHtml} from '../assets.js'
import {formatRunClock} from './html-format.js'
import {commandBox, runNamespace} from './sections.js'

/** The unified diff of one applied fault's spec: before (nothing, for a create) → after. */
export function specDiff(fault: AppliedFault): string {
  const name = `${fault.namespace}/${fault.name}`
  const before = fault.before === undefined ? '' : toYaml(fault.before)
  return createTwoFilesPatch(
    fault.before === undefined ? '/dev/null' : `a/${name}`,
    `b/${name}`,
    before,
    toYaml(fault.after),
    undefined,
    undefined,
    {context: 3},
  )
}

function diffLines(patch: string): SafeHtml[] {
  // The first two lines repeat the file names shown in the heading; the `===` rule is noise.
  return patch
    .split('\n')
    .filter(l => !/^(=+|Index: .*)$/.test(l) && l !== '')
    .slice(2)
    .map(line => {
      const kind = line.startsWith('@@') ? 'hunk' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : 'ctx'
      return html`<span class="diff-${kind}">${line}</span>\n`
    })
}

function revertProof(doc: JournalDocument, fault: AppliedFault): SafeHtml {
  const failed = doc.events.find(
    (e): e is Extract<RunEvent, {kind: 'revert-failed'}> =>
      e.kind === 'revert-failed' &&
      e.resource === fault.kind &&
      e.namespace === fault.namespace &&
      e.name === fault.name,
  )
  if (failed !== undefined)
    return commandBox(
      `✘ NOT reverted (${formatRunClock(failed.t)}): ${failed.message}`,
      'The fault may still be live. Clean up with:',
      failed.command,
    )
  // A stale leftover of a dead run restored on the same object before our write is not our revert.
  const written = (a: AppliedFault) =>
    a.kind === fault.kind &&
    a.namespace === fault.namespace &&
    a.name === fault.name &&
    a.resourceVersion === fault.resourceVersion
  const appliedAt =
    doc.events.find(
      e => (e.kind === 'setup-applied' && written(e.setup)) || (e.kind === 'fault-applied' && written(e.fault)),
    )?.t ?? 0
  const reverted = doc.events.find(
    (e): e is Extract<RunEvent, {kind: 'revert'}> =>
      e.kind === 'revert' &&
      e.resource === fault.kind &&
      e.namespace === fault.namespace &&
      e.name === fault.name &&
      e.t >= appliedAt,
  )
  if (reverted !== undefined) {
    return html`<p class="proof tone-good"><b>✔ Reverted</b> at ${formatRunClock(reverted.t)}: <b>${reverted.action}</b> ${fault.namespace}/${fault.name} — ${reverted.message}</p>`
  }
  const live = doc.status === 'finished' ? 'the journal records no revert for it' : 'the run died before reverting it'
  return commandBox(
    `✘ NO revert recorded: ${live}.`,
    'The fault may still be live. Check and clean up with:',
    revertCommand(doc.runId, runNamespace(doc)),
  )
}

function appliedBlock(doc: JournalDocument, fault: AppliedFault): SafeHtml {
  return html`<article class="applied">
  <h3>${fault.kind === 'DestinationRule' ? 'Setup: patched' : fault.action === 'create' ? 'Created' : 'Updated'} ${fault.kind ?? 'VirtualService'} <code>${fault.namespace}/${fault.name}</code> <span class="muted">resourceVersion ${fault.resourceVersion}${fault.kind === 'DestinationRule' ? ' · spec.setup: in place from before the baseline to the end of the run' : ''}</span></h3>
  ${revertProof(doc, fault)}
  <pre class="diff" aria-label="unified diff of the spec">${diffLines(specDiff(fault))}</pre>
</article>`
}

/** The section: every applied VirtualService with its diff and its revert; stale faults reverted first. */
export function changesSection(doc: JournalDocument): SafeHtml {
  const firstPhase = doc.phases[0]?.startT ?? Infinity
  const stale = doc.events.filter(
    (e): e is Extract<RunEvent, {kind: 'revert'}> => e.kind === 'revert' && e.t < firstPhase,
  )
  const orphanFailures = doc.events.filter(
    (e): e is Extract<RunEvent, {kind: 'revert-failed'}> =>
      e.kind === 'revert-failed' &&
      !doc.applied.some(a => a.kind === e.resource && a.namespace === e.namespace && a.name === e.name),
  )
  return html`<section id="changes"><h2>What was changed, and the proof it was reverted</h2>
${doc.applied.length === 0 ? html`<p class="empty">Nothing was written to the cluster: no fault was applied.</p>` : doc.applied.map(f => appliedBlock(doc, f))}
${orphanFailures.map(e => commandBox(`✘ Revert of ${e.namespace}/${e.name} failed: ${e.message}`, 'The fault may still be live. Clean up with:', e.command))}
${stale.length === 0 ? '' : html`<p class="muted">Before the run, stale faults of dead runs were reverted: ${stale.map(e => `${e.namespace}/${e.name} (${e.action}: ${e.message})`).join('; ')}</p>`}
</section>`
}
