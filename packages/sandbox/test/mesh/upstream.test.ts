import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import http from 'node:http'
import net from 'node:net'

import type {Mesh} from '../../src/mesh/index.js'
import {incomingHeaders} from '../../src/mesh/upstream.js'
import {type AppHandler, FakeConfig, FakeTopology, send, startMesh} from './harness.js'

const RATINGS = 'http://ratings:9080/ratings/0'
const CLIENT = 'productpage-v1-5d9b6f7c8d-abcde'

describe('sandbox mesh: the upstream leg (undici pool)', () => {
  let topology: FakeTopology | undefined
  let mesh: Mesh | undefined
  let port: number

  const start = async (handler: AppHandler) => {
    const t = new FakeTopology()
    topology = t
    t.service('ratings')
    await t.pod('ratings-v1-6b7c9d8f5c-r0aaa', {app: 'ratings', version: 'v1'}, handler)
    ;({mesh, port} = await startMesh(t, new FakeConfig()))
  }

  afterEach(async () => {
    await mesh?.close()
    mesh = undefined
    await topology?.close()
    topology = undefined
  })

  it("folds repeated response headers exactly as node's IncomingMessage does", async () => {
    const server = net.createServer(socket => {
      socket.once('data', () =>
        socket.end(
          [
            'HTTP/1.1 200 OK',
            'Content-Length: 0',
            'Set-Cookie: a=1',
            'X-Multi: one',
            'set-cookie: b=2',
            'x-multi: two',
            'Content-Type: text/plain',
            'Content-Type: text/html',
            'Cookie: c=3',
            'Cookie: d=4',
            'ETag: "1"',
            'ETag: "2"',
            'Vary: a',
            'Vary: b',
            '',
            '',
          ].join('\r\n'),
        ),
      )
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
    try {
      const res = await new Promise<http.IncomingMessage>(resolve =>
        http.get({host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, agent: false}, resolve),
      )
      res.resume()
      assert.deepEqual(incomingHeaders(res.rawHeaders.map(h => Buffer.from(h, 'latin1'))), res.headers)
      assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']) // the oracle really saw repeats
    } finally {
      server.close()
    }
  })

  it('streams large bodies intact, with and without a content-length', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024)
    for (let i = 0; i < body.length; i++) body[i] = (i * 7919) % 251
    await start((req, res) => {
      req.resume()
      const chunked = req.url?.endsWith('chunked') === true
      res.writeHead(200, chunked ? {} : {'content-length': body.length})
      for (let off = 0; off < body.length; off += 100_000) res.write(body.subarray(off, off + 100_000))
      res.end()
    })
    const digest = (b: Buffer | string) => createHash('sha256').update(b).digest('hex')
    for (const url of [RATINGS, `${RATINGS}?chunked`]) {
      const got = await new Promise<Buffer>((resolve, reject) => {
        http
          .get({host: '127.0.0.1', port, path: url}, res => {
            const chunks: Buffer[] = []
            // A slow reader: the sidecar must hold the upstream back, not drop or reorder data.
            res.on('data', (c: Buffer) => {
              chunks.push(c)
              res.pause()
              setImmediate(() => res.resume())
            })
            res.on('end', () => resolve(Buffer.concat(chunks)))
            res.on('error', reject)
          })
          .on('error', reject)
      })
      assert.equal(got.length, body.length, url)
      assert.equal(digest(got), digest(body), url)
    }
  })

  it('an upstream that resets mid-body cuts the downstream response (flag UC)', async () => {
    let calls = 0
    await start((req, res) => {
      req.resume()
      if (++calls > 1) {
        res.end('ok')
        return
      }
      res.writeHead(200, {'content-length': 1_000_000})
      res.write(Buffer.alloc(200_000), () => res.destroy())
    })
    const outcome = await new Promise<string>(resolve => {
      http
        .get({host: '127.0.0.1', port, path: RATINGS}, res => {
          res.resume()
          res.on('end', () => resolve('complete'))
          res.on('error', () => resolve('aborted'))
          res.on('aborted', () => resolve('aborted'))
        })
        .on('error', () => resolve('aborted'))
    })
    assert.equal(outcome, 'aborted')
    const metrics = (await mesh?.sidecar(CLIENT)?.metricsText()) ?? ''
    assert.match(metrics, /istio_requests_total\{reporter="source"[^}]*response_code="200"[^}]*response_flags="UC"/)
    assert.equal((await send(port, RATINGS)).status, 200) // the sidecar keeps serving
  })

  it('Expect: 100-continue is answered by the sidecar and not forwarded', async () => {
    let seen: string | undefined = 'unset'
    await start((req, res) => {
      seen = req.headers.expect
      req.resume()
      req.on('end', () => res.end('ok'))
    })
    const reply = await send(port, RATINGS, {expect: '100-continue', 'content-type': 'text/plain'}, 'POST', 'payload')
    assert.equal(reply.status, 200)
    assert.equal(seen, undefined)
  })
})
