import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, utimesSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Page} from 'puppeteer-core'

import {formatAge, renderIndex, runHref} from '../../../src/report/index/page.js'
import {type RunSummary, summariseRun, type Verdict} from '../../../src/report/index/run-summary.js'
import {scanReports} from '../../../src/report/index/scan.js'
import type {JournalDocument} from '../../../src/journal/journal.js'
import {runDirectory} from '../../../src/journal/journal.js'
import {withBrowser} from '../browser.js'

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'journals')
const HOSTILE = `</script><script>alert(1)</script><img src=x onerror=alert(2)> "q" 'a' &amp;`
const NOW = new Date('2026-11-26T12:00:00Z')

function fixture(name: string): JournalDocument {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as JournalDocument
}

/** The fixture journal as if it had run `hoursAgo` before NOW (its clock shifted, nothing else). */
function shifted(name: string, hoursAgo: number, experiment?: string): JournalDocument {
  const doc = fixture(name)
  const shift = NOW.getTime() - hoursAgo * 3_600_000 - Date.parse(doc.startedAt)
  const move = (iso: string) => new Date(Date.parse(iso) + shift).toISOString()
  doc.startedAt = move(doc.startedAt)
  if (doc.finishedAt !== undefined) doc.finishedAt = move(doc.finishedAt)
  if (experiment !== undefined) doc.experiment.name = experiment
  return doc
}

function put(root: string, doc: JournalDocument, text = JSON.stringify(doc)): string {
  const dir = runDirectory(root, doc.experiment.name, new Date(doc.startedAt))
  mkdirSync(dir, {recursive: true})
  writeFileSync(join(dir, 'journal.json'), text)
  return dir
}

/**
 * A report root like a week of game days: two experiments with several runs each (copies of the
 * real fixture journals moved in time), a could-not-run, a journal cut short, one still `running`.
 */
function writeReportRoot(root: string): void {
  const plan: [string, number][] = [
    ['held', 150],
    ['held', 120],
    ['aborted', 96],
    ['held', 72],
    ['held', 49],
    ['held', 26],
    ['held', 3],
  ]
  for (const [name, hoursAgo] of plan) put(root, shifted(name, hoursAgo))
  for (const [name, hoursAgo] of [
    ['deviated', 140],
    ['deviated', 100],
    ['revert-failed', 80],
    ['deviated', 50],
    ['deviated', 2],
  ] as const)
    put(root, shifted(name, hoursAgo))
  put(root, shifted('could-not-run', 30))
  const cut = shifted('deviated', 1)
  const text = JSON.stringify(cut)
  put(root, cut, text.slice(0, Math.floor(text.length / 2)))
  const running = shifted('held', 0.2)
  Object.assign(running, {status: 'running'})
  for (const key of ['outcome', 'deviated', 'exitCode', 'reason', 'finishedAt'] as const) delete running[key]
  const dir = put(root, running)
  const lastWritten = new Date(Date.parse(running.startedAt) + 60_000)
  utimesSync(join(dir, 'journal.json'), lastWritten, lastWritten)
}

function summary(partial: Partial<RunSummary> & {experiment: string; startedAt: string; verdict: Verdict}): RunSummary {
  return {
    dir: `${partial.experiment}/${partial.startedAt}`,
    reason: 'the hypothesis held',
    classes: [],
    roles: {},
    probes: {held: 2, missed: 0, errored: 0},
    ...partial,
  }
}

