/**
 * GitHub Actions output: summary.md appended to the job's step summary, and `::error` workflow
 * commands that put each failed check (a missed or errored probe, a fault that never fired, a
 * failed revert) on the run's page and on the experiment file. Escaping follows the Actions
 * toolkit's command.ts exactly, so a message cannot end the command early or inject another.
 */
import {appendFileSync} from 'node:fs'
import {isAbsolute} from 'node:path'

import type {JournalDocument} from '../../journal/journal.js'
import {type ReportCheck, runChecks} from './checks.js'
import {renderMarkdown} from './markdown.js'

/** A workflow command's message (toolkit `escapeData`). */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')
}

/** A workflow command's property value (toolkit `escapeProperty`). */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C')
}

/** `::name key=value,…::message`, empty properties left out, as the toolkit's Command does. */
export function workflowCommand(name: string, properties: Record<string, string | undefined>, message: string): string {
  const props = Object.entries(properties)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${escapeProperty(v ?? '')}`)
  return `::${name}${props.length === 0 ? '' : ` ${props.join(',')}`}::${escapeData(message)}`
}

const title = (doc: JournalDocument, c: ReportCheck) =>
  `${doc.experiment.name}: ${c.problem ?? `${c.name} ${c.status}`}`

/** One `::error` line per failed or errored check of the run; none for a run where everything held. */
export function githubAnnotations(doc: JournalDocument): string[] {
  // A path GitHub can place on the diff: relative to the workspace, which is where CI runs chaos.
  const file = isAbsolute(doc.experiment.file) || doc.experiment.file.startsWith('..') ? undefined : doc.experiment.file
  return runChecks(doc)
    .filter(c => c.status === 'failed' || c.status === 'errored')
    .map(c =>
      workflowCommand(
        'error',
        {title: title(doc, c), file},
        [c.summary, c.detail].filter(x => x !== undefined).join('\n'),
      ),
    )
}

/**
 * Appends summary.md to `$GITHUB_STEP_SUMMARY` when it is set (inside GitHub Actions); returns the
 * file written to, or undefined outside Actions.
 */
export function githubSummary(doc: JournalDocument, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env.GITHUB_STEP_SUMMARY
  if (file === undefined || file === '') return undefined
  appendFileSync(file, `${renderMarkdown(doc)}\n`)
  return file
}
