import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {Page} from 'puppeteer-core'

import {GAMEDAY_FILES} from '../../../src/report/gameday/report.js'
import {REPORT_CSS} from '../../../src/report/run/style.js'
import {withBrowser} from '../browser.js'
import {writeFixtureGameDay} from './fixtures.js'

/** What the test reads from the opened page: its text, the banner's class, and every link resolved by the browser. */
const SEEN = `({
  text: document.body.innerText,
  banner: document.querySelector('section.verdict')?.className,
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  rows: document.querySelectorAll('table.gameday tbody tr').length,
  badges: [...document.querySelectorAll('table.gameday .badge')].map(b => b.textContent.trim()),
  data: JSON.parse(document.getElementById('gameday-data').textContent).experiments.length,
  font: getComputedStyle(document.body).fontFamily,
})`

interface Seen {
  text: string
  banner: string
  links: string[]
  rows: number
  badges: string[]
  data: number
  font: string
}

describe('gameday.html in headless Chromium', function () {
  this.timeout(120_000)
  const chromium = withBrowser('gameday-html')

  it("shows the worst outcome as a banner, a row and badge per experiment, and links that open each run's report", async () => {
    const written = await writeFixtureGameDay(
      chromium.dir,
      ['held', 'deviated', 'aborted'],
      ['reviews-circuit-breaker'],
      {stoppedBecause: 'interrupted (signal)'},
    )
    const look = await chromium.browser.look(join(written.dir, GAMEDAY_FILES.html), 'gameday', {
      inspect: (page: Page) => page.evaluate(SEEN) as Promise<Seen>,
    })
    assert.deepEqual(look.consoleErrors, [])
    assert.deepEqual(look.requests, [])
    const seen = look.inspected!
    assert.equal(seen.banner, 'verdict verdict-aborted')
    // report.html's font stack, not the browser's serif default (the stylesheet used to be HTML-escaped).
    assert.equal(seen.font, /body \{[^}]*font: 14px\/1\.45 ([^;]+);/.exec(REPORT_CSS)?.[1])
    assert.match(seen.text, /ABORTED — FAULTS WERE REVERTED/i)
    assert.match(seen.text, /3 of 4 experiments ran in 4 min 6 s; stopped early: interrupted \(signal\)\./)
    assert.equal(seen.rows, 4)
    assert.equal(seen.data, 4)
    assert.deepEqual(seen.badges, ['✔ Held', '✘ Deviated', '■ Aborted', '» Skipped'])
    assert.equal(seen.links.length, 3)
    for (const href of seen.links) {
      assert.match(href, /^file:\/\/.*\/report\.html$/)
      assert.ok(existsSync(fileURLToPath(href)), `${href} resolves to a file`)
    }
  })

  it('a held game day reads as held, with no gate note', async () => {
    const written = await writeFixtureGameDay(chromium.dir, ['held'], [], {name: 'held-day'})
    const look = await chromium.browser.look(join(written.dir, GAMEDAY_FILES.html), 'gameday-held', {
      width: 420,
      inspect: (page: Page) => page.evaluate(SEEN) as Promise<Seen>,
    })
    assert.deepEqual(look.consoleErrors, [])
    assert.deepEqual(look.requests, [])
    assert.equal(look.inspected?.banner, 'verdict verdict-held')
    assert.match(look.inspected?.text ?? '', /EVERY HYPOTHESIS HELD/i)
    assert.doesNotMatch(look.inspected?.text ?? '', /CI gate/)
  })
})
