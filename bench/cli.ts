/**
 * The CLI's own costs, as a person at a terminal sees them: `chaos --version` from process spawn to
 * exit (the compiled CLI, `node bin/chaos`), next to `node -e 0` (the floor of any Node CLI) and
 * `kubectl version --client` (a Go CLI SREs run daily), measured in the same rounds; and one
 * `chaos validate` over many generated experiment files, with the cost per file.
 *
 * The OS page cache cannot be dropped here, so "first" is the first spawn of each command in this
 * process (after a build, if one was needed) and the rounds that follow are warm. Each round spawns
 * every command several times, interleaved in a rotated order, and keeps each command's median;
 * ratios are taken within a round. dist/ is rebuilt first when src/ is newer.
 */
import {execFileSync, spawnSync} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {parseDocument} from 'yaml'

import {type Bench, type BenchOptions, type BenchResult, fmtRatio, fmtStats, onPath, peerVersion, ratios, type Stats, stats} from './harness.js'

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..')
const CHAOS = join(REPO, 'bin', 'chaos')
const EXAMPLES = join(REPO, 'experiments')

/** A command timed from spawn to exit. */
interface Spawned {
  label: string
  command: string
  args: string[]
}

/** Wall time of one spawn to exit, in ms; throws (with its stderr) when the command fails. */
function timeSpawn(s: Spawned): {ms: number; stdout: string} {
  const started = performance.now()
  const r = spawnSync(s.command, s.args, {cwd: REPO, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024})
  const ms = performance.now() - started
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`${s.label} failed (exit ${r.status ?? r.signal}): ${r.error?.message ?? ''}${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`)
  }
  return {ms, stdout: r.stdout}
}

/** Newest modification time of the files under `dir` whose names end in `suffix`. */
function newest(dir: string, suffix: string): number {
  let t = 0
  for (const f of readdirSync(dir, {recursive: true, encoding: 'utf8'})) if (f.endsWith(suffix)) t = Math.max(t, statSync(join(dir, f)).mtimeMs)
  return t
}

/** Rebuilds dist/ when any source file is newer than the last build: bin/chaos runs dist/. */
function ensureBuilt(log: (line: string) => void): string {
  if (newest(join(REPO, 'dist'), '.js') >= newest(join(REPO, 'src'), '.ts')) return 'dist/ was up to date'
  log('dist/ is older than src/: npm run build')
  try {
    execFileSync('npm', ['run', 'build'], {cwd: REPO, stdio: 'pipe', timeout: 300_000})
  } catch (error) {
    throw new Error(`npm run build failed, so bin/chaos would run stale code; fix the build first: ${String((error as {stdout?: Buffer}).stdout ?? error)}`)
  }
  return 'dist/ rebuilt with npm run build before measuring'
}

/**
 * `count` distinct valid experiment files in `dir`, made from the Experiment examples in
 * experiments/ with their names, phases, fault values and traffic rates varied.
 */
function experimentFiles(dir: string, count: number): string[] {
  const seeds = readdirSync(EXAMPLES).filter(f => f.endsWith('.yaml')).map(f => readFileSync(join(EXAMPLES, f), 'utf8'))
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
    if (doc.hasIn(['spec', 'faults', 0, 'delay'])) doc.setIn(['spec', 'faults', 0, 'delay', 'fixedDelay'], `${100 + ((i * 37) % 5000)}ms`)
    if (doc.hasIn(['spec', 'faults', 0, 'abort'])) doc.setIn(['spec', 'faults', 0, 'abort', 'httpStatus'], [500, 502, 503, 504][i % 4])
    for (const at of ['delay', 'abort']) if (doc.hasIn(['spec', 'faults', 0, at])) doc.setIn(['spec', 'faults', 0, at, 'percentage'], 1 + (i % 100))
    for (const k of [0, 1]) if (doc.hasIn(['spec', 'load', 'traffic', k, 'rate'])) doc.setIn(['spec', 'load', 'traffic', k, 'rate'], `${1 + ((i * 3 + k) % 50)}/s`)
    const file = join(dir, `${name}.yaml`)
    writeFileSync(file, doc.toString())
    return file
  })
}

/** Median of `times` spawns of `s`. */
function medianOf(s: Spawned, times: number, check?: (stdout: string) => void): number {
  const ms: number[] = []
  for (let i = 0; i < times; i++) {
    const r = timeSpawn(s)
    check?.(r.stdout)
    ms.push(r.ms)
  }
  return stats(ms).median
}

const fmtMs = (s: Stats) => fmtStats(s, s.median < 100 ? 1 : 0)

