/** The journal fixtures (test/fixtures/journals/, see its README), read fresh for each use. */
import {readFileSync} from 'node:fs'

import type {JournalDocument} from '../../src/journal/journal.js'

/** One fixture per outcome. */
export const JOURNAL_FIXTURES = ['held', 'deviated', 'aborted', 'could-not-run', 'revert-failed'] as const
/** A fixture's name. */
export type JournalFixture = (typeof JOURNAL_FIXTURES)[number]

/** A fresh copy of a fixture journal, safe to edit in a test. */
export function journal(name: JournalFixture): JournalDocument {
  return JSON.parse(
    readFileSync(new URL(`../fixtures/journals/${name}.json`, import.meta.url), 'utf8'),
  ) as JournalDocument
}

/** A string that breaks naive XML, HTML, Markdown and workflow-command output. */
export const HOSTILE =
  'x]]></failure><script>alert(1)</script> | `tick` *b* <!-- & "q" \'a\' %0A %25 ::error::pwn, title=a:b \r\nnext\u0000\u001b[31m\uFFFF\uD800 end'
