/**
 * How long the history index takes over a report root: summarising one long journal (its
 * per-second histograms decoded and merged per class and phase), scanning a root of many runs, and
 * rendering a page of many runs — with the page's size — and a rescan served from the summary cache.
 *
 *   npx tsx bench/report-index.ts [--hours 1] [--runs 200] [--render 500]
 *
 * The journals are the deviated fixture's, its load seconds repeated to the length asked for.
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {renderIndex} from '../src/report/index-page.js'
import {summariseRun} from '../src/report/run-summary.js'
import {scanReports} from '../src/report/scan.js'
import {type JournalDocument, runDirectory} from '../src/runner/journal.js'

const {values: args} = parseArgs({options: {hours: {type: 'string', default: '1'}, runs: {type: 'string', default: '200'}, render: {type: 'string', default: '500'}}})
const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'journals', 'deviated.json')

/** The fixture stretched to `seconds` of load: baseline 10%, fault 80%, recovery 10%. */
function longJournal(seconds: number): JournalDocument {
  const doc = JSON.parse(readFileSync(FIXTURE, 'utf8')) as JournalDocument
  for (const [name, recorded] of Object.entries(doc.load)) {
    doc.load[name] = Array.from({length: seconds}, (_, i) => ({...recorded[i % recorded.length] as JournalDocument['load'][string][number], second: i}))
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

function timed<T>(what: string, work: () => T): T {
  const started = performance.now()
  const result = work()
  console.log(`${what}: ${(performance.now() - started).toFixed(0)} ms`)
  return result
}

const seconds = Math.round(Number(args.hours) * 3600)
const long = longJournal(seconds)
console.log(`journal: ${seconds} s of load × ${Object.keys(long.load).length} classes, ${(JSON.stringify(long).length / 1048576).toFixed(1)} MB`)
const summary = timed('summarise one journal', () => summariseRun(long, 'x/y'))

const root = mkdtempSync(join(tmpdir(), 'faultline-bench-index-'))
try {
  const short = JSON.parse(readFileSync(FIXTURE, 'utf8')) as JournalDocument
  for (let i = 0; i < Number(args.runs); i++) {
    const at = new Date(Date.parse(short.startedAt) - i * 3_600_000)
    const dir = runDirectory(root, `experiment-${i % 6}`, at)
    mkdirSync(dir, {recursive: true})
    writeFileSync(join(dir, 'journal.json'), JSON.stringify({...short, startedAt: at.toISOString(), experiment: {...short.experiment, name: `experiment-${i % 6}`}}))
  }
  const cacheFile = join(root, '.index-cache.json')
  for (const pass of ['first scan (no cache)', 'again, from the cache']) {
    const started = performance.now()
    const scanned = await scanReports(root, {cacheFile})
    console.log(`scan ${scanned.length} runs of ${(JSON.stringify(short).length / 1024).toFixed(0)} KB, ${pass}: ${(performance.now() - started).toFixed(0)} ms`)
  }
} finally {
  rmSync(root, {recursive: true, force: true})
}

const many = Array.from({length: Number(args.render)}, (_, i) => ({...summary, experiment: `experiment-${i % 8}`, dir: `experiment-${i % 8}/${i}`, startedAt: new Date(Date.parse(long.startedAt) - i * 3_600_000).toISOString()}))
const page = timed(`render ${many.length} runs`, () => renderIndex(many, {generatedAt: new Date()}))
console.log(`page: ${(page.length / 1024).toFixed(0)} KB`)
