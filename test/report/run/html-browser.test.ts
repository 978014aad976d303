import assert from 'node:assert/strict'
import {statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Page} from 'puppeteer-core'

import {renderHtml} from '../../../src/report/run/html.js'
import type {JournalDocument} from '../../../src/journal/journal.js'
import {withBrowser} from '../browser.js'
import {diedMidFault, fixture, FIXTURES, HOSTILE, hostileJournal, withPrometheusSeries} from './html-fixtures.js'
import {longRunJournal} from './html-long-run.js'

/** What the tests read from the opened page. */
interface Seen {
  text: string
  canvases: number
  charts: string | undefined
  scripts: number
  handlers: number
}

const SEEN = `({
  text: document.body.innerText,
  canvases: document.querySelectorAll('canvas').length,
  charts: document.documentElement.dataset.charts,
  scripts: document.scripts.length,
  handlers: [...document.querySelectorAll('*')].filter(el => [...el.attributes].some(a => a.name.startsWith('on'))).length,
})`

const inspect = (page: Page) => page.evaluate(SEEN) as Promise<Seen>

/** Key texts a reader must find, per fixture (innerText applies text-transform, so compare case-blind). */
const KEY_TEXTS: Record<string, RegExp[]> = {
  held: [
    /hypothesis held/i,
    /Injected during the fault phase: abort with HTTP 503 on 50 % of requests to ratings carrying x-chaos-test: true/,
    /no faulted request seen after the revert/,
    /fault written/,
    /first evidence/,
    /reverted/,
    /last evidence/,
    /Steady-state hypothesis/,
  ],
  deviated: [/hypothesis deviated/i, /✘ missed/, /p\(99\)=6013ms/, /deleted default\/faultline-ratings/],
  aborted: [/aborted/i, /cut short/, /AFFECTED/, /✘ missed/, /p\(99\)=522ms/],
  'could-not-run': [
    /could not run/i,
    /Planned, never injected: delay 7 s on 100 %/,
    /No load was recorded/,
    /ECONNREFUSED/,
    /never written/,
  ],
  'revert-failed': [
    /revert failed/i,
    /chaos revert --run 20261126-031753-87bf --namespace default/,
    /NOT reverted/,
    /may still be live/,
  ],
}

