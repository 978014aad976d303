import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {XMLParser} from 'fast-xml-parser'

import {
  GAMEDAY_FILES,
  type GameDayReport,
  renderGameDayJunit,
  renderGameDayMarkdown,
} from '../../../src/report/gameday/report.js'
import {renderGameDayHtml} from '../../../src/report/gameday/html.js'
import {REPORT_CSS} from '../../../src/report/run/style.js'
import {writeFixtureGameDay} from './fixtures.js'
import {HOSTILE} from '../journals.js'

type Suite = Record<string, unknown> & {
  '@_name': string
  '@_tests': string
  '@_skipped': string
  '@_failures': string
  '@_id': string
}

function parseJunit(text: string): {totals: Record<string, string>; suites: Suite[]} {
  const doc = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    isArray: name => name === 'testsuite' || name === 'testcase',
  }).parse(text) as {testsuites: Record<string, string> & {testsuite: Suite[]}}
  return {totals: doc.testsuites, suites: doc.testsuites.testsuite}
}

describe('report/gameday', () => {
  let root = ''
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'faultline-gameday-report-'))
  })
  afterEach(() => rmSync(root, {recursive: true, force: true}))

  it("writes gameday.json with each experiment's verdict and a relative link to a report that exists", async () => {
    const written = await writeFixtureGameDay(root, ['held', 'deviated'], ['reviews-circuit-breaker'], {
      stoppedBecause: 'interrupted (signal)',
    })
    assert.equal(written.dir, join(root, 'weekly-bookinfo', '2026-11-26T030000Z'))
    assert.deepEqual(
      written.files.map(f => f.slice(written.dir.length + 1)),
      [GAMEDAY_FILES.json, GAMEDAY_FILES.html, GAMEDAY_FILES.junit, GAMEDAY_FILES.markdown],
    )
    const report = JSON.parse(readFileSync(join(written.dir, GAMEDAY_FILES.json), 'utf8')) as GameDayReport
    assert.equal(report.kind, 'FaultlineGameDay')
    assert.equal(report.outcome, 'aborted', 'interrupted with an experiment skipped: the game day did not do its job')
    assert.equal(report.exitCode, 3)
    assert.equal(report.durationMs, 164_000)
    assert.deepEqual(
      report.experiments.map(e => [e.name, e.status, e.outcome, e.exitCode]),
      [
        ['ratings-abort', 'ran', 'held', 0],
        ['ratings-delay', 'ran', 'deviated', 1],
        ['reviews-circuit-breaker', 'skipped', undefined, undefined],
      ],
    )
    for (const e of report.experiments.filter(x => x.status === 'ran')) {
      assert.match(e.report ?? '', /^\.\.\/\.\.\/ratings-(abort|delay)\/[\dT-]+Z\/report\.html$/)
      assert.ok(existsSync(resolve(written.dir, e.report ?? '')), e.report)
      assert.ok(existsSync(resolve(written.dir, e.runDir ?? '', 'journal.json')))
    }
    assert.equal(report.experiments[2]?.reason, 'interrupted (signal)')
  })

  it("junit.xml holds each run's own testsuite, a skipped suite per skipped experiment, and their totals", async () => {
    const written = await writeFixtureGameDay(root, ['held', 'revert-failed'], ['late'])
    const {totals, suites} = parseJunit(readFileSync(join(written.dir, GAMEDAY_FILES.junit), 'utf8'))
    assert.deepEqual(
      suites.map(s => [s['@_name'], s['@_id']]),
      [
        ['ratings-abort', '0'],
        ['ratings-delay', '1'],
        ['late', '2'],
      ],
    )
    for (const [i, suite] of suites.slice(0, 2).entries()) {
      const own = parseJunit(
        readFileSync(join(resolve(written.dir, written.report.experiments[i]?.runDir ?? ''), 'junit.xml'), 'utf8'),
      ).suites[0]
      assert.deepEqual({...suite, '@_id': '0'}, own, "the run's suite, unchanged but for its id")
    }
    assert.equal(suites[2]?.['@_skipped'], '1')
    assert.match(JSON.stringify(suites[2]?.testcase), /skipped: interrupted \(signal\)/)
    for (const key of ['@_tests', '@_failures', '@_skipped'])
      assert.equal(
        Number(totals[key]),
        suites.reduce((sum, s) => sum + Number(s[key as keyof Suite]), 0),
        key,
      )
    assert.ok(Number(totals['@_failures']) > 0, 'the failed revert fails the build')
  })

  it('--no-html writes no gameday.html, and the run folders have no report.html to link to', async () => {
    const written = await writeFixtureGameDay(root, ['held'], [], {html: false})
    assert.ok(!existsSync(join(written.dir, GAMEDAY_FILES.html)))
    assert.equal(written.report.experiments[0]?.report, undefined)
    assert.match(written.report.experiments[0]?.runDir ?? '', /^\.\.\/\.\.\/ratings-abort\//)
  })

  it('summary.md leads with the worst outcome and lists every experiment, skipped ones included', async () => {
    const written = await writeFixtureGameDay(root, ['deviated', 'aborted'], ['third'], {
      stoppedBecause: 'interrupted (signal)',
    })
    const md = readFileSync(join(written.dir, GAMEDAY_FILES.markdown), 'utf8')
    assert.match(md, /^## ⏹️ Game day weekly-bookinfo: aborted \(exit 3\)\n/)
    assert.match(
      md,
      /2 of 3 experiment\(s\) ran in 2 min 44 s, from experiments\/weekly-gameday\.yaml\. Stopped early: interrupted \(signal\)\./,
    )
    assert.match(md, /\| 3 \| third \| ⏭️ skipped \| — \| interrupted \(signal\) \|/)
    assert.match(
      md,
      /\| 1 \| \[ratings-delay\]\(\.\.\/\.\.\/ratings-delay\/[\dT-]+Z\/report\.html\) \| ❌ deviated \(exit 1\) \|/,
    )
  })

  it('says when the gate tolerated an outcome', () => {
    const report: GameDayReport = {
      kind: 'FaultlineGameDay',
      version: 1,
      name: 'gd',
      file: 'gd.yaml',
      startedAt: '2026-11-26T03:00:00.000Z',
      finishedAt: '2026-11-26T03:01:00.000Z',
      durationMs: 60_000,
      outcome: 'deviated',
      exitCode: 0,
      failOn: 'aborted',
      tolerated: ['deviated'],
      experiments: [
        {
          name: 'ratings-delay',
          file: 'x.yaml',
          namespace: 'default',
          status: 'ran',
          outcome: 'deviated',
          exitCode: 1,
          reason: 'known bug',
          durationMs: 50_000,
        },
      ],
    }
    assert.match(renderGameDayMarkdown(report), /deviated \(exit 0\) — tolerated by `--fail-on aborted`: deviated/)
    assert.match(
      renderGameDayHtml(report),
      /The CI gate \(<code>--fail-on aborted<\/code>\) tolerated deviated: the game day exits 0\./,
    )
  })

  it("gameday.html lists each experiment's diagnosis under its reason, escaped", () => {
    const report: GameDayReport = {
      kind: 'FaultlineGameDay',
      version: 1,
      name: 'gd',
      file: 'gd.yaml',
      startedAt: '2026-11-26T03:00:00.000Z',
      finishedAt: '2026-11-26T03:01:00.000Z',
      durationMs: 60_000,
      outcome: 'deviated',
      exitCode: 1,
      failOn: 'any',
      tolerated: [],
      experiments: [
        {
          name: 'ratings-delay',
          file: 'x.yaml',
          namespace: 'default',
          status: 'ran',
          outcome: 'deviated',
          exitCode: 1,
          reason: 'missed',
          durationMs: 50_000,
          diagnosis: [
            'productpage-v1 gives reviews 3.0 s — shorter than the 7.0 s delay injected on ratings',
            '<script>x</script>',
          ],
        },
        {
          name: 'ratings-abort',
          file: 'y.yaml',
          namespace: 'default',
          status: 'ran',
          outcome: 'held',
          exitCode: 0,
          reason: 'held',
          durationMs: 50_000,
        },
      ],
    }
    const page = renderGameDayHtml(report)
    assert.match(
      page,
      /<ul class="diagnosis"><li>productpage-v1 gives reviews 3\.0 s — shorter than the 7\.0 s delay injected on ratings<\/li><li>&lt;script&gt;x&lt;\/script&gt;<\/li><\/ul>/,
    )
    assert.equal(page.match(/<ul class="diagnosis">/g)?.length, 1, 'only the run that has a diagnosis shows one')
  })

  it("gameday.html carries report.html's stylesheet verbatim (its font stack, not the browser's serif default)", () => {
    const report: GameDayReport = {
      kind: 'FaultlineGameDay',
      version: 1,
      name: 'gd',
      file: 'gd.yaml',
      startedAt: '2026-11-26T03:00:00.000Z',
      finishedAt: '2026-11-26T03:01:00.000Z',
      durationMs: 60_000,
      outcome: 'held',
      exitCode: 0,
      failOn: 'any',
      tolerated: [],
      experiments: [
        {
          name: 'ratings-abort',
          file: 'x.yaml',
          namespace: 'default',
          status: 'ran',
          outcome: 'held',
          exitCode: 0,
          reason: 'held',
          durationMs: 50_000,
        },
      ],
    }
    const style = /<style>([^]*?)<\/style>/.exec(renderGameDayHtml(report))?.[1] ?? ''
    // Escaped as text, "Segoe UI" became &quot;Segoe UI&quot;: a <style> element is not decoded, so the font declaration was dropped.
    assert.ok(style.startsWith(REPORT_CSS), "the run report's CSS, unescaped")
    assert.doesNotMatch(style, /&(quot|#39|amp|lt|gt);/)
    assert.match(style, /body \{[^}]*font: 14px\/1\.45 system-ui, [^}]*"Segoe UI"[^}]*sans-serif; \}/)
  })

  it('names from a GameDay file cannot break out of the HTML, the Markdown table or the XML', async () => {
    const written = await writeFixtureGameDay(root, ['held'], [HOSTILE], {name: 'hostile', stoppedBecause: HOSTILE})
    const page = readFileSync(join(written.dir, GAMEDAY_FILES.html), 'utf8')
    assert.doesNotMatch(page, /<script>alert/)
    assert.equal(page.match(/<script/g)?.length, 1, 'only the inert JSON data element')
    assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
    const {suites} = parseJunit(readFileSync(join(written.dir, GAMEDAY_FILES.junit), 'utf8'))
    assert.equal(suites.length, 2)
    const md = readFileSync(join(written.dir, GAMEDAY_FILES.markdown), 'utf8')
    const row = md.split('\n').find(l => l.startsWith('| 2 |')) ?? ''
    assert.equal(row.replace(/\\\|/g, '').split('|').length, 7, 'five cells: no unescaped pipe from the name or reason')
  })

  it('a run whose journal cannot be read is still listed in junit.xml, as skipped with why', async () => {
    const written = await writeFixtureGameDay(root, ['held'], [])
    const {suites} = parseJunit(renderGameDayJunit(written.report, new Map()))
    assert.equal(suites.length, 1)
    assert.equal(suites[0]?.['@_skipped'], '1')
    assert.match(JSON.stringify(suites[0]?.testcase), /no journal was found for this run \(the hypothesis held/)
  })
})
