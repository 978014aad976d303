import assert from 'node:assert/strict'
import {mkdtempSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parseEntryFlag} from '../../src/cli/entry.js'
import type {Experiment} from '../../src/experiment/model.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {evaluateHttp} from '../../src/probes/http.js'
import {EventStream} from '../../src/journal/events.js'
import {reachabilityChecks} from '../../src/runner/reachability.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

const listen = (server: Server) =>
  new Promise<number>(resolve => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))

function load(url: string): Experiment['spec']['load'] {
  return {
    url,
    traffic: [
      {name: 'targeted', rate: '5/s', headers: {'user-agent': 'faultline-chaos-test'}},
      {name: 'control', rate: '5/s'},
    ],
  }
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createServer()
  const port = await listen(s)
  await new Promise(resolve => s.close(resolve))
  return port
}

describe('ways in: an explicit proxy and the proxy environment', function () {
  this.timeout(30_000)
  let proxy: Server
  let proxyPort: number
  let auth: Server
  let authPort: number
  const seen: string[] = []
  before(async () => {
    // A forward proxy that answers every absolute-form request itself.
    proxy = createServer((req, res) => {
      seen.push(req.url ?? '')
      res.end('ok')
    })
    proxyPort = await listen(proxy)
    auth = createServer((_req, res) => {
      res.writeHead(407, {'proxy-authenticate': 'Basic realm="corp"'})
      res.end()
    })
    authPort = await listen(auth)
  })
  after(async () => {
    await new Promise(resolve => proxy.close(resolve))
    await new Promise(resolve => auth.close(resolve))
  })

  it('--entry proxy=URL parses; anything else is a usage error', () => {
    assert.deepEqual(parseEntryFlag('proxy=http://127.0.0.1:3128'), {proxy: 'http://127.0.0.1:3128'})
    assert.throws(() => parseEntryFlag('proxy=ftp://x'), /proxy= needs an http/)
    assert.throws(() => parseEntryFlag('proxy'), /proxy= needs an http/)
    assert.throws(() => parseEntryFlag('tunnel=x'), /unknown way in "tunnel"/)
  })

  it("HTTP_PROXY from the environment carries the load's URL; NO_PROXY and loopback go direct", async () => {
    const env = {HTTP_PROXY: `http://127.0.0.1:${proxyPort}`}
    seen.length = 0
    const ok = await reachabilityChecks({load: load('http://productpage:9080/productpage'), env})
    assert.equal(ok[0]?.status, 'ok', ok[0]?.message)
    assert.match(ok[0]?.message ?? '', /through the proxy http:\/\/127\.0\.0\.1:\d+ \(from HTTP_PROXY\)/)
    assert.ok(seen.includes('http://productpage:9080/productpage'))
    const excluded = await reachabilityChecks({
      load: load('http://productpage:9080/productpage'),
      env: {...env, NO_PROXY: 'productpage'},
    })
    assert.equal(excluded[0]?.status, 'failed')
    assert.match(excluded[0]?.message ?? '', /(ENOTFOUND|EAI_AGAIN) productpage/)
  })

  it('a proxy that refuses the connection, or wants credentials, is a failed reachability check naming the proxy', async () => {
    const dead = await deadPort()
    const refused = await reachabilityChecks({
      load: load('http://productpage:9080/productpage'),
      env: {http_proxy: `http://127.0.0.1:${dead}`},
    })
    assert.equal(refused[0]?.status, 'failed')
    assert.match(
      refused[0]?.message ?? '',
      new RegExp(
        `through the proxy http://127.0.0.1:${dead} \\(from http_proxy\\): proxy ECONNREFUSED 127.0.0.1:${dead} × 3`,
      ),
    )
    const denied = await reachabilityChecks({
      load: load('http://productpage:9080/productpage'),
      proxy: `http://127.0.0.1:${authPort}`,
    })
    assert.equal(denied[0]?.status, 'failed')
    assert.match(JSON.stringify(denied), /proxy 407 \(Proxy Authentication Required\) × 3/)
  })

  it('HTTP probes follow the environment per URL, and an explicit proxy over it', async () => {
    seen.length = 0
    const probe = {url: 'http://details:9080/health', expect: {status: 200}}
    assert.equal(
      (
        await evaluateHttp(probe, undefined, {
          HTTPS_PROXY: 'http://unused',
          HTTP_PROXY: `http://127.0.0.1:${proxyPort}`,
        })
      ).status,
      'held',
    )
    assert.deepEqual(seen, ['http://details:9080/health'])
    assert.equal(
      (await evaluateHttp(probe, `http://127.0.0.1:${proxyPort}`, {HTTP_PROXY: 'http://127.0.0.1:1'})).status,
      'held',
    )
    assert.equal(
      (await evaluateHttp(probe, undefined, {HTTP_PROXY: `http://127.0.0.1:${proxyPort}`, NO_PROXY: '*'})).status,
      'errored',
    )
  })

  it('a run whose entry proxy refuses exits 4 with the reason, nothing injected', async () => {
    const dead = await deadPort()
    const cluster = new FakeCluster()
    const experiment: Experiment = {
      apiVersion: 'faultline.dev/v1alpha1',
      kind: 'Experiment',
      metadata: {name: 'ratings-abort'},
      spec: {
        faults: [
          {
            service: 'ratings',
            match: {headers: {'user-agent': {exact: 'faultline-chaos-test'}}},
            abort: {httpStatus: 503, percentage: 50},
          },
        ],
        phases: {baseline: '10s', fault: '10s', recovery: '10s'},
        load: {...load('http://productpage:9080/productpage'), entry: {proxy: `http://127.0.0.1:${dead}`}},
        steadyState: [{name: 'control', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}}],
      },
    }
    const result = await runExperiment({
      file: 'x.yaml',
      experiment,
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir: mkdtempSync(join(tmpdir(), 'faultline-entry-')),
      signal: new AbortController().signal,
      events: new EventStream(),
      proxy: `http://127.0.0.1:${dead}`,
    })
    assert.equal(result.exitCode, 4, result.reason)
    assert.match(result.reason, new RegExp(`proxy ECONNREFUSED 127.0.0.1:${dead}`))
    assert.deepEqual(cluster.writes, [], 'nothing was written')
  })
})