describe('report.html in headless Chromium', function () {
  this.timeout(120_000)
  const chromium = withBrowser('report-html')

  const open = async (
    doc: JournalDocument,
    name: string,
    options: {width?: number; height?: number; pdf?: boolean; beforeLoad?: (page: Page) => void} = {},
  ) => {
    const file = join(chromium.dir, `${name}.html`)
    writeFileSync(file, renderHtml(doc))
    return chromium.browser.look(file, name, {...options, inspect})
  }

  for (const name of FIXTURES) {
    it(`renders the ${name} run offline, without errors, with its charts and key facts`, async () => {
      const doc = fixture(name)
      const look = await open(doc, `report-${name}`)
      assert.deepEqual(look.consoleErrors, [])
      assert.deepEqual(look.requests, [])
      const classes = Object.values(doc.load).filter(s => s.length > 0).length
      assert.equal(look.inspected?.canvases, classes * 3, 'three charts per traffic class')
      if (classes > 0) assert.equal(look.inspected?.charts, String(classes * 3))
      for (const text of KEY_TEXTS[name] ?? []) assert.match(look.inspected?.text ?? '', text)
    })
  }

  it('fits a 1280×800 laptop screen and prints to PDF', async () => {
    const look = await open(fixture('deviated'), 'report-deviated-1280', {width: 1280, height: 800, pdf: true})
    assert.deepEqual(look.consoleErrors, [])
    assert.deepEqual(look.requests, [])
    assert.ok(statSync(look.pdf ?? '').size > 10_000)
  })

  it('shows a run that died as unfinished, with the command that cleans up', async () => {
    const look = await open(diedMidFault(), 'report-unfinished')
    assert.deepEqual(look.consoleErrors, [])
    assert.match(look.inspected?.text ?? '', /unfinished/i)
    assert.match(look.inspected?.text ?? '', /chaos revert --run/)
  })

  it('shows hostile strings as text: no dialog, no handler, no extra script, no request', async () => {
    const dialogs: string[] = []
    const look = await open(hostileJournal(), 'report-hostile', {
      beforeLoad: page =>
        page.on('dialog', d => {
          dialogs.push(d.message())
          void d.dismiss()
        }),
    })
    assert.deepEqual(dialogs, [])
    assert.deepEqual(look.consoleErrors, [])
    assert.deepEqual(look.requests, [])
    assert.equal(look.inspected?.scripts, 3)
    assert.equal(look.inspected?.canvases, 7)
    assert.equal(look.inspected?.handlers, 0)
    for (const h of HOSTILE.slice(0, 4)) assert.ok(look.inspected?.text.includes(h), `shown as text: ${h}`)
  })

  it('refuses to run any script the page did not ship (the CSP is in force)', async () => {
    const file = join(chromium.dir, 'report-csp.html')
    writeFileSync(file, renderHtml(fixture('held')))
    const probe = await chromium.browser.look(file, 'report-csp', {
      inspect: page =>
        page.evaluate(`(() => {
      const s = document.createElement('script'); s.textContent = 'window.injected = true'; document.body.append(s); return window.injected === true })()`) as Promise<boolean>,
    })
    assert.equal(probe.inspected, false)
    assert.ok(
      probe.consoleErrors.some(e => /Content Security Policy/.test(e)),
      probe.consoleErrors.join('\n'),
    )
  })

  it('draws Prometheus range series beside the load charts', async () => {
    const look = await open(withPrometheusSeries(), 'report-prometheus-series')
    assert.deepEqual(look.consoleErrors, [])
    assert.deepEqual(look.requests, [])
    assert.equal(look.inspected?.canvases, 7)
    assert.match(look.inspected?.text ?? '', /Prometheus over the run/)
  })

  it('shows the fault phase in every chart legend without a pointer, and the values under the pointer with one', async () => {
    const legends = `[...document.querySelectorAll('.chart-head .u-legend')].map(l => ({
      title: l.title,
      rows: [...l.querySelectorAll('.u-series')].map(r => r.querySelector('.u-value').textContent),
    }))`
    type Legend = {title: string; rows: string[]}
    const file = join(chromium.dir, 'report-legends.html')
    writeFileSync(file, renderHtml(withPrometheusSeries()))
    const look = await chromium.browser.look(file, 'report-legends', {
      inspect: async page => {
        const still = (await page.evaluate(legends)) as Legend[]
        const box = await (await page.$('.chart[data-metric="latency"] .u-over'))?.boundingBox()
        if (box === null || box === undefined) throw new Error('no latency chart')
        // Over the middle of the fault phase (the charts share one cursor).
        const fault = (await page.evaluate(
          `(() => { const d = JSON.parse(document.getElementById('chart-data').textContent); const f = d.phases.find(p => p.name === 'fault'); return (f.from + f.to) / 2 / d.endS })()`,
        )) as number
        await page.mouse.move(box.x + box.width * fault, box.y + box.height / 2)
        const pointed = (await page.evaluate(legends)) as Legend[]
        return {still, pointed}
      },
    })
    assert.deepEqual(look.consoleErrors, [])
    const {still, pointed} = look.inspected ?? assert.fail('nothing inspected')
    assert.equal(still.length, 7, 'six load charts and one Prometheus chart')
    for (const l of still) {
      assert.equal(l.rows[0], 'fault phase mean')
      for (const v of l.rows.slice(1)) assert.match(v, /^-?\d/, `a value, not a blank: ${JSON.stringify(l.rows)}`)
      assert.match(
        l.title,
        /^Without a pointer: each line’s mean over the fault phase \(\+0:06 to \+0:21, one value per (second|sample)\)/,
      )
    }
    const targetedLatency = still[0]?.rows ?? []
    assert.match(targetedLatency[3] ?? '', /^\d{4} ms$/, 'targeted p99 in the fault phase is seconds (the 7 s delay)')
    for (const l of pointed) {
      assert.match(l.rows[0] ?? '', /^\+0:\d\d$/, 'the time under the pointer')
      assert.ok(l.rows.slice(1).every(v => v !== 'no data'))
    }
  })

  it('draws a one-hour run', async () => {
    const look = await open(longRunJournal(), 'report-one-hour')
    assert.deepEqual(look.consoleErrors, [])
    assert.equal(look.inspected?.canvases, 8, 'latency, in flight, errors and rate per class')
  })

  it('draws requests in flight under each class’s latency, on the same time axis, and a cut-short run without errors', async () => {
    const charts = `[...document.querySelectorAll('.chart[data-metric]')].map(el => {
      const over = el.querySelector('.u-over').getBoundingClientRect()
      const legend = el.previousElementSibling.querySelector('.u-legend')
      return {metric: el.dataset.metric, cls: el.dataset.class, left: over.left, width: over.width,
        rows: legend ? [...legend.querySelectorAll('.u-series')].map(r => (r.querySelector('th') || {}).textContent + '=' + r.querySelector('.u-value').textContent) : []}
    })`
    type Chart = {metric: string; cls: string; left: number; width: number; rows: string[]}
    const file = join(chromium.dir, 'report-in-flight.html')
    writeFileSync(file, renderHtml(fixture('aborted-in-flight')))
    const look = await chromium.browser.look(file, 'report-in-flight', {
      inspect: async page => ({seen: await inspect(page), charts: (await page.evaluate(charts)) as Chart[]}),
    })
    assert.deepEqual(look.consoleErrors, [])
    assert.deepEqual(look.requests, [])
    const {seen, charts: drawn} = look.inspected ?? assert.fail('nothing inspected')
    assert.equal(seen.canvases, 8)
    assert.equal(seen.charts, '8')
    assert.deepEqual(
      drawn.filter(c => c.cls === '0').map(c => c.metric),
      ['latency', 'inflight', 'errors', 'rate'],
    )
    for (const cls of ['0', '1']) {
      const mine = drawn.filter(c => c.cls === cls)
      for (const c of mine) {
        assert.ok(
          Math.abs(c.left - (mine[0]?.left ?? 0)) < 1 && Math.abs(c.width - (mine[0]?.width ?? 0)) < 1,
          `the ${c.metric} chart's plot area lines up with latency's: ${JSON.stringify(mine)}`,
        )
      }
    }
    const flight = drawn.find(c => c.cls === '0' && c.metric === 'inflight')?.rows ?? []
    assert.match(flight.find(r => r.startsWith('in flight=')) ?? '', /^in flight=\d/)
    assert.match(flight.find(r => r.startsWith('oldest=')) ?? '', /^oldest=\d(\.\d+)? s$/)
    assert.ok(
      drawn.find(c => c.cls === '0' && c.metric === 'rate')?.rows.some(r => /^cancelled=\d/.test(r)),
      'the rate chart counts cancelled requests apart',
    )
    assert.match(seen.text, /incomplete — cut short at \+8\.6 s of 20 s planned/)
    assert.match(seen.text, /The fault phase is incomplete/)
  })
})
