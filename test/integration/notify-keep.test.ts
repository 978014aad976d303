/**
 * `chaos run --notify`, `--keep` and `--summary` end to end: the real CLI on a real sandbox, with
 * local webhook receivers on 127.0.0.1 for each format. Three short runs of one experiment that
 * deviates by design go into one report root with --keep 2.
 */
import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {chaos, REPO, sh, withDetachedSandbox} from './sandbox-cli.js'

const PHASES = 'baseline=2s,fault=3s,recovery=2s'

/** A probe no run can meet (median under a microsecond), only in the fault phase: the run deviates. */
const IMPOSSIBLE = `    - name: an impossible median
      traffic: control
      thresholds:
        http_req_duration: ["p(50)<0.001"]
      phases: [fault]
`

/* eslint-disable @typescript-eslint/no-explicit-any -- reading payloads */
interface Receiver {
  url: string
  bodies: any[]
  close: () => Promise<void>
}

async function receiver(
  answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('ok'),
): Promise<Receiver> {
  const bodies: any[] = []
  const server: Server = createServer((req, res) => {
    let text = ''
    req.on('data', (c: Buffer) => (text += c.toString()))
    req.on('end', () => {
      bodies.push(JSON.parse(text))
      answer(req, res)
    })
  })
  await new Promise<void>(done => server.listen(0, '127.0.0.1', done))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook/T0/B0/secret-token`,
    bodies,
    close: () =>
      new Promise<void>(done => {
        server.closeAllConnections()
        server.close(() => done())
      }),
  }
}

describe('chaos run --notify, --keep, --summary (integration, real CLI on the sandbox)', function () {
  this.timeout(300_000)
  const sandbox = withDetachedSandbox('notify-sandbox', [
    'src/commands/run.ts',
    'src/cli/outcome.ts',
    'src/notify/send.ts',
    'src/notify/formats.ts',
    'src/report/prune.ts',
    'src/runner/run.ts',
  ])
  let work: string
  let experiment: string
  let reports: string
  const receivers: Receiver[] = []
  const journals: {reason: string; runDir: string}[] = []

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'faultline-notify-'))
    reports = join(work, 'reports')
    const abort = await readFile(join(REPO, 'experiments', 'ratings-abort.yaml'), 'utf8')
    const deviates = abort
      .replace('name: ratings-abort', 'name: notify-deviates')
      .replace('  guardrails:', `${IMPOSSIBLE}  guardrails:`)
    assert.notEqual(deviates, abort)
    experiment = join(work, 'notify-deviates.yaml')
    await writeFile(experiment, deviates)
  })

  after(async () => {
    await Promise.all(receivers.map(r => r.close()))
    if (work !== undefined) await rm(work, {recursive: true, force: true})
  })

  const run = async (extra: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await sh(
      process.execPath,
      [
        'bin/chaos',
        'run',
        experiment,
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
        '--phases',
        PHASES,
        '--keep',
        '2',
        '--summary',
        ...extra,
      ],
      {...process.env, NO_COLOR: '1', ...env},
    )
    const journalFile = /Journal: (.*journal\.json)/.exec(r.stdout)?.[1]
    assert.ok(journalFile !== undefined, r.stdout + r.stderr)
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as {outcome: string; reason: string}
    journals.push({reason: journal.reason, runDir: dirname(journalFile)})
    return {...r, journal}
  }

  it("a deviated run: the Slack receiver gets the verdict, the reason and the link; a receiver answering 500 and one that never answers only warn; the exit code is the outcome's", async () => {
    const slack = await receiver()
    const failing = await receiver((_req, res) => {
      res.statusCode = 500
      res.end('nope')
    })
    const silent = await receiver(() => undefined)
    receivers.push(slack, failing, silent)
    const r = await run([
      '--notify',
      slack.url,
      '--notify',
      failing.url,
      '--notify',
      silent.url,
      '--notify-format',
      'slack',
      '--report-url',
      'http://localhost:8080/',
    ])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.equal(r.journal.outcome, 'deviated')
    assert.equal(slack.bodies.length, 1)
    const message = slack.bodies[0]
    assert.match(message.text, /^✘ DEVIATED: notify-deviates — /)
    assert.ok(message.text.includes(r.journal.reason), `${message.text}\n${r.journal.reason}`)
    assert.equal(message.blocks[0].text.text, '✘ DEVIATED: notify-deviates')
    assert.match(message.blocks[1].text.text, /^\*Deviated\* — .*an impossible median/)
    const runDir = journals.at(-1)?.runDir ?? ''
    assert.equal(
      message.blocks.at(-1).elements[0].url,
      `http://localhost:8080/notify-deviates/${runDir.split('/').at(-1)}/report.html`,
    )
    assert.match(
      r.stdout,
      /warning: the notification to http:\/\/127\.0\.0\.1:\d+\/… \(slack\) failed: HTTP 500 \(nope\); the run's outcome is unchanged/,
    )
    assert.match(
      r.stdout,
      /warning: the notification to http:\/\/127\.0\.0\.1:\d+\/… \(slack\) failed: no answer within 10 s/,
    )
    assert.ok(!(r.stdout + r.stderr).includes('secret-token'), 'the webhook URL is never printed')
    assert.ok(!readFileSync(join(runDir, 'journal.json'), 'utf8').includes('secret-token'))
    // --summary: the output ends with summary.md, as written.
    assert.ok(
      r.stdout.trimEnd().endsWith(readFileSync(join(runDir, 'summary.md'), 'utf8').trimEnd()),
      r.stdout.slice(-2000),
    )
  })

  it('Teams: the Adaptive Card in its envelope', async () => {
    const teams = await receiver()
    receivers.push(teams)
    const r = await run(['--notify', teams.url, '--notify-format', 'teams'])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const [message] = teams.bodies
    assert.equal(message.type, 'message')
    assert.equal(message.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive')
    assert.equal(message.attachments[0].content.type, 'AdaptiveCard')
    assert.equal(message.attachments[0].content.body[0].text, '✘ DEVIATED: notify-deviates')
    assert.equal(message.attachments[0].content.body[1].text, r.journal.reason)
  })

  it('plain JSON from $FAULTLINE_NOTIFY_URL; and with --keep 2 after three runs, two folders remain and the index lists exactly them', async () => {
    const json = await receiver()
    receivers.push(json)
    const r = await run([], {FAULTLINE_NOTIFY_URL: json.url})
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const [message] = json.bodies
    assert.deepEqual(
      {
        kind: message.kind,
        subject: message.subject,
        name: message.name,
        outcome: message.outcome,
        verdict: message.verdict,
        exitCode: message.exitCode,
        reason: message.reason,
      },
      {
        kind: 'FaultlineNotification',
        subject: 'experiment',
        name: 'notify-deviates',
        outcome: 'deviated',
        verdict: 'deviated',
        exitCode: 1,
        reason: r.journal.reason,
      },
    )
    assert.match(r.stdout, /--keep 2: removed 1 older run folder/)
    const remaining = readdirSync(join(reports, 'notify-deviates')).sort()
    assert.deepEqual(
      remaining,
      journals
        .slice(1)
        .map(j => j.runDir.split('/').at(-1))
        .sort(),
    )
    const index = readFileSync(join(reports, 'index.html'), 'utf8')
    const linked = [
      ...new Set([...index.matchAll(/notify-deviates\/(\d{4}-\d{2}-\d{2}T\d{6}Z)\/report\.html/g)].map(m => m[1])),
    ].sort()
    assert.deepEqual(linked, remaining)
  })

  it("a game day: one message for the day listing each experiment; --keep prunes its experiments' folders too; the output ends with its summary.md", async () => {
    const json = await receiver()
    receivers.push(json)
    const gameday = join(work, 'gameday.yaml')
    await writeFile(
      gameday,
      'apiVersion: faultline.dev/v1alpha1\nkind: GameDay\nmetadata: {name: notify-day}\nspec:\n  experiments:\n    - path: notify-deviates.yaml\n',
    )
    const r = await sh(
      process.execPath,
      [
        'bin/chaos',
        'gameday',
        gameday,
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        reports,
        '--phases',
        PHASES,
        '--keep',
        '2',
        '--summary',
        '--notify',
        json.url,
        '--report-url',
        'http://localhost:8080',
      ],
      {...process.env, NO_COLOR: '1'},
    )
    assert.equal(r.code, 1, r.stdout + r.stderr)
    const [message] = json.bodies
    assert.equal(json.bodies.length, 1)
    assert.deepEqual([message.subject, message.name, message.outcome], ['gameday', 'notify-day', 'deviated'])
    assert.deepEqual(
      message.experiments.map((e: any) => [e.name, e.verdict]),
      [['notify-deviates', 'deviated']],
    )
    assert.match(message.reportUrl, /^http:\/\/localhost:8080\/notify-day\/\d{4}-\d{2}-\d{2}T\d{6}Z\/gameday\.html$/)
    const [day] = readdirSync(join(reports, 'notify-day'))
    assert.ok(
      r.stdout.trimEnd().endsWith(readFileSync(join(reports, 'notify-day', day ?? '', 'summary.md'), 'utf8').trimEnd()),
      r.stdout.slice(-1500),
    )
    assert.equal(readdirSync(join(reports, 'notify-deviates')).length, 2)
  })
})

