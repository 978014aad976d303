/**
 * Loading experiment and GameDay files: the only module that reads them (and, through
 * document.ts, the only user of the YAML parser for them). Every problem in a file is collected
 * and thrown together as one `InvalidExperiment` whose diagnostics name file:line:col and field.
 */
import {readFile, stat} from 'node:fs/promises'
import {dirname, isAbsolute, join} from 'node:path'

import {type Diagnostic, InvalidExperiment, UsageError} from '@faultline/core/errors.js'
import {MAX_FILE_BYTES, parseYaml} from './document.js'
import {bytePosition, firstInvalidUtf8} from './encoding.js'
import {API_VERSION, type Experiment, type GameDay} from './model.js'
import {type Issue, locateIssues, type SourceMap} from './position.js'
import {experimentSchemaIssues, gameDaySchemaIssues} from './schema-check.js'
import {experimentSemanticIssues, gameDaySemanticIssues} from './semantics.js'
import {suggestion} from './suggest.js'

/** A loaded file: one experiment, or a GameDay (its entries' paths resolved against its directory). */
export type LoadedDocument = {kind: 'Experiment'; experiment: Experiment} | {kind: 'GameDay'; gameday: GameDay}

const KINDS = ['Experiment', 'GameDay']

/** Parses and validates the text of an experiment or GameDay file. Pure: GameDay paths are not checked. */
export function parseDocumentText(text: string, file: string): LoadedDocument {
  return validateText(text, file).loaded
}

function validateText(text: string, file: string): {loaded: LoadedDocument; sourceMap: SourceMap} {
  const outcome = parseYaml(text)
  if (!outcome.ok) {
    throw new InvalidExperiment(
      outcome.problems.map(({position, issue}) => ({
        file,
        ...position,
        path: '',
        message: issue.message,
        ...(issue.hint === undefined ? {} : {hint: issue.hint}),
      })),
    )
  }
  const {value, sourceMap} = outcome.parsed
  const fail = (issues: Issue[]) => new InvalidExperiment(locateIssues(issues, file, sourceMap))
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail([
      {
        path: [],
        at: 'value',
        message: `an experiment file is a mapping (apiVersion, kind, metadata, spec), but this file holds ${Array.isArray(value) ? 'a list' : `a single value (${JSON.stringify(value)})`}`,
        hint: 'start from an example in experiments/, or see the schema: chaos schema',
      },
    ])
  }
  const document = value as Record<string, unknown>
  const header = headerIssues(document)
  if (header.length > 0) throw fail(header)
  if (document.kind === 'GameDay') {
    const issues = gameDayIssues(document)
    if (issues.length > 0) throw fail(issues)
    return {loaded: {kind: 'GameDay', gameday: document as unknown as GameDay}, sourceMap}
  }
  const schemaIssues = experimentSchemaIssues(document)
  const issues = [...schemaIssues, ...experimentSemanticIssues(document as unknown as Experiment, schemaIssues)]
  if (issues.length > 0) throw fail(issues)
  return {loaded: {kind: 'Experiment', experiment: document as unknown as Experiment}, sourceMap}
}

/** Parses and validates the text of an experiment file (kind: Experiment). Pure; for tests and tools. */
export function parseExperiment(text: string, file: string): Experiment {
  const {loaded, sourceMap} = validateText(text, file)
  if (loaded.kind === 'Experiment') return loaded.experiment
  throw new InvalidExperiment(
    locateIssues(
      [
        {
          path: ['kind'],
          at: 'value',
          message: 'this file is a GameDay, but one experiment was expected here',
          hint: 'pass an experiment file, or give the GameDay file to a command that takes GameDays',
        },
      ],
      file,
      sourceMap,
    ),
  )
}

/** Checks apiVersion and kind first: without them nothing else can be read correctly. */
function headerIssues(document: Record<string, unknown>): Issue[] {
  const issues: Issue[] = []
  if (!('kind' in document)) {
    issues.push({
      path: ['kind'],
      at: 'key',
      message: 'missing required field "kind"',
      hint: 'add kind: Experiment (or kind: GameDay for an ordered list of experiments)',
    })
  } else if (typeof document.kind === 'object' && document.kind !== null) {
    // Never String() a mapping: one such as {toString: null} throws, and its text says nothing useful.
    issues.push({
      path: ['kind'],
      at: 'value',
      message: `kind is ${Array.isArray(document.kind) ? 'a list' : 'a mapping'}, neither Experiment nor GameDay`,
      hint: 'set kind: Experiment (or kind: GameDay for an ordered list of experiments)',
    })
  } else if (typeof document.kind !== 'string' || !KINDS.includes(document.kind)) {
    const kind = String(document.kind)
    issues.push({
      path: ['kind'],
      at: 'value',
      message: `kind ${JSON.stringify(kind)} is neither Experiment nor GameDay`,
      hint: suggestion(kind, KINDS),
    })
  }
  if (!('apiVersion' in document)) {
    issues.push({
      path: ['apiVersion'],
      at: 'key',
      message: 'missing required field "apiVersion"',
      hint: `add apiVersion: ${API_VERSION}`,
    })
  } else if (document.apiVersion !== API_VERSION) {
    issues.push({
      path: ['apiVersion'],
      at: 'value',
      message: `apiVersion ${JSON.stringify(document.apiVersion)} is not supported`,
      hint: `set apiVersion: ${API_VERSION}`,
    })
  }
  return issues
}

