/**
 * YAML text → one plain value plus the positions of its fields, refusing hostile input early:
 * oversized files, binary junk, nesting deep enough to exhaust the stack, alias bombs and
 * files holding more (or less) than one document. Every refusal is a located `Issue`.
 */
import {Composer, type Document, isAlias, isMap, isScalar, isSeq, LineCounter, Parser} from 'yaml'

import {type Issue, type Position, SourceMap} from './position.js'

/**
 * Files larger than this are refused before parsing. An experiment is a few KiB and a GameDay with
 * inline experiments a few dozen; the YAML parser needs about a second per 256 KiB on a busy machine.
 */
export const MAX_FILE_BYTES = 256 * 1024
/** Deepest nesting of maps and lists accepted (a GameDay with an inline experiment needs ~12). */
export const MAX_DEPTH = 64
/** Most alias expansions accepted when converting to plain values (defeats "billion laughs"). */
export const MAX_ALIAS_COUNT = 100

/** A parsed YAML document: the plain value and where each field is. */
export interface ParsedYaml {
  value: unknown
  sourceMap: SourceMap
}

/** The outcome of parsing: the document, or the located reasons it cannot be read. */
export type ParseOutcome =
  {ok: true; parsed: ParsedYaml} | {ok: false; problems: Array<{position: Position; issue: Issue}>}

const whole = (message: string, hint?: string): Issue =>
  hint === undefined ? {path: [], at: 'value', message} : {path: [], at: 'value', message, hint}

/** Parses experiment YAML text into a single plain value. Pure; never throws on bad input. */
export function parseYaml(text: string): ParseOutcome {
  const lineCounter = new LineCounter()
  const screened = prescreen(text, lineCounter)
  if ('failed' in screened) return screened.failed
  const {source} = screened
  const tokens = [...new Parser(lineCounter.addNewLine).parse(source)]
  const tooDeep = deepestOffset(tokens)
  if (tooDeep !== undefined) {
    return failAt(
      lineCounter,
      tooDeep,
      whole(
        `nesting is deeper than ${MAX_DEPTH} levels`,
        'an experiment nests maps and lists only a few levels deep; check for runaway [ or { or indentation',
      ),
    )
  }
  // The composer's own unique-key check compares every pair (quadratic); duplicateKeys() is linear.
  const documents = [...new Composer({uniqueKeys: false, prettyErrors: false}).compose(tokens)]
  if (documents.length === 0) {
    return failAt(
      lineCounter,
      0,
      whole(
        'file is empty (no YAML content, only whitespace or comments)',
        'start from an example: chaos validate experiments/ratings-delay.yaml, or see chaos schema',
      ),
    )
  }
  if (documents.length > 1) {
    const second = documents[1] as Document
    return failAt(
      lineCounter,
      second.range?.[0] ?? 0,
      whole(
        `file holds ${documents.length} YAML documents; document 2 starts here`,
        'one file holds one experiment: move each document after a --- into its own file (a GameDay lists several experiment files)',
      ),
    )
  }
  return readDocument(documents[0] as Document, source, lineCounter)
}

/** A refusal located at one offset of the text, outside any document. */
function failAt(lineCounter: LineCounter, offset: number, issue: Issue): ParseOutcome {
  return {ok: false, problems: [{position: new SourceMap(undefined, lineCounter).positionOf(offset), issue}]}
}

/** The refusals before the parser runs (oversized, binary, runaway nesting); else the text without its BOM. */
function prescreen(text: string, lineCounter: LineCounter): {source: string} | {failed: ParseOutcome} {
  if (text.length > MAX_FILE_BYTES) {
    return {
      failed: failAt(
        lineCounter,
        0,
        whole(
          `file is larger than the ${MAX_FILE_BYTES / 1024} KiB limit`,
          'an experiment file is a few kilobytes; check that this is the right file',
        ),
      ),
    }
  }
  const nul = text.indexOf('\0')
  if (nul >= 0) {
    countLines(text, nul, lineCounter)
    return {
      failed: failAt(
        lineCounter,
        nul,
        whole(
          'file contains a NUL byte: this looks like a binary file, not YAML',
          'an experiment file is UTF-8 YAML text',
        ),
      ),
    }
  }
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text
  const runaway = runawayOffset(source)
  if (runaway !== undefined) {
    countLines(source, runaway, lineCounter)
    return {
      failed: failAt(
        lineCounter,
        runaway,
        whole(
          `nesting is deeper than ${MAX_DEPTH} levels`,
          'an experiment nests maps and lists only a few levels deep; check for runaway [ or { or - - -',
        ),
      ),
    }
  }
  return {source}
}

/** Counts the lines up to `end`, so a position is right even though the parser never runs. */
function countLines(text: string, end: number, lineCounter: LineCounter): void {
  lineCounter.addNewLine(0)
  for (let i = text.indexOf('\n'); i >= 0 && i < end; i = text.indexOf('\n', i + 1)) lineCounter.addNewLine(i + 1)
}

