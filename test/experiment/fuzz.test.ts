import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'

import fc from 'fast-check'

import {InvalidExperiment} from '@faultline/core/errors.js'
import {parseDocumentText} from '../../src/experiment/load.js'
import {EXAMPLES, FIXTURES} from './helpers.js'

const SEEDS = [
  ...readdirSync(EXAMPLES)
    .filter(f => f.endsWith('.yaml'))
    .map(f => readFileSync(join(EXAMPLES, f), 'utf8')),
  readFileSync(join(FIXTURES, 'valid-minimal.yaml'), 'utf8'),
  readFileSync(join(FIXTURES, 'gameday.yaml'), 'utf8'),
]

/** Characters that matter to YAML's grammar, plus some that matter to ours. */
const YAML_CHARS = [
  ...'[]{}:-,#&*!|>\'"%@`?\n\t   ',
  'a',
  'Z',
  '0',
  '9',
  '.',
  '/',
  '\\',
  '\0',
  '\uFEFF',
  'é',
  '---',
  '...',
  '<<',
  '~',
  'null',
  'true',
  '1e9',
  '-1',
  'ms',
  's',
]

type Mutation =
  | {kind: 'delete'; at: number; length: number}
  | {kind: 'insert'; at: number; text: string}
  | {kind: 'duplicate-line' | 'drop-line' | 'indent-line' | 'dedent-line'; at: number}
  | {kind: 'swap-lines'; at: number; other: number}

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({min: 1, max: 30})}),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.array(fc.constantFrom(...YAML_CHARS), {minLength: 1, maxLength: 6}).map(a => a.join('')),
  }),
  fc.record({
    kind: fc.constantFrom(
      'duplicate-line' as const,
      'drop-line' as const,
      'indent-line' as const,
      'dedent-line' as const,
    ),
    at: fc.nat(),
  }),
  fc.record({kind: fc.constant('swap-lines' as const), at: fc.nat(), other: fc.nat()}),
)

function mutate(text: string, m: Mutation): string {
  if (m.kind === 'delete') {
    const at = m.at % (text.length + 1)
    return text.slice(0, at) + text.slice(at + m.length)
  }
  if (m.kind === 'insert') {
    const at = m.at % (text.length + 1)
    return text.slice(0, at) + m.text + text.slice(at)
  }
  const lines = text.split('\n')
  const i = m.at % lines.length
  const line = lines[i] as string
  if (m.kind === 'duplicate-line') lines.splice(i, 0, line)
  if (m.kind === 'drop-line') lines.splice(i, 1)
  if (m.kind === 'indent-line') lines[i] = '  ' + line
  if (m.kind === 'dedent-line') lines[i] = line.replace(/^ {1,2}/, '')
  if (m.kind === 'swap-lines') {
    const j = m.other % lines.length
    lines[i] = lines[j] as string
    lines[j] = line
  }
  return lines.join('\n')
}

/**
 * A fixed seed keeps CI deterministic; FUZZ_SEED / FUZZ_RUNS explore further by hand. FUZZ_RUNS is
 * files per property: the default, 5,000 × 2 = 10,000 files, takes ~25 s on two quiet cores (the timeout allows for a busy CI machine).
 */
const SEED = process.env.FUZZ_SEED === undefined ? 20261126 : Number(process.env.FUZZ_SEED)
const RUNS = process.env.FUZZ_RUNS === undefined ? 5000 : Number(process.env.FUZZ_RUNS)
const count = (n: number) => n.toLocaleString('en-US')

/** Asserts the loader's contract on one text: it loads, or it is refused with located diagnostics. */
function loadsOrIsLocated(text: string): boolean {
  try {
    parseDocumentText(text, 'mutant.yaml')
    return true
  } catch (error) {
    if (!(error instanceof InvalidExperiment)) throw error
    assert.ok(error.diagnostics.length > 0)
    const lines = text.split('\n').length
    for (const d of error.diagnostics) {
      assert.equal(d.file, 'mutant.yaml')
      assert.ok(d.line >= 1 && d.line <= lines + 1, `line ${d.line} of ${lines}: ${d.message}`)
      assert.ok(d.col >= 1, `col ${d.col}: ${d.message}`)
      assert.ok(d.message.length > 0)
    }
    return false
  }
}

/** Replaces the value at a random place in a plain JSON tree (chosen by `steps`) with `value`. */
function replaceSomewhere(tree: unknown, steps: readonly number[], value: unknown): unknown {
  if (steps.length === 0 || typeof tree !== 'object' || tree === null) return value
  const [step, ...rest] = steps as [number, ...number[]]
  if (Array.isArray(tree)) {
    if (tree.length === 0) return value
    const i = step % tree.length
    return tree.map((item, j) => (j === i ? replaceSomewhere(item, rest, value) : item))
  }
  const keys = Object.keys(tree)
  if (keys.length === 0) return value
  const key = keys[step % keys.length] as string
  return {...tree, [key]: replaceSomewhere((tree as Record<string, unknown>)[key], rest, value)}
}

