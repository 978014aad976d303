/**
 * The documented command lines run as written from a clone: every `chaos …` / `bin/chaos …` line
 * in README.md's and docs/*.md's code blocks, and every command's `--help` examples (oclif's
 * `static examples`). Those that need no cluster (validate, schema, plan offline, report on a
 * committed journal, schedule, --help, --version) are run with the built CLI, from a folder that
 * holds exactly the repository's tracked top-level entries (a clone) plus an empty reports/; the
 * rest are listed in NEEDS_A_CLUSTER with the reason, and still parsed with the command's own
 * flags and arguments, their files checked to exist. A run fails on a usage error (exit 2) or a
 * missing file, unless the example shows an invalid file and the output it gets (`$ chaos …`
 * followed by that output, compared as printed).
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, relative} from 'node:path'

import {type Command, Flags, Parser} from '@oclif/core'

import {ensureBuilt, REPO, sh} from '../cli.js'

/** One documented command line, where it is written, and the output the document shows for it. */
interface Example {
  where: string
  line: string
  /** The output printed under a `$ chaos …` line, when the document shows one. */
  output?: string
}

/** Commands (by their words) that need a cluster or the sandbox's processes, and why they are not run here. */
const NEEDS_A_CLUSTER: {match: (argv: string[]) => boolean; reason: string}[] = [
  {
    match: argv => argv[0] === 'run',
    reason: 'drives load and injects faults on a cluster, or on an ephemeral sandbox it starts for a minute or more',
  },
  {match: argv => argv[0] === 'gameday', reason: 'runs experiments on a cluster, or on an ephemeral sandbox it starts'},
  {match: argv => argv[0] === 'revert', reason: 'lists and reverts VirtualServices in a cluster'},
  {
    match: argv => argv[0] === 'sandbox',
    reason: "starts, inspects or stops the sandbox's processes in the user's state directory",
  },
  {match: argv => argv[0] === 'report' && argv[1] === 'serve', reason: 'serves the report root over HTTP until Ctrl-C'},
  {
    match: argv => argv[0] === 'plan' && argv.some(a => /^--(live|sandbox|kubeconfig|context)(=|$)/.test(a)),
    reason: "plan --live / --sandbox / --kubeconfig / --context reads the cluster's VirtualServices",
  },
  {
    match: argv => argv[0] === 'plan' && argv.some(a => a.startsWith('<(kubectl')),
    reason: '--existing <(kubectl get …) reads the objects from a cluster',
  },
]

/** A committed journal of a ratings-delay run: what `chaos report reports/<experiment>/<timestamp>…` examples read. */
const JOURNAL_FIXTURE = 'test/fixtures/journals/deviated.json'

/** Splits a shell command line into words (quotes honoured, `<(…)` kept as one word); enough for documented examples. */
export function shellWords(line: string): string[] {
  const words: string[] = []
  let word: string | undefined
  let quote: string | undefined
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quote !== undefined) {
      if (ch === quote) quote = undefined
      else word += ch
      continue
    }
    if (ch === '"' || ch === "'") {
      quote = ch
      word ??= ''
    } else if (ch === '<' && line[i + 1] === '(') {
      const end = line.indexOf(')', i)
      word = (word ?? '') + line.slice(i, end + 1)
      i = end
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word)
      word = undefined
    } else {
      word = (word ?? '') + ch
    }
  }
  if (word !== undefined) words.push(word)
  return words
}

/** The index of the first `ch` outside quotes (and outside `<(…)`), or -1. */
function unquotedIndex(line: string, test: (line: string, i: number) => boolean): number {
  let quote: string | undefined
  let depth = 0
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (quote !== undefined) {
      if (ch === quote) quote = undefined
    } else if (ch === '"' || ch === "'") {
      quote = ch
    } else if (ch === '(') {
      depth++
    } else if (ch === ')') {
      depth--
    } else if (depth === 0 && test(line, i)) {
      return i
    }
  }
  return -1
}

/** The chaos command in a shell line: after `$ ` or `… && `, without a trailing comment or what it is piped into. */
export function chaosCommand(shellLine: string): string | undefined {
  for (const segment of shellLine.replace(/^\s*\$\s+/, '').split(/\s&&\s/)) {
    let command = segment.trim()
    if (!/^(bin\/)?chaos(\s|$)/.test(command)) continue
    const comment = unquotedIndex(command, (l, i) => l[i] === '#' && /\s/.test(l[i - 1] ?? ''))
    if (comment >= 0) command = command.slice(0, comment)
    const pipe = unquotedIndex(command, (l, i) => l[i] === '|')
    if (pipe >= 0) command = command.slice(0, pipe)
    return command.trim()
  }
  return undefined
}

