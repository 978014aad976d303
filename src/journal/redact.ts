/**
 * Masks secret header values in a journal before anything is rendered from it. A value is secret
 * when its header's name (any case) is authorization, proxy-authorization, cookie, set-cookie, or
 * one the user names (`--redact-header`). Such values are replaced wherever a `headers` or
 * `withoutHeaders` map holds them — the load's traffic classes, fault matches, HTTP probes, and the
 * VirtualService specs written and restored (StringMatch values and Istio header operations alike) —
 * and then every occurrence of those values anywhere else in the journal (event messages, probe
 * results, the reason) is masked too, as is any `name: value` quote of a secret header in free text.
 *
 * Safe for reverting: `chaos revert` works from the cluster's own annotations, never the journal.
 * Pure: returns a redacted copy, sharing only the load seconds (numbers and histograms) with the
 * input — cheap enough for the runner to redact every write of the journal.
 */
import type {JournalDocument} from './journal.js'

/** What a secret value is replaced with. */
export const REDACTED = '[redacted]'

/** Header names whose values are always masked. */
export const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'cookie', 'set-cookie'] as const

/**
 * Values shorter than this are masked where they are header values but not searched for in free
 * text: they would match inside ordinary words and numbers everywhere, and are no secret anyway.
 */
const MIN_SEARCHED_LENGTH = 4

type Json = unknown

/** A copy of `value` with `f` applied to every string in it (and to object keys when `keys`). */
function mapStrings(value: Json, f: (s: string) => string, keys = true): Json {
  if (typeof value === 'string') return f(value)
  if (Array.isArray(value)) return value.map(v => mapStrings(v, f, keys))
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [keys ? f(k) : k, mapStrings(v, f, keys)]))
}

/** Masks every string value under a secret header (a plain value, a StringMatch, a list) and collects the originals. */
function maskValue(value: Json, found: Set<string>): Json {
  return mapStrings(
    value,
    s => {
      found.add(s)
      return REDACTED
    },
    false,
  )
}

/**
 * Masks the secret entries of a header map: `{name: value}`, `{name: {exact|prefix|regex: value}}`,
 * or Istio's header operations `{request|response: {set|add: {name: value}, remove: [name]}}`.
 */
function maskHeaderMap(
  map: Record<string, Json>,
  secret: (name: string) => boolean,
  found: Set<string>,
): Record<string, Json> {
  return Object.fromEntries(
    Object.entries(map).map(([name, v]) => {
      if (secret(name)) return [name, maskValue(v, found)]
      if ((name === 'request' || name === 'response') && isRecord(v)) {
        return [
          name,
          Object.fromEntries(
            Object.entries(v).map(([op, m]) => [
              op,
              (op === 'set' || op === 'add') && isRecord(m) ? maskHeaderMap(m, secret, found) : m,
            ]),
          ),
        ]
      }
      return [name, v]
    }),
  )
}

function isRecord(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Walks a structure and masks the header maps it holds, wherever they are nested. */
function maskStructure(value: Json, secret: (name: string) => boolean, found: Set<string>): Json {
  if (Array.isArray(value)) return value.map(v => maskStructure(v, secret, found))
  if (!isRecord(value)) return value
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      if ((k === 'headers' || k === 'withoutHeaders') && isRecord(v))
        return [k, maskStructure(maskHeaderMap(v, secret, found), secret, found)]
      return [k, maskStructure(v, secret, found)]
    }),
  )
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** Replaces every occurrence of a found secret, raw or as it appears inside JSON text. */
function secretReplacer(found: ReadonlySet<string>): (s: string) => string {
  const needles = new Set<string>()
  for (const v of found) {
    if (v.length < MIN_SEARCHED_LENGTH || v === REDACTED) continue
    needles.add(v)
    needles.add(JSON.stringify(v).slice(1, -1))
  }
  if (needles.size === 0) return s => s
  // Longest first, so a secret containing another is masked whole.
  const pattern = new RegExp(
    [...needles]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|'),
    'g',
  )
  return s => s.replace(pattern, REDACTED)
}

/**
 * Masks `name: value`, `name=value` and `"name":"value"` quotes of secret headers in free text, up to
 * the closing quote or the end of the line: where a header value ends in prose is not knowable, and
 * masking too much is the safe side.
 */
function quoteReplacer(names: readonly string[]): (s: string) => string {
  const pattern = new RegExp(
    `(^|[^\\w-])(${names.map(escapeRegExp).join('|')})(\\\\?"?\\s*[:=]\\s*\\\\?"?)([^"\\r\\n]*)`,
    'gi',
  )
  return s =>
    s.replace(
      pattern,
      (_m, before: string, name: string, sep: string, value: string) =>
        `${before}${name}${sep}${value.trim() === '' ? value : REDACTED}`,
    )
}

/** A copy of the journal with every secret header value masked. `extraHeaderNames`: `--redact-header` names, any case. */
export function redactJournal(doc: JournalDocument, extraHeaderNames: readonly string[] = []): JournalDocument {
  const names = [
    ...new Set([...SECRET_HEADERS, ...extraHeaderNames.map(n => n.trim().toLowerCase()).filter(n => n !== '')]),
  ]
  const secret = (name: string) => names.includes(name.toLowerCase())
  const found = new Set<string>()
  // Load seconds hold numbers and encoded histograms only: left out, they stay intact and uncopied.
  const {load, ...rest} = doc
  // maskStructure and mapStrings build new objects and arrays all the way down: the input is not touched.
  const structured = maskStructure(rest, secret, found) as Omit<JournalDocument, 'load'>
  const replaceSecrets = secretReplacer(found)
  const replaceQuotes = quoteReplacer(names)
  const text = (s: string) => replaceQuotes(replaceSecrets(s))
  const redacted = mapStrings(structured, replaceSecrets) as Omit<JournalDocument, 'load'>
  // Free text quoting a header by name is found only where text is free: events, results, the reason.
  return {
    ...redacted,
    events: mapStrings(redacted.events, text) as JournalDocument['events'],
    probes: mapStrings(redacted.probes, text) as JournalDocument['probes'],
    ...(redacted.reason === undefined ? {} : {reason: text(redacted.reason)}),
    load,
  }
}