/** Process warnings emitted while `work` runs (the loader must not print any: they would reach the user's terminal). */
async function warningsDuring(work: () => void): Promise<string[]> {
  const warnings: string[] = []
  const listen = (w: Error) => warnings.push(w.message)
  process.on('warning', listen)
  try {
    work()
    await new Promise(resolve => setImmediate(resolve))
  } finally {
    process.off('warning', listen)
  }
  return warnings
}

describe(`mutated examples never crash the loader (${count(2 * RUNS)} files)`, () => {
  it(`each of ${count(RUNS)} text mutations loads or is refused with located diagnostics`, async function () {
    this.timeout(300_000)
    let refused = 0
    const warnings = await warningsDuring(() =>
      fc.assert(
        fc.property(
          fc.nat({max: SEEDS.length - 1}),
          fc.array(mutation, {minLength: 1, maxLength: 4}),
          (seed, mutations) => {
            const text = mutations.reduce(mutate, SEEDS[seed] as string)
            if (!loadsOrIsLocated(text)) refused++
          },
        ),
        {numRuns: RUNS, seed: SEED},
      ),
    )
    assert.deepEqual(warnings, [])
    // The mutations must actually produce invalid files most of the time, or this proves little.
    assert.ok(refused > RUNS / 2, `only ${refused} of ${RUNS} mutants were refused`)
  })

  it(`each of ${count(RUNS)} trees with a value of any type anywhere loads or is refused with a located diagnostic`, async function () {
    this.timeout(300_000)
    // JSON is YAML: the valid examples as JSON text, with one subtree replaced by arbitrary JSON.
    const trees = SEEDS.map(text => parseDocumentText(text, 'seed.yaml')).map(d =>
      d.kind === 'Experiment' ? d.experiment : d.gameday,
    )
    const warnings = await warningsDuring(() =>
      fc.assert(
        fc.property(
          fc.nat({max: trees.length - 1}),
          fc.array(fc.nat(), {maxLength: 8}),
          fc.jsonValue({maxDepth: 3}),
          (seed, steps, value) => {
            loadsOrIsLocated(JSON.stringify(replaceSomewhere(trees[seed], steps, value), null, 1))
          },
        ),
        {numRuns: RUNS, seed: SEED},
      ),
    )
    assert.deepEqual(warnings, [])
  })
})

describe('what fuzzing found', () => {
  // kind: {toString: null} made the loader throw a TypeError (String() of a mapping without toString).
  for (const kind of ['{toString: null}', '{a: 1}', '[Experiment]']) {
    it(`kind: ${kind} is refused with a located diagnostic`, () => {
      const text = `apiVersion: faultline.dev/v1alpha1\nkind: ${kind}\n`
      assert.throws(
        () => parseDocumentText(text, 'kind.yaml'),
        (error: unknown) => {
          assert.ok(error instanceof InvalidExperiment, String(error))
          assert.deepEqual(
            error.diagnostics.map(d => [d.line, d.col, d.path]),
            [[2, 7, 'kind']],
          )
          assert.match(
            error.diagnostics[0]?.message ?? '',
            /^kind is a (mapping|list), neither Experiment nor GameDay$/,
          )
          return true
        },
      )
    })
  }

  // A list or mapping as a key made the YAML library print "Keys with collection values will be
  // stringified" to stderr; it is refused at the key instead.
  for (const [key, at] of [
    ['["rate<0.01"]', [3, 1]],
    ['? {a: 1}\n', [3, 3]],
    ['*list ', [4, 1]],
  ] as const) {
    it(`a key ${key.trim()} is refused at the key, without a process warning`, async () => {
      const text = `apiVersion: faultline.dev/v1alpha1\nkind: Experiment\n${key === '*list ' ? 'spec: &list [1]\n' : ''}${key}: 1\n`
      let diagnostics: Array<[number, number, string]> = []
      const warnings = await warningsDuring(() => {
        try {
          parseDocumentText(text, 'key.yaml')
        } catch (error) {
          if (!(error instanceof InvalidExperiment)) throw error
          diagnostics = error.diagnostics.map(d => [d.line, d.col, d.message])
        }
      })
      assert.deepEqual(warnings, [])
      assert.deepEqual(diagnostics, [
        [...at, `this key is a ${key.startsWith('? {') ? 'mapping' : 'list'}; keys are plain names`],
      ])
    })
  }
})
