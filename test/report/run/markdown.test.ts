import assert from 'node:assert/strict'

import {markdownText, renderMarkdown} from '../../../src/report/run/markdown.js'
import {summariseRun} from '../../../src/report/index/run-summary.js'
import {formatMs} from '../../../src/report/format.js'
import {HOSTILE, journal, JOURNAL_FIXTURES} from '../journals.js'

/** Cells of a Markdown table row, split on unescaped pipes as GFM does. */
const cells = (row: string) =>
  row
    .replace(/\\\\/g, '')
    .split(/(?<!\\)\|/)
    .slice(1, -1)

/** Every table of a document as rows of cells; asserts each row has the header's width. */
function tables(md: string): string[][][] {
  const found: string[][][] = []
  let current: string[][] | undefined
  for (const line of md.split('\n')) {
    if (!line.startsWith('|')) {
      current = undefined
      continue
    }
    if (current === undefined) found.push((current = []))
    current.push(cells(line).map(c => c.trim()))
    assert.equal(current.at(-1)?.length, current[0]?.length, `row width differs: ${line}`)
  }
  return found
}

describe('summary.md', function () {
  // The load table decodes every second's histogram (run-summary.ts); slow on a loaded machine.
  this.timeout(60_000)

  for (const name of JOURNAL_FIXTURES) {
    it(`${name}: short, with well-formed tables`, () => {
      const md = renderMarkdown(journal(name))
      assert.ok(md.split('\n').length < 60, `${md.split('\n').length} lines`)
      tables(md)
    })
  }

  it('leads with the verdict and the one-sentence reason', () => {
    const doc = journal('deviated')
    const lines = renderMarkdown(doc).split('\n')
    assert.equal(lines[0], '## ❌ ratings-delay: DEVIATED (exit 1)')
    assert.equal(
      lines[2],
      'The hypothesis deviated: "productpage answers targeted users within 4s" missed in fault (p(99)=6013ms, expected http\\_req\\_duration p(99)&lt;4000)',
    )
    assert.match(
      lines[4] ?? '',
      new RegExp(
        `^run ${doc.runId} · experiments/ratings-delay\\.yaml · sandbox faultline-sandbox, namespace default · `,
      ),
    )
  })

  it("key numbers per traffic class and phase are the run summary's, with units", () => {
    const doc = journal('deviated')
    const [load] = tables(renderMarkdown(doc))
    assert.deepEqual(load?.[0], ['Traffic', 'Phase', 'Rate', 'Errors', 'p95', 'p99'])
    const fault = summariseRun(doc, '').classes.find(c => c.name === 'targeted')?.phases.fault
    const row = load?.find(r => r[0] === 'targeted' && r[1] === 'fault')
    assert.equal(row?.[5], formatMs(fault?.p99 ?? Number.NaN))
    assert.match(row?.[5] ?? '', /^6\.\d+ s$/)
    assert.equal(load?.length, 2 + 2 * 3, 'two classes × three phases')
  })

  it('the probe × phase table marks held, missed and not planned', () => {
    const [, probes] = tables(renderMarkdown(journal('deviated')))
    assert.deepEqual(probes?.[0], ['Probe', 'Expected', 'Baseline', 'Fault', 'Recovery'])
    const row = probes?.find(r => r[0] === 'productpage answers targeted users within 4s')
    assert.deepEqual(row?.slice(1), ['http\\_req\\_duration p(99)&lt;4000', '✅ p(99)=86.21ms', '❌ p(99)=6013ms', '—'])
  })

  it('fault evidence and the revert are listed', () => {
    const md = renderMarkdown(journal('held'))
    assert.match(md, /^- ✅ \*\*fault fired\*\*: fired 1\.09 s after the write: envoy fault filter/m)
    assert.match(md, /^- ✅ \*\*reverted default\/faultline-ratings\*\*: deleted: created by run/m)
    assert.match(md, /^- Applied VirtualService default\/faultline-ratings \(create, resourceVersion 5\)$/m)
  })

  it('a failed revert puts the cleanup command first, as a caution', () => {
    const doc = journal('revert-failed')
    const md = renderMarkdown(doc)
    assert.ok(md.indexOf('> [!CAUTION]') < md.indexOf('### Load'))
    assert.match(md, new RegExp(`^> \`chaos revert --run ${doc.runId} --namespace default\`$`, 'm'))
    assert.match(md, /^- ❌ \*\*reverted default\/ratings\*\*: revert failed: admission webhook/m)
  })

  it('could not run: the failed preflight check, and no table of probes that never ran', () => {
    const md = renderMarkdown(journal('could-not-run'))
    assert.match(md, /^## ⚠️ ratings-delay-promql: COULD NOT RUN \(exit 4\)$/m)
    assert.match(md, /^### Preflight\n\n- ⚠️ \*\*prometheus\*\*: http:\/\/127\.0\.0\.1:1: Prometheus at/m)
    assert.match(md, /^Not tested: none of the 5 probe\(s\) was evaluated\.$/m)
    assert.doesNotMatch(md, /### Load/)
  })

  it('escapes what came from the experiment, the cluster and the target', () => {
    assert.equal(markdownText('a|b'), 'a\\|b')
    assert.equal(markdownText('<img src=x onerror=alert(1)>'), '&lt;img src=x onerror=alert(1)&gt;')
    assert.equal(markdownText('`code` *b* _i_ [l](u) ~s~ \\'), '\\`code\\` \\*b\\* \\_i\\_ \\[l\\](u) \\~s\\~ \\\\')
    assert.equal(markdownText('one\r\n# two'), 'one # two')
    assert.equal(markdownText('&lt;'), '&amp;lt;')
    assert.equal(markdownText('bell\u0007'), 'bell\\u0007')
  })

  it('a hostile experiment renders as text: no markup, no broken table, no injected line', () => {
    const doc = journal('deviated')
    doc.experiment.name = HOSTILE
    for (const p of doc.probes) p.probe = HOSTILE
    for (const p of doc.experiment.spec.spec.steadyState) p.name = HOSTILE
    for (const p of doc.probes) p.actual = HOSTILE
    doc.reason = HOSTILE
    doc.environment.user = HOSTILE
    const md = renderMarkdown(doc)
    tables(md)
    assert.doesNotMatch(md, /<script|<!--|<\/failure/)
    assert.doesNotMatch(md, /^next/m, 'a newline in a value never starts a line of its own')
    assert.doesNotMatch(md, /(?<!\\)`tick/, 'backticks are escaped')
    assert.ok(!md.includes('\u0000') && !md.includes('\u001b'), 'control characters are made visible')
  })
})