describe('chaos run / gameday: bad --keep and --notify are usage errors before anything runs', function () {
  this.timeout(120_000)

  it('exit 2 with a clear message, the URL not echoed, no sandbox started', async () => {
    for (const [args, message] of [
      [['run', 'experiments/ratings-abort.yaml', '--keep', '0'], /Error: --keep 0: keep at least 1 run/],
      [
        ['run', 'experiments/ratings-abort.yaml', '--notify', 'ftp://hooks.example.com/T0/secret-token'],
        /Error: --notify ftp:\/\/hooks\.example\.com\/…: only http and https URLs can be notified/,
      ],
      [['gameday', 'experiments/weekly-gameday.yaml', '--keep', '-1'], /Error: --keep -1: keep at least 1 run/],
      [
        ['run', 'experiments/ratings-abort.yaml', '--report-url', 'reports/'],
        /Error: --report-url reports\/: not an http\(s\) URL/,
      ],
    ] as const) {
      const r = await chaos([...args, '--state-dir', join(tmpdir(), 'faultline-no-sandbox-here')])
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
      assert.match(r.stderr, message)
      assert.ok(!(r.stdout + r.stderr).includes('secret-token'))
      assert.doesNotMatch(r.stdout, /target:/, 'nothing was started')
    }
  })
})
