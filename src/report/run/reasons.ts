/**
 * report.html's "Why requests failed": per traffic class and phase, the failed requests' reasons
 * (src/load/reasons.ts) with their counts and share, the Envoy response flags that appear spelled
 * out, and — for a run that stopped in preflight because a class could not reach its URL — what
 * the reachability check found and the ways into the mesh. Pure.
 */
import type {RunEvent} from '../../journal/events.js'
import type {JournalDocument} from '../../journal/journal.js'
import {html, type SafeHtml} from '../assets.js'
import {reasonsByPhase} from './failure-reasons.js'
import {formatCount, formatPercent} from './html-format.js'
import {topReasons} from '../../load/reasons.js'

/** Envoy response flags (test/reference/envoy-stats/envoy-response-flags.csv) and Istio's RBAC denial, in words. */
const FLAG_WORDS: Record<string, string> = {
  UO: 'upstream overflow: a circuit breaker (connection pool) refused the request',
  UH: 'no healthy upstream host (none ready, or all ejected by outlier detection)',
  FI: 'fault injected: an abort fault answered the request',
  UT: "upstream request timeout (the route's or a retry's timeout)",
  UF: 'upstream connection failure',
  UC: 'upstream connection termination',
  LR: 'connection local reset',
  UR: 'upstream remote reset',
  UPE: 'upstream protocol error',
  URX: 'retries exhausted (upstream retry limit exceeded)',
  NR: 'no route configured for the request (or host)',
  NC: 'upstream cluster not found (e.g. a subset no DestinationRule defines)',
  RL: 'rate-limited locally',
  UMSDR: 'upstream max stream duration reached',
  RBAC: 'denied by an AuthorizationPolicy (RBAC: access denied)',
}

type Preflight = Extract<RunEvent, {kind: 'preflight'}>

/** The flags named in reasons like `503 UO` or `503 UF,URX`. */
function flagsIn(reasons: readonly string[]): string[] {
  const flags = new Set<string>()
  for (const r of reasons) {
    const m = /^\d{3} ([A-Z,]+)$/.exec(r)
    for (const f of m?.[1]?.split(',') ?? []) if (FLAG_WORDS[f] !== undefined) flags.add(f)
  }
  return [...flags].sort()
}

function reachabilityFindings(doc: JournalDocument): SafeHtml {
  const found = doc.events.filter(
    (e): e is Extract<RunEvent, {kind: 'preflight'}> =>
      e.kind === 'preflight' && e.check === 'reachability' && e.status !== 'ok',
  )
  if (found.length === 0) return html``
  return html`<div class="reachability"><p><b>Reachability (preflight, before the baseline):</b></p>
  <ul>${found.map((e: Preflight) => html`<li class="${e.status === 'failed' ? 'bad-text' : 'warn-text'}">${e.message}${e.hint === undefined ? '' : html`<br><span class="muted">${e.hint}</span>`}</li>`)}</ul></div>`
}

/** The section, or a sentence saying no request failed. */
export function reasonsSection(doc: JournalDocument): SafeHtml {
  const rows = reasonsByPhase(doc).filter(p => p.failed > 0)
  const reach = reachabilityFindings(doc)
  if (rows.length === 0) {
    return html`<section id="reasons"><h2>Why requests failed</h2>${reach}<p class="empty">${Object.keys(doc.load).length === 0 ? 'No load ran.' : 'No request failed.'}</p></section>`
  }
  const body = rows.map(
    p => html`<tr><th scope="row">${p.traffic}</th><td>${p.phase}</td>
    <td class="num bad-text">${formatCount(p.failed)} of ${formatCount(p.requests)} (${formatPercent(p.requests === 0 ? 0 : p.failed / p.requests)})</td>
    <td><ul class="reasons">${topReasons(p.reasons, 8).map(([reason, n]) => html`<li><code>${reason}</code> × ${formatCount(n)} <span class="muted">(${formatPercent(n / p.failed)})</span></li>`)}${Object.keys(p.reasons).length > 8 ? html`<li class="muted">and ${Object.keys(p.reasons).length - 8} more reasons</li>` : ''}</ul></td></tr>`,
  )
  const flags = flagsIn(rows.flatMap(p => Object.keys(p.reasons)))
  return html`<section id="reasons">
<h2>Why requests failed <span class="muted">per traffic class and phase</span></h2>
${reach}
<table class="reasons">
  <caption>A network error (DNS, refused, reset, timeout, TLS, the proxy's) or the HTTP status; an Envoy local reply carries its response flag (503 UO), an answer from the application the bare status</caption>
  <thead><tr><th>class</th><th>phase</th><th>failed</th><th>reasons, most frequent first</th></tr></thead>
  <tbody>${body}</tbody></table>
${flags.length === 0 ? '' : html`<p class="small muted">Envoy response flags: ${flags.map((f, i) => html`${i === 0 ? '' : ' · '}<b>${f}</b> ${FLAG_WORDS[f] ?? ''}`)}</p>`}
</section>`
}
