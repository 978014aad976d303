/**
 * What every benchmark shares: the `Bench` interface `bench/run.ts` drives, the options it passes
 * (`--smoke`, `--runs`), sample statistics (median, min–max, same-round ratios) and the Markdown a
 * section of `bench/RESULTS.md` is made of. A bench measures and returns numbers and verdicts; it
 * never writes RESULTS.md itself.
 */
import {spawnSync} from 'node:child_process'
import {readFileSync} from 'node:fs'

/** What `bench/run.ts` hands each benchmark. */
export interface BenchOptions {
  /** A short run that proves the bench still works (CI): fewer rounds, shorter durations, results not recorded. */
  smoke: boolean
  /** Rounds per measurement (≥ 5 for recorded results; 1 in a smoke run unless given). */
  runs: number
  /** Progress lines for the console (never into RESULTS.md). */
  log: (line: string) => void
}

/** A target the issue names, and whether this run met it. `met` undefined: not measurable here (say why in `value`). */
export interface Target {
  name: string
  target: string
  value: string
  met: boolean | undefined
}

/** A Markdown table. */
export interface Table {
  caption?: string
  headers: string[]
  rows: string[][]
}

/** One section of RESULTS.md. */
export interface BenchResult {
  /** How it was run: the exact command(s) and setup (pinning, peers, sizes). */
  method: string[]
  tables: Table[]
  targets: Target[]
  /** Anything a reader must know to trust the numbers (what was skipped and why, peers missing). */
  notes: string[]
}

/** A benchmark `bench/run.ts` can run. */
export interface Bench {
  /** Short name for `--only` (e.g. `fidelity`). */
  name: string
  title: string
  /** What it measures, in a sentence or two (RESULTS.md shows it above the numbers). */
  what: string
  run(opts: BenchOptions): Promise<BenchResult>
}

/** Median, min and max of some samples. */
export interface Stats {
  median: number
  min: number
  max: number
  n: number
}

export function stats(xs: readonly number[]): Stats {
  const s = xs.filter(x => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return {median: NaN, min: NaN, max: NaN, n: 0}
  const mid = Math.floor(s.length / 2)
  const median = s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
  return {median, min: s[0] as number, max: s[s.length - 1] as number, n: s.length}
}

/** The q-quantile (0..1) of some samples, nearest rank. */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number
}

/** Per-round ratios ours[i] / theirs[i] (rounds run in the same invocation), as stats. */
export function ratios(ours: readonly number[], theirs: readonly number[]): Stats {
  return stats(ours.map((x, i) => x / (theirs[i] ?? NaN)))
}

/** `12.3 (10.1–15.0)`: median and min–max with a fixed number of digits. */
export function fmtStats(s: Stats, digits = 0, unit = ''): string {
  if (s.n === 0) return '—'
  const f = (x: number) =>
    x.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits}) + unit
  return s.n === 1 ? f(s.median) : `${f(s.median)} (${f(s.min)}–${f(s.max)})`
}

/** A ratio: `0.63×`. */
export const fmtRatio = (x: number) => (Number.isNaN(x) ? '—' : `${x.toFixed(2)}×`)

export function table(t: Table): string {
  const esc = (s: string) => s.replaceAll('|', '\\|')
  const lines = [
    `| ${t.headers.map(esc).join(' | ')} |`,
    `| ${t.headers.map(() => '---').join(' | ')} |`,
    ...t.rows.map(r => `| ${r.map(esc).join(' | ')} |`),
  ]
  return (t.caption === undefined ? '' : `${t.caption}\n\n`) + lines.join('\n')
}

/** A peer's version line, or undefined when it is not installed. */
export function peerVersion(command: string, args: string[], pattern: RegExp = /\S.*/): string | undefined {
  const r = spawnSync(command, args, {encoding: 'utf8', timeout: 10_000})
  if (r.error !== undefined) return undefined
  return pattern.exec(`${r.stdout}\n${r.stderr}`)?.[0]?.trim()
}

/** The value after `--name` on the command line, if given. */
export function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}

/** A bench's tables, targets and notes as Markdown (RESULTS.md's sections; a standalone bench prints it). */
export function resultMarkdown(result: BenchResult): string {
  const out: string[] = []
  for (const t of result.tables) out.push(table(t), '')
  if (result.targets.length > 0) {
    out.push(
      table({
        headers: ['target', 'bar', 'measured', 'met'],
        rows: result.targets.map(t => [
          t.name,
          t.target,
          t.value,
          t.met === undefined ? 'not measured' : t.met ? '**met**' : '**not met**',
        ]),
      }),
      '',
    )
  }
  out.push(...result.notes.map(n => `- ${n}`))
  return out.join('\n')
}

let clockTicks: number | undefined
/** CPU seconds (user + system, every thread) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid: number): number {
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], {encoding: 'utf8'}).stdout.trim()) || 100
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // utime and stime: fields 14 and 15, counted after the parenthesised command name.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / clockTicks
}

/** Whether a command is on PATH. */
export function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], {encoding: 'utf8'}).status === 0
}
