import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {PassThrough} from 'node:stream'

import type {Experiment} from '../../src/experiment/model.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {ConsoleReporter} from '../../src/runner/console.js'
import {EventStream, type RunEvent} from '../../src/journal/events.js'
import {reachabilityChecks} from '../../src/runner/reachability.js'
import {writeRunReports} from '../../src/report/write.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

const listen = (server: Server) =>
  new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))

function load(url: string): Experiment['spec']['load'] {
  return {
    url,
    traffic: [
      {name: 'targeted', rate: '5/s', headers: {'x-chaos-test': 'true'}},
      {name: 'control', rate: '5/s'},
    ],
  }
}

/** A name no resolver knows answers ENOTFOUND (EAI_AGAIN where DNS itself is unreachable). */
const UNRESOLVED = /(ENOTFOUND|EAI_AGAIN) productpage/

describe('reachability preflight', function () {
  this.timeout(30_000)
  let server: Server
  let port: number
  const seen: {url: string; headers: Record<string, unknown>}[] = []
  before(async () => {
    server = createServer((req, res) => {
      seen.push({url: req.url ?? '', headers: req.headers})
      if ((req.url ?? '').startsWith('http://nowhere'))
        return res.writeHead(502, {'x-faultline-proxy': 'refused'}).end('no service named "nowhere"')
      if ((req.url ?? '').endsWith('/down')) return res.writeHead(503, {server: 'envoy'}).end('no healthy upstream')
      res.end('ok')
    })
    port = await listen(server)
  })
  after(() => server.close())

  it('a few requests per class, with its headers: ok when every class is answered', async () => {
    seen.length = 0
    const checks = await reachabilityChecks({load: load(`http://127.0.0.1:${port}/productpage`)})
    assert.deepEqual(
      checks.map(c => [c.check, c.status]),
      [['reachability', 'ok']],
    )
    assert.equal(seen.length, 6)
    assert.equal(seen.filter(r => r.headers['x-chaos-test'] === 'true').length, 3)
  })

  it('a class that gets no HTTP answer fails, with the reason and the ways into the mesh', async () => {
    const closed = createServer()
    const dead = await listen(closed)
    await new Promise(resolve => closed.close(resolve))
    const checks = await reachabilityChecks({load: load(`http://127.0.0.1:${dead}/productpage`)})
    assert.deepEqual(
      checks.map(c => c.status),
      ['failed', 'failed'],
    )
    assert.match(
      checks[0]?.message ?? '',
      new RegExp(
        `traffic class targeted cannot reach http://127.0.0.1:${dead}/productpage: ECONNREFUSED 127.0.0.1:${dead} × 3 \\(3 of 3 requests\\)`,
      ),
    )
    assert.match(
      checks[0]?.hint ?? '',
      /Ways into the mesh: a Service's gateway .* kubectl port-forward .* the sandbox's kubeconfig/,
    )
  })

  it("through a proxy: its refusal is no answer from the mesh; the mesh's own failures are warnings for the baseline to judge", async () => {
    const proxy = `http://127.0.0.1:${port}`
    const refused = await reachabilityChecks({load: load('http://nowhere:9080/'), proxy})
    assert.equal(refused[0]?.status, 'failed')
    assert.match(refused[0]?.message ?? '', /through the proxy http:\/\/127\.0\.0\.1:\d+: proxy refused 502 × 3/)
    const down = await reachabilityChecks({load: load(`http://127.0.0.1:${port}/down`)})
    assert.deepEqual(
      down.map(c => c.status),
      ['warning', 'warning'],
    )
    assert.match(down[0]?.message ?? '', /3 of 3 requests failed: 503 UH × 3/)
  })

  it('a run whose URL does not resolve exits 4 within seconds, nothing injected; console, journal and reports name the reason and the ways in', async () => {
    const cluster = new FakeCluster()
    const events = new EventStream()
    const seenEvents: RunEvent[] = []
    events.subscribe(e => seenEvents.push(e))
    const out = new PassThrough()
    let text = ''
    out.on('data', (c: Buffer) => (text += c.toString()))
    const reporter = new ConsoleReporter(out, 0)
    events.subscribe(e => reporter.handle(e))
    const experiment: Experiment = {
      apiVersion: 'faultline.dev/v1alpha1',
      kind: 'Experiment',
      metadata: {name: 'ratings-abort'},
      spec: {
        faults: [
          {
            service: 'ratings',
            match: {headers: {'x-chaos-test': {exact: 'true'}}},
            abort: {httpStatus: 503, percentage: 50},
          },
        ],
        phases: {baseline: '10s', fault: '10s', recovery: '10s'},
        load: load('http://productpage:9080/productpage'),
        steadyState: [{name: 'control', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}}],
      },
    }
    const started = Date.now()
    const result = await runExperiment({
      file: 'x.yaml',
      experiment,
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir: mkdtempSync(join(tmpdir(), 'faultline-reach-')),
      signal: new AbortController().signal,
      events,
    })
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`)
    assert.equal(result.exitCode, 4, result.reason)
    assert.equal(result.outcome, 'could-not-run')
    assert.deepEqual(cluster.writes, [], 'nothing was written')
    assert.ok(!seenEvents.some(e => e.kind === 'phase-started'), 'no baseline ran')
    await writeRunReports(result.journal, result.runDir, {html: true, redactHeaders: []}) // as the command does with the journal the run returns
    for (const [where, content] of [
      ['reason', result.reason],
      ['console', text],
      ...['journal.json', 'summary.md', 'report.html', 'junit.xml'].map(f => [
        f,
        readFileSync(join(result.runDir, f), 'utf8'),
      ]),
    ] as const) {
      assert.match(content, UNRESOLVED, where)
      assert.match(content, /Ways into the mesh/, where)
      assert.match(content, /port-forward/, where)
    }
  })
})