/** Every chaos command line in a Markdown document's code blocks, with the output shown under `$ chaos …` lines. */
export function markdownExamples(markdown: string, file: string): Example[] {
  const examples: Example[] = []
  const lines = markdown.split('\n')
  let inBlock = false
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!
    if (raw.trimStart().startsWith('```')) {
      inBlock = !inBlock
      continue
    }
    if (!inBlock) continue
    let text = raw
    const start = i
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1).trimEnd()} ${lines[++i]!.trim()}`
    const line = chaosCommand(text)
    if (line === undefined) continue
    const example: Example = {where: `${file}:${start + 1}`, line}
    if (/^\s*\$\s/.test(text)) {
      const output: string[] = []
      while (i + 1 < lines.length && !lines[i + 1]!.trimStart().startsWith('```') && !/^\s*\$\s/.test(lines[i + 1]!))
        output.push(lines[++i]!)
      if (output.length > 0) example.output = output.join('\n')
    }
    examples.push(example)
  }
  return examples
}

/** Every command class under dist/commands (the built CLI's), by its words (`sandbox up`). */
async function commandClasses(): Promise<Map<string, Command.Class>> {
  const classes = new Map<string, Command.Class>()
  const walk = async (dir: string, words: string[]): Promise<void> => {
    for (const entry of readdirSync(join(REPO, dir), {withFileTypes: true})) {
      if (entry.isDirectory()) await walk(join(dir, entry.name), [...words, entry.name])
      else if (entry.name.endsWith('.ts'))
        classes.set(
          [...words, entry.name.replace(/\.ts$/, '')].join(' '),
          ((await import(join(REPO, dir, entry.name))) as {default: Command.Class}).default,
        )
    }
  }
  await walk('src/commands', [])
  return classes
}

/** The `--help` examples of every command, as the user reads them (`<%= config.bin %>` is chaos). */
function helpExamples(classes: Map<string, Command.Class>): Example[] {
  return [...classes].flatMap(([name, command]) =>
    (command.examples ?? []).map(e => ({
      where: `chaos ${name} --help`,
      line: chaosCommand((typeof e === 'string' ? e : e.command).replaceAll('<%= config.bin %>', 'chaos')) ?? '',
    })),
  )
}

/** The command's words and the rest of its argv: `chaos sandbox up --detach` → ['sandbox up', ['--detach']]. */
function commandOf(argv: string[], classes: Map<string, Command.Class>): [string, string[]] | undefined {
  for (let n = Math.min(2, argv.length); n > 0; n--) {
    const name = argv.slice(0, n).join(' ')
    if (classes.has(name)) return [name, argv.slice(n)]
  }
  return undefined
}

/** A path the example names (an argument or a file flag's value) that must exist in a clone. */
function looksLikePath(value: string): boolean {
  return (
    !value.startsWith('-') &&
    !value.startsWith('/dev/') &&
    !/^[a-z]+:\/\//.test(value) &&
    (value.includes('/') || /\.(ya?ml|json)$/.test(value))
  )
}

/**
 * Problems with an example that is not run: it must name a command, parse with that command's own
 * flags and arguments, and every file it names must exist in `cwd` (output paths excepted).
 */
export async function staticProblems(
  line: string,
  classes: Map<string, Command.Class>,
  cwd: string,
): Promise<string[]> {
  const argv = shellWords(line)
    .slice(1)
    .map(w => (w.startsWith('<(') ? '/dev/stdin' : w))
  const redirect = argv.findIndex(w => w.startsWith('>'))
  if (redirect >= 0) argv.splice(redirect)
  if (argv.some(a => a === '--help' || a === '-h' || a === '--version')) return []
  const found = commandOf(argv, classes)
  if (found === undefined) return [`"${argv.slice(0, 2).join(' ')}" is not a chaos command`]
  const [name, rest] = found
  const command = classes.get(name)!
  const flags = {...command.flags, ...(command.enableJsonFlag ? {json: Flags.boolean()} : {})}
  let parsed
  try {
    parsed = await Parser.parse(rest, {flags, args: command.args ?? {}, strict: command.strict ?? true})
  } catch (err) {
    return [`chaos ${name}: ${(err as Error).message.split('\n')[0]}`]
  }
  const outputs = new Set(['output', 'report-dir', 'state-dir'])
  const named = [
    ...Object.values(parsed.args as Record<string, unknown>),
    ...parsed.argv,
    ...Object.entries(parsed.flags as Record<string, unknown>)
      .filter(([k]) => !outputs.has(k))
      .flatMap(([, v]) => (Array.isArray(v) ? v : [v])),
  ].filter((v): v is string => typeof v === 'string' && looksLikePath(v))
  return [...new Set(named)]
    .filter(p => !existsSync(join(cwd, p)))
    .map(p => `chaos ${name}: ${p} does not exist in a clone`)
}

