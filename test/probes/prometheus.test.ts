import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {evaluatePrometheus, PrometheusClient} from '../../src/probes/prometheus.js'

/** A stand-in for Prometheus's HTTP API answering canned results per query. */
function fakePrometheus(answers: Record<string, unknown>): Promise<{server: Server; url: string}> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (url.pathname === '/-/ready') return res.end('Prometheus Server is Ready.')
    const query = url.searchParams.get('query') ?? ''
    const answer = answers[query]
    if (answer === undefined)
      return res
        .writeHead(400)
        .end(JSON.stringify({status: 'error', errorType: 'bad_data', error: `1:1: parse error: unexpected "${query}"`}))
    res.end(JSON.stringify(answer))
  })
  return new Promise(resolve =>
    server.listen(0, '127.0.0.1', () =>
      resolve({server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`}),
    ),
  )
}

const vector = (...values: string[]) => ({
  status: 'success',
  data: {resultType: 'vector', result: values.map((v, i) => ({metric: {i: String(i)}, value: [1, v]}))},
})

describe('prometheus probe', () => {
  let server: Server
  let client: PrometheusClient
  before(async () => {
    const fake = await fakePrometheus({
      ratio: vector('0.004'),
      high: vector('0.3'),
      empty: vector(),
      two: vector('1', '2'),
      nan: vector('NaN'),
      scalar: {status: 'success', data: {resultType: 'scalar', result: [1, '7']}},
    })
    server = fake.server
    client = new PrometheusClient(fake.url)
  })
  after(() => server.close())

  it('holds and misses by the expectation', async () => {
    assert.deepEqual(await evaluatePrometheus(client, 'ratio', '< 0.01'), {
      status: 'held',
      actual: '0.004',
      value: 0.004,
    })
    assert.equal((await evaluatePrometheus(client, 'high', '< 0.01')).status, 'missed')
    assert.equal((await evaluatePrometheus(client, 'scalar', '== 7')).status, 'held')
    assert.equal(await client.ready(), true)
  })

  it('no data is never a pass: empty, NaN, several series, query errors and an unreachable server all error', async () => {
    for (const [query, pattern] of [
      ['empty', /no data/],
      ['nan', /NaN/],
      ['two', /2 series/],
      ['bogus(', /parse error/],
    ] as const) {
      const verdict = await evaluatePrometheus(client, query, '< 0.01')
      assert.equal(verdict.status, 'errored', query)
      assert.match(verdict.message ?? '', pattern)
    }
    const down = await evaluatePrometheus(new PrometheusClient('http://127.0.0.1:1'), 'ratio', '< 0.01')
    assert.equal(down.status, 'errored')
    assert.match(down.message ?? '', /did not answer/)
    assert.equal(await new PrometheusClient('http://127.0.0.1:1').ready(), false)
  })

  it('rejects an expectation it cannot read', async () => {
    assert.equal((await evaluatePrometheus(client, 'ratio', 'small')).status, 'errored')
  })
})
