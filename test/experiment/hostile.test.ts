import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {MAX_DEPTH} from '../../src/experiment/document.js'
import {parseExperiment} from '../../src/experiment/load.js'
import {diagnosticsOf, FIXTURES} from './helpers.js'

/** Hostile input must be refused fast; the bound is generous for a loaded CI machine. */
const BOUND_MS = 1000

const deepIndentation = (levels: number) =>
  'apiVersion: faultline.dev/v1alpha1\nspec:\n' +
  Array.from({length: levels}, (_, i) => ' '.repeat(i + 1) + 'a:').join('\n') +
  ' 1\n'

/** Each hostile file: its content, and where and what the one diagnostic must say. */
const HOSTILE: Record<string, {content: string | Buffer; at: string; message: RegExp}> = {
  'a 10 MB file': {
    content: 'apiVersion: faultline.dev/v1alpha1\n# ' + 'x'.repeat(10 * 1024 * 1024) + '\n',
    at: '1:1',
    message: /file is 10485798 bytes, over the 256 KiB limit; it was not read/,
  },
  '10,000 nested flow sequences': {
    content: '['.repeat(10_000) + ']'.repeat(10_000),
    at: `1:${MAX_DEPTH + 1}`,
    message: /nesting is deeper than 64 levels/,
  },
  '10,000 nested flow mappings': {
    content: 'spec: ' + '{a: '.repeat(10_000) + '1' + '}'.repeat(10_000),
    at: `1:${6 + 4 * MAX_DEPTH + 1}`,
    message: /nesting is deeper than 64 levels/,
  },
  '10,000 nested compact sequences': {
    content: '- '.repeat(10_000) + 'x\n',
    at: `1:${2 * MAX_DEPTH + 1}`,
    message: /nesting is deeper than 64 levels/,
  },
  '10,000 levels of indentation (over the size limit)': {
    content: deepIndentation(10_000),
    at: '1:1',
    message: /over the 256 KiB limit/,
  },
  '500 levels of indentation': {
    content: deepIndentation(500),
    at: `${MAX_DEPTH + 3}:${MAX_DEPTH + 2}`,
    message: /nesting is deeper than 64 levels/,
  },
  'brackets in quotes and comments do not count as nesting': {
    content: `apiVersion: faultline.dev/v1alpha1\n# ${'['.repeat(100)}\nkind: "${'['.repeat(100)}"\n`,
    at: '3:7',
    message: /kind "\[\[\[.*" is neither Experiment nor GameDay/,
  },
  'NUL bytes': {
    content: 'apiVersion: faultline.dev/v1alpha1\nkind: Exp\0\0\0eriment\n',
    at: '2:10',
    message: /NUL byte: this looks like a binary file/,
  },
  'invalid UTF-8': {
    content: Buffer.concat([
      Buffer.from('apiVersion: faultline.dev/v1alpha1\nkind: Ex'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('periment\n'),
    ]),
    at: '2:9',
    message: /byte 0xc3 at offset 43 is not valid UTF-8/,
  },
  'an overlong UTF-8 encoding': {
    content: Buffer.from([0x61, 0x3a, 0x20, 0xe0, 0x80, 0xaf, 0x0a]),
    at: '1:4',
    message: /byte 0xe0 at offset 3 is not valid UTF-8/,
  },
  'binary junk': {
    content: Buffer.from(Array.from({length: 64 * 1024}, (_, i) => (i * 7919 + 13) % 256)),
    at: '1:2',
    message: /is not valid UTF-8/,
  },
  'an empty file': {content: '', at: '1:1', message: /file is empty/},
  'only whitespace': {content: '\n\n   \n', at: '1:1', message: /file is empty/},
}

describe('hostile experiment files are refused quickly with a located error', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-hostile-'))
    // Compile the schema validators once, so the timings below measure the file, not start-up.
    parseExperiment(readFileSync(join(FIXTURES, 'valid-minimal.yaml'), 'utf8'), 'warm-up.yaml')
  })
  after(() => rmSync(dir, {recursive: true, force: true}))

  for (const [name, {content, at, message}] of Object.entries(HOSTILE)) {
    it(name, async () => {
      const file = join(dir, `${name.replaceAll(/[^a-z0-9]+/gi, '-')}.yaml`)
      writeFileSync(file, content)
      const started = performance.now()
      const diagnostics = await diagnosticsOf(file)
      const elapsed = performance.now() - started
      assert.ok(elapsed < BOUND_MS, `took ${elapsed.toFixed(0)}ms`)
      assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics))
      assert.equal(`${diagnostics[0]!.line}:${diagnostics[0]!.col}`, at)
      assert.match(diagnostics[0]!.message, message)
    })
  }

  it('the parser-level depth check catches nesting the pre-scan cannot see', async () => {
    // Block mappings nest by indentation only: no brackets, no dashes. 80 levels, a small file.
    const diagnostics = await diagnosticsOf(writeTemp(dir, 'deep-block-maps.yaml', deepIndentation(80)))
    assert.equal(diagnostics[0]!.line, MAX_DEPTH + 3)
    assert.match(diagnostics[0]!.message, /nesting is deeper than 64 levels/)
  })

  it('a billion-laughs alias bomb is refused before it expands', async () => {
    const file = join(FIXTURES, 'alias-bomb.yaml')
    assert.match(readFileSync(file, 'utf8'), /&i \[\*h/)
    const started = performance.now()
    const diagnostics = await diagnosticsOf(file)
    assert.ok(performance.now() - started < BOUND_MS)
    assert.match(diagnostics[0]!.message, /aliases expand too much/)
    assert.equal(diagnostics[0]!.line, 6)
  })

  it('a modest use of anchors and aliases is still fine', () => {
    const text = readFileSync(join(FIXTURES, 'valid-minimal.yaml'), 'utf8')
      .replace('x-chaos-test: {exact: "true"}', 'x-chaos-test: &target {exact: "true"}')
      .replace('      delay:', '        withoutHeaders: {x-chaos-skip: *target}\n      delay:')
    const experiment = parseExperiment(text, 'anchors.yaml')
    assert.deepEqual(experiment.spec.faults[0]!.match?.withoutHeaders, {'x-chaos-skip': {exact: 'true'}})
  })
})

