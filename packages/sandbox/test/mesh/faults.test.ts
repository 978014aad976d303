import http from 'node:http'
import assert from 'node:assert/strict'

import type {HTTPFaultInjection, HTTPMatchRequest} from '@faultline/core/istio/types.js'
import {perMillion} from '../../src/mesh/fault.js'
import {holdFor} from '../../src/mesh/router.js'
import type {Mesh} from '../../src/mesh/index.js'
import {FakeConfig, FakeTopology, seededRandom, send, startMesh, stat, virtualService} from './harness.js'

const RATINGS = 'http://ratings:9080/ratings/0'
const CLIENT = 'productpage-v1-5d9b6f7c8d-abcde'
// Istio ≥ 1.23's HTTP connection manager stat prefix ends in `;` (listener.go DelimitedStatsPrefix).
const FAULTS = 'http.outbound_0.0.0.0_9080;.fault.'

describe('sandbox mesh: fault injection (Envoy fault filter as Istio configures it)', () => {
  let topology: FakeTopology
  let config: FakeConfig
  let mesh: Mesh
  let port: number
  let ratingsHits: () => number

  beforeEach(async () => {
    topology = new FakeTopology()
    config = new FakeConfig()
    topology.service('ratings')
    const ratings = await topology.pod('ratings-v1-6b7c9d8f5c-aaaaa', {app: 'ratings', version: 'v1'})
    ratingsHits = () => ratings.hits
    ;({mesh, port} = await startMesh(topology, config))
  })

  afterEach(async () => {
    await mesh.close()
    await topology.close()
  })

  const withFault = (fault: HTTPFaultInjection, match?: HTTPMatchRequest[]) =>
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [
          {...(match === undefined ? {} : {match}), fault, route: [{destination: {host: 'ratings'}}]},
          ...(match === undefined ? [] : [{route: [{destination: {host: 'ratings'}}]}]),
        ],
      }),
    )

  const metrics = async () => (await mesh.sidecar(CLIENT)?.metricsText()) ?? ''

  it('percentage → fraction per million, truncated as Istio does (uint32(value*10000))', () => {
    assert.equal(perMillion({value: 100}), 1_000_000)
    assert.equal(perMillion({value: 0.1}), 1000, '0.1 means 0.1 %, not 10 %')
    assert.equal(perMillion({value: 0.0001}), 1)
    assert.equal(perMillion({value: 0.00005}), 0, 'finer than 1 per million truncates to 0')
    assert.equal(perMillion(undefined, 50), 500_000, 'deprecated int percent is per hundred')
    assert.equal(perMillion(undefined), 0, 'no percentage: nothing injected')
  })

  it('abort is answered locally with "fault filter abort", flag FI, and never reaches the upstream', async () => {
    withFault({abort: {httpStatus: 555, percentage: {value: 100}}})
    const r = await send(port, RATINGS)
    assert.equal(r.status, 555)
    assert.equal(r.body, 'fault filter abort')
    assert.equal(ratingsHits(), 0)
    assert.equal(stat(mesh, CLIENT, `${FAULTS}aborts_injected`), 1)
    assert.match(await metrics(), /reporter="source"[^}]*response_code="555"[^}]*response_flags="FI"/)
  })

  it('grpcStatus abort answers HTTP 200 with a grpc-status header', async () => {
    withFault({abort: {grpcStatus: 'UNAVAILABLE', percentage: {value: 100}}})
    const r = await send(port, RATINGS)
    assert.equal(r.status, 200)
    assert.equal(r.headers['grpc-status'], '14')
    assert.equal(ratingsHits(), 0)
  })

  it('abort percentage 50 aborts within the 99.9% binomial bound', async () => {
    await mesh.close()
    ;({mesh, port} = await startMesh(topology, config, {random: seededRandom(0xfa17)}))
    withFault({abort: {httpStatus: 503, percentage: {value: 50}}})
    const n = 1000
    let aborted = 0
    for (let i = 0; i < n; i++) if ((await send(port, RATINGS)).body === 'fault filter abort') aborted++
    const sd = Math.sqrt(n * 0.25)
    assert.ok(Math.abs(aborted - n / 2) <= 3.29 * sd, `aborted ${aborted} of ${n}`)
    assert.equal(stat(mesh, CLIENT, `${FAULTS}aborts_injected`), aborted)
    assert.equal(ratingsHits(), n - aborted)
  }).timeout(30_000)

  it('delay then abort: both flags DI,FI', async () => {
    withFault({
      delay: {fixedDelay: '60ms', percentage: {value: 100}},
      abort: {httpStatus: 503, percentage: {value: 100}},
    })
    const r = await send(port, RATINGS)
    assert.equal(r.status, 503)
    assert.ok(r.ms >= 55, `delayed ${r.ms.toFixed(1)} ms before the abort`)
    assert.equal(stat(mesh, CLIENT, `${FAULTS}delays_injected`), 1)
    assert.equal(stat(mesh, CLIENT, `${FAULTS}aborts_injected`), 1)
    assert.match(await metrics(), /response_code="503"[^}]*response_flags="DI,FI"/)
  })

  it('delay alone keeps the upstream response code with flag DI', async () => {
    withFault({delay: {fixedDelay: '40ms', percentage: {value: 100}}})
    const r = await send(port, RATINGS)
    assert.equal(r.status, 200)
    assert.ok(r.ms >= 35)
    assert.match(await metrics(), /reporter="source"[^}]*response_code="200"[^}]*response_flags="DI"/)
  })

  it('holds a delay for at least its length on the high-resolution clock (a plain Node timer fires up to 1 ms early)', async () => {
    // Started at random points within a millisecond, as requests arrive: a plain setTimeout(fn, 5)
    // ends after 4.2–5 ms in a few percent of these.
    const elapsed: number[] = []
    for (let i = 0; i < 300; i++) {
      const spin = performance.now() + Math.random() * 0.9
      while (performance.now() < spin) {
        /* land somewhere inside the millisecond */
      }
      const started = performance.now()
      await new Promise<void>(resolve =>
        holdFor(5, () => {
          elapsed.push(performance.now() - started)
          resolve()
        }),
      )
    }
    assert.deepEqual(
      elapsed.filter(ms => ms < 5),
      [],
      'held for less than 5 ms',
    )
  })

  it('delay and abort are independent draws (injectable random)', async () => {
    const draws = [0.1, 0.9] // delay draw fires (0.1 < 0.5), abort draw does not (0.9 ≥ 0.5)
    await mesh.close()
    ;({mesh, port} = await startMesh(topology, config, {random: () => draws.shift() ?? 0.99}))
    withFault({delay: {fixedDelay: '5ms', percentage: {value: 50}}, abort: {httpStatus: 500, percentage: {value: 50}}})
    const r = await send(port, RATINGS)
    assert.equal(r.status, 200)
    assert.equal(stat(mesh, CLIENT, `${FAULTS}delays_injected`), 1)
    assert.equal(stat(mesh, CLIENT, `${FAULTS}aborts_injected`), 0)
  })

  it('a header-matched fault leaves other traffic untouched', async () => {
    withFault({abort: {httpStatus: 500, percentage: {value: 100}}}, [{headers: {'x-chaos-test': {exact: 'true'}}}])
    assert.equal((await send(port, RATINGS, {'x-chaos-test': 'true'})).status, 500)
    assert.equal((await send(port, RATINGS)).status, 200)
  })

  it('a client that leaves during a delay is counted DC and active_faults returns to 0', async () => {
    withFault({delay: {fixedDelay: '200ms', percentage: {value: 100}}})
    const req = http.request({host: '127.0.0.1', port, path: RATINGS})
    req.on('error', () => undefined)
    req.end()
    const deadline = Date.now() + 2000
    while (stat(mesh, CLIENT, `${FAULTS}active_faults`) !== 1 && Date.now() < deadline)
      await new Promise(resolve => setImmediate(resolve))
    req.destroy()
    while (stat(mesh, CLIENT, `${FAULTS}active_faults`) !== 0 && Date.now() < deadline)
      await new Promise(resolve => setImmediate(resolve))
    assert.equal(stat(mesh, CLIENT, `${FAULTS}active_faults`), 0)
    assert.equal(ratingsHits(), 0, 'the delayed request never reached the upstream')
    assert.match(await metrics(), /response_code="0"[^}]*response_flags="DI,DC"/)
  })
})
