/**
 * A notification as each receiver wants it (pure): a Slack incoming webhook (`text` for
 * notifications and clients without blocks, Block Kit `blocks` for the message), a Microsoft Teams
 * webhook (an Adaptive Card in the message envelope Teams workflows and connectors accept), or
 * plain JSON for anything else.
 */
import {formatMs} from '../report/format.js'
import {capitalised, VERDICT_LOOK} from '../report/verdicts.js'
import type {Notification} from './message.js'

/** The formats `--notify-format` names. */
export const NOTIFY_FORMATS = ['slack', 'teams', 'json'] as const
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number]

/** The version of the plain JSON payload. */
export const JSON_PAYLOAD_VERSION = 1

/**
 * The format for a webhook URL when `--notify-format` is not given, from its host: Slack's
 * incoming webhooks (hooks.slack.com) → slack; Teams' webhooks (*.webhook.office.com) and Power
 * Automate workflows (*.logic.azure.com) → teams; anything else → json.
 */
export function formatForUrl(url: URL): NotifyFormat {
  const host = url.hostname.toLowerCase()
  if (host === 'hooks.slack.com') return 'slack'
  if (host.endsWith('.webhook.office.com') || host.endsWith('.logic.azure.com')) return 'teams'
  return 'json'
}

/** `DEVIATED: ratings-delay` (game days say so). */
export function title(n: Notification): string {
  return `${VERDICT_LOOK[n.outcome].symbol} ${n.verdict.toUpperCase()}: ${n.subject === 'gameday' ? 'game day ' : ''}${n.name}`
}

/** Slack's mrkdwn control characters (&, <, >) escaped, as Slack requires in text fields. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/** At most `max` characters (Slack refuses a block whose text is longer than its limit). */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}

function facts(n: Notification): string[] {
  return [
    ...(n.durationMs === undefined ? [] : [`took ${formatMs(n.durationMs)}`]),
    `exit ${n.exitCode}`,
    ...(n.runId === undefined ? [] : [`run ${n.runId}`]),
  ]
}

/** The Slack incoming-webhook payload. */
export function slackPayload(n: Notification): Record<string, unknown> {
  const fallback = [
    `${title(n)} — ${n.reason}`,
    ...(n.diagnosis === undefined ? [] : [n.diagnosis]),
    ...(n.reportUrl === undefined ? [] : [n.reportUrl]),
  ].join('\n')
  const blocks: Record<string, unknown>[] = [
    {type: 'header', text: {type: 'plain_text', text: clip(title(n), 150), emoji: true}},
    {
      type: 'section',
      text: {type: 'mrkdwn', text: clip(`*${capitalised(n.verdict)}* — ${slackEscape(n.reason)}`, 3000)},
    },
  ]
  if (n.diagnosis !== undefined)
    blocks.push({type: 'section', text: {type: 'mrkdwn', text: clip(`*Why:* ${slackEscape(n.diagnosis)}`, 3000)}})
  if (n.experiments !== undefined && n.experiments.length > 0) {
    const lines = n.experiments.map(
      (e, i) => `${i + 1}. *${slackEscape(e.name)}*: ${slackEscape(e.verdict)} — ${slackEscape(e.reason)}`,
    )
    blocks.push({type: 'section', text: {type: 'mrkdwn', text: clip(lines.join('\n'), 3000)}})
  }
  blocks.push({type: 'context', elements: [{type: 'mrkdwn', text: clip(slackEscape(facts(n).join(' · ')), 3000)}]})
  if (n.reportUrl !== undefined) {
    blocks.push({
      type: 'actions',
      elements: [{type: 'button', text: {type: 'plain_text', text: 'Open the report'}, url: n.reportUrl}],
    })
  }
  return {text: clip(fallback, 3000), blocks}
}

/** The Microsoft Teams payload: an Adaptive Card (1.4) in the webhook message envelope. */
export function teamsPayload(n: Notification): Record<string, unknown> {
  const colour =
    n.outcome === 'held' ? 'Good' : n.outcome === 'deviated' || n.outcome === 'revert-failed' ? 'Attention' : 'Warning'
  const body: Record<string, unknown>[] = [
    {type: 'TextBlock', text: title(n), weight: 'Bolder', size: 'Large', color: colour, wrap: true},
    {type: 'TextBlock', text: n.reason, wrap: true},
  ]
  if (n.diagnosis !== undefined) body.push({type: 'TextBlock', text: n.diagnosis, wrap: true, isSubtle: true})
  if (n.experiments !== undefined && n.experiments.length > 0) {
    body.push({type: 'FactSet', facts: n.experiments.map(e => ({title: e.name, value: `${e.verdict} — ${e.reason}`}))})
  }
  body.push({type: 'TextBlock', text: facts(n).join(' · '), isSubtle: true, size: 'Small', wrap: true})
  const content: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body,
    ...(n.reportUrl === undefined
      ? {}
      : {actions: [{type: 'Action.OpenUrl', title: 'Open the report', url: n.reportUrl}]}),
  }
  return {
    type: 'message',
    attachments: [{contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content}],
  }
}

/** The plain JSON payload: the notification itself, marked with its kind and version. */
export function jsonPayload(n: Notification): Record<string, unknown> {
  return {kind: 'FaultlineNotification', version: JSON_PAYLOAD_VERSION, ...n}
}

/** The body to POST in `format`. */
export function payload(n: Notification, format: NotifyFormat): Record<string, unknown> {
  switch (format) {
    case 'slack':
      return slackPayload(n)
    case 'teams':
      return teamsPayload(n)
    case 'json':
      return jsonPayload(n)
  }
}
