import assert from 'node:assert/strict'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {UsageError} from '@faultline/core/errors.js'
import {formatForUrl, payload, slackEscape} from '../../src/notify/formats.js'
import {gameDayNotification, type Notification, reportLink, runNotification} from '../../src/notify/message.js'
import {notifyTargets, notifyUrls, redactUrl, scrub, sendNotifications} from '../../src/notify/send.js'
import type {GameDayReport} from '../../src/report/gameday/report.js'

/* eslint-disable @typescript-eslint/no-explicit-any -- reading payloads */

const DEVIATED: Notification = runNotification({
  name: 'ratings-delay',
  outcome: 'deviated',
  exitCode: 1,
  reason:
    'probe "productpage answers targeted users within 4s" missed in the fault phase: p(99) 6012 ms, expected < 4000 & <b>',
  runId: '20261126-013010-c9b3',
  startedAt: '2026-11-26T01:30:10.000Z',
  durationMs: 61_000,
  reportUrl: 'http://localhost:8080/ratings-delay/2026-11-26T013010Z/report.html',
})

/** A local receiver: records each request and answers as `answer` says. */
async function receiver(
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok'),
): Promise<{url: string; bodies: any[]; server: Server}> {
  const bodies: any[] = []
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString()))
    req.on('end', () => {
      bodies.push({...JSON.parse(text), '#contentType': req.headers['content-type'], '#path': req.url})
      answer(req, res)
    })
  })
  await new Promise<void>(done => server.listen(0, '127.0.0.1', done))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/T000/B000/secret-token?x=1`,
    bodies,
    server,
  }
}

const close = (server: Server) =>
  new Promise<void>(done => {
    server.closeAllConnections()
    server.close(() => done())
  })

describe('notifications', () => {
  it('picks the format from the host: Slack, Teams (webhook.office.com, logic.azure.com), else JSON', () => {
    assert.equal(formatForUrl(new URL('https://hooks.slack.com/services/T/B/x')), 'slack')
    assert.equal(formatForUrl(new URL('https://contoso.webhook.office.com/webhookb2/x')), 'teams')
    assert.equal(formatForUrl(new URL('https://prod-12.westeurope.logic.azure.com:443/workflows/x')), 'teams')
    assert.equal(formatForUrl(new URL('https://evil-hooks.slack.com.example.com/x')), 'json')
    assert.equal(formatForUrl(new URL('http://127.0.0.1:9/hook')), 'json')
    assert.deepEqual(
      notifyTargets(['http://127.0.0.1:9/a'], 'teams').map(t => t.format),
      ['teams'],
    )
  })

  it('Slack: a fallback text and Block Kit blocks with the verdict, the reason (escaped), the link', () => {
    const p = payload(DEVIATED, 'slack') as any
    assert.match(p.text, /^✘ DEVIATED: ratings-delay — probe "productpage answers targeted users within 4s" missed/)
    assert.equal(p.blocks[0].type, 'header')
    assert.equal(p.blocks[0].text.text, '✘ DEVIATED: ratings-delay')
    assert.equal(p.blocks[1].text.type, 'mrkdwn')
    assert.match(p.blocks[1].text.text, /^\*Deviated\* — probe .* &lt; 4000 &amp; &lt;b&gt;$/)
    assert.deepEqual(p.blocks.at(-1), {
      type: 'actions',
      elements: [{type: 'button', text: {type: 'plain_text', text: 'Open the report'}, url: DEVIATED.reportUrl}],
    })
    assert.equal(p.blocks.at(-2).type, 'context')
    assert.match(p.blocks.at(-2).elements[0].text, /^took .+ · exit 1 · run 20261126-013010-c9b3$/)
    assert.equal(slackEscape('a<b>&c'), 'a&lt;b&gt;&amp;c')
    // The diagnosis, when there is one, is its own section.
    const why = payload(
      {...DEVIATED, diagnosis: 'productpage gives reviews 3 s and retries once; reviews waits 10 s for ratings.'},
      'slack',
    ) as any
    assert.match(why.blocks[2].text.text, /^\*Why:\* productpage gives reviews 3 s/)
  })

  it('Teams: an Adaptive Card in the webhook message envelope', () => {
    const p = payload(DEVIATED, 'teams') as any
    assert.equal(p.type, 'message')
    assert.equal(p.attachments.length, 1)
    assert.equal(p.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive')
    const card = p.attachments[0].content
    assert.equal(card.type, 'AdaptiveCard')
    assert.equal(card.version, '1.4')
    assert.equal(card.body[0].text, '✘ DEVIATED: ratings-delay')
    assert.equal(card.body[0].color, 'Attention')
    assert.equal(card.body[1].text, DEVIATED.reason)
    assert.deepEqual(card.actions, [{type: 'Action.OpenUrl', title: 'Open the report', url: DEVIATED.reportUrl}])
  })

  it('JSON: the notification itself, with its kind and version; a game day lists its experiments', () => {
    const p = payload(DEVIATED, 'json') as any
    assert.deepEqual(
      {
        kind: p.kind,
        version: p.version,
        subject: p.subject,
        name: p.name,
        outcome: p.outcome,
        verdict: p.verdict,
        exitCode: p.exitCode,
      },
      {
        kind: 'FaultlineNotification',
        version: 1,
        subject: 'experiment',
        name: 'ratings-delay',
        outcome: 'deviated',
        verdict: 'deviated',
        exitCode: 1,
      },
    )
    assert.equal(p.diagnosis, undefined)
    const report = {
      kind: 'FaultlineGameDay',
      version: 1,
      name: 'weekly',
      file: 'w.yaml',
      startedAt: '2026-11-26T01:30:10.000Z',
      finishedAt: '2026-11-26T01:35:10.000Z',
      durationMs: 300_000,
      outcome: 'deviated',
      exitCode: 1,
      failOn: 'any',
      tolerated: [],
      experiments: [
        {
          name: 'ratings-abort',
          file: 'a.yaml',
          namespace: 'default',
          status: 'ran',
          outcome: 'held',
          exitCode: 0,
          reason: 'the hypothesis held',
        },
        {
          name: 'ratings-delay',
          file: 'd.yaml',
          namespace: 'default',
          status: 'ran',
          outcome: 'deviated',
          exitCode: 1,
          reason: 'p99 missed',
        },
        {name: 'breaker', file: 'b.yaml', namespace: 'default', status: 'skipped', reason: 'stopOnFirstFailure'},
      ],
    } as GameDayReport
    const day = gameDayNotification(report, {reportUrl: 'http://h/weekly/x/gameday.html'})
    assert.equal(day.reason, 'ratings-delay deviated: p99 missed')
    assert.deepEqual(
      day.experiments?.map(e => e.verdict),
      ['held', 'deviated', 'skipped'],
    )
    assert.match((payload(day, 'slack') as any).blocks[0].text.text, /DEVIATED: game day weekly/)
  })

  it('links to the report under --report-url, each path segment encoded', () => {
    assert.equal(
      reportLink('http://localhost:8080/', 'reports', 'reports/ratings-delay/2026-11-26T013010Z/report.html'),
      'http://localhost:8080/ratings-delay/2026-11-26T013010Z/report.html',
    )
    assert.equal(
      reportLink('https://x/r', '/data/reports', '/data/reports/a b/t/report.html'),
      'https://x/r/a%20b/t/report.html',
    )
    assert.equal(reportLink(undefined, 'reports', 'reports/a/t/report.html'), undefined)
  })

  it('refuses a URL that is not http(s) with exit 2, never echoing its secret part; --notify wins over the environment', () => {
    assert.throws(
      () => notifyTargets(['ftp://files.example.com/secret-path']),
      (err: unknown) =>
        err instanceof UsageError &&
        err.exitCode === 2 &&
        /--notify ftp:\/\/files\.example\.com\/…: only http and https/.test(err.message) &&
        !err.message.includes('secret-path'),
    )
    assert.throws(
      () => notifyTargets(['not a url secret-token']),
      (err: unknown) => err instanceof UsageError && !err.message.includes('secret-token'),
    )
    assert.throws(
      () => notifyTargets(['http://x/'], 'discord'),
      /--notify-format discord: not one of slack, teams, json/,
    )
    assert.deepEqual(notifyUrls([], {FAULTLINE_NOTIFY_URL: ' https://a/1  https://b/2\n'}), [
      'https://a/1',
      'https://b/2',
    ])
    assert.deepEqual(notifyUrls(['https://c/3'], {FAULTLINE_NOTIFY_URL: 'https://a/1'}), ['https://c/3'])
    const url = new URL('https://user:pa55@hooks.slack.com/services/T0/B0/xyz?token=abc')
    assert.equal(redactUrl(url), 'https://hooks.slack.com/…')
    const scrubbed = scrub(`connect failed for ${url.href} (/services/T0/B0/xyz?token=abc) pa55`, url)
    for (const secret of ['T0/B0/xyz', 'token=abc', 'pa55', 'user:']) assert.ok(!scrubbed.includes(secret), scrubbed)
  })

  it('posts to every receiver at once; a 500 and a receiver that never answers are warnings naming only the host, bounded in time', async () => {
    const good = await receiver()
    const failing = await receiver((_req, res) => {
      res.statusCode = 500
      res.end('internal error at /hook/T000/B000/secret-token')
    })
    const silent = await receiver(() => undefined)
    try {
      const warnings: string[] = []
      const started = Date.now()
      const outcomes = await sendNotifications(notifyTargets([good.url, failing.url, silent.url], 'slack'), DEVIATED, {
        warn: m => warnings.push(m),
        timeoutMs: 1500,
      })
      const took = Date.now() - started
      assert.deepEqual(
        outcomes.map(o => o.ok),
        [true, false, false],
      )
      assert.ok(took < 5000, `bounded: took ${took} ms`)
      assert.equal(good.bodies.length, 1)
      assert.equal(good.bodies[0]['#contentType'], 'application/json; charset=utf-8')
      assert.equal(good.bodies[0].blocks[0].text.text, '✘ DEVIATED: ratings-delay')
      assert.equal(warnings.length, 2)
      assert.match(
        warnings[0] ?? '',
        /^the notification to http:\/\/127\.0\.0\.1:\d+\/… \(slack\) failed: HTTP 500 \(internal error at http:\/\/127\.0\.0\.1:\d+\/…\); the run's outcome is unchanged$/,
      )
      assert.match(warnings[1] ?? '', / \(slack\) failed: no answer within 2 s; the run's outcome is unchanged$/)
      for (const w of warnings) assert.ok(!w.includes('secret-token'), w)
    } finally {
      await Promise.all([good, failing, silent].map(r => close(r.server)))
    }
  })

  it('a refused connection is a warning too; no targets sends nothing', async () => {
    const warnings: string[] = []
    const outcomes = await sendNotifications(notifyTargets(['http://127.0.0.1:1/hook/secret']), DEVIATED, {
      warn: m => warnings.push(m),
      timeoutMs: 2000,
    })
    assert.equal(outcomes[0]?.ok, false)
    assert.match(warnings[0] ?? '', /the notification to http:\/\/127\.0\.0\.1:1\/… \(json\) failed: .*ECONNREFUSED/)
    assert.ok(!(warnings[0] ?? '').includes('/hook/secret'))
    assert.deepEqual(await sendNotifications([], DEVIATED, {warn: () => assert.fail()}), [])
  })
})