/** Why a line is not run here, or undefined when it is run. */
function needsACluster(line: string): string | undefined {
  const argv = shellWords(line).slice(1)
  return NEEDS_A_CLUSTER.find(s => s.match(argv))?.reason
}

/** A folder that looks like a fresh clone: the tracked top-level entries (linked), an empty reports/, `chaos` on PATH. */
function cloneLike(): {dir: string; env: NodeJS.ProcessEnv} {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-docs-'))
  const tracked = new Set(
    execFileSync('git', ['ls-files'], {cwd: REPO, encoding: 'utf8'})
      .split('\n')
      .filter(f => f !== '')
      .map(f => f.split('/')[0]!),
  )
  for (const entry of tracked) if (entry !== 'reports') symlinkSync(join(REPO, entry), join(dir, entry))
  mkdirSync(join(dir, 'reports'))
  mkdirSync(join(dir, '.path'))
  writeFileSync(
    join(dir, '.path', 'chaos'),
    `#!/bin/sh\nexec "${process.execPath}" "${join(REPO, 'bin', 'chaos')}" "$@"\n`,
  )
  chmodSync(join(dir, '.path', 'chaos'), 0o755)
  return {
    dir,
    env: {
      ...process.env,
      PATH: `${join(dir, '.path')}:${process.env.PATH ?? ''}`,
      NO_COLOR: '1',
      KUBECONFIG: join(dir, 'no-kubeconfig'),
    },
  }
}

/** What a run leaves for `chaos report reports/<experiment>/<timestamp>[/journal.json]`: a committed journal there. */
function seedRuns(line: string, cwd: string): void {
  for (const word of shellWords(line)) {
    const m = /^reports\/([^/]+)\/([^/]+?)(\/journal\.json)?$/.exec(word)
    if (m === null) continue
    const file = join(cwd, 'reports', m[1]!, m[2]!, 'journal.json')
    mkdirSync(dirname(file), {recursive: true})
    if (!existsSync(file)) copyFileSync(join(REPO, JOURNAL_FIXTURE), file)
  }
}

