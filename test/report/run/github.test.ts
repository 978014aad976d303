import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {
  escapeData,
  escapeProperty,
  githubAnnotations,
  githubSummary,
  workflowCommand,
} from '../../../src/report/run/github.js'
import {renderMarkdown} from '../../../src/report/run/markdown.js'
import {HOSTILE, journal} from '../journals.js'

/** The runner's side of the toolkit's escaping (actions/runner ActionCommand.Unescape*). */
const unescapeData = (s: string) => s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%')
const unescapeProperty = (s: string) =>
  s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%')

/** Splits a workflow command line as the runner does: `::name k=v,k=v::message`. */
function parseCommand(line: string): {name: string; properties: Record<string, string>; message: string} {
  const m = /^::([a-z-]+)(?: ([^:]*))?::(.*)$/s.exec(line)
  assert.ok(m !== null, `not a workflow command: ${line}`)
  const properties = Object.fromEntries(
    (m[2] ?? '')
      .split(',')
      .filter(Boolean)
      .map(p => {
        const i = p.indexOf('=')
        return [p.slice(0, i), unescapeProperty(p.slice(i + 1))]
      }),
  )
  return {name: m[1] ?? '', properties, message: unescapeData(m[3] ?? '')}
}

describe('GitHub Actions output', function () {
  // The load table decodes every second's histogram (run-summary.ts); slow on a loaded machine.
  this.timeout(60_000)

  it('escapes exactly as the Actions toolkit (command.ts)', () => {
    assert.equal(escapeData('100% done\r\nnext: a,b'), '100%25 done%0D%0Anext: a,b')
    assert.equal(escapeProperty('100% done\r\nnext: a,b'), '100%25 done%0D%0Anext%3A a%2Cb')
    assert.equal(escapeData('%0A'), '%250A', '% first, so an already-escaped sequence stays literal')
    assert.equal(
      workflowCommand('error', {title: 'a:b,c', file: undefined, line: ''}, 'm%\n'),
      '::error title=a%3Ab%2Cc::m%25%0A',
    )
    assert.equal(workflowCommand('error', {}, 'plain'), '::error::plain')
  })

  it('a held run annotates nothing', () => {
    assert.deepEqual(githubAnnotations(journal('held')), [])
  })

  it('a missed probe: one ::error on the experiment file, with the measured value and the expectation', () => {
    assert.deepEqual(githubAnnotations(journal('deviated')), [
      '::error title=ratings-delay%3A "productpage answers targeted users within 4s" missed in fault,file=experiments/ratings-delay.yaml::measured p(99)=6013ms, expected http_req_duration p(99)<4000',
    ])
  })

  it('a failed revert is annotated with the cleanup command', () => {
    const doc = journal('revert-failed')
    const revert = githubAnnotations(doc)
      .map(parseCommand)
      .find(c => c.properties.title === 'ratings-delay: revert failed for default/ratings')
    assert.ok(revert !== undefined)
    assert.match(revert.message, new RegExp(`clean up with: chaos revert --run ${doc.runId} --namespace default$`))
  })

  it('an errored probe is annotated as such', () => {
    const doc = journal('held')
    Object.assign(doc.probes[2] ?? {}, {status: 'errored', actual: '-', message: 'no sidecar answered'})
    const [only] = githubAnnotations(doc).map(parseCommand)
    assert.equal(only?.properties.title, 'ratings-abort: "ratings calls were aborted" could not be evaluated in fault')
  })

  it('no file property for a path outside the workspace', () => {
    const doc = journal('deviated')
    doc.experiment.file = '/home/someone/exp.yaml'
    assert.equal(parseCommand(githubAnnotations(doc)[0] ?? '').properties.file, undefined)
  })

  it('hostile names and values cannot end the command early or inject another', () => {
    const doc = journal('deviated')
    doc.experiment.name = HOSTILE
    for (const p of doc.probes) p.actual = HOSTILE
    const lines = githubAnnotations(doc)
    assert.ok(lines.length > 0)
    for (const line of lines) {
      assert.doesNotMatch(line, /[\r\n]/)
      const c = parseCommand(line)
      assert.equal(c.name, 'error')
      assert.deepEqual(Object.keys(c.properties), ['title', 'file'])
      assert.ok(c.properties.title?.startsWith(`${HOSTILE}: `))
    }
    assert.ok(parseCommand(lines[0] ?? '').message.includes(HOSTILE))
  })

  it('appends summary.md to $GITHUB_STEP_SUMMARY when set, and writes nothing otherwise', () => {
    const dir = mkdtempSync(join(tmpdir(), 'faultline-gh-'))
    try {
      const file = join(dir, 'step-summary.md')
      writeFileSync(file, 'earlier step\n')
      const doc = journal('deviated')
      assert.equal(githubSummary(doc, {}), undefined)
      assert.equal(githubSummary(doc, {GITHUB_STEP_SUMMARY: file}), file)
      assert.equal(githubSummary(journal('held'), {GITHUB_STEP_SUMMARY: file}), file)
      assert.equal(
        readFileSync(file, 'utf8'),
        `earlier step\n${renderMarkdown(doc)}\n${renderMarkdown(journal('held'))}\n`,
      )
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
