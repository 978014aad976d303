/**
 * report.html's stylesheet. Dark text on white; verdicts and statuses use colour-blind-safe hues
 * (Okabe–Ito blue, vermillion, purple, grey; a hatched banner for a failed revert) and always carry
 * a word and a symbol as well, so nothing is told by colour alone. `@media print` keeps every
 * fact, drops only the controls, and lets charts shrink to the page.
 */

/** The page's CSS (ours; uPlot's own stylesheet is inlined beside it). */
export const REPORT_CSS = `
:root { --ink: #1b1b1b; --muted: #5a5a5a; --line: #d5d5d5; --good: #0072B2; --good-bg: #e7f1f9; --bad: #B00020; --bad-bg: #fdecee;
  --warn: #8a5a00; --warn-bg: #fff4d6; --dev: #C04F00; --dev-bg: #fdeee3; --abort: #5b3a8c; --abort-bg: #f1ebf8; --none: #666; --none-bg: #f1f1f1; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 1500px; padding: 16px 24px 40px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace; font-size: 0.92em; }
h1 { font-size: 22px; margin: 6px 0 2px; }
h2 { font-size: 18px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 12px 0 4px; }
h4 { font-size: 12px; margin: 8px 0 0; color: var(--muted); font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
.muted { color: var(--muted); font-weight: normal; }
.small { font-size: 12px; }
.empty { color: var(--muted); font-style: italic; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
nav.toc { font-size: 13px; margin: 0 0 10px; color: var(--muted); }
nav.toc a { color: var(--good); margin-right: 12px; }

.verdict { display: flex; gap: 18px; align-items: flex-start; padding: 14px 20px; border: 2px solid; border-left-width: 12px; border-radius: 6px; }
.verdict-icon { font-size: 44px; line-height: 1; width: 56px; text-align: center; }
.verdict-body { flex: 1; min-width: 0; }
.verdict-title { margin: 0; font-size: 26px; font-weight: 800; text-transform: uppercase; letter-spacing: .02em; }
.verdict-title .exit { font-size: 14px; font-weight: 600; text-transform: none; border: 1px solid currentColor; border-radius: 10px; padding: 1px 8px; vertical-align: middle; }
.verdict-reason { margin: 4px 0 8px; font-size: 17px; font-weight: 600; overflow-wrap: anywhere; }
.verdict .description { margin: 0 0 4px; font-size: 15px; }
.verdict .meta { margin: 4px 0 0; color: #333; font-size: 13px; overflow-wrap: anywhere; }
.verdict-held { border-color: var(--good); background: var(--good-bg); } .verdict-held .verdict-title, .verdict-held .verdict-icon { color: #005286; }
.verdict-deviated { border-color: var(--dev); background: var(--dev-bg); } .verdict-deviated .verdict-title, .verdict-deviated .verdict-icon { color: #8f3a00; }
.verdict-aborted { border-color: var(--abort); background: var(--abort-bg); } .verdict-aborted .verdict-title, .verdict-aborted .verdict-icon { color: var(--abort); }
.verdict-could-not-run { border-color: var(--none); background: var(--none-bg); } .verdict-could-not-run .verdict-title, .verdict-could-not-run .verdict-icon { color: #333; }
.verdict-revert-failed { border-color: var(--bad); background: repeating-linear-gradient(135deg, #fde3e6 0 14px, #fff 14px 28px); }
.verdict-revert-failed .verdict-title, .verdict-revert-failed .verdict-icon { color: var(--bad); }
.verdict-unfinished { border-color: var(--warn); border-style: dashed; background: var(--warn-bg); } .verdict-unfinished .verdict-title, .verdict-unfinished .verdict-icon { color: var(--warn); }

.glance { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 10px; margin: 12px 0 4px; }
.fact { display: flex; gap: 10px; padding: 8px 12px; border: 1px solid var(--line); border-top: 5px solid var(--none); border-radius: 4px; }
.fact p { margin: 0; }
.fact-icon { font-size: 22px; line-height: 1.1; font-weight: 700; }
.fact-label { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); }
.fact-headline { font-weight: 700; font-size: 15px; }
.fact-detail { font-size: 12px; color: #333; overflow-wrap: anywhere; }
.fact-detail.has-tip { text-decoration: underline dotted #888; text-underline-offset: 2px; cursor: help; }
.injected { margin: 6px 0 4px; font-size: 15px; overflow-wrap: anywhere; }
.injected p { margin: 0; }
.injected-faults { margin: 2px 0 0; padding-left: 20px; overflow-wrap: anywhere; }
.tone-good { border-top-color: var(--good); } .tone-good .fact-icon { color: var(--good); }
.tone-bad { border-top-color: var(--bad); } .tone-bad .fact-icon, .fact.tone-bad .fact-headline { color: var(--bad); }
.tone-warn { border-top-color: var(--warn); } .tone-warn .fact-icon, .fact.tone-warn .fact-headline { color: var(--warn); }
.tone-none .fact-icon { color: var(--none); }
.warn-text { color: var(--warn); } .bad-text { color: var(--bad); font-weight: 700; }

.chart-legend { display: flex; flex-wrap: wrap; gap: 6px 32px; font-size: 13px; margin-bottom: 6px; }
.chart-legend ul { list-style: none; margin: 0; padding: 0; }
.chart-legend li { margin: 2px 0; }
.swatch { display: inline-block; width: 22px; height: 12px; border: 1px solid #999; margin-right: 6px; vertical-align: -1px; }
.phase-baseline { background: rgba(0,0,0,0.06); } .phase-fault { background: rgba(230,159,0,0.25); } .phase-recovery { background: rgba(86,180,233,0.2); }
.marker-num { display: inline-block; min-width: 18px; height: 18px; line-height: 18px; text-align: center; color: #fff; font-weight: 700; font-size: 11px; margin-right: 6px; background: #000; }
.marker-guardrail { background: #D55E00; } .marker-revert, .marker-last-evidence { background: #0072B2; } .marker-revert-failed { background: #B00020; }
.class-grid { display: grid; gap: 12px 24px; }
.class-grid.cols-1 { grid-template-columns: minmax(0, 1fr); }
.class-grid.cols-2 { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.class-card { container-type: inline-size; min-width: 0; border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px 8px; }
.class-card h3 { margin: 4px 0 0; } .class-card p { margin: 0; overflow-wrap: anywhere; }
.chart { width: 100%; min-height: 130px; }
.chart .uplot { font-family: inherit; position: relative; }
/* The series legend sits on the chart's title line, right-aligned (the page's script moves it
   there); where both do not fit, it wraps under the title. */
.chart-head { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: center; gap: 0 12px; min-height: 20px; margin-top: 6px; }
.class-card .chart-head h4 { margin: 0; }
.chart-head .u-legend { margin: 0 0 0 auto; font-size: 12px; text-align: right; width: auto; cursor: help; }
/* The first row is the time under the pointer, or which phase the values summarise without one. */
.chart-head .u-legend .u-series:first-child th { display: none; }
.chart-head .u-legend .u-series:first-child .u-value { color: var(--muted); font-style: italic; }
.chart-head .u-legend .u-series { padding: 0 0 0 10px; }
.chart-head .u-legend .u-series > * { padding: 0 2px; border: 0; }
.chart-head .u-legend .u-marker { width: 16px; height: 4px; }
.class-card h4 { height: 20px; line-height: 20px; margin-top: 6px; }

table { border-collapse: collapse; width: 100%; margin: 8px 0; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 6px 0; color: var(--muted); }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
thead th { background: #f4f4f4; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; color: #333; }
td.expectation code { overflow-wrap: anywhere; }
table.hypothesis th:first-child, table.signals th:first-child { width: 20%; }
table.hypothesis thead th:nth-child(2), table.signals thead th:nth-child(2) { width: 26%; }
table.hypothesis thead th:nth-child(n+3), table.signals thead th:nth-child(n+3) { width: 18%; }
th .kind { display: block; font-weight: normal; color: var(--muted); font-size: 11px; }
td.result .actual, td.result .message, td .message { display: block; overflow-wrap: anywhere; }
td .message { color: #333; font-size: 12px; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-weight: 700; font-size: 12px; border: 1px solid; }
.badge-held { color: #005286; background: var(--good-bg); border-color: var(--good); }
.badge-missed { color: #fff; background: var(--bad); border-color: var(--bad); }
.badge-errored { color: var(--abort); background: var(--abort-bg); border-color: var(--abort); border-style: dashed; }
td.status-missed { background: var(--bad-bg); }
td.not-evaluated, td.not-planned { color: var(--muted); }

ul.evidence { list-style: none; padding: 0; margin: 0; }
ul.evidence li { padding: 6px 10px; margin: 4px 0; border-left: 5px solid var(--none); background: #fafafa; overflow-wrap: anywhere; }
ul.evidence li.tone-good { border-left-color: var(--good); } ul.evidence li.tone-bad { border-left-color: var(--bad); } ul.evidence li.tone-warn { border-left-color: var(--warn); }
.loud { font-size: 15px; border: 2px solid var(--bad) !important; border-left-width: 8px !important; background: var(--bad-bg) !important; padding: 10px 14px; }
.tone-warn.loud { border-color: var(--warn) !important; background: var(--warn-bg) !important; }

.applied { margin-bottom: 14px; }
.proof { margin: 6px 0; padding: 6px 10px; border-left: 5px solid var(--good); background: var(--good-bg); overflow-wrap: anywhere; }
.proof p { margin: 2px 0; }
.command-row { display: flex; gap: 8px; align-items: stretch; }
pre.command { flex: 1; margin: 4px 0; padding: 8px 12px; background: #fff; border: 2px solid var(--bad); font-size: 15px; font-weight: 700; white-space: pre-wrap; overflow-wrap: anywhere; }
button.copy { font: inherit; padding: 0 14px; border: 1px solid #333; background: #fff; border-radius: 4px; cursor: pointer; }
pre.diff { margin: 6px 0; padding: 8px 0; border: 1px solid var(--line); border-radius: 4px; background: #fbfbfb; font-size: 12.5px; line-height: 1.4; overflow-x: auto; }
pre.diff span { display: inline-block; width: 100%; padding: 0 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.diff-add { background: #e3effa; }
.diff-del { background: #fde7dc; }
.diff-hunk { color: var(--muted); background: #f0f0f0; }

table.events td:nth-child(2) { white-space: nowrap; }
table.events tr.tone-bad td { background: var(--bad-bg); font-weight: 600; }
table.events tr.tone-warn td { background: var(--warn-bg); }
table.events td { overflow-wrap: anywhere; }
dl.environment { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 4px 24px; margin: 0; }
dl.environment div { display: flex; gap: 8px; border-bottom: 1px dotted var(--line); padding: 3px 0; }
dl.environment dt { color: var(--muted); min-width: 140px; }
dl.environment dd { margin: 0; overflow-wrap: anywhere; font-weight: 600; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; }

@media (max-width: 1100px) { .class-grid.cols-2 { grid-template-columns: minmax(0, 1fr); } .glance { grid-template-columns: repeat(2, minmax(0, 1fr)); } }

@page { size: A4; margin: 12mm 11mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5px; }
  h2 { font-size: 14px; margin-top: 16px; break-after: avoid; }
  h3, h4 { break-after: avoid; }
  .no-print, nav.toc, .u-cursor-x, .u-cursor-y, .u-cursor-pt, .u-select { display: none !important; }
  .verdict { padding: 8px 12px; } .verdict-title { font-size: 20px; } .verdict-reason { font-size: 13px; }
  .glance { grid-template-columns: repeat(4, minmax(0, 1fr)); gap: 6px; }
  .fact-headline { font-size: 12px; }
  .class-grid.cols-2 { grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 8px; }
  .class-card, .applied, tr, .fact, ul.evidence li, .proof { break-inside: avoid; }
  .chart .u-wrap, .chart canvas { max-width: 100% !important; }
  .chart canvas { height: auto !important; }
  pre.diff { font-size: 10px; }
  table { font-size: 10px; }
  #events { break-before: page; }
}
`
