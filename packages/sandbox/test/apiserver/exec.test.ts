import assert from 'node:assert/strict'

import WebSocket from 'ws'

import {startFixture, STATS_TEXT, type Fixture} from './fakes.js'

interface Session {
  protocol: string
  frames: {stream: number; text: string}[]
  closeCode: number
}

function execUrl(f: Fixture, pod: string, query: string): string {
  return `${f.server.url.replace('https', 'wss')}/api/v1/namespaces/default/pods/${pod}/exec?${query}`
}

function session(f: Fixture, url: string, protocols: string[]): Promise<Session> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, {
      ca: f.server.certificateAuthority,
      headers: {authorization: `Bearer ${f.token}`},
    })
    const frames: Session['frames'] = []
    ws.on('message', (data: Buffer) => frames.push({stream: data[0] ?? -1, text: data.subarray(1).toString('utf8')}))
    ws.on('close', code => resolve({protocol: ws.protocol, frames, closeCode: code}))
    ws.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (c: Buffer) => {
        body += c.toString()
      })
      res.on('end', () =>
        reject(
          Object.assign(new Error(`HTTP ${res.statusCode}`), {
            statusCode: res.statusCode,
            body: JSON.parse(body) as unknown,
          }),
        ),
      )
    })
    ws.on('error', reject)
  })
}

const STATS_QUERY =
  'command=pilot-agent&command=request&command=GET&command=stats&container=istio-proxy&stdout=true&stderr=true'

describe('pods/exec over WebSocket', function () {
  // The first request that validates an Istio object loads and compiles the CRD schemas (seconds on a busy machine).
  this.timeout(60_000)
  let f: Fixture
  beforeEach(async () => {
    f = await startFixture()
  })
  afterEach(async () => {
    await f.close()
  })

  it('runs the command through the ExecHandler and sends stdout on 1, then a Success status on 3 (v5)', async () => {
    const s = await session(f, execUrl(f, 'ratings-v1-7d9c', STATS_QUERY), ['v5.channel.k8s.io'])
    assert.equal(s.protocol, 'v5.channel.k8s.io')
    assert.deepEqual(s.frames, [
      {stream: 1, text: STATS_TEXT},
      {stream: 3, text: '{"metadata":{},"status":"Success"}'},
    ])
    assert.equal(s.closeCode, 1000)
    assert.deepEqual(f.exec.calls, [
      {pod: 'ratings-v1-7d9c', container: 'istio-proxy', command: ['pilot-agent', 'request', 'GET', 'stats']},
    ])
  })

  it('prefers v5, then v4, and speaks the plain-text error channel of older protocols', async () => {
    assert.equal(
      (
        await session(f, execUrl(f, 'ratings-v1-7d9c', STATS_QUERY), [
          'channel.k8s.io',
          'v4.channel.k8s.io',
          'v5.channel.k8s.io',
        ])
      ).protocol,
      'v5.channel.k8s.io',
    )
    assert.equal(
      (await session(f, execUrl(f, 'ratings-v1-7d9c', STATS_QUERY), ['channel.k8s.io', 'v4.channel.k8s.io'])).protocol,
      'v4.channel.k8s.io',
    )
    const v1 = await session(
      f,
      execUrl(f, 'ratings-v1-7d9c', 'command=false&container=istio-proxy&stdout=1&stderr=1'),
      ['channel.k8s.io'],
    )
    assert.equal(v1.protocol, 'channel.k8s.io')
    assert.deepEqual(v1.frames, [
      {stream: 2, text: 'it failed\n'},
      {stream: 3, text: 'command terminated with non-zero exit code: exit status 1'},
    ])
  })

  it('reports a non-zero exit as NonZeroExitCode with the code as an ExitCode cause (v4+)', async () => {
    const s = await session(
      f,
      execUrl(f, 'ratings-v1-7d9c', 'command=false&container=istio-proxy&stdout=true&stderr=true'),
      ['v4.channel.k8s.io'],
    )
    assert.deepEqual(s.frames[0], {stream: 2, text: 'it failed\n'})
    const status = JSON.parse(s.frames[1]?.text ?? '{}') as {status: string; reason: string; details: unknown}
    assert.equal(status.status, 'Failure')
    assert.equal(status.reason, 'NonZeroExitCode')
    assert.deepEqual(status.details, {causes: [{reason: 'ExitCode', message: '1'}]})
  })

  it('reports an ExecHandler failure as an InternalError status', async () => {
    const s = await session(f, execUrl(f, 'ratings-v1-7d9c', 'command=explode&container=istio-proxy&stdout=true'), [
      'v5.channel.k8s.io',
    ])
    const status = JSON.parse(s.frames.at(-1)?.text ?? '{}') as {status: string; reason: string; message: string}
    assert.equal(status.reason, 'InternalError')
    assert.match(status.message, /no such binary/)
  })

  it('refuses, before upgrading, a container the pod lacks, a missing pod, no command and a missing token', async () => {
    const refused = async (url: string, token = f.token) => {
      try {
        await new Promise((resolve, reject) => {
          const ws = new WebSocket(url, ['v5.channel.k8s.io'], {
            ca: f.server.certificateAuthority,
            headers: {authorization: `Bearer ${token}`},
          })
          ws.on('unexpected-response', (_req, res) => {
            let body = ''
            res.on('data', (c: Buffer) => {
              body += c.toString()
            })
            res.on('end', () =>
              reject(
                Object.assign(new Error('refused'), {
                  statusCode: res.statusCode,
                  body: JSON.parse(body) as {message: string},
                }),
              ),
            )
          })
          ws.on('open', resolve)
          ws.on('error', reject)
        })
      } catch (err) {
        return err as {statusCode: number; body: {message: string}}
      }
      assert.fail('the upgrade was accepted')
    }
    const badContainer = await refused(execUrl(f, 'ratings-v1-7d9c', 'command=ls&container=nope&stdout=true'))
    assert.equal(badContainer.statusCode, 400)
    assert.equal(badContainer.body.message, 'container nope is not valid for pod ratings-v1-7d9c')
    assert.equal((await refused(execUrl(f, 'nope', 'command=ls&container=istio-proxy&stdout=true'))).statusCode, 404)
    assert.equal((await refused(execUrl(f, 'ratings-v1-7d9c', 'container=istio-proxy&stdout=true'))).statusCode, 400)
    assert.match(
      (await refused(execUrl(f, 'ratings-v1-7d9c', 'command=ls&stdout=true'))).body.message,
      /a container name must be specified/,
    )
    assert.equal((await refused(execUrl(f, 'ratings-v1-7d9c', STATS_QUERY), 'wrong')).statusCode, 401)
    assert.deepEqual(f.exec.calls, [])
  })

  it('answers a plain (SPDY-style) exec request with 400 naming WebSocket', async () => {
    const r = await f.call('POST', `/api/v1/namespaces/default/pods/ratings-v1-7d9c/exec?${STATS_QUERY}`)
    assert.equal(r.status, 400)
    assert.match(r.body.message, /WebSocket/)
  })
})
