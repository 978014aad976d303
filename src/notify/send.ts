/**
 * Posting notifications. A webhook URL is a secret (whoever has a Slack or Teams webhook URL can
 * post to the channel), so it is only ever shown as its scheme and host (`https://hooks.slack.com/…`)
 * — in warnings, errors and usage messages — and error texts are scrubbed of it. A notification
 * that fails or is slow only warns: it is bounded in time and never changes a run's outcome.
 */
import {type Dispatcher, EnvHttpProxyAgent, request} from 'undici'

import {UsageError} from '@faultline/core/errors.js'
import {formatForUrl, NOTIFY_FORMATS, type NotifyFormat, payload} from './formats.js'
import type {Notification} from './message.js'

/** The environment variable `--notify` falls back to (how a scheduled run gets its URL from a Secret). */
export const NOTIFY_ENV = 'FAULTLINE_NOTIFY_URL'

/** How long one notification may take, connection to response. */
export const NOTIFY_TIMEOUT_MS = 10_000

/** Where one notification goes. */
export interface NotifyTarget {
  url: URL
  format: NotifyFormat
  /** The URL as it may be printed: scheme and host only. */
  shown: string
}

/** `https://hooks.slack.com/services/T0/B0/xyz` → `https://hooks.slack.com/…`: the host, never the path, query or credentials. */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}/…`
}

/** `text` with every part of `url` that could be secret replaced by its redacted form. */
export function scrub(text: string, url: URL): string {
  const secrets = [
    url.href,
    `${url.host}${url.pathname}${url.search}`,
    `${url.pathname}${url.search}`,
    url.pathname,
    url.search,
    url.username,
    url.password,
    decodeURIComponent(url.password),
  ]
    .filter(s => s.length > 1)
    .sort((a, b) => b.length - a.length)
  let out = text
  for (const s of secrets) out = out.split(s).join(redactUrl(url))
  return out
}

/** The URLs from `--notify` (repeatable), else from `$FAULTLINE_NOTIFY_URL` (whitespace-separated). */
export function notifyUrls(flag: readonly string[] | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  if (flag !== undefined && flag.length > 0) return [...flag]
  return (env[NOTIFY_ENV] ?? '').split(/\s+/).filter(s => s !== '')
}

/**
 * Checks the URLs and picks each one's format (`--notify-format`, else from its host). A value that
 * is not an http(s) URL is a usage error (exit 2) before anything runs, and is not echoed.
 */
export function notifyTargets(urls: readonly string[], format?: string): NotifyTarget[] {
  if (format !== undefined && !(NOTIFY_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--notify-format ${format}: not one of ${NOTIFY_FORMATS.join(', ')}`, {
      hint: "slack (incoming webhook), teams (Adaptive Card), json (the notification as JSON); unset, the format follows the URL's host.",
    })
  }
  return urls.map(text => {
    let url: URL
    try {
      url = new URL(text.trim())
    } catch {
      throw new UsageError('--notify: a value is not a URL (not shown: a webhook URL is a secret)', {
        hint: `Pass an http(s) URL, e.g. --notify https://hooks.slack.com/services/…, or set ${NOTIFY_ENV}.`,
      })
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`--notify ${url.protocol}//${url.host}/…: only http and https URLs can be notified`, {
        hint: "Pass the webhook's https:// URL (Slack incoming webhook, Teams workflow or any endpoint that takes a JSON POST).",
      })
    }
    return {url, format: (format as NotifyFormat | undefined) ?? formatForUrl(url), shown: redactUrl(url)}
  })
}

/** How one notification went. */
export interface NotifyOutcome {
  target: NotifyTarget
  ok: boolean
  /** The HTTP status, when there was an answer. */
  status?: number
  /** Why it failed, scrubbed of the URL. */
  problem?: string
}

/** How to send. */
export interface NotifyOptions {
  /** Called once per failed notification with a message safe to print. */
  warn: (message: string) => void
  timeoutMs?: number
  /** For tests; default: an agent that honours HTTPS_PROXY, HTTP_PROXY and NO_PROXY. */
  dispatcher?: Dispatcher
}

/** Posts `n` to every target at once; never throws, each failure is one warning. */
export async function sendNotifications(
  targets: readonly NotifyTarget[],
  n: Notification,
  options: NotifyOptions,
): Promise<NotifyOutcome[]> {
  if (targets.length === 0) return []
  const timeoutMs = options.timeoutMs ?? NOTIFY_TIMEOUT_MS
  const owned =
    options.dispatcher === undefined
      ? new EnvHttpProxyAgent({connectTimeout: timeoutMs, headersTimeout: timeoutMs, bodyTimeout: timeoutMs})
      : undefined
  const dispatcher = options.dispatcher ?? (owned as Dispatcher)
  try {
    return await Promise.all(
      targets.map(async target => {
        const outcome = await post(target, n, dispatcher, timeoutMs)
        if (!outcome.ok)
          options.warn(
            `the notification to ${target.shown} (${target.format}) failed: ${outcome.problem ?? 'unknown error'}; the run's outcome is unchanged`,
          )
        return outcome
      }),
    )
  } finally {
    // Never wait on a receiver that holds its connection open.
    await owned?.destroy().catch(() => undefined)
  }
}

async function post(
  target: NotifyTarget,
  n: Notification,
  dispatcher: Dispatcher,
  timeoutMs: number,
): Promise<NotifyOutcome> {
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const response = await request(target.url, {
      method: 'POST',
      dispatcher,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      headers: {'content-type': 'application/json; charset=utf-8', 'user-agent': 'faultline-chaos'},
      body: JSON.stringify(payload(n, target.format)),
    })
    const text = await response.body.text().catch(() => '')
    if (response.statusCode >= 200 && response.statusCode < 300) return {target, ok: true, status: response.statusCode}
    const said = scrub(text.replace(/\s+/g, ' ').trim().slice(0, 200), target.url)
    return {
      target,
      ok: false,
      status: response.statusCode,
      problem: `HTTP ${response.statusCode}${said === '' ? '' : ` (${said})`}`,
    }
  } catch (err) {
    const problem = signal.aborted
      ? `no answer within ${Math.round(timeoutMs / 1000)} s`
      : scrub((err as Error).message || String(err), target.url)
    return {target, ok: false, problem}
  }
}
