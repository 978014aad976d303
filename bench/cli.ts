/**
 * The CLI's own costs, as a person at a terminal sees them: `chaos --version` from process spawn to
 * exit (the compiled CLI, `node bin/chaos`), next to `node -e 0` (the floor of any Node CLI) and
 * `kubectl version --client` (a Go CLI SREs run daily), measured in the same rounds; and one
 * `chaos validate` over many generated experiment files next to one over a single file, which
 * splits its cost into what every invocation pays and what each file adds.
 *
 * The OS page cache cannot be dropped here, so "first" is the first spawn of each command in this
 * process (after a build, if one was needed) and the rounds that follow are warm. Each round spawns
 * every command several times, interleaved in a rotated order, and keeps each command's median;
 * ratios are taken within a round. dist/ is rebuilt first when src/ is newer.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {parseDocument} from 'yaml'

import {
  type Bench,
  type BenchOptions,
  type BenchResult,
  fmtRatio,
  fmtStats,
  onPath,
  peerVersion,
  ratios,
  type Stats,
  stats,
  type Table,
} from './harness.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const CHAOS = join(REPO, 'bin', 'chaos')
const EXAMPLES = join(REPO, 'experiments')

/** A command timed from spawn to exit. */
interface Spawned {
  label: string
  command: string
  args: string[]
  /** Throws when the command's output shows it did not do its job. */
  check?: (stdout: string) => void
}

/** Wall time of one spawn to exit, in ms; throws (with its stderr) when the command fails. */
function timeSpawn(s: Spawned): {ms: number; stdout: string} {
  const started = performance.now()
  const r = spawnSync(s.command, s.args, {cwd: REPO, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024})
  const ms = performance.now() - started
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(
      `${s.label} failed (exit ${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`,
    )
  }
  return {ms, stdout: r.stdout}
}

/** Newest modification time of the files under `dir` whose names end in `suffix`. */
function newest(dir: string, suffix: string): number {
  let t = 0
  for (const f of readdirSync(dir, {recursive: true, encoding: 'utf8'}))
    if (f.endsWith(suffix)) t = Math.max(t, statSync(join(dir, f)).mtimeMs)
  return t
}

/** Rebuilds dist/ (and the command manifest) when any source file is newer than the last build: bin/chaos runs dist/. */
function ensureBuilt(log: (line: string) => void): string {
  const manifest = join(REPO, 'oclif.manifest.json')
  const built = existsSync(manifest) ? Math.min(statSync(manifest).mtimeMs, newest(join(REPO, 'dist'), '.js')) : 0
  if (built >= newest(join(REPO, 'src'), '.ts')) return 'dist/ and oclif.manifest.json were up to date'
  log('dist/ or oclif.manifest.json is older than src/: npm run build')
  try {
    execFileSync('npm', ['run', 'build'], {cwd: REPO, stdio: 'pipe', timeout: 300_000})
  } catch (error) {
    throw new Error(
      `npm run build failed, so bin/chaos would run stale code; fix the build first: ${String((error as {stdout?: Buffer}).stdout ?? error)}`,
    )
  }
  return 'dist/ and oclif.manifest.json rebuilt with npm run build before measuring'
}

/**
 * `count` distinct valid experiment files in `dir`, made from the Experiment examples in
 * experiments/ with their names, phases, fault values and traffic rates varied.
 */
function experimentFiles(dir: string, count: number): string[] {
  const seeds = readdirSync(EXAMPLES)
    .filter(f => f.endsWith('.yaml'))
    .map(f => readFileSync(join(EXAMPLES, f), 'utf8'))
    .filter(text => parseDocument(text).get('kind') === 'Experiment')
  if (seeds.length === 0) throw new Error(`no Experiment examples in ${EXAMPLES}`)
  return Array.from({length: count}, (_, i) => {
    const doc = parseDocument(seeds[i % seeds.length] as string)
    const name = `${String(doc.getIn(['metadata', 'name']))}-${String(i).padStart(3, '0')}`
    doc.setIn(['metadata', 'name'], name)
    doc.setIn(['metadata', 'description'], `Variant ${i} of ${String(doc.getIn(['metadata', 'description']))}`)
    doc.setIn(['spec', 'phases', 'baseline'], `${5 + (i % 10)}s`)
    doc.setIn(['spec', 'phases', 'fault'], `${20 + (i % 20)}s`)
    doc.setIn(['spec', 'phases', 'recovery'], `${5 + ((i * 7) % 10)}s`)
    if (doc.hasIn(['spec', 'faults', 0, 'delay']))
      doc.setIn(['spec', 'faults', 0, 'delay', 'fixedDelay'], `${100 + ((i * 37) % 5000)}ms`)
    if (doc.hasIn(['spec', 'faults', 0, 'abort']))
      doc.setIn(['spec', 'faults', 0, 'abort', 'httpStatus'], [500, 502, 503, 504][i % 4])
    for (const at of ['delay', 'abort'])
      if (doc.hasIn(['spec', 'faults', 0, at])) doc.setIn(['spec', 'faults', 0, at, 'percentage'], 1 + (i % 100))
    for (const k of [0, 1])
      if (doc.hasIn(['spec', 'load', 'traffic', k, 'rate']))
        doc.setIn(['spec', 'load', 'traffic', k, 'rate'], `${1 + ((i * 3 + k) % 50)}/s`)
    const file = join(dir, `${name}.yaml`)
    writeFileSync(file, doc.toString())
    return file
  })
}

