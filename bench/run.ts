/**
 * `npm run bench`: the one entry point over every benchmark. Runs them one after the other (never
 * two at once: they share two cores), keeps each one's result with the machine and load it ran on
 * in `bench/results/<name>.json`, and renders `bench/RESULTS.md` from all of them, so `--only`
 * re-measures one section and keeps the rest.
 *
 *   npm run bench [-- --only fidelity,cli] [--runs 5]
 *   npm run bench -- --smoke [--out DIR]      short runs, proves each bench still works (CI); records nothing
 *   npm run bench -- --file bench/x.ts [--smoke]   one bench module on its own (while writing it)
 *
 * Exit: 0 when every bench ran (a target missed is reported, not an error), 1 when one threw.
 */
import {execFileSync} from 'node:child_process'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus, loadavg, tmpdir, totalmem} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {type Bench, type BenchResult, flag, resultMarkdown, table} from './harness.js'

const HERE = dirname(fileURLToPath(import.meta.url))

/** Every benchmark, in the order they run (and appear in RESULTS.md). */
export const BENCHES: Record<string, () => Promise<{default: Bench}>> = {
  fidelity: () => import('./fault-fidelity.js'),
  effect: () => import('./time-to-effect.js'),
  sidecar: () => import('./sidecar-hop.js'),
  load: () => import('./load-driver.js'),
  cli: () => import('./cli.js'),
  report: () => import('./report-render.js'),
  index: () => import('./report-index.js'),
  guardrail: () => import('./guardrail-reaction.js'),
  memory: () => import('./runner-memory.js'),
  'k6-operator': () => import('./k6-operator.js'),
}

/** A bench's result as kept in `bench/results/<name>.json`. */
export interface Recorded {
  name: string
  title: string
  what: string
  date: string
  commit: string
  machine: Machine
  seconds: number
  result: BenchResult
}

interface Machine {
  cpus: number
  model: string
  memoryGiB: number
  node: string
  /** 1-minute load average before and after the bench ran: how quiet the machine was. */
  load: [number, number]
}

function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {cwd: HERE, encoding: 'utf8'}).trim()
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {cwd: HERE, encoding: 'utf8'}).trim() !==
      ''
    return dirty ? `${sha}+changes` : sha
  } catch {
    return 'unknown'
  }
}

const machineNow = (load0: number): Machine => ({
  cpus: cpus().length,
  model: cpus()[0]?.model.trim() ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  load: [load0, loadavg()[0] ?? NaN],
})

function section(r: Recorded): string {
  const m = r.machine
  const out = [
    `## ${r.title}`,
    '',
    r.what,
    '',
    `Measured ${r.date} at ${r.commit} in ${r.seconds.toFixed(0)} s — ${m.cpus} × ${m.model}, ${m.memoryGiB} GiB, node ${m.node}, load average ${m.load[0].toFixed(1)} before and ${m.load[1].toFixed(1)} after.`,
    '',
  ]
  if (r.result.method.length > 0) out.push('How:', '', ...r.result.method.map(l => `- ${l}`), '')
  out.push(resultMarkdown(r.result), '')
  return out.join('\n')
}

/** RESULTS.md from every recorded result, in BENCHES order. */
export function render(recorded: Recorded[]): string {
  const order = Object.keys(BENCHES)
  const sorted = [...recorded].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))
  const summary = sorted.flatMap(r =>
    r.result.targets.map(t => [
      r.title,
      t.name,
      t.target,
      t.value,
      t.met === undefined ? 'not measured' : t.met ? 'met' : '**not met**',
    ]),
  )
  return [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (`bench/run.ts`) from `bench/results/*.json`; do not edit by hand. Each section says when,',
    'at which commit and on what machine it was measured, and how loaded the machine was. Medians are over the',
    'rounds named in each section; ratios against a peer are taken within a round (same invocation, same target)',
    'and then their median is reported. What the profiles showed and why targets are or are not met is in',
    '`docs/performance.md`.',
    '',
    '## Targets',
    '',
    table({headers: ['bench', 'target', 'bar', 'measured', 'met'], rows: summary}),
    '',
    ...sorted.map(section),
  ].join('\n')
}

async function main(): Promise<void> {
  const smoke = process.argv.includes('--smoke')
  let only = flag('only')
    ?.split(',')
    .map(s => s.trim())
    .filter(s => s !== '')
  const file = flag('file')
  if (file !== undefined) {
    // A bench module not (yet) in BENCHES, run on its own: `--file bench/fidelity.ts`.
    const mod = (await import(pathToFileURL(resolve(file)).href)) as {default: Bench}
    BENCHES[mod.default.name] = () => Promise.resolve(mod)
    only = [mod.default.name]
  }
  for (const name of only ?? [])
    if (!(name in BENCHES)) throw new Error(`no bench named "${name}"; known: ${Object.keys(BENCHES).join(', ')}`)
  const runs = Number(flag('runs') ?? (smoke ? 1 : 5))
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${flag('runs')}`)
  const resultsDir =
    flag('out') ?? (smoke ? mkdtempSync(join(tmpdir(), 'faultline-bench-smoke-')) : join(HERE, 'results'))
  mkdirSync(resultsDir, {recursive: true})
  const failed: string[] = []
  for (const [name, load] of Object.entries(BENCHES)) {
    if (only !== undefined && !only.includes(name)) continue
    const bench = (await load()).default
    const load0 = loadavg()[0] ?? NaN
    const started = performance.now()
    console.log(`\n▶ ${bench.title} (${name})${smoke ? ', smoke' : `, ${runs} rounds`}`)
    try {
      const result = await bench.run({smoke, runs, log: line => console.log(`  ${line}`)})
      const recorded: Recorded = {
        name,
        title: bench.title,
        what: bench.what,
        date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
        commit: commit(),
        machine: machineNow(load0),
        seconds: (performance.now() - started) / 1000,
        result,
      }
      writeFileSync(join(resultsDir, `${name}.json`), JSON.stringify(recorded, null, 2) + '\n')
      for (const t of result.targets)
        console.log(`  ${t.met === undefined ? '·' : t.met ? '✓' : '✗'} ${t.name}: ${t.value} (bar ${t.target})`)
      console.log(`  done in ${recorded.seconds.toFixed(0)} s`)
    } catch (err) {
      failed.push(name)
      console.error(`  ✗ ${name} failed: ${(err as Error).stack ?? String(err)}`)
    }
  }
  const recorded = readdirSync(resultsDir)
    .filter(f => f.endsWith('.json'))
    .map(f => JSON.parse(readFileSync(join(resultsDir, f), 'utf8')) as Recorded)
  const md = render(recorded.filter(r => r.name in BENCHES))
  const out = smoke ? join(resultsDir, 'RESULTS.md') : join(HERE, 'RESULTS.md')
  writeFileSync(out, md)
  console.log(`\n${out} written${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''}`)
  process.exitCode = failed.length > 0 ? 1 : 0
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main()
