import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {chaos as cli, ensureBuilt, REPO} from '../cli.js'

const FIXTURES = 'test/fixtures/experiments'

/** The sources these commands run; dist/ must be at least as new as each of them. */
function sources(): string[] {
  const dirs = ['src/experiment', 'src/commands']
  const files = dirs.flatMap(d =>
    readdirSync(join(REPO, d))
      .filter(f => f.endsWith('.ts'))
      .map(f => join(d, f)),
  )
  return [
    ...files,
    'packages/core/src/errors.ts',
    'src/cli/base.ts',
    'packages/core/src/duration.ts',
    'src/probes/thresholds.ts',
    'src/probes/expect.ts',
    'src/probes/compare.ts',
  ]
}

const chaos = (...args: string[]) => cli(args)

describe('chaos validate and chaos schema (the real CLI)', function () {
  this.timeout(60_000)

  before(async function () {
    // `npm test` builds first; run on its own, this test builds what it needs.
    this.timeout(300_000)
    await ensureBuilt(sources())
  })

  it('accepts every example experiment (exit 0)', async () => {
    const examples = readdirSync(join(REPO, 'experiments'))
      .filter(f => f.endsWith('.yaml'))
      .map(f => `experiments/${f}`)
    assert.ok(examples.length >= 4)
    const {code, stdout} = await chaos('validate', ...examples)
    assert.equal(code, 0, stdout)
    assert.deepEqual(
      stdout.trim().split('\n'),
      examples.map(f => `✓ ${f}`),
    )
  })

  it('prints each problem as file:line:col: field: message with a hint, and exits 2', async () => {
    const {code, stdout} = await chaos(
      'validate',
      `${FIXTURES}/uppercase-header.yaml`,
      `${FIXTURES}/valid-minimal.yaml`,
    )
    assert.equal(code, 2)
    assert.deepEqual(stdout.trim().split('\n'), [
      `✗ ${FIXTURES}/uppercase-header.yaml: 1 problem`,
      `  ${FIXTURES}/uppercase-header.yaml:10:11: spec.faults[0].match.headers["X-Chaos-Test"]: header name X-Chaos-Test must be lowercase`,
      '      hint: write x-chaos-test: Envoy sees header names in lowercase, so Istio never matches an uppercase name',
      `✓ ${FIXTURES}/valid-minimal.yaml`,
    ])
  })

  it('--json gives {files: [{file, valid, kind, diagnostics}]}', async () => {
    const {code, stdout} = await chaos(
      'validate',
      '--json',
      `${FIXTURES}/many-mistakes.yaml`,
      `${FIXTURES}/gameday.yaml`,
      `${FIXTURES}/top-level-list.yaml`,
    )
    assert.equal(code, 2)
    const report = JSON.parse(stdout) as {
      files: Array<{file: string; valid: boolean; kind: string | null; diagnostics: Array<Record<string, unknown>>}>
    }
    assert.deepEqual(
      report.files.map(f => [f.file, f.valid, f.kind, f.diagnostics.length]),
      [
        [`${FIXTURES}/many-mistakes.yaml`, false, 'Experiment', 9],
        [`${FIXTURES}/gameday.yaml`, true, 'GameDay', 0],
        [`${FIXTURES}/top-level-list.yaml`, false, null, 1],
      ],
    )
    assert.deepEqual(report.files[0]!.diagnostics[0], {
      file: `${FIXTURES}/many-mistakes.yaml`,
      line: 4,
      col: 9,
      path: 'metadata.name',
      message:
        '"Ratings" is not a DNS-1123 label: use lowercase letters, digits and \'-\', starting and ending with a letter or digit',
      hint: 'for example: ratings',
    })
  })

  it('reports a file that does not exist without stopping at it', async () => {
    const {code, stdout} = await chaos('validate', `${FIXTURES}/no-such-file.yaml`, 'experiments/ratings-abort.yaml')
    assert.equal(code, 2)
    assert.match(
      stdout,
      /✗ test\/fixtures\/experiments\/no-such-file.yaml: 1 problem\n {2}test\/fixtures\/experiments\/no-such-file.yaml: cannot read .*: no such file/,
    )
    assert.match(stdout, /✓ experiments\/ratings-abort.yaml/)
  })

  it('rate: 5 gets a hint that is accepted as written (5/s), never "quote it"', async () => {
    const {code, stdout} = await chaos('validate', `${FIXTURES}/rate-without-unit.yaml`)
    assert.equal(code, 2)
    assert.match(
      stdout,
      /17:31: spec\.load\.traffic\[1\]\.rate: rate 5 has no unit\n {6}hint: write 5\/s \(requests per second\)/,
    )
    assert.doesNotMatch(stdout, /quote it/)
    const dir = mkdtempSync(join(tmpdir(), 'faultline-validate-'))
    try {
      const fixed = join(dir, 'rate-with-unit.yaml')
      writeFileSync(
        fixed,
        readFileSync(join(REPO, FIXTURES, 'rate-without-unit.yaml'), 'utf8').replace('rate: 5}', 'rate: 5/s}'),
      )
      const again = await chaos('validate', fixed)
      assert.equal(again.code, 0, again.stdout)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('needs at least one file', async () => {
    const {code, stderr} = await chaos('validate')
    assert.equal(code, 2)
    assert.match(stderr, /files/)
  })

  it('chaos schema prints the committed JSON Schema', async () => {
    const {code, stdout} = await chaos('schema')
    assert.equal(code, 0)
    assert.equal(stdout, readFileSync(join(REPO, 'schema/experiment.schema.json'), 'utf8'))
  })
})
