/**
 * report.html's "What the fault did": the blast-radius map as a service graph (nodes by workload,
 * edges coloured and labelled by their change against the baseline), laid out by dagre here in
 * Node at render time so the page carries only SVG (no script, CSP-safe, offline); the edges ×
 * phases table; and the diagnosis, each sentence linking to the figures behind it. Pure.
 */
import dagre from '@dagrejs/dagre'

import {bytes, edgeName, ms, pct} from '../../diagnosis/format.js'
import type {BlastRadius, BlastRadiusMap, Evidence, MapEdge} from '../../diagnosis/model.js'
import {edgeChange} from '../../diagnosis/rules.js'
import {phaseCell} from '../../diagnosis/text.js'
import type {JournalDocument} from '../../journal/journal.js'
import {html, raw, type SafeHtml} from '../assets.js'

/** How an edge changed in the fault phase, as the graph colours it. */
export type EdgeTone = 'faulted' | 'errors' | 'slower' | 'changed' | 'new' | 'same' | 'idle'

const TONE_COLOUR: Record<EdgeTone, string> = {
  faulted: '#5b3a8c',
  errors: '#B00020',
  slower: '#C04F00',
  changed: '#8a5a00',
  new: '#0072B2',
  same: '#8c8c8c',
  idle: '#c8c8c8',
}
const TONE_WORDS: Record<EdgeTone, string> = {
  faulted: 'faulted (DI/FI)',
  errors: 'more errors',
  slower: 'slower',
  changed: 'changed otherwise',
  new: 'new in the fault phase',
  same: 'unchanged',
  idle: 'no requests in the fault phase',
}

/** The edge's tone and its label in the graph. */
export function edgeTone(e: MapEdge): {tone: EdgeTone; label: string} {
  const f = e.phases.fault
  const change = edgeChange(e)
  const injected = (f?.flags.DI?.count ?? 0) + (f?.flags.FI?.count ?? 0)
  const label =
    change.length > 0
      ? change.slice(0, 2).join(' · ')
      : f === undefined
        ? ''
        : `${Number(f.rps.toFixed(1))}/s · err ${pct(f.errorRatio)}`
  if (injected > 0)
    return {
      tone: 'faulted',
      label: [
        `${f?.flags.DI === undefined ? '' : `DI ${f.flags.DI.count}`}${f?.flags.FI === undefined ? '' : ` FI ${f.flags.FI.count}`}`.trim(),
        ...change.slice(0, 1),
      ].join(' · '),
    }
  if (f === undefined || (f.requests === 0 && change.length === 0)) return {tone: 'idle', label}
  if (change.some(c => c.startsWith('new'))) return {tone: 'new', label}
  if (change.some(c => c.startsWith('errors') || /^(UO|UH|UF|URX) /.test(c))) return {tone: 'errors', label}
  if (change.some(c => c.startsWith('p99') || /^(UT|DC) /.test(c))) return {tone: 'slower', label}
  if (change.length > 0) return {tone: 'changed', label}
  return {tone: 'same', label}
}

/** A safe id fragment for an edge's table row. */
export const edgeAnchor = (id: string) => `edge-${id.replace(/[^A-Za-z0-9_-]+/g, '_')}`

interface GraphNode {
  id: string
  label: string
  sub: string
  kind: 'workload' | 'service'
}

/**
 * Nodes by workload: a caller is its workload; a service is drawn as the workload that serves it
 * when exactly one does (productpage-v1 for productpage), else as a service node with a thin
 * "serves" link to each of its workloads (reviews → reviews-v1, -v2, -v3).
 */
