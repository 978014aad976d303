/**
 * The repository stands alone: a clone of it, with nothing beside it, passes its tests, and every
 * comment cites something the clone holds. This fails when a test, a benchmark, the sources or the
 * docs reach outside the repository (a `../shared` path, a URL resolved above the root, a document
 * the repository does not contain), and when reference data arrives without its source and licence.
 */
import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, join, relative, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const REFERENCE = join(ROOT, 'test', 'reference')

/** Files git would commit (tracked, or untracked and not ignored), outside the vendored reference data. */
function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  return out
    .split('\0')
    .filter(f => f !== '' && existsSync(join(ROOT, f)))
    .filter(
      f => !f.startsWith('test/reference/') && !/\.(png|jpe?g|gif|ico|lock)$/.test(f) && f !== 'package-lock.json',
    )
}

/** What reaches outside: each pattern with the reason it cannot stand in a clone. */
const OUTSIDE: Array<{pattern: RegExp; why: string}> = [
  // ../shared/tools/ (a real k6, a real kube-apiserver) is the one exception: tests that use a tool
  // there find it by an environment variable or beside the repository, and skip when it is absent.
  {
    pattern: /\.\.\/shared\/(?!tools\/)|\.\.\/shared\b(?!\/)|\bshared\/reference\b/,
    why: 'reads from ../shared, which a clone does not have: copy the data into test/reference/ with its source',
  },
  {
    pattern: /\bDESIGN(\.md)?\s*§|\bDESIGN\.md\b/,
    why: 'cites DESIGN.md, which the repository does not hold: cite README.md or docs/',
  },
  {
    pattern: /(?<!test\/reference\/)\bSEMANTICS(\.md)?\s*\(/,
    why: 'cites SEMANTICS without its path: write test/reference/SEMANTICS.md (…)',
  },
  ...[dirname(ROOT.replace(/[/\\]$/, '')), homedir()]
    .filter(p => p.length > 1)
    .map(p => ({
      pattern: new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[/\\\\]`),
      why: 'names an absolute path of this machine: use a path relative to the repository',
    })),
]

/** `new URL('<relative>', import.meta.url)` literals, resolved against their file. */
const URL_LITERAL = /new URL\(\s*(['"`])(\.{1,2}\/[^'"`$]*)\1\s*,\s*import\.meta\.url\s*\)/g

describe('the repository stands alone', () => {
  const files = repositoryFiles()

  it('finds the files it checks', () => {
    assert.ok(
      files.includes('README.md') && files.some(f => f.startsWith('src/')) && files.some(f => f.startsWith('test/')),
    )
  })

  it('no source, test, benchmark or document reaches outside the repository', () => {
    const found: string[] = []
    for (const file of files) {
      if (file === 'test/repository.test.ts') continue
      const text = readFileSync(join(ROOT, file), 'utf8')
      text.split('\n').forEach((line, i) => {
        for (const {pattern, why} of OUTSIDE)
          if (pattern.test(line)) found.push(`${file}:${i + 1}: ${why}\n    ${line.trim().slice(0, 160)}`)
      })
    }
    assert.deepEqual(found, [], `\n${found.join('\n')}`)
  })

  it('every relative URL a module resolves stays inside the repository', () => {
    const found: string[] = []
    for (const file of files.filter(f => /\.(ts|mjs|js)$/.test(f) && f !== 'test/repository.test.ts')) {
      const text = readFileSync(join(ROOT, file), 'utf8')
      for (const m of text.matchAll(URL_LITERAL)) {
        const target = resolve(dirname(join(ROOT, file)), m[2]!)
        const inside = relative(ROOT, target)
        if (inside.startsWith('..') || inside.startsWith(sep))
          found.push(`${file}: new URL('${m[2]}') resolves to ${target}, outside the repository`)
      }
    }
    assert.deepEqual(found, [], `\n${found.join('\n')}`)
  })

  it('the checks themselves catch what they are for', () => {
    const hits = (line: string) => OUTSIDE.filter(o => o.pattern.test(line)).length
    assert.equal(hits(`readFileSync(new URL('../../../shared/reference/k6/points.jsonl', import.meta.url))`), 1)
    assert.equal(hits('/** Exit codes (DESIGN §6). */'), 1)
    assert.equal(hits(' * evaluates it (SEMANTICS (b); envoy fault_filter.cc).'), 1)
    assert.equal(hits(' * evaluates it (test/reference/SEMANTICS.md (b)).'), 0)
    assert.equal(hits(`const dir = "${join(ROOT, 'test')}"`), 1)
    assert.equal(hits('the shared preflight of a game day'), 0)
    assert.equal(
      hits('K6_BINARY pointing at a real k6 (e.g. ../shared/tools/k6/k6)'),
      0,
      'an optional tool, skipped when absent',
    )
    assert.equal(hits('cat ../shared/notes.txt'), 1)
  })

  it('every folder of reference data says where it came from and under which licence', () => {
    const folders = readdirSync(REFERENCE).filter(f => statSync(join(REFERENCE, f)).isDirectory())
    assert.ok(folders.length >= 5, `reference folders: ${folders.join(', ')}`)
    for (const folder of folders) {
      const doc = ['SOURCE.md', 'README.md'].map(f => join(REFERENCE, folder, f)).find(existsSync)
      assert.ok(doc !== undefined, `test/reference/${folder}/ has no SOURCE.md or README.md naming its source`)
      const text = readFileSync(doc, 'utf8')
      assert.match(
        text,
        /licen[cs]e|Apache-2\.0|AGPL|recorded|produced by/i,
        `${relative(ROOT, doc)} names no licence or origin`,
      )
    }
    assert.match(readFileSync(join(REFERENCE, 'README.md'), 'utf8'), /SOURCE\.md/)
  })
})
