import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import type {IncomingMessage, ServerResponse} from 'node:http'
import {promisify} from 'node:util'

import {fetch as undiciFetch, ProxyAgent} from 'undici'

import {type ForwardProxy, routeTarget, startForwardProxy} from '../src/proxy.js'
import {bookinfoServices, StaticTopology} from '../src/topology.js'

const run = promisify(execFile)

/** A sidecar that echoes what it was asked to send, so the test sees exactly what the proxy handed on. */
function echoSidecar(seen: {url: string; headers: IncomingMessage['headers']}[]) {
  return {
    handleOutbound(req: IncomingMessage, res: ServerResponse) {
      seen.push({url: req.url ?? '', headers: req.headers})
      const body = JSON.stringify({url: req.url, host: req.headers.host, user: req.headers['end-user'] ?? null})
      res.writeHead(200, {'content-type': 'application/json'}).end(body)
    },
  }
}

async function curl(args: string[]): Promise<{status: number; body: string}> {
  const {stdout} = await run('curl', ['-s', '-w', '\n%{http_code}', ...args]).catch((e: {stdout: string}) => ({
    stdout: e.stdout,
  }))
  const i = stdout.lastIndexOf('\n')
  return {status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i)}
}

describe('forward proxy', () => {
  const topology = new StaticTopology(bookinfoServices(), [])
  const opts = {
    resolve: (h: string) => topology.serviceForHost(h),
    knownServices: () => topology.services().map(s => s.name),
  }
  let proxy: ForwardProxy
  let haveCurl = true
  before(async () => {
    haveCurl = await run('curl', ['--version']).then(
      () => true,
      () => false,
    )
  })
  const needsCurl = (ctx: Mocha.Context): void => {
    if (!haveCurl) ctx.skip()
  }
  let seen: {url: string; headers: IncomingMessage['headers']}[]

  beforeEach(async () => {
    seen = []
    proxy = await startForwardProxy({...opts, sidecar: echoSidecar(seen)})
  })
  afterEach(async () => {
    await proxy.close()
  })

  it('routes absolute-form targets by service name, namespace-qualified name and FQDN', () => {
    for (const host of [
      'productpage',
      'productpage.default',
      'productpage.default.svc',
      'productpage.default.svc.cluster.local',
    ]) {
      const d = routeTarget(`http://${host}:9080/productpage?u=1`, opts, 1)
      assert.ok('url' in d, host)
      assert.equal(d.url.pathname + d.url.search, '/productpage?u=1')
    }
  })

  it('refuses what it cannot reach with a status and a message that says why', () => {
    const cases: [string, number, RegExp][] = [
      [
        'http://example.com/',
        502,
        /no service named "example.com" in the sandbox; it runs productpage, details, reviews, ratings/,
      ],
      ['http://productpage/', 502, /service productpage.default has no port 80; it listens on 9080/],
      ['http://productpage.other:9080/', 502, /no service named/],
      ['/productpage', 400, /forward proxy; send requests through it/],
      ['ftp://productpage:9080/', 501, /ftp is not supported/],
    ]
    for (const [target, status, message] of cases) {
      const d = routeTarget(target, opts, 1)
      assert.ok('status' in d, target)
      assert.equal(d.status, status, target)
      assert.match(d.message, message)
    }
  })

  it('works with curl -x, hands the sidecar the absolute URL and drops proxy headers', async function () {
    needsCurl(this)
    const res = await curl([
      '-x',
      proxy.url,
      '-H',
      'end-user: jason',
      '-H',
      'Proxy-Connection: keep-alive',
      'http://productpage.default.svc.cluster.local:9080/productpage',
    ])
    assert.equal(res.status, 200)
    assert.deepEqual(JSON.parse(res.body), {
      url: 'http://productpage.default.svc.cluster.local:9080/productpage',
      host: 'productpage.default.svc.cluster.local:9080',
      user: 'jason',
    })
    assert.equal(seen[0]?.headers['proxy-connection'], undefined)
  })

  it('answers 502 with a readable body for unknown hosts, and 501 for HTTPS', async function () {
    needsCurl(this)
    const unknown = await curl(['-x', proxy.url, 'http://nosuch:9080/'])
    assert.equal(unknown.status, 502)
    assert.match(unknown.body, /no service named "nosuch"/)
    const https = await run('curl', ['-s', '-S', '-x', proxy.url, 'https://productpage/']).catch(
      (e: {stderr: string}) => e,
    )
    assert.match(String((https as {stderr: string}).stderr), /CONNECT tunnel failed, response 501/)
    assert.equal(seen.length, 0)
  })

  it('serves plain HTTP inside a CONNECT tunnel (curl -p, undici ProxyAgent default)', async function () {
    needsCurl(this)
    const tunnelled = await curl(['-p', '-x', proxy.url, 'http://ratings:9080/ratings/0'])
    assert.equal(tunnelled.status, 200)
    assert.equal(JSON.parse(tunnelled.body).url, 'http://ratings:9080/ratings/0')
    const agent = new ProxyAgent({uri: proxy.url})
    try {
      for (const path of ['/a', '/b']) {
        const res = await undiciFetch(`http://reviews:9080${path}`, {dispatcher: agent})
        assert.equal(res.status, 200)
        assert.equal(((await res.json()) as {url: string}).url, `http://reviews:9080${path}`)
      }
      const refused = await undiciFetch('http://nosuch:9080/', {dispatcher: agent}).catch((e: Error) => e)
      assert.ok(refused instanceof Error)
    } finally {
      await agent.close()
    }
  })

  it('works with undici ProxyAgent in absolute-form mode (the builtin driver)', async () => {
    const agent = new ProxyAgent({uri: proxy.url, proxyTunnel: false})
    try {
      const res = await undiciFetch('http://details:9080/details/0', {dispatcher: agent, headers: {'end-user': 'ann'}})
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), {url: 'http://details:9080/details/0', host: 'details:9080', user: 'ann'})
    } finally {
      await agent.close()
    }
  })

  it('leaves nothing listening after close', async function () {
    needsCurl(this)
    const port = proxy.port
    await proxy.close()
    const after = await curl(['--max-time', '2', `http://127.0.0.1:${port}/`])
    assert.equal(after.status, 0)
    proxy = await startForwardProxy({...opts, sidecar: echoSidecar(seen)})
  })
})
