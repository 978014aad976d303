import assert from 'node:assert/strict'
import http from 'node:http'
import type {AddressInfo} from 'node:net'

import type {PeerAuthentication} from '@faultline/core/istio/peer-authentication.js'
import {InboundListener} from '../../src/mesh/inbound.js'

const pa = (namespace: string, name: string, spec: NonNullable<PeerAuthentication['spec']>): PeerAuthentication => ({
  metadata: {name, namespace, creationTimestamp: '2026-01-01T00:00:00Z'},
  spec,
})

/** One plaintext GET to the pod's address: the status, or the error code. */
function get(port: number): Promise<string> {
  return new Promise(resolve => {
    const req = http.get({host: '127.0.0.1', port, path: '/ratings/0', agent: false}, res => {
      res.resume()
      res.on('end', () => resolve(String(res.statusCode)))
    })
    req.on('error', err => resolve((err as NodeJS.ErrnoException).code ?? err.message))
  })
}

describe('sandbox inbound sidecar: plaintext from a client without a sidecar', () => {
  let app: http.Server
  let listener: InboundListener
  let policies: PeerAuthentication[] = []

  before(async () => {
    app = http.createServer((_req, res) => res.end('{"id":0}'))
    await new Promise<void>(resolve => app.listen(0, '127.0.0.1', resolve))
    listener = new InboundListener({
      workload: {namespace: 'default', labels: {app: 'ratings', version: 'v1'}},
      appPort: (app.address() as AddressInfo).port,
      containerPort: 9080,
      policies: () => policies,
    })
    await listener.listen()
  })
  after(async () => {
    await listener.close()
    await new Promise(resolve => app.close(resolve))
  })
  beforeEach(() => {
    policies = []
    listener.counts.reset = 0
    listener.counts.accepted = 0
  })

  it("PERMISSIVE (no policy, Istio's default) hands plaintext to the application", async () => {
    assert.equal(listener.mode(), 'PERMISSIVE')
    assert.equal(await get(listener.port), '200')
    assert.deepEqual(listener.counts, {reset: 0, accepted: 1})
  })

  it('STRICT mesh-wide, namespace-wide or for the workload: the connection is reset', async () => {
    for (const policy of [
      pa('istio-system', 'default', {mtls: {mode: 'STRICT'}}),
      pa('default', 'ns', {mtls: {mode: 'STRICT'}}),
      pa('default', 'r', {selector: {matchLabels: {app: 'ratings'}}, mtls: {mode: 'STRICT'}}),
    ]) {
      policies = [policy]
      assert.equal(await get(listener.port), 'ECONNRESET', policy.metadata.name)
    }
    assert.deepEqual(listener.counts, {reset: 3, accepted: 0})
  })

  it("a workload policy or its port opening 9080 in a STRICT namespace lets plaintext through; another workload's does not", async () => {
    const strict = pa('default', 'ns', {mtls: {mode: 'STRICT'}})
    policies = [strict, pa('default', 'r', {selector: {matchLabels: {app: 'ratings'}}, mtls: {mode: 'PERMISSIVE'}})]
    assert.equal(await get(listener.port), '200')
    policies = [
      strict,
      pa('default', 'r', {selector: {matchLabels: {app: 'ratings'}}, portLevelMtls: {9080: {mode: 'DISABLE'}}}),
    ]
    assert.equal(await get(listener.port), '200')
    policies = [
      strict,
      pa('default', 'r', {selector: {matchLabels: {app: 'ratings'}}, portLevelMtls: {9090: {mode: 'DISABLE'}}}),
    ]
    assert.equal(await get(listener.port), 'ECONNRESET')
    policies = [strict, pa('default', 'p', {selector: {matchLabels: {app: 'productpage'}}, mtls: {mode: 'PERMISSIVE'}})]
    assert.equal(await get(listener.port), 'ECONNRESET')
  })

  it('reads the policies on every connection: a STRICT policy applies to the next connection, its removal too', async () => {
    assert.equal(await get(listener.port), '200')
    policies = [pa('default', 'ns', {mtls: {mode: 'STRICT'}})]
    assert.equal(await get(listener.port), 'ECONNRESET')
    policies = []
    assert.equal(await get(listener.port), '200')
  })
})