function gameDayIssues(document: Record<string, unknown>): Issue[] {
  const schemaIssues = gameDaySchemaIssues(document)
  const issues = [...schemaIssues, ...gameDaySemanticIssues(document as unknown as GameDay, schemaIssues)]
  const entries = (document.spec as {experiments?: unknown} | undefined)?.experiments
  if (!Array.isArray(entries)) return issues
  entries.forEach((entry: unknown, i) => {
    const inline = (entry as {experiment?: unknown} | null)?.experiment
    if (typeof inline !== 'object' || inline === null) return
    const base = ['spec', 'experiments', i, 'experiment']
    const inlineIssues = experimentSchemaIssues(inline, base)
    for (const issue of [...inlineIssues, ...experimentSemanticIssues(inline as Experiment, inlineIssues, base)])
      issues.push(issue)
  })
  return issues
}

/** Reads a file as UTF-8 text, refusing oversized and non-UTF-8 files with a located diagnostic. */
export async function readExperimentText(file: string): Promise<string> {
  const size = (
    await stat(file).catch((error: unknown) => {
      throw unreadable(file, error)
    })
  ).size
  if (size > MAX_FILE_BYTES) {
    throw new InvalidExperiment([
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message: `file is ${size} bytes, over the ${MAX_FILE_BYTES / 1024} KiB limit; it was not read`,
        hint: 'an experiment file is a few kilobytes; check that this is the right file',
      },
    ])
  }
  const bytes = await readFile(file).catch((error: unknown) => {
    throw unreadable(file, error)
  })
  const bad = firstInvalidUtf8(bytes)
  if (bad >= 0) {
    const {line, col} = bytePosition(bytes, bad)
    throw new InvalidExperiment([
      {
        file,
        line,
        col,
        path: '',
        message: `byte 0x${(bytes[bad] as number).toString(16).padStart(2, '0')} at offset ${bad} is not valid UTF-8: this looks like a binary file, not YAML`,
        hint: 'an experiment file is UTF-8 YAML text',
      },
    ])
  }
  return bytes.toString('utf8')
}

function unreadable(file: string, error: unknown): UsageError {
  const code = (error as NodeJS.ErrnoException).code
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message
  return new UsageError(`cannot read ${file}: ${reason}`, {
    hint: 'pass the path of an experiment file, e.g. experiments/ratings-delay.yaml',
    cause: error,
  })
}

/** Loads one experiment or GameDay file; a GameDay's experiment files must exist and be valid. */
export async function loadDocument(file: string): Promise<LoadedDocument> {
  const text = await readExperimentText(file)
  const {loaded, sourceMap} = validateText(text, file)
  if (loaded.kind === 'Experiment') return loaded
  const diagnostics: Diagnostic[] = []
  const entries = await Promise.all(
    loaded.gameday.spec.experiments.map(async (entry, i) => {
      if (entry.path === undefined) return entry
      const resolved = isAbsolute(entry.path) ? entry.path : join(dirname(file), entry.path)
      try {
        await loadExperiment(resolved)
      } catch (error) {
        for (const d of referenceDiagnostics(error, sourceMap, file, i, entry.path)) diagnostics.push(d)
      }
      return {...entry, path: resolved}
    }),
  )
  if (diagnostics.length > 0) throw new InvalidExperiment(diagnostics)
  return {kind: 'GameDay', gameday: {...loaded.gameday, spec: {...loaded.gameday.spec, experiments: entries}}}
}

/** A referenced experiment that is missing is located at its path in the GameDay; an invalid one reports its own file. */
function referenceDiagnostics(
  error: unknown,
  sourceMap: SourceMap,
  file: string,
  index: number,
  written: string,
): Diagnostic[] {
  if (error instanceof InvalidExperiment) return error.diagnostics
  return locateIssues(
    [
      {
        path: ['spec', 'experiments', index, 'path'],
        at: 'value',
        message: `experiment file ${written}: ${error instanceof Error ? error.message : String(error)}`,
        hint: "paths are relative to the GameDay file's directory",
      },
    ],
    file,
    sourceMap,
  )
}

/** Loads one experiment file (kind: Experiment). */
export async function loadExperiment(file: string): Promise<Experiment> {
  return parseExperiment(await readExperimentText(file), file)
}
