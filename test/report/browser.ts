/**
 * Opens a rendered page in headless Chromium the way a person would, and records what a test must
 * check: console errors, page errors, every network request the page tried (any at all is a bug —
 * the reports must open offline), a full-page screenshot and optionally a PDF print.
 * Screenshots land in `reports/screenshots/` (git-ignored) so a person can look at them.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import puppeteer, {type Browser, type Page} from 'puppeteer-core'

import {REPO} from '../cli.js'

/** Where screenshots and PDFs are written. */
export const SCREENSHOT_DIR = join(REPO, 'reports', 'screenshots')

/** The Chromium binary: `$CHROMIUM_PATH`, else `chromium` on PATH. */
export function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH !== undefined && existsSync(process.env.CHROMIUM_PATH)) return process.env.CHROMIUM_PATH
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], {encoding: 'utf8'}).trim() || undefined
    } catch {
      // try the next name
    }
  }
  return undefined
}

/** Why browser tests cannot run here, or undefined when they can. */
export function chromiumProblem(): string | undefined {
  return chromiumPath() === undefined
    ? 'no Chromium found (install Debian `chromium` or set CHROMIUM_PATH); browser tests skipped'
    : undefined
}

/** What a page did when opened. */
export interface PageLook {
  /** console.error/warn messages and uncaught exceptions. */
  consoleErrors: string[]
  /** URLs the page tried to load other than itself (all were blocked). */
  requests: string[]
  screenshot: string
  pdf?: string
}

/** A headless Chromium for a test file; `close()` it in `after` (or let `withBrowser` do both). */
export class HeadlessBrowser {
  private constructor(
    private readonly browser: Browser,
    private readonly profile: string,
  ) {}

  /** Starts Chromium with a fresh profile and nothing that talks to the network on its own. */
  static async launch(): Promise<HeadlessBrowser> {
    const executablePath = chromiumPath()
    if (executablePath === undefined) throw new Error(chromiumProblem())
    const profile = mkdtempSync(join(tmpdir(), 'faultline-chromium-'))
    const browser = await puppeteer.launch({
      executablePath,
      headless: true,
      userDataDir: profile,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-dev-shm-usage',
      ],
    })
    return new HeadlessBrowser(browser, profile)
  }

  /**
   * Opens `file`, waits for it to settle, runs `inspect` on the page, and saves a full-page
   * screenshot (and a PDF when asked) named `name`. `beforeLoad` attaches listeners (e.g. `dialog`)
   * before the page loads.
   */
  async look<T>(
    file: string,
    name: string,
    options: {
      width?: number
      height?: number
      pdf?: boolean
      inspect?: (page: Page) => Promise<T>
      beforeLoad?: (page: Page) => void
    } = {},
  ): Promise<PageLook & {inspected?: T}> {
    const page = await this.browser.newPage()
    const consoleErrors: string[] = []
    const requests: string[] = []
    // A file, or a page a test serves over HTTP (chaos report serve).
    const url = /^https?:\/\//.test(file) ? file : pathToFileURL(file).href
    try {
      await page.setViewport({width: options.width ?? 1440, height: options.height ?? 900})
      page.on('console', m => {
        if (m.type() === 'error' || m.type() === 'warn') consoleErrors.push(`${m.type()}: ${m.text()}`)
      })
      page.on('pageerror', e => consoleErrors.push(`uncaught: ${(e as Error).message}`))
      options.beforeLoad?.(page)
      await page.setRequestInterception(true)
      page.on('request', r => {
        if (r.url() === url) return void r.continue()
        requests.push(r.url())
        void r.abort()
      })
      await page.goto(url, {waitUntil: 'load'})
      // Two animation frames: charts drawn in the load handler have painted by then.
      await page.evaluate('new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))')
      const inspected = options.inspect === undefined ? undefined : await options.inspect(page)
      mkdirSync(SCREENSHOT_DIR, {recursive: true})
      const screenshot = join(SCREENSHOT_DIR, `${name}.png`)
      await page.screenshot({path: screenshot, fullPage: true})
      const look: PageLook & {inspected?: T} = {consoleErrors, requests, screenshot}
      if (inspected !== undefined) look.inspected = inspected
      if (options.pdf === true) {
        look.pdf = join(SCREENSHOT_DIR, `${name}.pdf`)
        await page.pdf({path: look.pdf, format: 'A4', printBackground: true})
      }
      return look
    } finally {
      await page.close()
    }
  }

  /** Stops Chromium and removes its profile. */
  async close(): Promise<void> {
    await this.browser.close()
    rmSync(this.profile, {recursive: true, force: true})
  }
}

/** The browser and scratch directory `withBrowser` keeps for one `describe`. */
export interface BrowserFixture {
  readonly browser: HeadlessBrowser
  /** A fresh temporary directory for the pages the tests write. */
  readonly dir: string
}

/**
 * Registers `before`/`after` hooks in the calling `describe`: skips it when there is no Chromium,
 * else makes a temporary directory (named after `prefix`, filled by `prepare`), launches Chromium,
 * and closes both afterwards. Read the fixture's fields inside tests, once `before` has run.
 */
export function withBrowser(prefix: string, prepare?: (dir: string) => void): BrowserFixture {
  let browser: HeadlessBrowser | undefined
  let dir: string | undefined
  before(async function () {
    if (chromiumProblem() !== undefined) return this.skip()
    dir = mkdtempSync(join(tmpdir(), `faultline-${prefix}-`))
    prepare?.(dir)
    browser = await HeadlessBrowser.launch()
  })
  after(async () => {
    await browser?.close()
    if (dir !== undefined) rmSync(dir, {recursive: true, force: true})
  })
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("withBrowser's fixture is read before its before hook ran")
    return value
  }
  return {
    get browser() {
      return ready(browser)
    },
    get dir() {
      return ready(dir)
    },
  }
}