export function graphOf(map: BlastRadiusMap): {
  nodes: GraphNode[]
  links: {from: string; to: string; edge?: MapEdge}[]
} {
  const nodes = new Map<string, GraphNode>()
  const links: {from: string; to: string; edge?: MapEdge}[] = []
  const serviceNode = (e: MapEdge): string => {
    if (e.servedBy.length === 1) {
      const w = e.servedBy[0] as string
      if (!nodes.has(w)) nodes.set(w, {id: w, label: w, sub: e.destination, kind: 'workload'})
      return w
    }
    const id = `svc:${e.destination}`
    if (!nodes.has(id))
      nodes.set(id, {
        id,
        label: e.destination,
        sub: e.servedBy.length === 0 ? 'service' : `service · ${e.servedBy.length} workloads`,
        kind: 'service',
      })
    return id
  }
  for (const e of map.edges) {
    if (!nodes.has(e.source))
      nodes.set(e.source, {
        id: e.source,
        label: e.source,
        sub: map.workloads[e.source] ?? (e.entry === true ? 'load' : ''),
        kind: 'workload',
      })
    links.push({from: e.source, to: serviceNode(e), edge: e})
  }
  for (const e of map.edges) {
    if (e.servedBy.length <= 1) continue
    for (const w of e.servedBy) {
      if (!nodes.has(w)) nodes.set(w, {id: w, label: w, sub: e.destination, kind: 'workload'})
      if (!links.some(l => l.from === `svc:${e.destination}` && l.to === w))
        links.push({from: `svc:${e.destination}`, to: w})
    }
  }
  return {nodes: [...nodes.values()], links}
}

const CHAR_W = 7
const MAX_LABEL = 44
const shortLabel = (label: string) => (label.length > MAX_LABEL ? label.slice(0, MAX_LABEL - 1) + '…' : label)
const labelWidth = (label: string) => shortLabel(label).length * 6.4 + 10
const round = (n: number) => Math.round(n * 10) / 10

