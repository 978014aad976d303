/**
 * How long `renderHtml` takes and how big report.html gets for long runs at one-second resolution
 * (synthetic journals shaped after a real one, `test/report/run/html-long-run.ts`), against the bars:
 * a one-hour, two-class run renders in under a second and stays under 2 MB. Also how long the
 * journal takes to parse (what `chaos report` adds) and, when Chromium is installed, how long
 * headless Chromium takes to open the page and draw its charts.
 *
 *   npx tsx bench/report-render.ts [--runs 10] [--browser]     on its own, prints the table
 *   npm run bench -- --only report                              as part of bench/RESULTS.md
 *
 * Bounded: a fixed number of renders and page opens per case.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {uplotAssets} from '../src/report/assets.js'
import {renderHtml} from '../src/report/run/html.js'
import {chromiumProblem, HeadlessBrowser} from '../test/report/browser.js'
import {longRunJournal} from '../test/report/run/html-long-run.js'
import {withBlastRadius} from '../test/diagnosis/long-run.js'
import {
  type Bench,
  type BenchOptions,
  type BenchResult,
  fmtStats,
  stats,
  type Stats,
  table,
  type Target,
} from './harness.js'

interface Case {
  seconds: number
  classes: string[]
}

const CASES: Case[] = [
  {seconds: 60, classes: ['targeted', 'control']},
  {seconds: 600, classes: ['targeted', 'control']},
  {seconds: 3600, classes: ['targeted', 'control']},
  {seconds: 3600, classes: ['targeted', 'control', 'canary', 'batch']},
]
const SMOKE_CASES = CASES.slice(0, 2)
/** The case the issue's bar is about. */
const ONE_HOUR = CASES[2] as Case

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`
const label = (c: Case) => `${c.seconds} s × ${c.classes.length} classes`

/** What one case measured. */
interface Measured {
  c: Case
  journalBytes: number
  parseMs: number
  firstMs: number
  render: Stats
  pageBytes: number
  chartDataBytes: number
  /** Page open to charts drawn, per open; empty without Chromium. */
  draw: Stats | undefined
  /** Console errors and network requests the page made (each one a bug: reports open offline). */
  pageProblems: string[]
}

/** Page open to charts drawn (two animation frames after load), in ms of the page's own clock. */
async function drawMs(browser: HeadlessBrowser, file: string, name: string, problems: string[]): Promise<number> {
  const look = await browser.look(file, name, {inspect: p => p.evaluate('performance.now()') as Promise<number>})
  problems.push(...look.consoleErrors, ...look.requests.map(r => `request to ${r}`))
  return look.inspected ?? NaN
}

async function measureCase(
  c: Case,
  renders: number,
  opens: number,
  dir: string,
  browser: HeadlessBrowser | undefined,
): Promise<Measured> {
  // With the blast-radius map of a real sandbox run: its graph, table and diagnosis are part of the page.
  const text = JSON.stringify(withBlastRadius(longRunJournal({seconds: c.seconds, classes: c.classes})))
  let started = performance.now()
  const doc = JSON.parse(text) as ReturnType<typeof longRunJournal>
  const parseMs = performance.now() - started
  started = performance.now()
  let page = renderHtml(doc)
  const firstMs = performance.now() - started
  const times: number[] = []
  for (let i = 0; i < renders; i++) {
    started = performance.now()
    page = renderHtml(doc)
    times.push(performance.now() - started)
  }
  const data = /<script type="application\/json" id="chart-data">([\s\S]*?)<\/script>/.exec(page)?.[1]
  if (data === undefined)
    throw new Error(
      `${label(c)}: report.html has no chart-data script; bench/report-render.ts needs updating to the page's layout`,
    )
  const name = `bench-report-${c.seconds}s-${c.classes.length}c`
  const file = join(dir, `${name}.html`)
  writeFileSync(file, page)
  const pageProblems: string[] = []
  const draws: number[] = []
  if (browser !== undefined) for (let i = 0; i < opens; i++) draws.push(await drawMs(browser, file, name, pageProblems))
  return {
    c,
    journalBytes: Buffer.byteLength(text),
    parseMs,
    firstMs,
    render: stats(times),
    pageBytes: Buffer.byteLength(page),
    chartDataBytes: Buffer.byteLength(data),
    draw: browser === undefined ? undefined : stats(draws),
    pageProblems,
  }
}

/** Renders every case (`renders` times after one cold render) and opens each page `opens` times when Chromium is here. */
async function measure(
  cases: Case[],
  renders: number,
  opens: number,
  withBrowser: boolean,
  log: (line: string) => void,
): Promise<{rows: Measured[]; problem: string | undefined}> {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-report-'))
  const problem = withBrowser ? chromiumProblem() : 'not asked for (--browser)'
  const browser = problem === undefined ? await HeadlessBrowser.launch() : undefined
  try {
    const rows: Measured[] = []
    for (const c of cases) {
      rows.push(await measureCase(c, renders, opens, dir, browser))
      log(`${label(c)}: render ${fmtStats(rows.at(-1)?.render ?? stats([]), 1, ' ms')}`)
    }
    return {rows, problem}
  } finally {
    await browser?.close()
    rmSync(dir, {recursive: true, force: true})
  }
}

