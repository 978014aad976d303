import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'

import {escapeHtml} from '../../../src/report/assets.js'
import {specDiff} from '../../../src/report/run/changes.js'
import {formatMs, formatRunClock} from '../../../src/report/run/html-format.js'
import {chartLimits} from '../../../src/report/run/limits.js'
import {inFlightColumns, loadColumns, phaseTraffic, timelineOf, verdictOf} from '../../../src/report/run/model.js'
import {renderHtml} from '../../../src/report/run/html.js'
import {
  diedMidFault,
  fixture,
  FIXTURES,
  HOSTILE,
  hostileJournal,
  withPrometheusSeries,
  withSeveralFaults,
} from './html-fixtures.js'
import {longRunJournal} from './html-long-run.js'

/** The `<script>` elements of a page: attributes and body. */
function scripts(page: string): {attrs: string; body: string}[] {
  return [...page.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)].map(m => ({attrs: m[1] ?? '', body: m[2] ?? ''}))
}

interface Embedded {
  offsetS: number
  endS: number
  phases: {name: string; cutShort: boolean; labels: string[]}[]
  markers: {kind: string; t: number}[]
  classes: {
    name: string
    second: number[]
    failed: number[]
    cancelled?: number[]
    inFlight?: {at: number[]; count: number[]; oldestS: number[]}
  }[]
  prometheus: {
    probe: string
    labels: string[]
    t: number[]
    values: (number | null)[][]
    threshold?: {op: string; value: number; label: string}
  }[]
}

function chartData(page: string): Embedded {
  const body = scripts(page).find(s => s.attrs.includes('id="chart-data"'))?.body
  assert.ok(body !== undefined, 'the page embeds chart data')
  return JSON.parse(body)
}

