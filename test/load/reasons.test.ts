import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {
  envoyFlag,
  errorReason,
  k6Reason,
  reasonsText,
  statusReason,
  sumReasons,
  topReasons,
} from '../../src/load/reasons.js'
import {Recorder} from '../../src/load/recorder.js'

describe('failure reasons', () => {
  it('names network errors by their code, with the host or address they concern', () => {
    assert.equal(errorReason({code: 'ENOTFOUND', hostname: 'productpage'}), 'ENOTFOUND productpage')
    assert.equal(errorReason({code: 'EAI_AGAIN'}, {host: 'productpage'}), 'EAI_AGAIN productpage')
    assert.equal(errorReason({code: 'ECONNREFUSED', address: '127.0.0.1', port: 9080}), 'ECONNREFUSED 127.0.0.1:9080')
    assert.equal(
      errorReason({code: 'ECONNREFUSED', address: '127.0.0.1', port: 3128}, {viaProxy: true}),
      'proxy ECONNREFUSED 127.0.0.1:3128',
    )
    assert.equal(errorReason({code: 'ECONNRESET'}), 'reset (ECONNRESET)')
    assert.equal(errorReason({code: 'UND_ERR_SOCKET'}), 'reset (connection closed)')
    assert.equal(errorReason({code: 'UND_ERR_HEADERS_TIMEOUT'}), 'timeout')
    assert.equal(errorReason({code: 'UND_ERR_CONNECT_TIMEOUT'}, {viaProxy: true}), 'proxy timeout (connect)')
    assert.equal(errorReason({code: 'CERT_HAS_EXPIRED'}), 'TLS CERT_HAS_EXPIRED')
    assert.equal(errorReason({code: 'ERR_TLS_CERT_ALTNAME_INVALID'}), 'TLS ERR_TLS_CERT_ALTNAME_INVALID')
    assert.equal(errorReason({code: 'UND_ERR_SOCKET', cause: {code: 'ECONNRESET'}}), 'reset (ECONNRESET)')
    assert.equal(errorReason({message: 'boom'}), 'error')
    assert.equal(errorReason(undefined), 'error')
  })

  it("tells Envoy local replies by their body (the sandbox mesh README's table) and flags them", () => {
    const local = (status: number, body: string) => statusReason(status, {server: 'envoy', body})
    assert.equal(
      local(503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow'),
      '503 UO',
    )
    assert.equal(local(503, 'no healthy upstream'), '503 UH')
    assert.equal(local(500, 'fault filter abort'), '500 FI')
    assert.equal(local(504, 'upstream request timeout'), '504 UT')
    assert.equal(
      local(
        503,
        'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111',
      ),
      '503 UF,URX',
    )
    assert.equal(
      local(503, 'upstream connect error or disconnect/reset before headers. reset reason: connection termination'),
      '503 UC',
    )
    assert.equal(local(404, ''), '404 NR')
    assert.equal(local(503, ''), '503 NC')
    assert.equal(local(403, 'RBAC: access denied'), '403 RBAC')
    assert.equal(local(502, 'something else'), '502 envoy')
    assert.equal(statusReason(503, {server: 'istio-envoy', body: 'no healthy upstream'}), '503 UH')
    assert.equal(statusReason(503, {overloaded: true}), '503 UO')
    // Answered by the application through the mesh: Envoy adds x-envoy-upstream-service-time.
    assert.equal(statusReason(503, {server: 'envoy', upstreamServiceTime: true, body: 'no healthy upstream'}), '503')
    assert.equal(statusReason(500, {}), '500')
    assert.equal(statusReason(502, {proxyRefused: true}), 'proxy refused 502')
    // chaos's own port-forward (--entry portForward) reached no pod: its header says why, from a fixed set.
    assert.equal(statusReason(502, {portForward: 'no ready pod'}), 'port-forward lost: no ready pod')
    assert.equal(statusReason(502, {portForward: 'stream failed', server: 'envoy'}), 'port-forward lost: stream failed')
    assert.equal(
      statusReason(502, {portForward: 'anything <b>else</b>'}),
      'port-forward lost: unknown',
      'never a free-form label',
    )
    assert.equal(envoyFlag(503, 'anything', true), 'UO')
  })

  it("every flag it gives is one of Envoy's response flags (or Istio's RBAC denial)", () => {
    const csv = readFileSync(new URL('../reference/envoy-stats/envoy-response-flags.csv', import.meta.url), 'utf8')
    const flags = new Set(
      csv
        .trim()
        .split('\n')
        .slice(1)
        .map(l => l.split(',')[1]),
    )
    const bodies = [
      'fault filter abort',
      'no healthy upstream',
      'upstream request timeout',
      'upstream max stream duration reached',
      'local_rate_limited',
      '',
      ...[
        'overflow',
        'connection failure',
        'connection termination',
        'local reset',
        'remote reset',
        'protocol error',
      ].map(r => `upstream connect error or disconnect/reset before headers. reset reason: ${r}`),
    ]
    for (const body of bodies) {
      for (const status of [404, 503]) {
        const flag = envoyFlag(status, body)
        if (flag === undefined) continue
        for (const f of flag.split(','))
          assert.ok(flags.has(f), `${f} (for ${JSON.stringify(body)}) is not in envoy-response-flags.csv`)
      }
    }
  })

  it('reads k6\'s error codes (grafana k6 docs, "Error codes") into the same words', () => {
    assert.equal(
      k6Reason(0, {error_code: '1101', error: 'lookup productpage on 127.0.0.53:53: no such host'}),
      'ENOTFOUND productpage',
    )
    assert.equal(k6Reason(0, {error_code: '1101', url: 'http://productpage:9080/productpage'}), 'ENOTFOUND productpage')
    assert.equal(k6Reason(0, {error_code: '1211'}), 'timeout (connect)')
    assert.equal(
      k6Reason(0, {error_code: '1212', error: 'dial tcp 127.0.0.1:9080: connect: connection refused'}),
      'ECONNREFUSED 127.0.0.1:9080',
    )
    assert.equal(k6Reason(0, {error_code: '1220'}), 'reset (ECONNRESET)')
    assert.equal(k6Reason(0, {error_code: '1050'}), 'timeout')
    assert.equal(k6Reason(0, {error_code: '1310'}), 'TLS unknown authority')
    assert.equal(k6Reason(0, {error_code: '1301'}), 'TLS error (k6 1301)')
    assert.equal(k6Reason(0, {error_code: '1000'}), 'error (k6 1000)')
    assert.equal(k6Reason(503, {error_code: '1503'}), '503')
    assert.equal(k6Reason(0, {}), 'error')
  })

  it('sums, ranks and words reasons', () => {
    const sum = sumReasons([
      {reasons: {'503 UO': 2, 'ENOTFOUND productpage': 1}},
      {},
      {reasons: {'503 UO': 1, timeout: 1, '500': 1}},
    ])
    assert.deepEqual(sum, {'503 UO': 3, 'ENOTFOUND productpage': 1, timeout: 1, '500': 1})
    assert.deepEqual(topReasons(sum, 2), [
      ['503 UO', 3],
      ['500', 1],
    ])
    assert.equal(reasonsText(sum, 2), '503 UO × 3, 500 × 1, +2 more')
    assert.equal(reasonsText({}), '')
  })

  it('the recorder counts every failed request under exactly one reason, per class and second', () => {
    const r = new Recorder(['a'])
    const sends: [number, number, string | undefined][] = [
      [200, 200, undefined],
      [100, 503, '503 UO'],
      [300, 0, 'ENOTFOUND productpage'],
      [1200, 0, undefined],
      [1300, 404, undefined],
      [1400, 302, undefined],
    ]
    for (const [at, status, reason] of sends) {
      r.started('a', at)
      r.completed('a', at, 5, status, reason)
    }
    r.flush(0, true)
    const [s0, s1] = r.seconds('a')
    assert.deepEqual(s0?.reasons, {'503 UO': 1, 'ENOTFOUND productpage': 1})
    assert.deepEqual(s1?.reasons, {error: 1, '404': 1})
    for (const s of r.seconds('a'))
      assert.equal(
        Object.values(s.reasons ?? {}).reduce((a, b) => a + b, 0),
        s.failed,
      )
  })
})