/** Runs an example from the clone-like folder; output paths under /tmp go to a folder of the test's own. */
async function runExample(example: Example, clone: {dir: string; env: NodeJS.ProcessEnv}): Promise<string[]> {
  seedRuns(example.line, clone.dir)
  const line = example.line.replace(/(^|\s)\/tmp\//g, `$1${join(clone.dir, 'tmp')}/`)
  const ran = await sh('sh', ['-c', `cd "${clone.dir}" && ${line}`], clone.env)
  const printed = `${ran.stdout}${ran.stderr}`
  const problems: string[] = []
  const invalidShown = example.output !== undefined && /✗/.test(example.output)
  if (ran.code === 2 && !invalidShown)
    problems.push(`exit 2 (invalid usage or file): ${printed.trim().split('\n').slice(0, 4).join(' / ')}`)
  if (ran.code !== 0 && ran.code !== 2)
    problems.push(`exit ${ran.code}: ${printed.trim().split('\n').slice(0, 4).join(' / ')}`)
  if (/ENOENT|no such file|does not exist|cannot read/i.test(printed))
    problems.push(
      `a missing file: ${printed
        .trim()
        .split('\n')
        .find(l => /ENOENT|no such file|does not exist|cannot read/i.test(l))}`,
    )
  if (example.output !== undefined && ran.stdout.trimEnd() !== example.output.trimEnd())
    problems.push(`prints something else than documented:\n${ran.stdout}`)
  return problems
}

describe('documented chaos command lines run as written from a clone', function () {
  this.timeout(240_000)
  let classes: Map<string, Command.Class>
  let clone: {dir: string; env: NodeJS.ProcessEnv}
  const docs = [
    'README.md',
    ...readdirSync(join(REPO, 'docs'))
      .filter(f => f.endsWith('.md'))
      .map(f => `docs/${f}`),
  ]

  before(async function () {
    this.timeout(300_000)
    await ensureBuilt(
      readdirSync(join(REPO, 'src/commands'), {recursive: true, encoding: 'utf8'})
        .filter(f => f.endsWith('.ts'))
        .map(f => `src/commands/${f}`),
    )
    classes = await commandClasses()
    clone = cloneLike()
  })
  after(() => {
    if (clone !== undefined) rmSync(clone.dir, {recursive: true, force: true})
  })

  it("finds the examples: README and docs code blocks, and every command's --help examples", () => {
    const readme = markdownExamples(readFileSync(join(REPO, 'README.md'), 'utf8'), 'README.md')
    assert.ok(readme.length >= 10, `${readme.length} in README.md`)
    assert.ok(
      readme.some(e => e.output !== undefined),
      'a `$ chaos validate …` with its output',
    )
    const help = helpExamples(classes)
    assert.ok(help.length >= 20, `${help.length} --help examples`)
    assert.ok(
      help.every(e => e.line.startsWith('chaos ')),
      help.map(e => e.line).join('\n'),
    )
    assert.ok(classes.has('sandbox up') && classes.has('validate'))
  })

  it('every example that needs no cluster runs without a usage error or a missing file; the others parse and name files that exist', async () => {
    const examples = [
      ...docs.flatMap(f => markdownExamples(readFileSync(join(REPO, f), 'utf8'), f)),
      ...helpExamples(classes),
      {where: 'chaos --version', line: 'chaos --version'},
      {where: 'chaos --help', line: 'chaos --help'},
      ...[...classes.keys()].map(name => ({where: `chaos ${name} --help`, line: `chaos ${name} --help`})),
    ]
    const failures: string[] = []
    let ran = 0
    for (const example of examples) {
      const skip = needsACluster(example.line)
      const problems =
        skip === undefined ? await runExample(example, clone) : await staticProblems(example.line, classes, clone.dir)
      if (skip === undefined) ran++
      failures.push(...problems.map(p => `${example.where}: ${example.line}\n    ${p}`))
    }
    assert.deepEqual(failures, [])
    assert.ok(ran >= 20, `${ran} examples run`)
  })

  it('catches a broken example: a missing file, an unknown flag, a command that does not exist, output that differs', async () => {
    const run = (line: string, output?: string) =>
      runExample({where: 'made up', line, ...(output === undefined ? {} : {output})}, clone)
    assert.match((await run('chaos validate experiments/no-such-experiment.yaml')).join('\n'), /exit 2|missing file/)
    assert.match(
      (
        await run(
          'bin/chaos plan experiments/ratings-delay.yaml --existing samples/bookinfo/networking/virtual-service-all-v1.yaml -o diff',
        )
      ).join('\n'),
      /missing file/,
    )
    assert.match((await run('chaos plan experiments/ratings-delay.yaml --no-such-flag')).join('\n'), /exit 2/)
    assert.match(
      (await run('chaos validate experiments/ratings-delay.yaml', '✗ something else')).join('\n'),
      /something else than documented/,
    )
    assert.deepEqual(await run('chaos validate experiments/ratings-delay.yaml', '✓ experiments/ratings-delay.yaml'), [])
    assert.match(
      (await staticProblems('chaos run experiments/no-such-experiment.yaml --sandbox', classes, clone.dir)).join('\n'),
      /no-such-experiment\.yaml does not exist in a clone/,
    )
    assert.match(
      (
        await staticProblems('chaos gameday experiments/weekly-gameday.yaml --fail-on sometimes', classes, clone.dir)
      ).join('\n'),
      /Expected --fail-on=sometimes to be one of/,
    )
    assert.match(
      (await staticProblems('chaos frobnicate experiments/ratings-delay.yaml', classes, clone.dir)).join('\n'),
      /is not a chaos command/,
    )
    assert.deepEqual(
      await staticProblems(
        'chaos run experiments/ratings-delay.yaml --context prod-eu -n bookinfo',
        classes,
        clone.dir,
      ),
      [],
    )
  })

  it('reads shell lines as a shell would: continuations, && chains, comments, pipes, quotes, and output under `$ chaos`', () => {
    const md = [
      '```sh',
      'npm ci && bin/chaos run a.yaml   # runs',
      'chaos plan a.yaml \\',
      '  --existing b.yaml -o diff',
      'chaos schedule a.yaml --cron "0 10 * * 1" | kubectl apply -f -',
      'kubectl get pods',
      '```',
      'chaos validate prose.yaml',
      '```',
      '$ chaos validate bad.yaml',
      '✗ bad.yaml: 1 problem',
      '```',
    ].join('\n')
    assert.deepEqual(
      markdownExamples(md, 'x.md').map(e => [e.where, e.line, e.output]),
      [
        ['x.md:2', 'bin/chaos run a.yaml', undefined],
        ['x.md:3', 'chaos plan a.yaml --existing b.yaml -o diff', undefined],
        ['x.md:5', 'chaos schedule a.yaml --cron "0 10 * * 1"', undefined],
        ['x.md:10', 'chaos validate bad.yaml', '✗ bad.yaml: 1 problem'],
      ],
    )
    assert.deepEqual(shellWords('chaos schedule a.yaml --cron "30 9 * * 1-5" --existing <(kubectl get vs -o yaml)'), [
      'chaos',
      'schedule',
      'a.yaml',
      '--cron',
      '30 9 * * 1-5',
      '--existing',
      '<(kubectl get vs -o yaml)',
    ])
    assert.equal(relative(REPO, join(REPO, JOURNAL_FIXTURE)), JOURNAL_FIXTURE)
  })
})