describe('history index page', () => {
  it('shows a friendly empty state and no chart code when there are no runs', () => {
    const page = renderIndex([], {generatedAt: NOW})
    assert.match(page, /No runs yet/)
    assert.doesNotMatch(page, /uPlot|<table/)
  })

  it('escapes hostile experiment names, reasons and directories in text, attributes, hrefs and the data script', () => {
    const run = summary({
      experiment: HOSTILE,
      startedAt: '2026-11-26T10:00:00Z',
      verdict: 'deviated',
      reason: HOSTILE,
      dir: `a <dir> "x" 'y' &amp; z:1/2026-11-26T100000Z`,
    })
    const page = renderIndex([run], {generatedAt: NOW})
    assert.equal(page.match(/<script/g)?.length, 3, 'only our three script elements')
    assert.doesNotMatch(page, /<img/)
    const data = /<script type="application\/json" id="index-data">(.*?)<\/script>/s.exec(page)?.[1] ?? ''
    assert.equal((JSON.parse(data) as {trends: {experiment: string}[]}).trends[0]?.experiment, HOSTILE)
    const hrefs = [...page.matchAll(/href="([^"]*)"/g)].map(m => m[1] ?? '')
    assert.equal(hrefs.length, 2)
    assert.deepEqual(hrefs, [
      'a%20%3Cdir%3E%20%22x%22%20&#39;y&#39;%20%26amp%3B%20z%3A1/2026-11-26T100000Z/report.html',
      'a%20%3Cdir%3E%20%22x%22%20&#39;y&#39;%20%26amp%3B%20z%3A1/2026-11-26T100000Z/journal.json',
    ])
  })

  it('links each run relative to the root, one URL-encoded segment per directory, never leaving the root', () => {
    assert.equal(
      runHref('ratings delay/2026-11-26T031515Z', 'report.html'),
      'ratings%20delay/2026-11-26T031515Z/report.html',
    )
    assert.equal(runHref('../../etc/x', 'journal.json'), 'etc/x/journal.json')
    assert.equal(runHref('javascript:alert(1)/t', 'report.html'), 'javascript%3Aalert(1)/t/report.html')
  })

  it('lists runs newest first whatever order it is given, with the age against generatedAt', () => {
    const runs = ['2026-11-20T10:00:00Z', '2026-11-26T11:00:00Z', '2026-11-25T09:00:00Z'].map(startedAt =>
      summary({experiment: `e-${startedAt}`, startedAt, verdict: 'held'}),
    )
    const page = renderIndex(runs, {generatedAt: NOW})
    const order = [...page.matchAll(/<span class="exp"[^>]*>e-([^<]+)<\/span>/g)].map(m => m[1])
    assert.deepEqual(order, ['2026-11-26T11:00:00Z', '2026-11-25T09:00:00Z', '2026-11-20T10:00:00Z'])
    assert.equal(formatAge('2026-11-26T11:00:00Z', NOW), '1 h ago')
    assert.equal(formatAge('2026-11-20T10:00:00Z', NOW), '6 d ago')
  })

  it('tells a live run from one that died: a running journal not written for two minutes is unfinished', () => {
    const live = summary({
      experiment: 'a',
      startedAt: '2026-11-26T11:59:00Z',
      verdict: 'running',
      lastWrittenAt: '2026-11-26T11:59:50Z',
    })
    const dead = summary({
      experiment: 'b',
      startedAt: '2026-11-26T09:00:00Z',
      verdict: 'running',
      lastWrittenAt: '2026-11-26T09:01:00Z',
    })
    const page = renderIndex([live, dead], {generatedAt: NOW})
    assert.match(page, /data-experiment="a" data-verdict="running"/)
    assert.match(page, /data-experiment="b" data-verdict="unfinished"/)
    assert.match(page, /the run did not end/)
  })

  it('renders 500 runs of 8 experiments quickly and small', () => {
    const held = shifted('deviated', 1)
    const sample = scanFixture(held)
    const runs = Array.from({length: 500}, (_, i) => ({
      ...sample,
      experiment: `experiment-${i % 8}`,
      startedAt: new Date(NOW.getTime() - i * 3_600_000).toISOString(),
      dir: `experiment-${i % 8}/${i}`,
      verdict: (['held', 'deviated', 'aborted', 'held', 'could-not-run'] as const)[i % 5] as Verdict,
    }))
    const started = performance.now()
    const page = renderIndex(runs, {generatedAt: NOW})
    const ms = performance.now() - started
    assert.ok(ms < 500, `rendered in ${ms.toFixed(0)} ms`)
    assert.ok(page.length < 1_000_000, `${page.length} bytes`)
    assert.equal(page.match(/<tr class=/g)?.length, 500)
    assert.equal(page.match(/<section class="trend"/g)?.length, 8)
  })

  describe('in headless Chromium', function () {
    this.timeout(120_000)
    const chromium = withBrowser('index', writeReportRoot)

    type Seen = {rows: number; visible: number; cards: number; canvases: number; verdicts: string[]}
    const SEEN = `(() => {
      const rows = [...document.querySelectorAll('#runs tbody tr')];
      const visible = rows.filter(r => !r.hidden && r.offsetParent !== null);
      return {rows: rows.length, visible: visible.length, cards: [...document.querySelectorAll('.trend')].filter(c => !c.hidden).length,
        canvases: document.querySelectorAll('.trend:not([hidden]) canvas').length, verdicts: visible.map(r => r.dataset.verdict)};
    })()`
    const seen = (page: Page) => page.evaluate(SEEN) as Promise<Seen>

    it('lists every run, draws a trend per experiment, filters by experiment and verdict, and makes no request', async () => {
      const runs = await scanReports(chromium.dir)
      const file = join(chromium.dir, 'index.html')
      writeFileSync(file, renderIndex(runs, {generatedAt: NOW}))
      const look = await chromium.browser.look(file, 'index-all', {
        pdf: true,
        inspect: async page => {
          const all = await seen(page)
          await page.select('#filter-experiment', 'ratings-delay')
          const oneExperiment = await seen(page)
          await page.click('.chip.deviated')
          const deviatedOnly = await seen(page)
          await page.click('.chip.deviated')
          await page.select('#filter-experiment', '')
          await page.select('#filter-verdict', 'unreadable')
          const unreadable = await seen(page)
          await page.select('#filter-verdict', '')
          // The filter lives in the address's fragment, so a link (or a reload) opens the same view.
          await page.select('#filter-experiment', 'ratings-delay')
          await page.click('.chip.deviated')
          const hash = (await page.evaluate('location.hash')) as string
          await page.select('#filter-experiment', '')
          await page.click('.chip.deviated')
          await page.evaluate(
            `new Promise(resolve => { addEventListener('hashchange', () => setTimeout(resolve), {once: true}); location.hash = ${JSON.stringify(hash)} })`,
          )
          const fromLink = await seen(page)
          await page.evaluate(
            `new Promise(resolve => { addEventListener('hashchange', () => setTimeout(resolve), {once: true}); location.hash = '' })`,
          )
          return {all, oneExperiment, deviatedOnly, unreadable, hash, fromLink}
        },
      })
      assert.deepEqual(look.consoleErrors, [])
      assert.deepEqual(look.requests, [])
      const seenRuns = look.inspected
      assert.ok(seenRuns !== undefined)
      assert.equal(seenRuns.all.rows, 15)
      assert.equal(seenRuns.all.visible, 15)
      assert.equal(seenRuns.all.cards, 3, 'ratings-abort, ratings-delay, ratings-delay-promql')
      assert.equal(
        seenRuns.all.canvases,
        4,
        'two charts per experiment with load figures (ratings-delay-promql never ran)',
      )
      assert.deepEqual(seenRuns.all.verdicts.slice(0, 3), ['unfinished', 'unreadable', 'deviated'], 'newest first')
      assert.equal(seenRuns.oneExperiment.visible, 6, 'five ratings-delay runs and the unreadable one in its directory')
      assert.equal(seenRuns.oneExperiment.cards, 1)
      assert.deepEqual(seenRuns.deviatedOnly.verdicts, ['deviated', 'deviated', 'deviated', 'deviated'])
      assert.deepEqual(seenRuns.unreadable.verdicts, ['unreadable'])
      assert.equal(seenRuns.hash, '#experiment=ratings-delay&verdict=deviated')
      assert.deepEqual(
        [seenRuns.fromLink.verdicts.length, seenRuns.fromLink.cards],
        [4, 1],
        'an address with the fragment opens the same view',
      )
    })

    it('shows a hostile experiment name as text and keeps it through the filter', async () => {
      const dir = join(chromium.dir, 'hostile')
      const doc = shifted('held', 5, HOSTILE)
      put(dir, {...doc, reason: HOSTILE})
      put(dir, shifted('deviated', 6, HOSTILE))
      const file = join(dir, 'index.html')
      writeFileSync(file, renderIndex(await scanReports(dir), {generatedAt: NOW}))
      const look = await chromium.browser.look(file, 'index-hostile', {
        inspect: async page => {
          await page.select('#filter-experiment', HOSTILE)
          return page.evaluate(
            `({alerts: document.querySelectorAll('img').length, name: document.querySelector('.exp').textContent, state: ${SEEN}})`,
          ) as Promise<{alerts: number; name: string; state: Seen}>
        },
      })
      assert.deepEqual(look.consoleErrors, [])
      assert.deepEqual(look.requests, [])
      assert.equal(look.inspected?.alerts, 0)
      assert.equal(look.inspected?.name, HOSTILE)
      assert.equal(look.inspected?.state.visible, 2)
    })

    it('shows the empty state and a single run without errors', async () => {
      for (const [name, runs] of [
        ['index-empty', []],
        ['index-one', [scanFixture(shifted('deviated', 1))]],
      ] as const) {
        const file = join(chromium.dir, `${name}.html`)
        writeFileSync(file, renderIndex(runs, {generatedAt: NOW}))
        const look = await chromium.browser.look(file, name, {inspect: page => seen(page)})
        assert.deepEqual(look.consoleErrors, [])
        assert.deepEqual(look.requests, [])
        assert.equal(look.inspected?.visible, runs.length)
      }
    })
  })
})

/** The summary of one journal, as the scanner makes it. */
function scanFixture(doc: JournalDocument): RunSummary {
  return summariseRun(doc, `${doc.experiment.name}/run`, new Date(doc.finishedAt ?? doc.startedAt))
}
