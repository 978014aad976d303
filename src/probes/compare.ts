/** Comparison operators shared by k6 thresholds and probe expectations. */

/** A comparison operator as written in thresholds and expectations. */
export type Operator = '<' | '<=' | '>' | '>=' | '==' | '===' | '!='

/** Operators longest first, so `<=` is not read as `<` followed by `=`. */
export const OPERATORS: readonly Operator[] = ['===', '==', '!=', '<=', '>=', '<', '>']

/** Applies `operator` to `actual` and `limit`; NaN never satisfies anything. */
export function compare(actual: number, operator: Operator, limit: number): boolean {
  if (Number.isNaN(actual)) return false
  switch (operator) {
    case '<':
      return actual < limit
    case '<=':
      return actual <= limit
    case '>':
      return actual > limit
    case '>=':
      return actual >= limit
    case '==':
    case '===':
      return actual === limit
    case '!=':
      return actual !== limit
  }
}

/** Reads an operator at the start of `text`; undefined when there is none. */
export function readOperator(text: string): Operator | undefined {
  return OPERATORS.find(op => text.startsWith(op))
}

/** A finite decimal number as written in a threshold or expectation (no hex, no Infinity). */
export function readNumber(text: string): number | undefined {
  if (!/^[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$/.test(text)) return undefined
  const value = Number(text)
  return Number.isFinite(value) ? value : undefined
}
