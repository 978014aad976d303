/**
 * How long the history index takes over a report root: summarising one long journal (its
 * per-second histograms decoded and merged per class and phase), scanning a root of many runs, and
 * rendering a page of many runs — with the page's size — and a rescan served from the summary cache.
 *
 *   npx tsx bench/report-index.ts [--hours 1] [--runs 200] [--render 500] [--rounds 1]   on its own
 *   npm run bench -- --only index                                                         in RESULTS.md
 *
 * The journals are the deviated fixture's, its load seconds repeated to the length asked for.
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {renderIndex} from '../src/report/index/page.js'
import {type RunSummary, summariseRun} from '../src/report/index/run-summary.js'
import {scanReports} from '../src/report/index/scan.js'
import {type JournalDocument, runDirectory} from '../src/journal/journal.js'
import {type Bench, type BenchOptions, type BenchResult, fmtStats, stats, table, type Table} from './harness.js'

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'journals', 'deviated.json')

/** Sizes of one measurement. */
interface Sizes {
  /** Seconds of load in the long journal. */
  seconds: number
  /** Runs in the scanned report root. */
  runs: number
  /** Runs on the rendered index page. */
  render: number
}

/** The fixture stretched to `seconds` of load: baseline 10%, fault 80%, recovery 10%. */
function longJournal(seconds: number): JournalDocument {
  const doc = JSON.parse(readFileSync(FIXTURE, 'utf8')) as JournalDocument
  for (const [name, recorded] of Object.entries(doc.load)) {
    doc.load[name] = Array.from({length: seconds}, (_, i) => ({
      ...(recorded[i % recorded.length] as JournalDocument['load'][string][number]),
      second: i,
    }))
  }
  const ms = seconds * 1000
  const t0 = doc.phases[0]?.startT ?? 0
  doc.phases = [
    {name: 'baseline', startT: t0, endT: t0 + ms * 0.1, plannedMs: ms * 0.1},
    {name: 'fault', startT: t0 + ms * 0.1, endT: t0 + ms * 0.9, plannedMs: ms * 0.8},
    {name: 'recovery', startT: t0 + ms * 0.9, endT: t0 + ms, plannedMs: ms * 0.1},
  ]
  return doc
}

/** A report root of `runs` copies of the fixture, an hour apart, over six experiments. */
function reportRoot(root: string, short: JournalDocument, runs: number): void {
  for (let i = 0; i < runs; i++) {
    const at = new Date(Date.parse(short.startedAt) - i * 3_600_000)
    const dir = runDirectory(root, `experiment-${i % 6}`, at)
    mkdirSync(dir, {recursive: true})
    writeFileSync(
      join(dir, 'journal.json'),
      JSON.stringify({
        ...short,
        startedAt: at.toISOString(),
        experiment: {...short.experiment, name: `experiment-${i % 6}`},
      }),
    )
  }
}

function timed<T>(times: number[], work: () => T): T {
  const started = performance.now()
  const result = work()
  times.push(performance.now() - started)
  return result
}

async function timedAsync<T>(times: number[], work: () => Promise<T>): Promise<T> {
  const started = performance.now()
  const result = await work()
  times.push(performance.now() - started)
  return result
}

/** `rounds` rounds of each step; the table of medians (min–max) and what each step worked on. */
async function measure(sizes: Sizes, rounds: number, log: (line: string) => void): Promise<Table> {
  const long = longJournal(sizes.seconds)
  const short = JSON.parse(readFileSync(FIXTURE, 'utf8')) as JournalDocument
  const t = {summarise: [] as number[], scan: [] as number[], cached: [] as number[], render: [] as number[]}
  let pageBytes = 0
  for (let r = 0; r < rounds; r++) {
    const summary: RunSummary = timed(t.summarise, () => summariseRun(long, 'x/y'))
    const root = mkdtempSync(join(tmpdir(), 'faultline-bench-index-'))
    try {
      reportRoot(root, short, sizes.runs)
      const cacheFile = join(root, '.index-cache.json')
      const scanned = await timedAsync(t.scan, () => scanReports(root, {cacheFile}))
      await timedAsync(t.cached, () => scanReports(root, {cacheFile}))
      if (scanned.length !== sizes.runs)
        throw new Error(`scanReports found ${scanned.length} of the ${sizes.runs} runs written under ${root}`)
    } finally {
      rmSync(root, {recursive: true, force: true})
    }
    const many = Array.from({length: sizes.render}, (_, i) => ({
      ...summary,
      experiment: `experiment-${i % 8}`,
      dir: `experiment-${i % 8}/${i}`,
      startedAt: new Date(Date.parse(long.startedAt) - i * 3_600_000).toISOString(),
    }))
    pageBytes = Buffer.byteLength(timed(t.render, () => renderIndex(many, {generatedAt: new Date()})))
    log(
      `round ${r + 1}/${rounds}: summarise ${(t.summarise.at(-1) ?? NaN).toFixed(0)} ms, scan ${(t.scan.at(-1) ?? NaN).toFixed(0)} ms, render ${(t.render.at(-1) ?? NaN).toFixed(0)} ms`,
    )
  }
  const kb = (n: number) => `${(n / 1024).toFixed(0)} KB`
  const ms = (xs: number[]) => fmtStats(stats(xs), stats(xs).median < 100 ? 1 : 0)
  return {
    headers: ['step', 'input', 'ms, median (min–max)'],
    rows: [
      [
        'summarise one journal',
        `${sizes.seconds} s of load × ${Object.keys(long.load).length} classes, ${kb(Buffer.byteLength(JSON.stringify(long)))}`,
        ms(t.summarise),
      ],
      [
        'scan a report root, no cache',
        `${sizes.runs} runs of ${kb(Buffer.byteLength(JSON.stringify(short)))}`,
        ms(t.scan),
      ],
      ['scan it again, from the summary cache', `${sizes.runs} runs`, ms(t.cached)],
      ['render the index page', `${sizes.render} runs → ${kb(pageBytes)} page`, ms(t.render)],
    ],
  }
}

async function run(opts: BenchOptions): Promise<BenchResult> {
  const sizes: Sizes = opts.smoke ? {seconds: 360, runs: 20, render: 50} : {seconds: 3600, runs: 200, render: 500}
  return {
    method: [
      `In-process, ${opts.runs} round(s) of each step. Journals: \`test/fixtures/journals/deviated.json\`, its load seconds repeated to ${sizes.seconds} s for the long one (baseline 10 %, fault 80 %, recovery 10 %); the report root holds ${sizes.runs} copies of it an hour apart over six experiments, written to a temp dir each round.`,
    ],
    tables: [await measure(sizes, opts.runs, opts.log)],
    targets: [],
    notes: ['The issue names no bar for the history index; these are the numbers to compare releases by.'],
  }
}

const bench: Bench = {
  name: 'index',
  title: 'Report history index',
  what: "The history index over a report root: summarising one long journal (its per-second histograms merged per class and phase), scanning a root of many runs with and without the summary cache, and rendering a page of many runs, with the page's size.",
  run,
}

export default bench

async function main(): Promise<void> {
  const {values: args} = parseArgs({
    options: {
      hours: {type: 'string', default: '1'},
      runs: {type: 'string', default: '200'},
      render: {type: 'string', default: '500'},
      rounds: {type: 'string', default: '1'},
    },
  })
  const sizes: Sizes = {
    seconds: Math.round(Number(args.hours) * 3600),
    runs: Number(args.runs),
    render: Number(args.render),
  }
  console.log(table(await measure(sizes, Number(args.rounds), line => console.log(line))))
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main()