const HEADERS = [
  'run',
  'journal',
  'parse journal',
  'first render',
  'render ms, median (min–max)',
  'report.html',
  'of which chart data',
  'open + draw in Chromium ms, median (min–max)',
]

function tableRows(rows: Measured[], problem: string | undefined): string[][] {
  return rows.map(m => {
    const bold = (s: string) => (m.c === ONE_HOUR ? `**${s}**` : s)
    return [
      bold(label(m.c)),
      kb(m.journalBytes),
      `${m.parseMs.toFixed(0)} ms`,
      `${m.firstMs.toFixed(0)} ms`,
      bold(fmtStats(m.render, 1)),
      bold(kb(m.pageBytes)),
      kb(m.chartDataBytes),
      m.draw === undefined ? `— (${problem ?? ''})` : fmtStats(m.draw),
    ]
  })
}

function targets(rows: Measured[], problem: string | undefined): Target[] {
  const hour = rows.find(m => m.c === ONE_HOUR)
  const notRendered = 'smoke: the one-hour journal is not rendered'
  const browser: Target = {
    name: 'report opens offline in Chromium',
    target: 'no console error, no network request',
    value: '',
    met: undefined,
  }
  const problems = rows.flatMap(m => m.pageProblems.map(p => `${label(m.c)}: ${p}`))
  if (problem !== undefined) browser.value = problem
  else {
    browser.value = problems.length === 0 ? `${rows.length} page(s) clean` : problems.slice(0, 3).join('; ')
    browser.met = problems.length === 0
  }
  return [
    {
      name: 'one-hour report renders',
      target: '< 1 s',
      value: hour === undefined ? notRendered : fmtStats(hour.render, 1, ' ms'),
      met: hour === undefined ? undefined : hour.render.median < 1000,
    },
    {
      name: 'one-hour report.html size',
      target: '< 2 MB',
      value: hour === undefined ? notRendered : kb(hour.pageBytes),
      met: hour === undefined ? undefined : hour.pageBytes < 2 * 1024 * 1024,
    },
    browser,
  ]
}

async function run(opts: BenchOptions): Promise<BenchResult> {
  const cases = opts.smoke ? SMOKE_CASES : CASES
  const renders = opts.smoke ? 1 : Math.max(opts.runs, 10)
  const opens = opts.smoke ? 1 : opts.runs
  const {rows, problem} = await measure(cases, renders, opens, true, opts.log)
  const result: BenchResult = {
    method: [
      `In-process: ${renders} render(s) per case after one cold render (the cold one includes reading uPlot from the package and loading the renderer's modules); journals from \`longRunJournal\` (\`test/report/run/html-long-run.ts\`), every second carrying a real encoded histogram.`,
      problem === undefined
        ? `Browser: headless Chromium (puppeteer-core) opens each page ${opens} time(s) from file:// with every network request blocked; time = the page's \`performance.now()\` two animation frames after load.`
        : `Browser: not measured (${problem}).`,
      `uPlot inlined in every page: ${kb(Buffer.byteLength(uplotAssets().script.value) + Buffer.byteLength(uplotAssets().style.value))}.`,
    ],
    tables: [{headers: HEADERS, rows: tableRows(rows, problem)}],
    targets: targets(rows, problem),
    notes: [
      "The page embeds per-second columns (second, requests, failed, dropped, p50/p95/p99 rounded to 0.01 ms) and never the histograms, so its size grows ~55 KB per class-hour beyond uPlot's fixed size. `test/report/run/html.test.ts` holds the same bar as a test.",
    ],
  }
  const broken = result.targets.filter(t => t.met === false)
  if (opts.smoke && broken.length > 0)
    throw new Error(`report rendering is broken: ${broken.map(t => `${t.name}: ${t.value}`).join('; ')}`)
  return result
}

const bench: Bench = {
  name: 'report',
  title: 'report.html rendering',
  what: '`renderHtml` on synthetic journals at one-second resolution against the bar "a one-hour run renders in under a second and stays under 2 MB"; what parsing the journal adds; and, with Chromium installed, how long headless Chromium takes from opening the file to charts drawn.',
  run,
}

export default bench

async function main(): Promise<void> {
  const i = process.argv.indexOf('--runs')
  const renders = i < 0 ? 10 : Number(process.argv[i + 1])
  const {rows, problem} = await measure(CASES, renders, 1, process.argv.includes('--browser'), () => undefined)
  console.log(`node ${process.version}, ${renders} renders per case after one cold render\n`)
  console.log(table({headers: HEADERS, rows: tableRows(rows, problem)}))
  for (const t of targets(rows, problem)) console.log(`${t.name}: ${t.value} (bar ${t.target})`)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main()
