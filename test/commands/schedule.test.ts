import assert from 'node:assert/strict'
import {readdirSync} from 'node:fs'
import {join} from 'node:path'

import {parseAllDocuments} from 'yaml'

import {chaos as cli, ensureBuilt, REPO} from '../cli.js'

const chaos = (...args: string[]) => cli(args)

function sources(): string[] {
  const dirs = ['src/schedule', 'src/experiment']
  return [
    ...dirs.flatMap(d =>
      readdirSync(join(REPO, d))
        .filter(f => f.endsWith('.ts'))
        .map(f => join(d, f)),
    ),
    'src/commands/schedule.ts',
    'src/runner/preflight.ts',
  ]
}

describe('chaos schedule (the real CLI)', function () {
  // Each CLI start loads oclif and every command: seconds on a loaded 2-core machine.
  this.timeout(120_000)

  before(async function () {
    this.timeout(300_000)
    await ensureBuilt(sources())
  })

  it('prints multi-document YAML on stdout and nothing else, exit 0', async () => {
    const {code, stdout, stderr} = await chaos(
      'schedule',
      'experiments/ratings-delay.yaml',
      '--cron',
      '0 10 * * 1',
      '--namespace',
      'bookinfo',
      '--reaper',
    )
    assert.equal(code, 0, stderr)
    assert.equal(stderr, '')
    const docs = parseAllDocuments(stdout, {version: '1.1'}).map(
      d => d.toJS() as {kind: string; metadata: {name: string}},
    )
    assert.deepEqual(
      docs.map(d => `${d.kind}/${d.metadata.name}`),
      [
        'ServiceAccount/ratings-delay',
        'Role/ratings-delay',
        'RoleBinding/ratings-delay',
        'ConfigMap/ratings-delay',
        'CronJob/ratings-delay',
        'ServiceAccount/ratings-delay-reaper',
        'Role/ratings-delay-reaper',
        'RoleBinding/ratings-delay-reaper',
        'CronJob/ratings-delay-reaper',
      ],
    )
  })

  it('an invalid file: exit 2, the located diagnostics on stderr, nothing on stdout', async () => {
    const {code, stdout, stderr} = await chaos(
      'schedule',
      'test/fixtures/schedule/invalid/gameday-referencing-bad-delay.yaml',
      '--cron',
      '@daily',
    )
    assert.equal(code, 2)
    assert.equal(stdout, '')
    assert.match(
      stderr,
      /test\/fixtures\/schedule\/invalid\/bad-delay\.yaml:12:27: spec\.faults\[0\]\.delay\.fixedDelay: duration "7" has no unit/,
    )
  })

  it('a bad --cron or --name: exit 2 with what is wrong and how to fix it', async () => {
    const cron = await chaos('schedule', 'experiments/ratings-delay.yaml', '--cron', '0 25 * * *')
    assert.equal(cron.code, 2)
    assert.match(cron.stderr, /--cron "0 25 \* \* \*": hour field: "25" is not a valid hour \(0-23\)/)
    assert.match(cron.stderr, /Hint: .*--cron "0 10 \* \* 1"/)
    const name = await chaos('schedule', 'experiments/ratings-delay.yaml', '--cron', '@daily', '--name', 'x'.repeat(60))
    assert.equal(name.code, 2)
    assert.match(name.stderr, /--name: "x{60}" is 60 characters; a CronJob name may have at most 52/)
  })

  it('warnings go to stderr, the YAML still to stdout', async () => {
    const {code, stdout, stderr} = await chaos(
      'schedule',
      'test/fixtures/schedule/k6-and-promql.yaml',
      '--cron',
      '@daily',
    )
    assert.equal(code, 0)
    assert.match(stderr, /warning: k6-and-promql use the k6 load driver/)
    assert.match(stdout, /kind: CronJob/)
  })

  it('the report claim, report server and notification Secret: valid YAML on stdout; bad values exit 2 with nothing on stdout', async () => {
    const ok = await chaos(
      'schedule',
      'experiments/ratings-delay.yaml',
      '--cron',
      '@daily',
      '--reports-pvc',
      'chaos-reports',
      '--keep',
      '10',
      '--report-server',
      '--notify-secret',
      'chaos-webhook/url',
    )
    assert.equal(ok.code, 0, ok.stderr)
    const kinds = parseAllDocuments(ok.stdout, {version: '1.1'}).map(d => (d.toJS() as {kind: string}).kind)
    assert.deepEqual(kinds, [
      'ServiceAccount',
      'Role',
      'RoleBinding',
      'ConfigMap',
      'PersistentVolumeClaim',
      'CronJob',
      'Deployment',
      'Service',
    ])
    for (const [args, message] of [
      [['--reports-pvc', 'Bad_Name'], /Error: --reports-pvc "Bad_Name": not a DNS-1123 label/],
      [['--keep', '0'], /Error: --keep 0: keep at least 1 run/],
      [['--report-server'], /Error: --report-server needs the reports on a claim/],
      [['--reports-pvc', 'a', '--reports-pvc-existing', 'b'], /cannot also be provided when using/],
    ] as const) {
      const r = await chaos('schedule', 'experiments/ratings-delay.yaml', '--cron', '@daily', ...args)
      assert.equal(r.code, 2, args.join(' '))
      assert.equal(r.stdout, '')
      assert.match(r.stderr, message)
    }
  })

  it('--help shows the examples and the flags', async () => {
    const {code, stdout} = await chaos('schedule', '--help')
    assert.equal(code, 0)
    for (const text of [
      '--cron',
      '--reaper',
      '--image',
      '--namespace',
      '--name',
      '--time-zone',
      'kubectl apply -f -',
      'Every Monday',
      'ghcr.io/faultline/chaos:',
      '--reports-pvc',
      '--report-server',
      '--notify-secret',
      '--keep',
    ])
      assert.ok(stdout.includes(text), text)
  })
})
