/**
 * What was injected, where and for whom, in plain words (pure): one sentence per fault of the
 * experiment's spec, for the top of report.html — "delay 7 s on 100 % of requests to ratings
 * carrying x-chaos-test: true, applied in the calling sidecars". The VirtualService diff further
 * down shows the same fault as Istio reads it; this is the line a room reads first. Also the
 * last-evidence event in plain words, for the REVERT card and the charts' legend.
 */
import {parseDurationMs} from '@faultline/core/duration.js'
import type {Abort, Fault, FaultMatch, StringMatch} from '../../experiment/model.js'
import {formatMs} from './html-format.js'

/** A percentage as written, without float noise: 100 → `100 %`, 0.0001 → `0.0001 %`. */
function percent(p: number): string {
  return `${String(Number(p.toPrecision(6)))} %`
}

/** A value quoted when it would not read on its own: empty, or with spaces at either end. */
function shown(value: string): string {
  return value === '' || value.trim() !== value ? `“${value}”` : value
}

/** `a`, `a and b`, `a, b and c`. */
function listed(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1) ?? ''}`
}

/** One header (or query parameter) match: `x-chaos-test: true`, `x-user starting with “qa-”`. */
function namedMatch(name: string, m: StringMatch, separator: string): string {
  if ('exact' in m) return `${name}${separator}${shown(m.exact)}`
  if ('prefix' in m) return m.prefix === '' ? `${name} (any value)` : `${name} starting with “${m.prefix}”`
  return `${name} matching the regex “${m.regex}”`
}

/** A path or method match: `/api`, `starting with “/api”`, `matching the regex “…”`. */
function valueMatch(m: StringMatch): string {
  if ('exact' in m) return `${shown(m.exact)}`
  if ('prefix' in m) return `starting with “${m.prefix}”`
  return `matching the regex “${m.regex}”`
}

/** The conditions a request must meet, in words; empty when the fault has none (all requests). */
function conditions(match: FaultMatch | undefined): string[] {
  const out: string[] = []
  const headers = Object.entries(match?.headers ?? {})
  if (headers.length > 0) out.push(`carrying ${listed(headers.map(([k, m]) => namedMatch(k, m, ': ')))}`)
  const without = Object.entries(match?.withoutHeaders ?? {})
  // Istio: a request matching any of withoutHeaders is left alone.
  if (without.length === 1) out.push(`not carrying ${without.map(([k, m]) => namedMatch(k, m, ': ')).join('')}`)
  if (without.length > 1) out.push(`carrying none of ${listed(without.map(([k, m]) => namedMatch(k, m, ': ')))}`)
  if (match?.uri !== undefined)
    out.push('exact' in match.uri ? `with path ${valueMatch(match.uri)}` : `with a path ${valueMatch(match.uri)}`)
  if (match?.method !== undefined)
    out.push(
      'exact' in match.method ? `with method ${valueMatch(match.method)}` : `with a method ${valueMatch(match.method)}`,
    )
  const query = Object.entries(match?.queryParams ?? {})
  if (query.length > 0)
    out.push(
      `with query ${query.length === 1 ? 'parameter' : 'parameters'} ${listed(query.map(([k, m]) => namedMatch(k, m, '=')))}`,
    )
  return out
}

function abortWords(abort: Abort): string {
  return 'httpStatus' in abort ? `abort with HTTP ${abort.httpStatus}` : `abort with gRPC ${abort.grpcStatus}`
}

function delayWords(fixedDelay: string): string {
  const ms = parseDurationMs(fixedDelay)
  return `delay ${ms === undefined ? fixedDelay : formatMs(ms)}`
}

/**
 * One fault in one plain sentence (no capital, no full stop: the page puts it in a list):
 * what (delay and/or abort, each with its share of the matching requests), where (the host the
 * fault is on) and for whom (the request match; "all requests" when there is none).
 */
export function faultSentence(fault: Fault): string {
  const effects = [
    ...(fault.delay === undefined
      ? []
      : [`${delayWords(fault.delay.fixedDelay)} on ${percent(fault.delay.percentage)}`]),
    ...(fault.abort === undefined ? [] : [`${abortWords(fault.abort)} on ${percent(fault.abort.percentage)}`]),
  ]
  const what = effects.length === 0 ? 'nothing (neither a delay nor an abort) on' : `${effects.join(' and ')} of`
  const when = conditions(fault.match)
  const whom =
    when.length === 0 ? `all requests to ${fault.service}` : `requests to ${fault.service} ${when.join(', ')}`
  return `${what} ${whom}, applied in the calling sidecars`
}

/**
 * The last-evidence event in plain words: "last faulted request seen 710 ms after the revert", or
 * "no faulted request seen after the revert". How the sidecars' counters were polled (the window,
 * the interval) is the event's message, which the page keeps for a tooltip and the evidence list.
 */
export function lastFaultedWords(e: {afterRevertMs: number; message: string}): string {
  if (e.afterRevertMs > 0) return `last faulted request seen ${formatMs(e.afterRevertMs)} after the revert`
  // The event has no field for it: an unreadable counter is told by the runner's message alone.
  if (/could not be read/.test(e.message))
    return 'unknown when the last faulted request came: the fault counters could not be read after the revert'
  return 'no faulted request seen after the revert'
}
