import assert from 'node:assert/strict'

import {reasonsByPhase, UNKNOWN_REASON} from '../../../src/report/run/failure-reasons.js'
import {renderHtml} from '../../../src/report/run/html.js'
import {renderJunit} from '../../../src/report/run/junit.js'
import {renderMarkdown} from '../../../src/report/run/markdown.js'
import {loadLengthMs, phaseWindows} from '../../../src/report/phases.js'
import type {JournalDocument} from '../../../src/journal/journal.js'
import {journal} from '../journals.js'

/** The deviated fixture with 2 circuit-breaker overflows in every targeted fault second, and one old-style failure (no reasons) in control's baseline. */
function withFailures(): {doc: JournalDocument; overflows: number} {
  const doc = journal('deviated')
  const fault = phaseWindows(doc, loadLengthMs(doc)).find(w => w.phase === 'fault')
  assert.ok(fault !== undefined)
  let overflows = 0
  for (const s of doc.load['targeted'] ?? []) {
    const mid = s.second * 1000 + 500
    if (mid < fault.fromMs || mid >= fault.toMs) continue
    s.failed += 2
    s.reasons = {'503 UO': 2}
    overflows += 2
  }
  const first = doc.load['control']?.[0]
  assert.ok(first !== undefined)
  first.failed += 1
  return {doc, overflows}
}

describe('failure reasons in the reports', () => {
  it("sums each class's reasons per phase with the probes' windowing; failures of older journals are unknown", () => {
    const {doc, overflows} = withFailures()
    const byPhase = reasonsByPhase(doc)
    assert.deepEqual(byPhase.find(p => p.traffic === 'targeted' && p.phase === 'fault')?.reasons, {'503 UO': overflows})
    assert.deepEqual(byPhase.find(p => p.traffic === 'control' && p.phase === 'baseline')?.reasons, {
      [UNKNOWN_REASON]: 1,
    })
    for (const p of byPhase)
      assert.equal(
        Object.values(p.reasons).reduce((a, b) => a + b, 0),
        p.failed,
      )
  })

  it('summary.md has a failed-requests table per class and phase', () => {
    const {doc, overflows} = withFailures()
    const md = renderMarkdown(doc)
    assert.match(md, /### Failed requests/)
    assert.ok(md.includes(`| targeted | fault | ${overflows} | 503 UO × ${overflows} |`), md)
    assert.doesNotMatch(renderMarkdown(journal('held')), /Failed requests/)
  })

  it("a missed threshold's junit failure message names why its class's requests failed in that phase", () => {
    const {doc, overflows} = withFailures()
    const xml = renderJunit(doc)
    const failure =
      /<testcase classname="ratings-delay\.fault" name="productpage answers targeted users within 4s"[^>]*>\s*<failure message="([^"]*)"/.exec(
        xml,
      )
    assert.ok(failure !== null, xml)
    assert.match(failure[1] ?? '', new RegExp(`failed requests: targeted: 503 UO × ${overflows}$`))
  })

  it("report.html has a reasons table per class and phase, Envoy's flags in words, and a reachability failure with the ways in", () => {
    const {doc, overflows} = withFailures()
    const page = renderHtml(doc)
    assert.match(page, /<section id="reasons">/)
    assert.ok(page.includes(`<code>503 UO</code> × ${overflows}`))
    assert.match(page, /<b>UO<\/b> upstream overflow/)
    const unreachable = journal('could-not-run')
    unreachable.events.push({
      t: 10,
      at: unreachable.startedAt,
      kind: 'preflight',
      check: 'reachability',
      status: 'failed',
      message:
        'traffic class control cannot reach http://productpage:9080/productpage: ENOTFOUND productpage (3 of 3 requests)',
      hint: 'Ways in: …',
    })
    const page2 = renderHtml(unreachable)
    assert.match(page2, /cannot reach http:\/\/productpage:9080\/productpage: ENOTFOUND productpage/)
    assert.match(page2, /Ways in: …/)
  })
})
