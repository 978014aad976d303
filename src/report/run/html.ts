/**
 * report.html: one self-contained page per run, read from its journal (pure). Everything it needs —
 * styles, the uPlot chart library, the page's script and the data — is inline, and a Content
 * Security Policy that allows only those exact scripts (by hash) and no network at all makes sure
 * it opens offline and that nothing from an experiment, a cluster or a target can run as code.
 */
import {createHash} from 'node:crypto'

import type {JournalDocument} from '../../journal/journal.js'
import {html, inlineScript, raw, type SafeHtml, uplotAssets} from '../assets.js'
import {changesSection} from './changes.js'
import {chartData, chartDataElement, timelineSection} from './charts.js'
import {CLIENT_SCRIPT} from './client.js'
import {blastRadiusSection} from './diagnosis.js'
import {environmentSection, eventLogSection} from './log.js'
import {timelineOf, verdictOf} from './model.js'
import {hypothesisSection, meshSignalsSection} from './probes.js'
import {reasonsSection} from './reasons.js'
import {evidenceSection, glance, verdictBanner} from './sections.js'
import {REPORT_CSS} from './style.js'

function scriptHash(body: SafeHtml): string {
  return `'sha256-${createHash('sha256').update(body.value).digest('base64')}'`
}

/** Only our own scripts run (by hash), styles are inline, and the page may fetch nothing. */
function contentSecurityPolicy(scripts: readonly SafeHtml[]): string {
  return [
    "default-src 'none'",
    `script-src ${scripts.map(scriptHash).join(' ')}`,
    "style-src 'unsafe-inline'",
    'img-src data:',
    "connect-src 'none'",
    "font-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ')
}

const TOC = [
  ['timeline', 'Timeline'],
  ['hypothesis', 'Hypothesis'],
  ['evidence', 'Evidence'],
  ['blast-radius', 'What the fault did'],
  ['mesh', 'Mesh signals'],
  ['changes', 'Changes & revert'],
  ['events', 'Event log'],
  ['environment', 'Environment'],
] as const

/** Renders a journal as one self-contained HTML page (no request leaves it). */
export function renderHtml(doc: JournalDocument): string {
  const verdict = verdictOf(doc)
  const timeline = timelineOf(doc)
  const data = chartData(doc, timeline)
  const withCharts = data.classes.length > 0 || data.prometheus.length > 0
  const scripts = [...(withCharts ? [uplotAssets().script] : []), inlineScript(CLIENT_SCRIPT)]
  const title = `${verdict.icon} ${verdict.title} · ${doc.experiment.name} · ${doc.startedAt.slice(0, 19).replace('T', ' ')}`
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(scripts)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="${doc.environment.runner ?? 'faultline'}">
<title>${title}</title>
${withCharts ? html`<style>${uplotAssets().style}</style>` : ''}
<style>${raw(REPORT_CSS)}</style>
</head>
<body>
<nav class="toc" aria-label="sections">${TOC.map(([id, label]) => html`<a href="#${id}">${label}</a>`)}</nav>
<main>
${verdictBanner(doc, verdict, timeline)}
${glance(doc)}
${timelineSection(doc, timeline, data)}
${reasonsSection(doc)}
${hypothesisSection(doc)}
${evidenceSection(doc)}
${blastRadiusSection(doc)}
${meshSignalsSection(doc, data.prometheus)}
${changesSection(doc)}
${eventLogSection(doc)}
${environmentSection(doc)}
</main>
<footer>Faultline report of run ${doc.runId}, rendered from journal version ${String(doc.version)} by ${doc.environment.runner ?? 'faultline'}. This page is self-contained: it loads nothing from the network.</footer>
${withCharts ? chartDataElement(data) : ''}
${scripts.map(s => html`<script>${s}</script>`)}
</body>
</html>
`.value
}