/** Spawns each command `perRound` times, interleaved in an order rotated by `round`; each command's median. */
function oneRound(commands: Spawned[], round: number, perRound: number): Map<string, number> {
  const samples = new Map<string, number[]>(commands.map(s => [s.label, []]))
  for (let i = 0; i < perRound; i++) {
    for (let k = 0; k < commands.length; k++) {
      const s = commands[(k + round) % commands.length] as Spawned
      const r = timeSpawn(s)
      s.check?.(r.stdout)
      samples.get(s.label)?.push(r.ms)
    }
  }
  return new Map([...samples].map(([label, ms]) => [label, stats(ms).median]))
}

/** The first spawn of each command, then `runs` rounds; per command, the round medians. */
function measureRounds(
  commands: Spawned[],
  runs: number,
  perRound: number,
  log: (line: string) => void,
): {first: Map<string, number>; rounds: Map<string, number[]>} {
  const first = new Map(
    commands.map(s => {
      const r = timeSpawn(s)
      s.check?.(r.stdout)
      return [s.label, r.ms]
    }),
  )
  const rounds = new Map<string, number[]>(commands.map(s => [s.label, []]))
  for (let r = 0; r < runs; r++) {
    const medians = oneRound(commands, r, perRound)
    for (const [label, ms] of medians) rounds.get(label)?.push(ms)
    log(`round ${r + 1}/${runs}: ${[...medians].map(([label, ms]) => `${label} ${ms.toFixed(0)} ms`).join(', ')}`)
  }
  return {first, rounds}
}

/** `chaos validate` over `paths`, checking that every file is reported valid. */
function validateCommand(paths: string[]): Spawned {
  const n = paths.length
  return {
    label: `\`chaos validate\` of ${n} file${n === 1 ? '' : 's'}`,
    command: process.execPath,
    args: [CHAOS, 'validate', ...paths],
    check: stdout => {
      const ok = stdout.split('\n').filter(l => l.startsWith('✓ ')).length
      if (ok !== n)
        throw new Error(
          `chaos validate passed ${ok} of ${n} generated files; the generator in bench/cli.ts makes an invalid one:\n${stdout.slice(0, 3000)}`,
        )
    },
  }
}

const fmtMs = (s: Stats) => fmtStats(s, s.median < 10 ? 2 : s.median < 100 ? 1 : 0)

/** Start-up of chaos and its peers, `perRound` spawns of each per round. */
function startUp(
  opts: BenchOptions,
  perRound: number,
  kubectl: string | undefined,
): {table: Table; chaos: number[]; notes: string[]} {
  const commands: Spawned[] = [
    {label: '`node bin/chaos --version`', command: process.execPath, args: [CHAOS, '--version']},
    {label: '`node -e 0`', command: process.execPath, args: ['-e', '0']},
    {
      label: 'node importing `@oclif/core` only',
      command: process.execPath,
      args: ['--input-type=module', '-e', 'await import("@oclif/core")'],
    },
    ...(kubectl === undefined
      ? []
      : [{label: '`kubectl version --client`', command: 'kubectl', args: ['version', '--client']}]),
  ]
  const {first, rounds} = measureRounds(commands, opts.runs, perRound, opts.log)
  const of = (i: number) => rounds.get(commands[i]?.label ?? '') ?? []
  const chaos = of(0)
  return {
    table: {
      caption: 'Start-up, spawn to exit',
      headers: ['command', 'first (ms)', 'ms, median of rounds (min–max)', 'chaos --version vs it, per round'],
      rows: commands.map((s, i) => [
        s.label,
        (first.get(s.label) ?? NaN).toFixed(0),
        fmtMs(stats(of(i))),
        i === 0 ? '—' : fmtStats(ratios(chaos, of(i)), 1, '×'),
      ]),
    },
    chaos,
    notes: [
      `\`chaos --version\` costs ${fmtRatio(ratios(chaos, of(1)).median)} a bare \`node -e 0\` and ${fmtRatio(ratios(chaos, of(2)).median)} importing \`@oclif/core\` alone: with the command manifest (\`oclif.manifest.json\`, written by \`npm run build\`) no command module is imported, so what remains is the CLI framework. Without the manifest oclif imported every command (sandbox, Kubernetes client, report renderer) first and \`--version\` took ~2 s.`,
      ...(kubectl === undefined ? ['kubectl is not on PATH: the Go CLI row is missing.'] : []),
    ],
  }
}