describe('report.html', () => {
  it('leads every outcome with its verdict, reason and experiment', () => {
    const titles: Record<string, RegExp> = {
      held: /Hypothesis held/,
      deviated: /Hypothesis deviated/,
      aborted: /Aborted/,
      'could-not-run': /Could not run/,
      'revert-failed': /Revert failed/,
    }
    for (const name of FIXTURES) {
      const doc = fixture(name)
      const page = renderHtml(doc)
      assert.match(page, titles[name] as RegExp, name)
      assert.ok(page.includes(escapeHtml(doc.reason ?? '')), `${name}: the reason`)
      assert.ok(page.includes(`<h1>${escapeHtml(doc.experiment.name)}</h1>`), `${name}: the experiment`)
      assert.ok(page.includes(`class="verdict verdict-${doc.outcome}"`), name)
      assert.doesNotMatch(page, /\b(src|href)="(?!#)/, `${name}: nothing is loaded from anywhere`)
    }
  })

  it('says at the top what was injected, where and for whom, one sentence per fault', () => {
    const banner = (page: string) => page.slice(page.indexOf('<header'), page.indexOf('</header>'))
    assert.ok(
      banner(renderHtml(fixture('deviated'))).includes(
        '<p class="injected"><b>Injected during the fault phase:</b> delay 7 s on 100 % of requests to ratings carrying x-chaos-test: true, applied in the calling sidecars</p>',
      ),
    )
    assert.match(
      banner(renderHtml(fixture('held'))),
      /Injected during the fault phase:<\/b> abort with HTTP 503 on 50 % of requests to ratings carrying x-chaos-test: true/,
    )
    assert.match(banner(renderHtml(fixture('could-not-run'))), /Planned, never injected:<\/b> delay 7 s on 100 %/)
    const several = banner(renderHtml(withSeveralFaults()))
    assert.match(several, /Injected during the fault phase \(2 faults\):/)
    assert.deepEqual(
      [...several.matchAll(/<li>([^<]*)<\/li>/g)].map(m => m[1]),
      [
        'abort with HTTP 503 on 50 % of requests to ratings carrying x-chaos-test: true, applied in the calling sidecars',
        'abort with gRPC UNAVAILABLE on 5 % of requests to reviews carrying x-user starting with “qa-”, applied in the calling sidecars',
      ],
    )
  })

  it('says in the REVERT card when the last faulted request came, with how the counters were polled as its tooltip', () => {
    const card = (page: string) =>
      page.split('<div class="fact ').find(c => c.includes('<p class="fact-label">Revert</p>')) ?? ''
    const held = fixture('held')
    const none = held.events.find(e => e.kind === 'last-evidence')
    assert.ok(none?.kind === 'last-evidence')
    assert.ok(
      card(renderHtml(held)).includes(
        `<p class="fact-detail has-tip" title="${escapeHtml(none.message)}">no faulted request seen after the revert</p>`,
      ),
    )
    const seen = card(renderHtml(withSeveralFaults()))
    assert.match(
      seen,
      /title="last faulted request between 510 and 710 ms after the revert was answered \(counters polled every 200 ms\)">last faulted request seen 710 ms after the revert</,
    )
    assert.doesNotMatch(seen, /polled every[^"]*<\/p>/, 'the polling detail is only in the tooltip')
    const unreadable = fixture('held')
    unreadable.events = unreadable.events.map(e =>
      e.kind === 'last-evidence'
        ? {
            ...e,
            message:
              "the sidecars' fault counters could not be read after the revert: when the last faulted request came is unknown",
          }
        : e,
    )
    assert.match(card(renderHtml(unreadable)), /^tone-warn[\s\S]*unknown when the last faulted request came/)
  })

  it('places load second 0 at the first phase and marks fault write, first evidence, revert and last evidence in order', () => {
    const doc = fixture('held')
    const timeline = timelineOf(doc)
    assert.equal(timeline.loadOffsetMs, doc.phases[0]?.startT)
    assert.deepEqual(
      timeline.markers.map(m => [m.n, m.kind]),
      [
        [1, 'fault-write'],
        [2, 'first-evidence'],
        [3, 'revert'],
        [4, 'last-evidence'],
      ],
    )
    const applied = doc.events.find(e => e.kind === 'fault-applied')
    assert.equal(timeline.markers[0]?.tMs, applied?.t)
    const twice = fixture('held')
    const revert = twice.events.find(e => e.kind === 'revert')
    if (revert !== undefined) twice.events.push({...revert, t: revert.t + 5, name: 'reviews'})
    const reverts = timelineOf(twice).markers.filter(m => m.kind === 'revert')
    assert.equal(reverts.length, 1, 'one line per kind of moment')
    assert.match(reverts[0]?.detail ?? '', /and 1 more/)
    const data = chartData(renderHtml(doc))
    assert.equal(data.offsetS, (doc.phases[0]?.startT ?? 0) / 1000)
    assert.deepEqual(
      data.classes.map(c => c.name),
      Object.keys(doc.load),
    )
    assert.equal(data.classes[0]?.second.length, doc.load[data.classes[0]?.name ?? '']?.length)
  })

  it('shows an aborted run’s fault phase as cut short and its control traffic as affected', () => {
    const doc = fixture('aborted')
    const fault = timelineOf(doc).phases.find(p => p.name === 'fault')
    assert.equal(fault?.cutShort, true)
    assert.equal(fault?.cut, undefined, 'an older journal: the cut is inferred from the phase’s end')
    const page = renderHtml(doc)
    assert.match(page, /incomplete — cut short<\/strong> at \+4\.7 s of 20 s planned\)/)
    assert.deepEqual(
      chartData(page).phases.find(p => p.name === 'fault')?.labels[0],
      'fault · incomplete — cut short at +4.7 s of 20.0 s',
    )
    assert.match(page, /Control traffic<\/p><p class="fact-headline">AFFECTED/)
  })

  it('charts each class’s requests in flight and the oldest one’s age on the load clock; journals without them chart as before', () => {
    const doc = fixture('aborted-in-flight')
    const page = renderHtml(doc)
    const data = chartData(page)
    const targeted =
      data.classes.find(c => c.name === 'targeted')?.inFlight ?? assert.fail('no in-flight columns for targeted')
    const samples = doc.inFlight?.targeted ?? assert.fail('the fixture records in-flight samples')
    assert.deepEqual(
      targeted.at,
      samples.map(s => Math.round(s.loadMs / 10) / 100),
      'seconds since the load started, to 10 ms',
    )
    assert.deepEqual(
      targeted.count,
      samples.map(s => s.count),
    )
    assert.deepEqual(
      targeted.oldestS,
      samples.map(s => Math.round(s.oldestMs / 10) / 100),
    )
    // Under the 7 s delay the targeted requests pile up and age; the control class's never do.
    assert.ok(Math.max(...targeted.count) >= 8 && Math.max(...targeted.oldestS) > 5, JSON.stringify(targeted))
    assert.ok(Math.max(...(data.classes.find(c => c.name === 'control')?.inFlight?.oldestS ?? [1])) < 0.1)
    assert.equal(
      [...page.matchAll(/<div class="chart" data-class="\d" data-metric="inflight"/g)].length,
      2,
      'one in-flight chart per class',
    )
    assert.match(page, /<h4>Requests in flight · age of the oldest<\/h4>/)

    const before = renderHtml(fixture('deviated'))
    assert.doesNotMatch(before, /data-metric="inflight"/)
    assert.ok(chartData(before).classes.every(c => c.inFlight === undefined && c.cancelled === undefined))

    // A 7 s delay at 5/s, sampled once a second: the count climbs to rate × delay, the oldest saws up to the delay.
    const sawtooth = Array.from({length: 20}, (_, i) => ({
      loadMs: 20_000 - i * 1000 + 3,
      count: Math.min(35, 5 * i),
      oldestMs: (i % 7) * 1000 + 999,
    }))
    const columns = inFlightColumns(sawtooth)
    assert.deepEqual(columns.at.slice(0, 3), [1, 2, 3], 'in time order')
    assert.equal(Math.max(...columns.count), 35)
    assert.equal(Math.max(...columns.oldestS), 7)
  })

  it('draws a phase the run cut short as incomplete, where and why it was cut, and its probes as not evaluated', () => {
    const doc = fixture('aborted-in-flight')
    const fault = timelineOf(doc).phases.find(p => p.name === 'fault')
    assert.equal(fault?.cut?.afterMs, 8594)
    const page = renderHtml(doc)
    assert.deepEqual(
      chartData(page).phases.map(p => [p.name, p.cutShort, p.labels[0]]),
      [
        ['baseline', false, 'baseline'],
        ['fault', true, 'fault · incomplete — cut short at +8.6 s of 20.0 s'],
      ],
    )
    assert.ok(
      page.includes(
        '<strong class="warn-text">incomplete — cut short</strong> at +8.6 s of 20 s planned (interrupted (signal)); cancelled in flight: targeted 6 in flight, oldest 3.0 s)',
      ),
    )
    const hypothesis = page.slice(page.indexOf('<section id="hypothesis">'), page.indexOf('<section id="evidence">'))
    assert.equal(
      [
        ...hypothesis.matchAll(
          /○ incomplete<span class="message">not evaluated: cut short at \+8\.6 s of 20\.0 s<\/span>/g,
        ),
      ].length,
      3,
      'each probe planned for the fault phase',
    )
    assert.equal([...hypothesis.matchAll(/The fault phase is incomplete/g)].length, 1, 'why, once, under the table')
    assert.match(
      hypothesis,
      /phase cut short at \+8\.6 s of 20\.0 s \(interrupted \(signal\)\); cancelled in flight: targeted 6 in flight, oldest 3\.0 s\. Its probes were not evaluated/,
    )
    const mesh = page.slice(page.indexOf('<section id="mesh">'), page.indexOf('<section id="changes">'))
    assert.match(mesh, /○ incomplete<span class="message">not read: cut short at \+8\.6 s of 20\.0 s/)
    const probes = page.split('<div class="fact ').find(c => c.includes('<p class="fact-label">Probes</p>')) ?? ''
    assert.match(probes, /^tone-warn/, 'two baseline helds are not a hypothesis that held')
    assert.match(
      probes,
      /2 result\(s\) over 1 phase\(s\); the fault phase is incomplete \(cut short at \+8\.6 s\): its probes were not evaluated/,
    )
  })

  it('counts the requests the runner cancelled as cancelled, never as failed', () => {
    const doc = fixture('aborted-in-flight')
    const timeline = timelineOf(doc)
    const fault = phaseTraffic(doc.load.targeted ?? [], timeline).find(p => p.phase === 'fault')
    assert.deepEqual(fault && {failed: fault.failed, cancelled: fault.cancelled}, {failed: 0, cancelled: 5})
    const page = renderHtml(doc)
    const targeted = chartData(page).classes.find(c => c.name === 'targeted')
    assert.deepEqual(
      targeted?.cancelled,
      [...(doc.load.targeted ?? [])].sort((a, b) => a.second - b.second).map(s => s.cancelled ?? 0),
      'per second, beside failed',
    )
    assert.equal(
      targeted?.cancelled?.reduce((a, b) => a + b, 0),
      6,
    )
    assert.equal(
      targeted?.failed.reduce((a, b) => a + b, 0),
      0,
    )
    assert.equal(
      chartData(page).classes.find(c => c.name === 'control')?.cancelled,
      undefined,
      'no column for a class with none',
    )
    const table = page.slice(
      page.indexOf('<table class="traffic">'),
      page.indexOf('</table>', page.indexOf('<table class="traffic">')),
    )
    assert.match(table, /<th>failed<\/th><th>cancelled<\/th><th>dropped<\/th>/)
    assert.match(
      table,
      /<td>fault <span class="warn-text small">incomplete<\/span><\/td><td class="num">40<\/td><td class="num">4\.7 req\/s<\/td>\s*<td class="num">0 \(0(\.0)? ?%\)<\/td>\s*<td class="num warn-text">5<\/td>/,
    )
    assert.match(table, /cancelled: requests the runner cancelled when it stopped the run/)
    assert.doesNotMatch(renderHtml(fixture('deviated')), /<th>cancelled<\/th>/)
  })

  it('renders a run that could not run without charts or the chart library', () => {
    const page = renderHtml(fixture('could-not-run'))
    assert.match(page, /No load was recorded: the run ended before its first phase/)
    assert.match(page, /Nothing was written to the cluster/)
    assert.equal(scripts(page).length, 1, 'only the page script (copy buttons); no uPlot, no data')
    assert.match(page, /this phase did not run/)
  })

  it('puts the exact chaos revert command in the banner when the revert failed', () => {
    const doc = fixture('revert-failed')
    const command = doc.events.find(e => e.kind === 'revert-failed')
    assert.ok(command?.kind === 'revert-failed')
    const page = renderHtml(doc)
    const banner = page.slice(page.indexOf('<header'), page.indexOf('</header>'))
    assert.ok(banner.includes(`<pre class="command"><code>${escapeHtml(command.command)}</code></pre>`))
    assert.match(page, /NOT reverted/)
    assert.equal(chartData(page).markers.at(-1)?.kind, 'revert-failed')
  })

  it('says a journal left running belongs to a run that died, and that its fault may still be live', () => {
    const doc = diedMidFault()
    assert.equal(verdictOf(doc).key, 'unfinished')
    const timeline = timelineOf(doc)
    assert.equal(timeline.phases.at(-1)?.open, true)
    const page = renderHtml(doc)
    assert.match(page, /Unfinished — the run did not end/)
    assert.match(page, /NO revert recorded/)
    assert.ok(page.includes(`chaos revert --run ${doc.runId} --namespace default`))
    assert.match(page, /never ended/)
  })

  it('escapes every string from the experiment, the cluster and the target', () => {
    const page = renderHtml(hostileJournal())
    for (const h of HOSTILE) assert.ok(!page.includes(h), `raw in the page: ${h}`)
    assert.ok(page.includes(escapeHtml(HOSTILE[0])))
    assert.doesNotMatch(page, /<(img|svg|iframe)\b/i)
    const all = scripts(page)
    assert.equal(all.length, 3, 'chart data, uPlot and the page script; nothing else')
    const data = chartData(page)
    assert.ok(
      data.classes.some(c => c.name.startsWith(HOSTILE[4])),
      'a hostile class name survives the JSON round trip',
    )
  })

  it('pins every script by hash in the Content Security Policy and allows no network', () => {
    const page = renderHtml(fixture('deviated'))
    const csp = (/http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page)?.[1] ?? '').replaceAll(
      '&#39;',
      "'",
    )
    assert.match(csp, /default-src 'none'/)
    assert.match(csp, /connect-src 'none'/)
    const executable = scripts(page).filter(s => !s.attrs.includes('application/json'))
    assert.equal(executable.length, 2)
    for (const s of executable)
      assert.ok(csp.includes(`'sha256-${createHash('sha256').update(s.body).digest('base64')}'`))
  })

  it('renders a one-hour, two-class run in under a second and under 2 MB, without the histograms', () => {
    const doc = longRunJournal({seconds: 3600})
    renderHtml(fixture('held'))
    const started = performance.now()
    const page = renderHtml(doc)
    const ms = performance.now() - started
    assert.ok(ms < 1000, `rendered in ${ms.toFixed(0)} ms`)
    assert.ok(Buffer.byteLength(page) < 2 * 1024 * 1024, `${Buffer.byteLength(page)} bytes`)
    const histogram = doc.load.targeted?.[0]?.histogram ?? ''
    assert.ok(histogram.length > 0 && !page.includes(histogram))
    assert.equal(chartData(page).classes[0]?.second.length, 3600)
    assert.equal(chartData(page).classes[0]?.inFlight?.count.length, 3600, 'with an in-flight sample a second')
  })

  it('charts each Prometheus range series on the run clock against the probe’s expectation, and says why one is missing', () => {
    const page = renderHtml(withPrometheusSeries())
    const [series, ...rest] = chartData(page).prometheus
    assert.equal(rest.length, 0, 'the failed query has no chart')
    assert.deepEqual(series?.labels, ['{code="503"}', '{code="500"}'])
    assert.equal(series?.t[0], 0.25)
    assert.equal(series?.values.length, 2)
    assert.deepEqual(series?.threshold, {op: '<', value: 0.01, label: 'expected < 0.01'})
    assert.match(page, /No series: Prometheus at http:\/\/127\.0\.0\.1:9 did not answer \(ECONNREFUSED\)/)
    assert.match(page, /<b>0\.042<\/b>/)
    assert.match(renderHtml(fixture('could-not-run')), /holds no Prometheus range series/)
  })

  it('draws each threshold probe’s limit on its class’s chart over the phases it is checked in', () => {
    const doc = fixture('deviated')
    const timeline = timelineOf(doc)
    const limits = chartLimits(doc, timeline)
    const targeted = limits.find(l => l.traffic === 'targeted')
    assert.deepEqual(targeted && {metric: targeted.metric, value: targeted.value, label: targeted.label}, {
      metric: 'latency',
      value: 4000,
      label: 'probe: p(99)<4000',
    })
    assert.deepEqual(targeted?.spans.length, 2, 'threshold probes are checked in baseline and fault')
    assert.deepEqual(
      limits.filter(l => l.traffic === 'control').map(l => [l.metric, l.value]),
      [
        ['errors', 1],
        ['latency', 500],
      ],
    )
    doc.experiment.spec.spec.guardrails = {abortWhen: [{thresholds: {http_req_failed: ['rate>0.5', 'rate<0.9']}}]}
    const abort = chartLimits(doc, timeline).filter(l => l.label.startsWith('abort'))
    assert.deepEqual(
      abort.map(l => [l.traffic, l.metric, l.value, l.spans.length]),
      [[null, 'errors', 50, 1]],
    )
  })

  it('diffs a created VirtualService against nothing and an updated one against its old spec', () => {
    const created = specDiff(fixture('held').applied[0] ?? assert.fail('held applied a fault'))
    assert.match(created, /^--- \/dev\/null/m)
    assert.doesNotMatch(created, /^-[^-]/m)
    assert.match(created, /^\+ {6}abort:/m)
    const updated = specDiff(fixture('revert-failed').applied[0] ?? assert.fail('revert-failed applied a fault'))
    assert.match(updated, /^--- a\/default\/ratings/m)
    assert.match(updated, /^\+ {4}fault:/m)
  })

  it('keeps latency empty for a second with no completed request and formats times with units', () => {
    const held = fixture('held').load.targeted?.[0] ?? assert.fail('no load')
    const columns = loadColumns('targeted', [
      {...held, second: 1},
      {...held, second: 0, requests: 3, dropped: 3},
    ])
    assert.deepEqual(columns.second, [0, 1])
    assert.equal(columns.p99[0], null)
    assert.equal(typeof columns.p99[1], 'number')
    assert.equal(formatMs(40.415), '40.4 ms')
    assert.equal(formatMs(6012.9), '6.01 s')
    assert.equal(formatMs(3_725_000), '1 h 2 min')
    assert.equal(formatRunClock(5855), '+0:05.9')
    assert.equal(formatRunClock(3_000_500), '+50:00.5')
    assert.equal(formatRunClock(59_960), '+1:00.0')
    assert.equal(formatRunClock(3_725_000), '+1:02:05')
  })
})
