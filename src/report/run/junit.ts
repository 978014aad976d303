/**
 * `junit.xml`: a run as a JUnit test report, the dialect Jenkins, GitLab and GitHub's test-report
 * actions all read (testsuites › testsuite › testcase with failure / error / skipped, properties,
 * system-out). One testsuite per run; one testcase per check (checks.ts): each probe × phase, the
 * fault firing, the control traffic, the guardrails, each revert (so a revert failure fails the
 * build) and the run's completion. Pure; the XML is built by fast-xml-parser, never by hand.
 */
import {XMLBuilder} from 'fast-xml-parser'

import type {JournalDocument} from '../../journal/journal.js'
import {type ReportCheck, countChecks, runChecks} from './checks.js'
import {eventLine} from './event-line.js'

/** JUnit's `time`: seconds, to the millisecond. */
const seconds = (ms: number | undefined) => ((ms ?? 0) / 1000).toFixed(3)

/** XML 1.0 allows only these characters; anything else is written as a visible `\uXXXX` escape. */
// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu

/** Text safe for any XML 1.0 parser: forbidden characters (controls, lone surrogates) made visible, line ends as parsers read them (\n). */
export function xmlSafe(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .replace(NOT_XML_CHAR, c => `\\u${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`)
}

/** An attribute value: XML-safe and on one line (parsers fold newlines in attributes into spaces anyway). */
const attr = (text: string) => xmlSafe(text).replace(/\s*[\r\n]+\s*/g, ' ')

function testcase(classPrefix: string, file: string, c: ReportCheck): Record<string, unknown> {
  const body = [c.summary, c.detail]
    .filter(x => x !== undefined)
    .map(xmlSafe)
    .join('\n')
  const element: Record<string, unknown> = {
    '@_classname': attr(`${classPrefix}.${c.group}`),
    '@_name': attr(c.name),
    '@_time': seconds(c.durationMs),
    '@_file': attr(file),
  }
  if (c.status === 'failed')
    element.failure = {
      '@_message': attr(c.summary),
      '@_type': c.probe === undefined ? c.group : c.probe.status,
      '#text': body,
    }
  if (c.status === 'errored')
    element.error = {'@_message': attr(c.summary), '@_type': c.probe === undefined ? c.group : 'errored', '#text': body}
  if (c.status === 'skipped') element.skipped = {'@_message': attr(c.summary)}
  if (c.status === 'passed') element['system-out'] = body
  return element
}

function properties(doc: JournalDocument): Record<string, unknown> {
  const meta = doc.experiment.spec.metadata
  const pairs: [string, string | number | undefined][] = [
    ['runId', doc.runId],
    ['experiment', doc.experiment.name],
    ['experiment.file', doc.experiment.file],
    ['experiment.description', meta.description],
    ...Object.entries(meta.labels ?? {}).map(([k, v]): [string, string] => [`experiment.label.${k}`, v]),
    ['outcome', doc.outcome ?? doc.status],
    ['exitCode', doc.exitCode],
    ['reason', doc.reason],
    ['startedAt', doc.startedAt],
    ['finishedAt', doc.finishedAt],
    ...Object.entries(doc.environment).map(([k, v]): [string, string] => [`environment.${k}`, v]),
  ]
  return {
    property: pairs
      .filter(([, v]) => v !== undefined)
      .map(([name, value]) => ({'@_name': attr(name), '@_value': attr(String(value))})),
  }
}

/** The run's event log, one line per event, for the suite's system-out. */
function eventLog(doc: JournalDocument): string {
  return doc.events.map(e => xmlSafe(eventLine(e))).join('\n')
}

/** The suite's wall time: start to finish, or to the last event of a run that never finished. */
function durationMs(doc: JournalDocument): number {
  const end = doc.finishedAt === undefined ? Number.NaN : Date.parse(doc.finishedAt) - Date.parse(doc.startedAt)
  return Number.isFinite(end) ? Math.max(0, end) : Math.max(0, ...doc.events.map(e => e.t))
}

/** JUnit's timestamp: ISO 8601 without zone, as the Ant/Jenkins schema wants it (the journal's clock is UTC). */
const timestamp = (iso: string) =>
  Number.isNaN(Date.parse(iso)) ? attr(iso) : new Date(iso).toISOString().slice(0, 19)

/** The journal of one run as junit.xml. */
export function renderJunit(doc: JournalDocument): string {
  const checks = runChecks(doc)
  const counts = countChecks(checks)
  const totals = {
    '@_tests': checks.length,
    '@_failures': counts.failed,
    '@_errors': counts.errored,
    '@_skipped': counts.skipped,
    '@_time': seconds(durationMs(doc)),
    '@_timestamp': timestamp(doc.startedAt),
  }
  const suite = {
    '@_name': attr(doc.experiment.name),
    '@_id': 0,
    '@_package': 'faultline',
    ...totals,
    '@_file': attr(doc.experiment.file),
    properties: properties(doc),
    testcase: checks.map(c => testcase(doc.experiment.name, doc.experiment.file, c)),
    'system-out': eventLog(doc),
  }
  const builder = new XMLBuilder({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    format: true,
    indentBy: '  ',
    suppressEmptyNode: true,
  })
  return builder.build({
    '?xml': {'@_version': '1.0', '@_encoding': 'UTF-8'},
    testsuites: {'@_name': attr(`faultline ${doc.experiment.name} ${doc.runId}`), ...totals, testsuite: [suite]},
  }) as string
}
