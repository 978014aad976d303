/** "Did you mean" suggestions for misspelt field names and values. */
import {distance} from 'fastest-levenshtein'

/**
 * The candidate closest to `word`, when it is close enough to be a plausible typo
 * (edit distance at most a third of the longer word, and at least 1 for short words).
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  const lower = word.toLowerCase()
  for (const candidate of candidates) {
    // Case-only differences (httpstatus vs httpStatus) are the most common typo: rank them first.
    const d = candidate.toLowerCase() === lower ? 0.5 : distance(lower, candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  if (best === undefined) return undefined
  const allowed = Math.max(1, Math.floor(Math.max(word.length, best.length) / 3))
  return bestDistance <= allowed ? best : undefined
}

/** `did you mean "x"?` or, when nothing is close, the list of what is allowed. */
export function suggestion(word: string, candidates: readonly string[]): string {
  const near = closest(word, candidates)
  if (near !== undefined) return `did you mean "${near}"?`
  return candidates.length === 0 ? 'remove it' : `allowed here: ${candidates.join(', ')}`
}