/** Measures both; `files` experiment files for validate, `perRound` spawns of each start-up command per round. */
async function measure(opts: BenchOptions, files: number, perRound: number): Promise<BenchResult> {
  const built = ensureBuilt(opts.log)
  const version = peerVersion(process.execPath, [CHAOS, '--version']) ?? 'unknown'
  const kubectl = onPath('kubectl') ? peerVersion('kubectl', ['version', '--client'], /Client Version: \S+/) : undefined
  const startUp: Spawned[] = [
    {label: '`node bin/chaos --version`', command: process.execPath, args: [CHAOS, '--version']},
    {label: '`node -e 0`', command: process.execPath, args: ['-e', '0']},
    ...(kubectl === undefined ? [] : [{label: '`kubectl version --client`', command: 'kubectl', args: ['version', '--client']}]),
  ]
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-validate-'))
  try {
    const paths = experimentFiles(dir, files)
    const validate: Spawned = {label: `\`chaos validate\` of ${files} files`, command: process.execPath, args: [CHAOS, 'validate', ...paths]}
    const allValid = (stdout: string) => {
      const ok = stdout.split('\n').filter(l => l.startsWith('✓ ')).length
      if (ok !== files) throw new Error(`chaos validate passed ${ok} of ${files} generated files; the generator in bench/cli.ts makes an invalid one:\n${stdout.slice(0, 3000)}`)
    }
    const first = new Map(startUp.map(s => [s.label, timeSpawn(s).ms]))
    const firstValidate = timeSpawn(validate)
    allValid(firstValidate.stdout)
    const rounds = new Map<string, number[]>(startUp.map(s => [s.label, []]))
    const validateMs: number[] = []
    for (let r = 0; r < opts.runs; r++) {
      const order = startUp.map((_, i) => startUp[(i + r) % startUp.length] as Spawned)
      const samples = new Map<string, number[]>(startUp.map(s => [s.label, []]))
      for (let i = 0; i < perRound; i++) for (const s of order) samples.get(s.label)?.push(timeSpawn(s).ms)
      for (const s of startUp) rounds.get(s.label)?.push(stats(samples.get(s.label) ?? []).median)
      validateMs.push(medianOf(validate, Math.max(1, Math.round(perRound / 3)), allValid))
      opts.log(`round ${r + 1}/${opts.runs}: ${startUp.map(s => `${s.label} ${(rounds.get(s.label)?.at(-1) ?? NaN).toFixed(0)} ms`).join(', ')}; validate ${(validateMs.at(-1) ?? NaN).toFixed(0)} ms`)
    }
    const chaos = rounds.get(startUp[0]?.label ?? '') ?? []
    const startTable = startUp.map(s => {
      const own = rounds.get(s.label) ?? []
      return [s.label, (first.get(s.label) ?? NaN).toFixed(0), fmtMs(stats(own)), s === startUp[0] ? '—' : fmtStats(ratios(chaos, own), 1, '×')]
    })
    const perFile = validateMs.map(ms => ms / files)
    const beyondStart = validateMs.map((ms, i) => (ms - (chaos[i] ?? NaN)) / files)
    const chaosVsNode = ratios(chaos, rounds.get('`node -e 0`') ?? [])
    return {
      method: [
        `\`${version}\`; ${built}. Peers: node ${process.version}${kubectl === undefined ? '' : `, kubectl ${kubectl}`}.`,
        `Start-up: each command spawned with \`spawnSync\` from the bench process (cwd = the repository), wall time from spawn to exit; ${opts.runs} round(s), each spawning every command ${perRound} times interleaved (order rotated per round) and keeping each command's median; ratios are per round.`,
        `Validate: ${files} distinct valid experiment files generated in a temp dir from the Experiment examples in experiments/ (names, phases, delays, abort statuses, percentages and rates varied), checked by ONE \`node bin/chaos validate <${files} files>\` (the command takes many files and validates them concurrently); every file must be reported valid. Per file = total / ${files}; beyond start-up = (total − that round's \`chaos --version\`) / ${files}.`,
        '"first" is the first spawn of each command in this run; the OS page cache cannot be dropped here, so it is not a true cold start after boot.',
      ],
      tables: [
        {caption: 'Start-up, spawn to exit', headers: ['command', 'first (ms)', 'ms, median of rounds (min–max)', 'chaos --version vs it, per round'], rows: startTable},
        {
          caption: 'Validation',
          headers: ['command', 'first (ms)', 'total ms, median of rounds (min–max)', 'ms per file', 'ms per file beyond start-up'],
          rows: [[validate.label, firstValidate.ms.toFixed(0), fmtMs(stats(validateMs)), fmtStats(stats(perFile), 2), fmtStats(stats(beyondStart), 2)]],
        },
      ],
      targets: [],
      notes: [
        'The issue names no bar for the CLI; these are the numbers to compare releases by.',
        `\`chaos --version\` costs ${fmtRatio(chaosVsNode.median)} a bare \`node -e 0\`: the rest is loading oclif and the command modules before the version is printed.`,
        'No peer for validate: `kubectl apply --dry-run=client` needs API discovery from a server, so it is not a local check of the same kind, and N × `node -e 0` compares one process against N. Its own start-up (`chaos --version` in the same round) is the reference instead; "per file beyond start-up" is what each further file adds.',
        ...(kubectl === undefined ? ['kubectl is not on PATH: the Go CLI row is missing.'] : []),
      ],
    }
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

const bench: Bench = {
  name: 'cli',
  title: 'CLI start-up and validate',
  what: '`chaos --version` from spawn to exit against `node -e 0` and `kubectl version --client` in the same rounds, and one `chaos validate` over 100 experiment files (total and per file).',
  run: opts => measure(opts, opts.smoke ? 20 : 100, opts.smoke ? 3 : 10),
}

export default bench
