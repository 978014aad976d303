import assert from 'node:assert/strict'
import {statSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {Page} from 'puppeteer-core'

import {renderHtml} from '../../src/report/html.js'
import type {JournalDocument} from '../../src/runner/journal.js'
import {withBrowser} from './browser.js'
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
  'held': [/hypothesis held/i, /fault written/, /first evidence/, /reverted/, /last evidence/, /Steady-state hypothesis/],
  'deviated': [/hypothesis deviated/i, /✘ missed/, /p\(99\)=6013ms/, /deleted default\/faultline-ratings/],
  'aborted': [/aborted/i, /cut short/, /AFFECTED/, /✘ missed/, /p\(99\)=522ms/],
  'could-not-run': [/could not run/i, /No load was recorded/, /ECONNREFUSED/, /never written/],
  'revert-failed': [/revert failed/i, /chaos revert --run 20261126-031753-87bf --namespace default/, /NOT reverted/, /may still be live/],
}

describe('report.html in headless Chromium', function () {
  this.timeout(120_000)
  const chromium = withBrowser('report-html')

  const open = async (doc: JournalDocument, name: string, options: {width?: number; height?: number; pdf?: boolean; beforeLoad?: (page: Page) => void} = {}) => {
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
    const look = await open(hostileJournal(), 'report-hostile', {beforeLoad: page => page.on('dialog', d => {
      dialogs.push(d.message())
      void d.dismiss()
    })})
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
    const probe = await chromium.browser.look(file, 'report-csp', {inspect: page => page.evaluate(`(() => {
      const s = document.createElement('script'); s.textContent = 'window.injected = true'; document.body.append(s); return window.injected === true })()`) as Promise<boolean>})
    assert.equal(probe.inspected, false)
    assert.ok(probe.consoleErrors.some(e => /Content Security Policy/.test(e)), probe.consoleErrors.join('\n'))
  })

  it('draws Prometheus range series beside the load charts', async () => {
    const look = await open(withPrometheusSeries(), 'report-prometheus-series')
    assert.deepEqual(look.consoleErrors, [])
    assert.deepEqual(look.requests, [])
    assert.equal(look.inspected?.canvases, 7)
    assert.match(look.inspected?.text ?? '', /Prometheus over the run/)
  })

  it('draws a one-hour run', async () => {
    const look = await open(longRunJournal(), 'report-one-hour')
    assert.deepEqual(look.consoleErrors, [])
    assert.equal(look.inspected?.canvases, 6)
  })
})
