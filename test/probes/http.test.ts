import assert from 'node:assert/strict'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'

import {evaluateHttp} from '../../src/probes/http.js'

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const {port} = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

describe('HTTP probe', () => {
  it("an answer that never came is errored with the load's words for why, the proxy's own failures named as such", async () => {
    const port = await deadPort()
    const direct = await evaluateHttp({url: `http://127.0.0.1:${port}/`, expect: {status: 200}})
    assert.equal(direct.status, 'errored')
    assert.equal(direct.message, `http://127.0.0.1:${port}/ did not answer: ECONNREFUSED 127.0.0.1:${port}`)
    const proxied = await evaluateHttp(
      {url: 'http://productpage:9080/productpage', expect: {status: 200}},
      `http://127.0.0.1:${port}`,
    )
    assert.equal(
      proxied.message,
      `http://productpage:9080/productpage did not answer: proxy ECONNREFUSED 127.0.0.1:${port}`,
    )
  })
})