/** The graph as SVG, laid out by dagre (left to right). */
export function mapSvg(map: BlastRadiusMap): SafeHtml {
  const {nodes, links} = graphOf(map)
  if (nodes.length === 0) return html``
  const g = new dagre.graphlib.Graph({multigraph: true})
  g.setGraph({rankdir: 'LR', nodesep: 22, ranksep: 36, edgesep: 14, marginx: 10, marginy: 10})
  g.setDefaultEdgeLabel(() => ({}))
  for (const n of nodes) g.setNode(n.id, {width: Math.max(n.label.length, n.sub.length) * CHAR_W + 24, height: 40})
  links.forEach((l, i) => {
    const label = l.edge === undefined ? '' : edgeTone(l.edge).label
    g.setEdge(
      l.from,
      l.to,
      {width: l.edge === undefined ? 0 : labelWidth(label), height: l.edge === undefined ? 0 : 18, labelpos: 'c'},
      String(i),
    )
  })
  dagre.layout(g)
  const graph = g.graph()
  const width = Math.ceil(graph.width ?? 600)
  const height = Math.ceil(graph.height ?? 200)
  const edges = links.map((l, i) => {
    const laid = g.edge({v: l.from, w: l.to, name: String(i)}) as {
      points: {x: number; y: number}[]
      x?: number
      y?: number
    }
    const d = laid.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${round(p.x)},${round(p.y)}`).join(' ')
    if (l.edge === undefined) return html`<path class="serves" d="${d}"/>`
    const {tone, label} = edgeTone(l.edge)
    const f = l.edge.phases.fault
    const w = Math.min(7, 1.5 + Math.log2(1 + (f?.rps ?? 0)))
    const title = `${edgeName(l.edge.id)} (${l.edge.reporter} reporter): ${TONE_WORDS[tone]}${label === '' ? '' : ` — ${label}`}`
    return html`<a href="#${edgeAnchor(l.edge.id)}"><g class="edge tone-${tone}"><title>${title}</title><path d="${d}" stroke="${TONE_COLOUR[tone]}" stroke-width="${round(w)}" marker-end="url(#arrow-${tone})"${l.edge.entry === true ? raw(' stroke-dasharray="6 3"') : ''}/>${label === '' || laid.x === undefined ? '' : html`<rect class="label-bg" x="${round(laid.x - labelWidth(label) / 2)}" y="${round((laid.y ?? 0) - 9)}" width="${round(labelWidth(label))}" height="17" rx="3" stroke="${TONE_COLOUR[tone]}"/><text x="${round(laid.x)}" y="${round((laid.y ?? 0) + 4)}" fill="${TONE_COLOUR[tone]}">${shortLabel(label)}</text>`}</g></a>`
  })
  const nodeMarks = nodes.map(n => {
    const laid = g.node(n.id)
    const x = round(laid.x - laid.width / 2)
    const y = round(laid.y - laid.height / 2)
    const faulted = map.edges.some(
      e => e.faulted === true && (e.servedBy.includes(n.id) || `svc:${e.destination}` === n.id),
    )
    return html`<g class="node ${n.kind}${faulted ? ' faulted' : ''}"><rect x="${x}" y="${y}" width="${round(laid.width)}" height="${round(laid.height)}" rx="${n.kind === 'service' ? 18 : 4}"/><text x="${round(laid.x)}" y="${round(laid.y - 3)}" class="label">${n.label}</text><text x="${round(laid.x)}" y="${round(laid.y + 12)}" class="sub">${faulted ? `⚡ ${n.sub}` : n.sub}</text></g>`
  })
  const markers = (Object.keys(TONE_COLOUR) as EdgeTone[]).map(
    t =>
      html`<marker id="arrow-${t}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="5" markerHeight="5" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="${TONE_COLOUR[t]}"/></marker>`,
  )
  return html`<svg class="blast-map" role="img" aria-label="service graph: each edge coloured by its change in the fault phase against the baseline" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
<defs>${markers}<marker id="arrow-serves" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="4" markerHeight="4" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#bbb"/></marker></defs>
${edges}
${nodeMarks}
</svg>`
}

const STYLE = `
#blast-radius .map-wrap { overflow-x: auto; border: 1px solid var(--line); background: #fcfcfc; padding: 6px; }
svg.blast-map { display: block; max-width: 100%; height: auto; margin: 0 auto; font: 12px system-ui, sans-serif; }
svg.blast-map rect.label-bg { fill: #fff; stroke-width: .8; }
svg.blast-map .node rect { fill: #fff; stroke: #555; stroke-width: 1.2; }
svg.blast-map .node.service rect { fill: #f4f4f4; stroke-dasharray: 4 2; }
svg.blast-map .node.faulted rect { stroke: #5b3a8c; stroke-width: 2.5; fill: #f1ebf8; }
svg.blast-map .node text { text-anchor: middle; fill: #1b1b1b; }
svg.blast-map .node text.sub { fill: #5a5a5a; font-size: 10px; }
svg.blast-map .edge path { fill: none; }
svg.blast-map .edge text { text-anchor: middle; font-size: 11px; font-weight: 600; }
svg.blast-map path.serves { fill: none; stroke: #bbb; stroke-width: 1; stroke-dasharray: 2 3; marker-end: url(#arrow-serves); }
#blast-radius ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; }
#blast-radius ul.legend span.swatch { display: inline-block; width: 18px; height: 4px; vertical-align: middle; margin-right: 4px; }
#blast-radius ol.diagnosis li { margin: 6px 0; }
#blast-radius ol.diagnosis .rule { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin-right: 6px; }
#blast-radius ol.diagnosis .evidence { display: block; font-size: 12px; color: var(--muted); }
#blast-radius table.edges td, #blast-radius table.edges th { font-size: 12px; vertical-align: top; }
#blast-radius table.edges tr:target td, #blast-radius table.edges tr:target th { background: #fff4d6; }
#blast-radius .gaps li { color: var(--warn); }
`

function evidenceLink(ev: Evidence): SafeHtml {
  const target = ev.edge === '*' ? 'blast-edges' : ev.edge.startsWith('class:') ? 'blast-classes' : edgeAnchor(ev.edge)
  const name =
    ev.edge === '*' ? 'the map' : ev.edge.startsWith('class:') ? `${ev.edge.slice(6)} traffic` : edgeName(ev.edge)
  return html`<a href="#${target}">${name}</a> (${ev.phase}): ${ev.what}`
}

function edgeRow(map: BlastRadiusMap, e: MapEdge): SafeHtml {
  const {tone} = edgeTone(e)
  return html`<tr id="${edgeAnchor(e.id)}"><th scope="row"><span class="swatch-dot" style="color:${TONE_COLOUR[tone]}">●</span> ${edgeName(e.id)}${e.entry === true ? html` <span class="kind">entry</span>` : ''}${e.faulted === true ? html` <span class="kind">faulted</span>` : ''}<span class="kind">${e.reporter} reporter${e.servedBy.length > 0 ? ` · served by ${e.servedBy.join(', ')}` : ''}</span></th>${map.phases.map(p => html`<td>${phaseCell(e, p)}${codesText(e, p)}</td>`)}</tr>`
}

function codesText(e: MapEdge, phase: 'baseline' | 'fault' | 'recovery'): SafeHtml {
  const p = e.phases[phase]
  if (p === undefined) return html``
  const codes = Object.entries(p.codes)
    .map(([c, n]) => `${c === '0' ? 'none' : c}: ${n}`)
    .join(', ')
  return html`<span class="message">${p.requests} req · ${codes}${p.p50 === undefined ? '' : ` · p50 ${ms(p.p50)}`}${p.responseBytes === undefined ? '' : ` · ${bytes(p.responseBytes)}`}</span>`
}

function classesTable(b: BlastRadius): SafeHtml {
  const classes = Object.entries(b.map.classes)
  if (classes.length === 0) return html``
  return html`<table class="edges" id="blast-classes"><caption class="muted">The load's own classes at the entry (Istio's metrics do not tell targeted from control traffic inside the mesh)</caption>
<thead><tr><th>traffic</th>${b.map.phases.map(p => html`<th>${p}</th>`)}</tr></thead><tbody>
${classes.map(
  ([name, c]) =>
    html`<tr><th scope="row">${name}<span class="kind">${c.targeted ? 'targeted' : 'control'}</span></th>${b.map.phases.map(
      p => {
        const x = c.phases[p]
        return html`<td>${x === undefined ? '–' : `${x.requests} req · err ${pct(x.errorRatio)} · p50 ${ms(x.p50)} · p99 ${ms(x.p99)}`}</td>`
      },
    )}</tr>`,
)}
</tbody></table>`
}

const SOURCE_WORDS: Record<string, string> = {
  prometheus: "the experiment's Prometheus",
  sidecars: "every sidecar's own /stats/prometheus, read at each phase boundary",
  none: 'nothing: the mesh could not be read',
}

/** The section; empty for journals without a map (older runs, runs that never reached a phase). */
export function blastRadiusSection(doc: JournalDocument): SafeHtml {
  const b = doc.blastRadius
  if (b === undefined) return html``
  const {map} = b
  const tones = new Set(map.edges.map(e => edgeTone(e).tone))
  return html`<section id="blast-radius"><h2>What the fault did <span class="muted">the blast-radius map and the diagnosis</span></h2>
<style>${raw(STYLE)}</style>
${b.diagnosis.length === 0 ? html`<p class="empty">${map.phases.length === 0 ? 'No diagnosis: the mesh could not be read at the phase boundaries.' : 'No rule found its evidence in the map.'}</p>` : html`<ol class="diagnosis">${b.diagnosis.map(f => html`<li><span class="rule">${f.rule}</span>${f.sentence}<span class="evidence">Evidence: ${f.evidence.map((ev, i) => html`${i > 0 ? ' · ' : ''}${evidenceLink(ev)}`)}</span></li>`)}</ol>`}
${
  map.edges.length === 0
    ? ''
    : html`<div class="map-wrap">${mapSvg(map)}</div>
<ul class="legend">${(Object.keys(TONE_COLOUR) as EdgeTone[]).filter(t => tones.has(t)).map(t => html`<li><span class="swatch" style="background:${TONE_COLOUR[t]}"></span>${TONE_WORDS[t]}</li>`)}<li>edge labels: the change in the fault phase against the baseline; width: requests per second; dashed: the load's entry</li></ul>
<table class="edges" id="blast-edges"><thead><tr><th>edge (source workload → service)</th>${map.phases.map(p => html`<th>${p}</th>`)}</tr></thead><tbody>${map.edges.map(e => edgeRow(map, e))}</tbody></table>`
}
${classesTable(b)}
<p class="small muted">From ${SOURCE_WORDS[map.source] ?? map.source} (namespace ${map.namespace}); each edge's figures are what the reporter Istio labels it with counted between the phase's two reads.</p>
${map.gaps.length === 0 ? '' : html`<ul class="gaps small">${map.gaps.map(g => html`<li>${g}</li>`)}</ul>`}
</section>`
}
