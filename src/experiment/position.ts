/**
 * Field paths and their positions in the YAML text. Every problem found in an experiment file is
 * first an `Issue` (a field path plus what is wrong); the `SourceMap` turns it into a located
 * `Diagnostic` (`file:line:col`) by walking the YAML node tree along the path.
 */
import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml'

import type {Diagnostic} from '@faultline/core/errors.js'

/** A path into the document: map keys and sequence indexes, e.g. ['spec', 'faults', 0, 'delay']. */
export type FieldPath = ReadonlyArray<string | number>

/** A problem found at a field, before it is located in the text. */
export interface Issue {
  /** The field the problem is about. */
  path: FieldPath
  /** Point at the field's key (unknown or missing fields, bad names) or at its value (bad values). */
  at: 'key' | 'value'
  /** What is wrong. */
  message: string
  /** How to fix it. */
  hint?: string
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Renders a path the way users write it: `spec.faults[0].match.headers["x-chaos-test"]`. */
export function formatPath(path: FieldPath): string {
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

/** A 1-based line and column. */
export interface Position {
  line: number
  col: number
}

/** Positions of fields in one parsed YAML document. */
export class SourceMap {
  private readonly pairIndex = new WeakMap<YAMLMap, Map<string, Pair>>()

  constructor(
    private readonly document: Document | undefined,
    private readonly lineCounter: LineCounter,
  ) {}

  /** Line and column of a byte offset in the text. */
  positionOf(offset: number): Position {
    const {line, col} = this.lineCounter.linePos(offset)
    return {line, col}
  }

  /**
   * The position of a field's key or value. A path that leaves the document (a missing field)
   * is located at the deepest node that exists, so every diagnostic points somewhere useful.
   */
  locate(path: FieldPath, at: 'key' | 'value'): Position {
    let node: Node | null | undefined = this.document?.contents
    let key: Node | undefined
    for (const segment of path) {
      node = this.resolveAlias(node)
      let next: {key: Node | undefined; value: Node | null | undefined} | undefined
      if (isMap(node)) {
        const pair = this.pairs(node).get(String(segment))
        if (pair !== undefined) next = {key: pair.key as Node, value: pair.value as Node | null}
      } else if (isSeq(node) && typeof segment === 'number') {
        const item = node.items[segment] as Node | undefined
        if (item !== undefined) next = {key: item, value: item}
      }
      if (next === undefined) return this.start(key ?? node)
      key = next.key
      node = next.value
    }
    return this.start(at === 'key' ? (key ?? node) : (node ?? key))
  }

  /** A map's pairs by key text, built once per map: locating thousands of issues stays linear. */
  private pairs(map: YAMLMap): Map<string, Pair> {
    let index = this.pairIndex.get(map)
    if (index === undefined) {
      index = new Map()
      for (const pair of map.items as Pair[]) {
        const key = keyText(pair.key)
        if (!index.has(key)) index.set(key, pair)
      }
      this.pairIndex.set(map, index)
    }
    return index
  }

  private resolveAlias(node: Node | null | undefined): Node | null | undefined {
    if (!isAlias(node) || this.document === undefined) return node
    return (node.resolve(this.document) as Node | undefined) ?? node
  }

  private start(node: Node | null | undefined): Position {
    const offset = node?.range?.[0]
    return offset === undefined ? {line: 1, col: 1} : this.positionOf(offset)
  }
}

function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value)
  return String(key)
}

/** Locates issues in `file` and sorts them into document order. */
export function locateIssues(issues: readonly Issue[], file: string, map: SourceMap): Diagnostic[] {
  const diagnostics = issues.map((issue): Diagnostic => {
    const {line, col} = map.locate(issue.path, issue.at)
    const d: Diagnostic = {file, line, col, path: formatPath(issue.path), message: issue.message}
    if (issue.hint !== undefined) d.hint = issue.hint
    return d
  })
  return diagnostics.sort((a, b) => a.line - b.line || a.col - b.col)
}
