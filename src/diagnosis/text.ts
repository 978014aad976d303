/** The diagnosis as plain text: the console's lines under the verdict, and summary.md's section (pure). */
import {wrapText} from './wrap.js'
import {bytes, edgeName, ms, pct} from './format.js'
import type {BlastRadius, MapEdge} from './model.js'

const SOURCE: Record<string, string> = {
  prometheus: 'Prometheus',
  sidecars: "the sidecars' own /stats/prometheus",
  none: 'nothing',
}

/** The console's lines: one bullet per finding, then what the map could not see. */
export function diagnosisLines(b: BlastRadius, width = 100): string[] {
  const out: string[] = []
  for (const f of b.diagnosis)
    out.push(...wrapText(f.sentence, width - 4).map((l, i) => `${i === 0 ? '  • ' : '    '}${l}`))
  if (b.diagnosis.length === 0)
    out.push(
      b.map.phases.length === 0
        ? '  (no map: the mesh could not be read at the phase boundaries)'
        : '  (no rule found its evidence in the map)',
    )
  for (const g of b.map.gaps) out.push(...wrapText(g, width - 4).map((l, i) => `${i === 0 ? '  ? ' : '    '}${l}`))
  return out
}

/** One phase of an edge in a table cell: `4.9/s · 0 % · p99 24 ms`. */
export function phaseCell(e: MapEdge, phase: 'baseline' | 'fault' | 'recovery'): string {
  const p = e.phases[phase]
  if (p === undefined) return '–'
  const flags = Object.entries(p.flags)
    .map(([f, x]) => `${f} ${x.count}`)
    .join(' ')
  const envoy =
    p.envoy === undefined
      ? ''
      : [
          p.envoy.retries ? `retry +${p.envoy.retries}` : '',
          p.envoy.overflow ? `overflow +${p.envoy.overflow}` : '',
          p.envoy.ejectionsActive ? `ejected ${p.envoy.ejectionsActive}` : '',
        ]
          .filter(x => x !== '')
          .join(' ')
  return [
    `${Number(p.rps.toFixed(1))}/s`,
    `err ${pct(p.errorRatio)}`,
    `p99 ${ms(p.p99)}`,
    p.responseBytes === undefined ? '' : bytes(p.responseBytes),
    flags,
    envoy,
  ]
    .filter(x => x !== '')
    .join(' · ')
}

/**
 * summary.md's section: the findings, the edges × phases, the gaps, as Markdown lines. `esc` makes
 * text from the cluster render as itself (summary.md's markdownText).
 */
export function diagnosisMarkdown(b: BlastRadius, esc: (text: string) => string): string[] {
  const lines = ['', '### What the fault did', '']
  if (b.diagnosis.length === 0)
    lines.push(
      b.map.phases.length === 0
        ? '_No map: the mesh could not be read at the phase boundaries._'
        : '_No rule found its evidence in the map._',
    )
  for (const f of b.diagnosis) lines.push(`- **${f.rule}**: ${esc(f.sentence)}`)
  if (b.map.edges.length > 0) {
    const phases = b.map.phases
    lines.push(
      '',
      `Edges, from ${SOURCE[b.map.source] ?? b.map.source} (each by the reporter Istio labels it with):`,
      '',
      `| Edge | Reporter | ${phases.map(p => p.charAt(0).toUpperCase() + p.slice(1)).join(' | ')} |`,
      `| --- | --- | ${phases.map(() => '---').join(' | ')} |`,
    )
    for (const e of b.map.edges)
      lines.push(
        `| ${esc(edgeName(e.id))}${e.entry === true ? ' (entry)' : ''}${e.faulted === true ? ' (faulted)' : ''} | ${e.reporter} | ${phases.map(p => esc(phaseCell(e, p))).join(' | ')} |`,
      )
  }
  if (b.map.gaps.length > 0) lines.push('', 'What the map could not see:', '', ...b.map.gaps.map(g => `- ${esc(g)}`))
  return lines
}
