/**
 * Journals the report.html tests render: the recorded fixtures (one per outcome), a run that died
 * mid-fault (journal left `running`), and a copy whose every outside string is hostile markup.
 */
import {readFileSync} from 'node:fs'

import type {JournalDocument} from '../../../src/journal/journal.js'

/** The recorded fixture journals, by outcome (see test/fixtures/journals/README.md). */
export const FIXTURES = ['held', 'deviated', 'aborted', 'could-not-run', 'revert-failed'] as const

/** A fixture journal, freshly parsed. */
export function fixture(name: string): JournalDocument {
  return JSON.parse(
    readFileSync(new URL(`../../fixtures/journals/${name}.json`, import.meta.url), 'utf8'),
  ) as JournalDocument
}

/** The held run as its journal looked when the process died two seconds into the fault phase. */
export function diedMidFault(): JournalDocument {
  const doc = fixture('held')
  const fault = doc.phases.find(p => p.name === 'fault')
  const cut = (fault?.startT ?? 0) + 2000
  doc.events = doc.events.filter(e => e.t <= cut)
  doc.phases = doc.phases
    .filter(p => p.startT <= cut)
    .map(p => (p.endT !== undefined && p.endT > cut ? {name: p.name, startT: p.startT, plannedMs: p.plannedMs} : p))
  doc.probes = doc.probes.filter(p => p.phase === 'baseline')
  doc.reverted = []
  doc.load = Object.fromEntries(
    Object.entries(doc.load).map(([k, s]) => [k, s.filter(x => (doc.phases[0]?.startT ?? 0) + x.second * 1000 < cut)]),
  )
  doc.status = 'running'
  for (const k of ['outcome', 'deviated', 'exitCode', 'reason', 'finishedAt'] as const) delete doc[k]
  return doc
}

/** Markup that must only ever show as text. */
export const HOSTILE = [
  '<script>alert(1)</script>',
  '</script><script>alert(2)</script>',
  '<img src=x onerror=alert(3)>',
  '"><svg onload=alert(4)>',
  "'><iframe src=javascript:alert(5)>",
  '<!-- <style>body{display:none}</style>',
] as const

const hostile = (i: number) => `${HOSTILE[i % HOSTILE.length]} #${i}`

/**
 * The deviated run with every string that comes from the experiment, the cluster or the target
 * replaced by hostile markup: name, description, traffic class names and header values, probe
 * names, event messages, the reason, environment values, a value inside the applied spec, and a
 * Prometheus query with its series' labels.
 */
export function hostileJournal(): JournalDocument {
  const doc = withPrometheusSeries(fixture('deviated'), hostile(90))
  const spec = doc.experiment.spec
  doc.experiment.name = hostile(0)
  spec.metadata.description = hostile(1)
  doc.reason = hostile(2)
  const rename = new Map(spec.spec.load.traffic.map((t, i) => [t.name, hostile(10 + i)]))
  spec.spec.load.traffic = spec.spec.load.traffic.map((t, i) => ({
    ...t,
    name: rename.get(t.name) ?? t.name,
    headers: {...t.headers, 'x-hostile': hostile(20 + i)},
  }))
  spec.spec.steadyState = spec.spec.steadyState.map((p, i) => ({
    ...p,
    name: hostile(30 + i),
    ...('traffic' in p && p.traffic !== undefined ? {traffic: rename.get(p.traffic) ?? p.traffic} : {}),
  }))
  const probeName = new Map(
    doc.probes
      .map(p => p.probe)
      .filter((n, i, all) => all.indexOf(n) === i)
      .map((n, i) => [n, hostile(30 + i)]),
  )
  doc.probes = doc.probes.map(p => ({
    ...p,
    probe: probeName.get(p.probe) ?? p.probe,
    actual: hostile(40),
    message: hostile(41),
  }))
  doc.series = (doc.series ?? []).map(s => ({...s, probe: probeName.get(s.probe) ?? s.probe, query: hostile(91)}))
  doc.load = Object.fromEntries(
    Object.entries(doc.load).map(([k, s]) => [rename.get(k) ?? k, s.map(x => ({...x, traffic: rename.get(k) ?? k}))]),
  )
  doc.events = doc.events.map((e, i) => {
    const out = {...e} as Record<string, unknown>
    if ('message' in out) out.message = hostile(50 + i)
    if (e.kind === 'probe-result')
      out.result = {...e.result, probe: probeName.get(e.result.probe) ?? e.result.probe, message: hostile(60 + i)}
    if (e.kind === 'run-finished') out.reason = hostile(2)
    return out as typeof e
  })
  doc.environment = Object.fromEntries(Object.keys(doc.environment).map((k, i) => [k, hostile(70 + i)]))
  const after = doc.applied[0]?.after as {http: {match?: {headers: Record<string, {exact: string}>}[]}[]} | undefined
  const match = after?.http[0]?.match?.[0]
  if (match !== undefined) match.headers['x-chaos-test'] = {exact: hostile(80)}
  return doc
}

/**
 * The deviated run as if it had a PromQL probe: its per-phase results and a range series with two
 * label sets over the run, plus a second query whose range read failed.
 */
export function withPrometheusSeries(doc: JournalDocument = fixture('deviated'), label = '503'): JournalDocument {
  const probe = 'productpage 5xx ratio'
  const query =
    'sum by (code) (rate(istio_requests_total{destination_service=~"productpage.*",response_code=~"5.."}[1m]))'
  doc.experiment.spec.spec.steadyState.push({name: probe, prometheus: {query, expect: '< 0.01'}})
  for (const phase of ['baseline', 'fault', 'recovery'] as const)
    doc.probes.push({
      probe,
      kind: 'prometheus',
      phase,
      status: phase === 'fault' ? 'missed' : 'held',
      actual: phase === 'fault' ? '0.042' : '0',
      expected: '< 0.01',
      value: phase === 'fault' ? 0.042 : 0,
    })
  const fault = doc.phases.find(p => p.name === 'fault')
  const inFault = (t: number) => fault !== undefined && t >= fault.startT && t < (fault.endT ?? Infinity)
  const points = (scale: number) =>
    Array.from({length: 26}, (_, i): [number, number] => [
      i * 1000 + 250,
      inFault(i * 1000 + 250) ? scale * (0.5 + (i % 3) / 4) : 0,
    ])
  doc.series = [
    {
      probe,
      query,
      stepSeconds: 1,
      series: [
        {labels: {code: label}, points: points(0.04)},
        {labels: {code: '500'}, points: points(0.01)},
      ],
    },
    {
      probe: 'mesh error budget',
      query: 'up',
      stepSeconds: 1,
      series: [],
      error: 'Prometheus at http://127.0.0.1:9 did not answer (ECONNREFUSED)',
    },
  ]
  return doc
}

/**
 * The held run as if its experiment had two faults (a gRPC abort on reviews for a header prefix
 * beside ratings' abort) and the last faulted request had come 710 ms after the revert.
 */
export function withSeveralFaults(doc: JournalDocument = fixture('held')): JournalDocument {
  doc.experiment.spec.spec.faults.push({
    service: 'reviews',
    match: {headers: {'x-user': {prefix: 'qa-'}}},
    abort: {grpcStatus: 'UNAVAILABLE', percentage: 5},
  })
  doc.events = doc.events.map(e =>
    e.kind === 'last-evidence'
      ? {
          ...e,
          afterRevertMs: 710,
          message:
            'last faulted request between 510 and 710 ms after the revert was answered (counters polled every 200 ms)',
        }
      : e,
  )
  return doc
}
