/**
 * How long `renderHtml` takes and how big report.html gets for long runs at one-second resolution
 * (synthetic journals shaped after a real one, `test/report/html-long-run.ts`), against the bars:
 * a one-hour, two-class run renders in under a second and stays under 2 MB. Also how long the
 * journal takes to parse (what `chaos report` adds) and, with `--browser`, how long headless
 * Chromium takes to open the page and draw its charts.
 *
 *   npx tsx bench/report-render.ts [--runs 10] [--browser]
 *
 * Bounded: a fixed number of renders per case, one page open per case.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {uplotAssets} from '../src/report/assets.js'
import {renderHtml} from '../src/report/html.js'
import {chromiumProblem, HeadlessBrowser} from '../test/report/browser.js'
import {longRunJournal} from '../test/report/html-long-run.js'

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? fallback : Number(process.argv[i + 1])
}
const RUNS = arg('runs', 10)
const BROWSER = process.argv.includes('--browser')

const CASES = [
  {seconds: 60, classes: ['targeted', 'control']},
  {seconds: 600, classes: ['targeted', 'control']},
  {seconds: 3600, classes: ['targeted', 'control']},
  {seconds: 3600, classes: ['targeted', 'control', 'canary', 'batch']},
]

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`

/** Page open to charts drawn (two animation frames after load), in ms of the page's own clock. */
async function drawMs(browser: HeadlessBrowser, file: string, name: string): Promise<string> {
  const look = await browser.look(file, name, {inspect: p => p.evaluate('performance.now()') as Promise<number>})
  if (look.consoleErrors.length > 0 || look.requests.length > 0) throw new Error(`${name}: ${[...look.consoleErrors, ...look.requests].join('; ')}`)
  return `${(look.inspected ?? NaN).toFixed(0)} ms`
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-report-'))
  const problem = BROWSER ? chromiumProblem() : 'not asked for (--browser)'
  const browser = problem === undefined ? await HeadlessBrowser.launch() : undefined
  const uplotBytes = Buffer.byteLength(uplotAssets().script.value) + Buffer.byteLength(uplotAssets().style.value)
  console.log(`node ${process.version}, ${RUNS} renders per case after one cold render; uPlot inlined: ${kb(uplotBytes)}`)
  console.log('\n| run | journal | parse journal | first render | render (median / max) | report.html | of which chart data | open + draw in Chromium |')
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |')
  try {
    for (const c of CASES) {
      const text = JSON.stringify(longRunJournal({seconds: c.seconds, classes: c.classes}))
      let started = performance.now()
      const doc = JSON.parse(text) as ReturnType<typeof longRunJournal>
      const parseMs = performance.now() - started
      started = performance.now()
      let page = renderHtml(doc)
      const firstMs = performance.now() - started
      const times: number[] = []
      for (let i = 0; i < RUNS; i++) {
        started = performance.now()
        page = renderHtml(doc)
        times.push(performance.now() - started)
      }
      const data = /<script type="application\/json" id="chart-data">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? ''
      const name = `bench-report-${c.seconds}s-${c.classes.length}c`
      const file = join(dir, `${name}.html`)
      writeFileSync(file, page)
      const draw = browser === undefined ? `— (${problem})` : await drawMs(browser, file, name)
      console.log(`| ${c.seconds} s × ${c.classes.length} classes | ${kb(Buffer.byteLength(text))} | ${parseMs.toFixed(0)} ms | ${firstMs.toFixed(0)} ms | ${median(times).toFixed(1)} / ${Math.max(...times).toFixed(1)} ms | ${kb(Buffer.byteLength(page))} | ${kb(Buffer.byteLength(data))} | ${draw} |`)
    }
  } finally {
    await browser?.close()
    rmSync(dir, {recursive: true, force: true})
  }
}

await main()
