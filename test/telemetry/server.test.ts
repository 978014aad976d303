import assert from 'node:assert/strict'
import {connect} from 'node:net'

import {UsageError} from '@faultline/core/errors.js'
import {RunTelemetry} from '../../src/telemetry/metrics.js'
import {startMetricsServer} from '../../src/telemetry/server.js'
import {applied, fakeStream, started} from './events.js'

/** Whether something accepts connections on host:port. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const socket = connect({host, port})
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('telemetry: the --metrics-port server', () => {
  it('serves the registry at /metrics on 127.0.0.1 as the run goes, 404 elsewhere, and closes cleanly', async () => {
    const telemetry = new RunTelemetry()
    const {events} = fakeStream()
    events.subscribe(telemetry.observe)
    const server = await startMetricsServer(telemetry.registry, {port: 0})
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:[0-9]+\/metrics$/)
      events.emit(started('ratings-abort'))
      events.emit({kind: 'fault-applied', fault: applied('faultline-ratings', ['ratings'])})
      const live = await fetch(server.url)
      assert.equal(live.status, 200)
      assert.match(live.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
      assert.match(await live.text(), /^chaos_fault_active\{experiment="ratings-abort",service="ratings"\} 1$/m)
      events.emit({
        kind: 'revert',
        namespace: 'default',
        name: 'faultline-ratings',
        action: 'deleted',
        message: 'deleted',
      })
      assert.match(
        await (await fetch(server.url)).text(),
        /^chaos_fault_active\{experiment="ratings-abort",service="ratings"\} 0$/m,
      )
      assert.equal((await fetch(server.url.replace('/metrics', '/'))).status, 404)
      assert.equal((await fetch(server.url, {method: 'POST'})).status, 405)
      // A keep-alive connection open at close time does not hold the close up.
      await fetch(server.url, {headers: {connection: 'keep-alive'}})
    } finally {
      await server.close()
      await server.close()
    }
    assert.equal(await accepts('127.0.0.1', server.port), false)
  })

  it('binds where it is told, and reports a port in use as an error', async () => {
    const registry = new RunTelemetry().registry
    const a = await startMetricsServer(registry, {port: 0, host: '127.0.0.1'})
    try {
      await assert.rejects(
        startMetricsServer(registry, {port: a.port, host: '127.0.0.1'}),
        (err: unknown) =>
          err instanceof UsageError && err.exitCode === 2 && /the port is in use \(EADDRINUSE\)/.test(err.message),
      )
    } finally {
      await a.close()
    }
  })
})
