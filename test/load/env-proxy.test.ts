import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {EnvHttpProxyAgent, request} from 'undici'

import {envProxyFor, isLoopback, proxyFor, proxyVariable} from '../../src/load/env-proxy.js'

const P = 'http://proxy.corp:3128'
const S = 'http://secure-proxy.corp:3129'

describe('the proxy environment (HTTP_PROXY/HTTPS_PROXY/NO_PROXY)', () => {
  const cases: [string, NodeJS.ProcessEnv, string | undefined][] = [
    ['http://productpage:9080/productpage', {}, undefined],
    ['http://productpage:9080/productpage', {HTTP_PROXY: P}, P],
    ['http://productpage:9080/productpage', {http_proxy: P, HTTP_PROXY: S}, P],
    ['https://bookinfo.example.com/', {HTTP_PROXY: P}, P],
    ['https://bookinfo.example.com/', {HTTP_PROXY: P, HTTPS_PROXY: S}, S],
    ['http://bookinfo.example.com/', {HTTPS_PROXY: S}, undefined],
    ['http://api.example.com/', {HTTP_PROXY: P, NO_PROXY: 'example.com'}, undefined],
    ['http://example.com/', {HTTP_PROXY: P, NO_PROXY: '.example.com'}, undefined],
    ['http://api.example.com/', {HTTP_PROXY: P, NO_PROXY: '*.example.com'}, undefined],
    ['http://notexample.com/', {HTTP_PROXY: P, NO_PROXY: 'example.com'}, P],
    ['http://api.example.com:8080/', {HTTP_PROXY: P, NO_PROXY: 'example.com:8080'}, undefined],
    ['http://api.example.com:9090/', {HTTP_PROXY: P, NO_PROXY: 'example.com:8080'}, P],
    ['http://api.example.com/', {HTTP_PROXY: P, NO_PROXY: 'example.com:80'}, undefined],
    ['http://anything.at.all/', {HTTP_PROXY: P, NO_PROXY: '*'}, undefined],
    ['http://a.b/', {HTTP_PROXY: P, NO_PROXY: 'x.y, a.b'}, undefined],
    ['http://A.B/', {HTTP_PROXY: P, no_proxy: 'a.b', NO_PROXY: ''}, undefined],
    ['http://a.b/', {HTTP_PROXY: P, no_proxy: '', NO_PROXY: 'a.b'}, P],
    // Loopback is never proxied by the environment (Go's rule, which k6 follows).
    ['http://127.0.0.1:9080/', {HTTP_PROXY: P}, undefined],
    ['http://localhost:9080/', {HTTP_PROXY: P}, undefined],
    ['http://[::1]:9080/', {HTTP_PROXY: P}, undefined],
  ]
  for (const [url, env, want] of cases) {
    it(`${url} with ${JSON.stringify(env)} → ${want ?? 'direct'}`, () => {
      assert.equal(envProxyFor(url, env), want)
    })
  }

  it('an explicit proxy wins over the environment, for loopback too', () => {
    assert.equal(proxyFor('http://127.0.0.1:1/', 'http://127.0.0.1:3128', {HTTP_PROXY: P}), 'http://127.0.0.1:3128')
    assert.equal(proxyFor('http://a.b/', undefined, {HTTP_PROXY: P, NO_PROXY: 'a.b'}), undefined)
  })

  it('names the variable it used', () => {
    assert.equal(proxyVariable('https://x/', {HTTP_PROXY: P}), 'HTTP_PROXY')
    assert.equal(proxyVariable('https://x/', {https_proxy: S, HTTP_PROXY: P}), 'https_proxy')
  })

  it('loopback hosts', () => {
    for (const h of [
      'localhost',
      'LOCALHOST',
      'x.localhost',
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
    ])
      assert.ok(isLoopback(h), h)
    for (const h of ['productpage', '10.0.0.1', '::2', '128.0.0.1']) assert.ok(!isLoopback(h), h)
  })
})

/**
 * The decision against undici's EnvHttpProxyAgent itself: every non-loopback case above is sent
 * through the agent (names resolve to nothing, so a direct request fails at once) and must reach
 * the local proxy exactly when envProxyFor names one.
 */
describe('the proxy decision agrees with undici EnvHttpProxyAgent', function () {
  this.timeout(20_000)
  let proxy: Server
  let proxyUrl: string
  let hits = 0
  before(async () => {
    proxy = createServer((req, res) => {
      hits++
      res.end('via proxy')
    })
    proxy.on('connect', (_req, socket) => {
      hits++
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n')
    })
    await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve))
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
  })
  after(() => new Promise<void>(resolve => proxy.close(() => resolve())))

  const envCases: [string, {no?: string}][] = [
    ['http://productpage:9080/', {}],
    ['https://bookinfo.example.com/', {}],
    ['http://api.example.com/', {no: 'example.com'}],
    ['http://example.com/', {no: '.example.com'}],
    ['http://api.example.com/', {no: '*.example.com'}],
    ['http://notexample.com/', {no: 'example.com'}],
    ['http://api.example.com:8080/', {no: 'example.com:8080'}],
    ['http://api.example.com:9090/', {no: 'example.com:8080'}],
    ['http://api.example.com/', {no: 'example.com:80'}],
    ['https://api.example.com/', {no: 'example.com:80'}],
    ['http://anything.at.all/', {no: '*'}],
    ['http://a.b/', {no: 'x.y a.b'}],
  ]
  for (const [url, {no}] of envCases) {
    it(`${url} NO_PROXY=${no ?? ''}`, async () => {
      const env = {HTTP_PROXY: proxyUrl, ...(no === undefined ? {} : {NO_PROXY: no})}
      const agent = new EnvHttpProxyAgent({
        httpProxy: proxyUrl,
        httpsProxy: proxyUrl,
        noProxy: no ?? '',
        proxyTunnel: false,
        connect: {
          lookup: (_h: string, _o: unknown, cb: (err: Error) => void) =>
            cb(Object.assign(new Error('direct'), {code: 'ENOTFOUND'})),
        } as never,
      })
      const before = hits
      try {
        const res = await request(url, {dispatcher: agent, headersTimeout: 3000, bodyTimeout: 3000})
        await res.body.dump()
      } catch {
        // direct (no such host) or a tunnel the proxy closed
      } finally {
        await agent.destroy().catch(() => undefined)
      }
      assert.equal(hits > before, envProxyFor(url, env) !== undefined)
    })
  }
})
