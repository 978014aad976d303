/**
 * The blast-radius map and the diagnosis end to end: each bookinfo example through the built CLI on
 * a detached sandbox without Prometheus, so the map comes from the sidecars' own /stats/prometheus
 * read at each phase boundary. Each run's diagnosis must name what the example is about.
 */
import assert from 'node:assert/strict'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import type {JournalDocument} from '../../src/journal/journal.js'
import {chaos, DEVIATION_PHASES, REPO, SAMPLES, withDetachedSandbox} from './sandbox-cli.js'

const SHORT = 'baseline=4s,fault=10s,recovery=3s'

describe('the diagnosis of the bookinfo examples (integration, real CLI on the sandbox)', function () {
  this.timeout(180_000)
  const sandbox = withDetachedSandbox('diagnosis-sandbox', [
    'src/diagnosis/collector.ts',
    'src/runner/run.ts',
    'packages/sandbox/src/sandbox.ts',
  ])
  let reports: string
  const run = (file: string, phases = SHORT) =>
    chaos(['run', file, '--sandbox', '--state-dir', sandbox.dir, '--report-dir', reports, '--phases', phases])

  before(async () => {
    reports = await mkdtemp(join(tmpdir(), 'faultline-diagnosis-reports-'))
  })
  after(async () => {
    if (reports !== undefined) await rm(reports, {recursive: true, force: true})
  })
  afterEach(() => sandbox.kubectl('delete', 'vs,dr', '--all'))

  /** The run's journal, and its report files checked for the section. */
  function outputs(stdout: string): {journal: JournalDocument; dir: string} {
    const file = /Journal: (.*journal\.json)/.exec(stdout)?.[1]
    assert.ok(file !== undefined && existsSync(file), stdout)
    const dir = dirname(file)
    const report = readFileSync(join(dir, 'report.html'), 'utf8')
    assert.match(report, /<section id="blast-radius">/)
    assert.match(report, /<svg class="blast-map"/)
    assert.ok(statSync(join(dir, 'report.html')).size < 2_000_000, 'report.html stays under 2 MB')
    assert.match(readFileSync(join(dir, 'summary.md'), 'utf8'), /### What the fault did/)
    assert.match(stdout, /Why \(diagnosis from the mesh's own counters\):/)
    const journal = JSON.parse(readFileSync(file, 'utf8')) as JournalDocument
    assert.ok(journal.blastRadius !== undefined, 'the journal carries the map')
    assert.equal(journal.blastRadius.map.source, 'sidecars', 'no Prometheus: the sidecars were read')
    assert.deepEqual(journal.blastRadius.map.phases, ['baseline', 'fault', 'recovery'])
    return {journal, dir}
  }

  const sentences = (j: JournalDocument, rule: string) =>
    (j.blastRadius?.diagnosis ?? []).filter(f => f.rule === rule).map(f => f.sentence)

  it("ratings-delay names productpage → reviews' deadline against the 7 s delay; chaos report re-renders it", async () => {
    const r = await run('experiments/ratings-delay.yaml', DEVIATION_PHASES)
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const {journal, dir} = outputs(r.stdout)
    const deadline = sentences(journal, 'deadline').find(s => s.startsWith('productpage-v1 gives reviews'))
    assert.ok(deadline !== undefined, JSON.stringify(journal.blastRadius?.diagnosis, null, 1))
    assert.match(deadline, /^productpage-v1 gives reviews 3\.0 s\b/)
    assert.match(deadline, /shorter than the 7\.0 s delay injected on ratings/)
    assert.match(deadline, /with DC/)
    const out = join(reports, 'rerendered')
    const again = await chaos(['report', dir, '-o', out])
    assert.equal(again.code, 0, again.stdout + again.stderr)
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /productpage-v1 gives reviews 3\.0 s/)
  })

  it('ratings-abort names the graceful degradation: reviews answers 200 while its calls to ratings fail', async () => {
    const r = await run('experiments/ratings-abort.yaml')
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const {journal} = outputs(r.stdout)
    const degraded = sentences(journal, 'silent-degradation')
    assert.ok(
      degraded.some(s =>
        /^reviews-v[23] kept answering productpage-v1 with success .*calls to ratings failed \(503 × \d+, FI × \d+.*graceful degradation/.test(
          s,
        ),
      ),
      JSON.stringify(journal.blastRadius?.diagnosis, null, 1),
    )
    assert.deepEqual(sentences(journal, 'not-fired'), [])
    // The sidecars export istio_response_bytes: the map sees response sizes. They do not shrink here (the
    // sandbox page's rating-error line is about as long as its stars), so the rule names no shrinking.
    const map = journal.blastRadius?.map
    assert.ok(!(map?.gaps ?? []).some(g => /could not see response sizes/.test(g)), JSON.stringify(map?.gaps))
    const page = map?.edges.find(e => e.id === 'chaos-client→productpage')
    for (const phase of ['baseline', 'fault', 'recovery'] as const)
      assert.ok(
        (page?.phases[phase]?.responseBytes ?? 0) > 1000,
        `productpage's page size in the ${phase}: ${JSON.stringify(page?.phases[phase])}`,
      )
  })

  it("reviews-circuit-breaker names the overflowing pool and its caller, with the DestinationRule's limits", async () => {
    const file = readFileSync(join(REPO, 'experiments/reviews-circuit-breaker.yaml'), 'utf8')
    // The example patches bookinfo's own reviews DestinationRule (spec.setup), or asks for its setup file applied first.
    const setup = /^\s+setup:/m.test(file)
      ? join(SAMPLES, 'destination-rule-all.yaml')
      : join(REPO, 'experiments/setup/reviews-connection-pool.yaml')
    const applied = await sandbox.kubectl('apply', '-f', setup)
    assert.equal(applied.code, 0, applied.stderr)
    const r = await run('experiments/reviews-circuit-breaker.yaml')
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const {journal} = outputs(r.stdout)
    const overflow = sentences(journal, 'overflow')
    assert.equal(overflow.length, 1, JSON.stringify(journal.blastRadius?.diagnosis, null, 1))
    assert.match(
      overflow[0] as string,
      /^productpage-v1's connection pool to reviews overflowed .*\d+ answered 503 UO at once and upstream_rq_pending_overflow \+\d+ in the fault phase, none in the baseline; the DestinationRule reviews allows each caller 5 connections and 5 pending requests\.$/,
    )
  })
})