/** The one document: its syntax errors and duplicate keys, else its plain value (aliases bounded) and where each field is. */
function readDocument(doc: Document, source: string, lineCounter: LineCounter): ParseOutcome {
  const map = (d: Document | undefined) => new SourceMap(d, lineCounter)
  const problems = doc.errors.map(error => ({
    position: map(doc).positionOf(error.pos[0]),
    issue: whole(
      `YAML syntax error: ${firstLine(error.message)}`,
      'fix the YAML syntax here; the file was not read any further',
    ),
  }))
  for (const duplicate of duplicateKeys(doc, map(doc))) problems.push(duplicate)
  if (problems.length > 0) return {ok: false, problems}
  if (doc.contents === null) {
    return failAt(
      lineCounter,
      doc.range?.[0] ?? 0,
      whole(
        'file holds no content (only comments or an empty document)',
        'an experiment is a mapping with apiVersion, kind, metadata and spec',
      ),
    )
  }
  try {
    return {ok: true, parsed: {value: doc.toJS({maxAliasCount: MAX_ALIAS_COUNT}), sourceMap: map(doc)}}
  } catch (error) {
    return failAt(
      lineCounter,
      firstAliasOffset(source),
      whole(
        `aliases expand too much (${(error as Error).message})`,
        `use at most ${MAX_ALIAS_COUNT} alias expansions; anchors and aliases are rarely needed in an experiment`,
      ),
    )
  }
}

/**
 * Keys given twice in one mapping, located at the second, naming the line of the first; and keys
 * that are a list or a mapping (the YAML library would stringify them with a process warning).
 */
function duplicateKeys(doc: Document, sourceMap: SourceMap): Array<{position: Position; issue: Issue}> {
  const problems: Array<{position: Position; issue: Issue}> = []
  const stack: unknown[] = [doc.contents]
  while (stack.length > 0) {
    const node = stack.pop()
    // One push per item: spreading a 100,000-item list into push() overflows the stack.
    if (isSeq(node)) for (const item of node.items) stack.push(item)
    if (!isMap(node)) continue
    const seen = new Map<string, number>()
    for (const pair of node.items) {
      stack.push(pair.value)
      const offset = (pair.key as {range?: [number, number, number]} | null)?.range?.[0] ?? 0
      const keyNode = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key
      if (isMap(keyNode) || isSeq(keyNode)) {
        const what = isMap(keyNode) ? 'a mapping' : 'a list'
        problems.push({
          position: sourceMap.positionOf(offset),
          issue: whole(
            `this key is ${what}; keys are plain names`,
            'check the brackets and indentation here; quote the key if it is meant as text',
          ),
        })
        continue
      }
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      const first = seen.get(key)
      if (first === undefined) {
        seen.set(key, offset)
        continue
      }
      problems.push({
        position: sourceMap.positionOf(offset),
        issue: whole(
          `duplicate key "${key}" (first set on line ${sourceMap.positionOf(first).line})`,
          'a mapping holds each key once: remove one of them',
        ),
      })
    }
  }
  return problems
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? message
}

function firstAliasOffset(source: string): number {
  const match = /(^|[\s[{,:-])\*[^\s,\]}]/m.exec(source)
  return match === null ? 0 : match.index + match[1]!.length
}

/**
 * A linear pre-scan for the cheap attacks (`[[[[…`, `{a: {a: …`, `- - - - …`), which the parser
 * would take a quadratic time to build a tree for. Brackets inside quotes and comments do not
 * count; a plain scalar with many unbalanced brackets could be refused, which no experiment has.
 */
function runawayOffset(source: string): number | undefined {
  let depth = 0
  let quote: '"' | "'" | undefined
  let lineStart = true
  let dashes = 0
  for (let i = 0; i < source.length; i++) {
    const ch = source[i] as string
    if (quote !== undefined) {
      if (ch === '\\' && quote === '"') i++
      else if (ch === quote) quote = undefined
      continue
    }
    if (ch === '\n') {
      lineStart = true
      dashes = 0
      continue
    }
    if (lineStart && (ch === '-' || ch === '?') && /[ \t]/.test(source[i + 1] ?? '')) {
      if (++dashes > MAX_DEPTH) return i
      continue
    }
    if (ch !== ' ' && ch !== '\t') lineStart = false
    if ((ch === '"' || ch === "'") && /[\s[{,:]/.test(source[i - 1] ?? ' ')) quote = ch
    else if (ch === '#' && /\s/.test(source[i - 1] ?? ' ')) i = nextLine(source, i) - 1
    else if (ch === '[' || ch === '{') {
      if (++depth > MAX_DEPTH) return i
    } else if ((ch === ']' || ch === '}') && depth > 0) depth--
  }
  return undefined
}

function nextLine(source: string, from: number): number {
  const i = source.indexOf('\n', from)
  return i < 0 ? source.length : i
}

/** A CST token: the parts we need to measure nesting without recursion. */
interface CstToken {
  offset?: number
  items?: Array<{start?: unknown; key?: CstToken | null; value?: CstToken | null; sep?: unknown}>
  value?: unknown
}

/**
 * The offset of the first node nested deeper than MAX_DEPTH, walking the concrete syntax tree
 * with an explicit stack: the composer and converters recurse, so depth is checked before them.
 */
function deepestOffset(tokens: readonly unknown[]): number | undefined {
  const stack: Array<[CstToken, number]> = tokens.map(t => [t as CstToken, 0])
  while (stack.length > 0) {
    const [token, depth] = stack.pop() as [CstToken, number]
    if (depth > MAX_DEPTH) return token.offset ?? 0
    if (typeof token.value === 'object' && token.value !== null) stack.push([token.value as CstToken, depth])
    for (const item of token.items ?? []) {
      if (item.key) stack.push([item.key, depth + 1])
      if (item.value) stack.push([item.value, depth + 1])
    }
  }
  return undefined
}
