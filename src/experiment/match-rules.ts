/** Rules for a fault's request match (Istio HTTPMatchRequest), worded as istiod words them. */
import type {FaultMatch, StringMatch} from './model.js'
import type {FieldPath, Issue} from './position.js'
import {checkHeaderName, checkRegex} from './rules.js'

/** Issues of one StringMatch; `name` is the header or parameter it belongs to, for the message. */
export function checkStringMatch(match: StringMatch, path: FieldPath, name: string, nonEmpty: boolean): Issue[] {
  if ('prefix' in match && nonEmpty && match.prefix === '') {
    return [{path: [...path, 'prefix'], at: 'value', message: `${JSON.stringify(name)}: prefix string match should not be empty`, hint: 'an empty prefix matches every value: remove the match or use a non-empty prefix'}]
  }
  if ('regex' in match) {
    if (nonEmpty && match.regex === '') {
      return [{path: [...path, 'regex'], at: 'value', message: `${JSON.stringify(name)}: regex string match should not be empty`, hint: 'use a non-empty RE2 regex, e.g. "v[0-9]+"'}]
    }
    const issue = checkRegex([...path, 'regex'], match.regex)
    return issue === undefined ? [] : [issue]
  }
  return []
}

/** Issues of a header map (`headers` or `withoutHeaders`): names and their matches. */
export function checkHeaderMatches(headers: Record<string, StringMatch>, path: FieldPath): Issue[] {
  const issues: Issue[] = []
  for (const [name, match] of Object.entries(headers)) {
    const nameIssue = checkHeaderName([...path, name], name)
    if (nameIssue !== undefined) issues.push(nameIssue)
    issues.push(...checkStringMatch(match, [...path, name], name, true))
  }
  return issues
}

/** Issues of a whole fault match. */
export function checkMatch(match: FaultMatch, path: FieldPath): Issue[] {
  const issues: Issue[] = []
  if (match.headers !== undefined) issues.push(...checkHeaderMatches(match.headers, [...path, 'headers']))
  if (match.withoutHeaders !== undefined) issues.push(...checkHeaderMatches(match.withoutHeaders, [...path, 'withoutHeaders']))
  for (const field of ['uri', 'method'] as const) {
    const m = match[field]
    if (m !== undefined) issues.push(...checkStringMatch(m, [...path, field], field, false))
  }
  for (const [name, m] of Object.entries(match.queryParams ?? {})) issues.push(...checkStringMatch(m, [...path, 'queryParams', name], name, false))
  return issues
}