function writeTemp(dir: string, name: string, content: string): string {
  const file = join(dir, name)
  writeFileSync(file, content)
  return file
}

describe('large files just under the size limit', () => {
  // Not instant (the YAML parser is linear but not fast), yet bounded: nothing quadratic remains.
  const BOUND_LARGE_MS = 5000
  const base = readFileSync(join(FIXTURES, 'valid-minimal.yaml'), 'utf8')

  const large: Record<string, string> = {
    'thousands of unknown fields': base.replace(
      '  name: ratings-delay\n',
      '  name: ratings-delay\n' + Array.from({length: 12_000}, (_, i) => `  k${i}: 1`).join('\n') + '\n',
    ),
    'thousands of duplicate keys': base.replace(
      '  name: ratings-delay\n',
      '  name: ratings-delay\n' + '  name: again\n'.repeat(12_000),
    ),
    'thousands of invalid probes':
      base + Array.from({length: 4000}, (_, i) => `    - {name: p${i}, prometheus: {query: 1}}`).join('\n') + '\n',
    'a flow list of 100,000 items':
      base
        .replace('phases: [fault]', `phases: [${Array.from({length: 100_000}, () => 'fault').join(',')}]`)
        .slice(0, 250 * 1024) + ']\n',
  }
  for (const [name, text] of Object.entries(large)) {
    it(name, () => {
      assert.ok(text.length < 256 * 1024, `${text.length} bytes`)
      const started = performance.now()
      assert.throws(
        () => parseExperiment(text, 'large.yaml'),
        (error: {diagnostics?: Array<{line: number}>}) => {
          assert.ok((error.diagnostics?.length ?? 0) > 0)
          assert.ok(error.diagnostics!.every(d => d.line >= 1))
          return true
        },
      )
      const elapsed = performance.now() - started
      assert.ok(elapsed < BOUND_LARGE_MS, `took ${elapsed.toFixed(0)}ms`)
    })
  }
})
