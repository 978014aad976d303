import assert from 'node:assert/strict'

import {renderMarkdown} from '../../src/report/run/markdown.js'
import {renderHtml} from '../../src/report/run/html.js'
import {journalIssues} from '../../src/journal/schema.js'
import {longRunJournal} from '../report/run/html-long-run.js'
import {withBlastRadius} from './long-run.js'

describe('report.html: What the fault did', () => {
  const doc = withBlastRadius(longRunJournal())
  const page = renderHtml(doc)

  it('a recorded map is a valid journal field', () => {
    assert.deepEqual(journalIssues(doc), [])
  })

  it('shows the graph as inline SVG, the edges × phases table and the diagnosis linking to its evidence', () => {
    assert.match(page, /<section id="blast-radius"><h2>What the fault did/)
    assert.match(page, /<svg class="blast-map"[^>]*viewBox="0 0 \d+ \d+"/)
    assert.match(page, /<tr id="edge-productpage-v1_reviews">/)
    assert.match(page, /productpage-v1&#39;s connection pool to reviews overflowed/)
    assert.match(page, /<a href="#edge-productpage-v1_reviews">productpage-v1 → reviews<\/a> \(fault\): UO \d+/)
  })

  it('adds no script (the graph is laid out in Node), and a one-hour run stays under 2 MB', () => {
    const scripts = page.match(/<script\b/g) ?? []
    assert.equal(scripts.length, renderHtml(longRunJournal()).match(/<script\b/g)?.length)
    assert.ok(Buffer.byteLength(page) < 2_000_000, `${Buffer.byteLength(page)} bytes`)
  })

  it('older journals without a map render without the section', () => {
    assert.doesNotMatch(renderHtml(longRunJournal({seconds: 60})), /id="blast-radius"/)
  })

  it('summary.md carries the diagnosis and the edges', () => {
    const md = renderMarkdown(doc)
    assert.match(md, /### What the fault did/)
    assert.match(md, /- \*\*overflow\*\*: productpage-v1's connection pool to reviews overflowed/)
    assert.match(md, /\| productpage-v1 → reviews \| source \|/)
  })
})