/** One `chaos validate` of one file and one of `files` files, `perRound` spawns of each per round. */
function validation(
  opts: BenchOptions,
  files: number,
  perRound: number,
  chaos: number[],
): {table: Table; notes: string[]} {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-validate-'))
  try {
    const paths = experimentFiles(dir, files)
    const commands = [validateCommand(paths.slice(0, 1)), validateCommand(paths)]
    const {first, rounds} = measureRounds(commands, opts.runs, perRound, opts.log)
    const one = rounds.get(commands[0]?.label ?? '') ?? []
    const all = rounds.get(commands[1]?.label ?? '') ?? []
    const perFile = (xs: number[], n: number) => fmtMs(stats(xs.map(ms => ms / n)))
    return {
      table: {
        caption: 'Validation',
        headers: [
          'command',
          'first (ms)',
          'total ms, median of rounds (min–max)',
          'ms per file (total / files)',
          'ms per file beyond the first',
        ],
        rows: [
          [
            commands[0]?.label ?? '',
            (first.get(commands[0]?.label ?? '') ?? NaN).toFixed(0),
            fmtMs(stats(one)),
            perFile(one, 1),
            '—',
          ],
          [
            commands[1]?.label ?? '',
            (first.get(commands[1]?.label ?? '') ?? NaN).toFixed(0),
            fmtMs(stats(all)),
            perFile(all, files),
            fmtMs(stats(all.map((ms, i) => (ms - (one[i] ?? NaN)) / (files - 1)))),
          ],
        ],
      },
      notes: [
        `Validating one file costs ${fmtMs(stats(one.map((ms, i) => ms - (chaos[i] ?? NaN))))} ms more than \`chaos --version\` (same rounds): loading the loader's modules and compiling the JSON Schema validators (ajv code generation was the largest share of a CPU profile), paid once per invocation; each further file adds the last column.`,
        'No peer for validate: `kubectl apply --dry-run=client` needs API discovery from a server, so it is not a local check of the same kind, and N × `node -e 0` compares one process against N. `chaos validate` of one file in the same rounds is the reference instead.',
      ],
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/** Both; `files` experiment files for validate, `perRound` spawns of each start-up command per round. */
function measure(opts: BenchOptions, files: number, perRound: number): BenchResult {
  const built = ensureBuilt(opts.log)
  const version = peerVersion(process.execPath, [CHAOS, '--version']) ?? 'unknown'
  const kubectl = onPath('kubectl') ? peerVersion('kubectl', ['version', '--client'], /Client Version: \S+/) : undefined
  const start = startUp(opts, perRound, kubectl)
  const validatePerRound = Math.max(1, Math.round(perRound / 3))
  const valid = validation(opts, files, validatePerRound, start.chaos)
  return {
    method: [
      `\`${version}\`; ${built}. Peers: node ${process.version}${kubectl === undefined ? '' : `, kubectl ${kubectl}`}.`,
      `Each command spawned with \`spawnSync\` from the bench process (cwd = the repository), wall time from spawn to exit. ${opts.runs} round${opts.runs === 1 ? '' : 's'}; in each, every start-up command is spawned ${perRound} times and each validate ${validatePerRound} time${validatePerRound === 1 ? '' : 's'}, interleaved in an order rotated per round, keeping each command's median; ratios are taken per round.`,
      `Validate: ${files} distinct valid experiment files generated in a temp dir from the Experiment examples in experiments/ (names, phases, delays, abort statuses, percentages and rates varied), checked by ONE \`node bin/chaos validate <${files} files>\` (the command takes many files and validates them concurrently), next to \`chaos validate\` of the first of them alone; every file must be reported valid. Beyond the first = (total of ${files} − total of 1) / ${files - 1}.`,
      '"first" is the first spawn of each command in this run; the OS page cache cannot be dropped here, so it is not a true cold start after boot.',
    ],
    tables: [start.table, valid.table],
    targets: [],
    notes: [
      'The issue names no bar for the CLI; these are the numbers to compare releases by.',
      ...start.notes,
      ...valid.notes,
    ],
  }
}

const bench: Bench = {
  name: 'cli',
  title: 'CLI start-up and validate',
  what: '`chaos --version` from spawn to exit against `node -e 0` and `kubectl version --client` in the same rounds, and one `chaos validate` over 100 experiment files (total and per file).',
  run: opts => Promise.resolve(measure(opts, opts.smoke ? 20 : 100, opts.smoke ? 3 : 10)),
}

export default bench
