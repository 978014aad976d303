/** Rules for a fault's request match (Istio HTTPMatchRequest), worded as istiod words them. */
import type {FaultMatch, StringMatch} from './model.js'
import type {FieldPath, Issue} from './position.js'
import {checkHeaderName, checkRegex} from './rules.js'

/** Issues of one StringMatch; `name` is the header or parameter it belongs to, for the message. */
export function checkStringMatch(match: StringMatch, path: FieldPath, name: string, nonEmpty: boolean): Issue[] {
  if ('prefix' in match && nonEmpty && match.prefix === '') {
    return [
      {
        path: [...path, 'prefix'],
        at: 'value',
        message: `${JSON.stringify(name)}: prefix string match should not be empty`,
        hint: 'an empty prefix matches every value: remove the match or use a non-empty prefix',
      },
    ]
  }
  if ('regex' in match) {
    if (nonEmpty && match.regex === '') {
      return [
        {
          path: [...path, 'regex'],
          at: 'value',
          message: `${JSON.stringify(name)}: regex string match should not be empty`,
          hint: 'use a non-empty RE2 regex, e.g. "v[0-9]+"',
        },
      ]
    }
    const issue = checkRegex([...path, 'regex'], match.regex)
    return issue === undefined ? [] : [issue]
  }
  return []
}

/** Issues of a header map (`headers` or `withoutHeaders`): names and their matches. */
export function checkHeaderMatches(headers: Record<string, StringMatch>, path: FieldPath): Issue[] {
  return Object.entries(headers).flatMap(([name, match]) => {
    const nameIssue = checkHeaderName([...path, name], name)
    return [...(nameIssue === undefined ? [] : [nameIssue]), ...checkStringMatch(match, [...path, name], name, true)]
  })
}

/** Issues of a whole fault match. */
export function checkMatch(match: FaultMatch, path: FieldPath): Issue[] {
  return [
    ...checkHeaderMatches(match.headers ?? {}, [...path, 'headers']),
    ...checkHeaderMatches(match.withoutHeaders ?? {}, [...path, 'withoutHeaders']),
    ...(['uri', 'method'] as const).flatMap(field => {
      const m = match[field]
      return m === undefined ? [] : checkStringMatch(m, [...path, field], field, false)
    }),
    ...Object.entries(match.queryParams ?? {}).flatMap(([name, m]) =>
      checkStringMatch(m, [...path, 'queryParams', name], name, false),
    ),
  ]
}
