/**
 * The pusher against a real Prometheus Pushgateway (Debian `prometheus-pushgateway`), started on a
 * free loopback port without persistence: push, then read back `/metrics` and `/api/v1/metrics`.
 */
import assert from 'node:assert/strict'
import {createServer, type Server, type Socket} from 'node:net'

import {UsageError} from '@faultline/core/errors.js'
import {TelemetryPusher} from '../../src/telemetry/pushgateway.js'
import {applied, fakeStream, probe, started} from './events.js'
import {freePort, type Gateway, PUSHGATEWAY_PROBLEM, scrape, startPushgateway} from './gateway.js'

interface ApiGroup {
  labels: Record<string, string>
  [family: string]: unknown
}

describe('telemetry: TelemetryPusher against a real Pushgateway', function () {
  this.timeout(30_000)
  let gateway: Gateway | undefined
  let url: string

  before(async function () {
    if (PUSHGATEWAY_PROBLEM !== undefined) {
      console.log(`      (skipped: ${PUSHGATEWAY_PROBLEM})`)
      return this.skip()
    }
    gateway = await startPushgateway()
    url = gateway.url
  })

  after(async () => {
    await gateway?.stop()
  })

  it("POST at fault applied keeps the previous run's outcome; the final PUT replaces the group with this run's", async () => {
    const warnings: string[] = []
    // The previous run of the experiment: held, with a probe this run no longer has.
    const pushPrevious = new TelemetryPusher({url, warn: m => warnings.push(m)})
    const a = fakeStream()
    a.events.subscribe(pushPrevious.observe)
    a.events.emit(started('ratings-abort'))
    a.events.emit({kind: 'probe-result', result: probe('renamed-away', 'fault', 'held')})
    a.events.emit({kind: 'run-finished', outcome: 'held', exitCode: 0, reason: 'held'})
    await pushPrevious.close()

    const pusher = new TelemetryPusher({url, warn: m => warnings.push(m)})
    const {events, advance} = fakeStream()
    events.subscribe(pusher.observe)
    events.emit(started('ratings-abort'))
    events.emit({kind: 'probe-result', result: probe('latency', 'baseline', 'held')})
    advance(4000)
    events.emit({kind: 'fault-applied', fault: applied('faultline-ratings', ['ratings'])})
    await pusher.settled()
    const live = await scrape(url)
    assert.equal(
      live.get('chaos_fault_active{experiment="ratings-abort",instance="",job="faultline",service="ratings"}'),
      1,
    )
    assert.equal(
      live.get(
        'chaos_probe_result{experiment="ratings-abort",instance="",job="faultline",phase="baseline",probe="latency",status="held"}',
      ),
      1,
    )
    assert.equal(
      live.get('chaos_experiment_runs_total{experiment="ratings-abort",instance="",job="faultline",outcome="held"}'),
      1,
      'the POST left the previous outcome alone',
    )
    assert.equal(
      live.get(
        'chaos_probe_result{experiment="ratings-abort",instance="",job="faultline",phase="fault",probe="renamed-away",status="held"}',
      ),
      undefined,
      'POST replaces a family it carries',
    )

    advance(6000)
    events.emit({
      kind: 'revert',
      namespace: 'default',
      name: 'faultline-ratings',
      action: 'deleted',
      message: 'deleted',
    })
    events.emit({kind: 'run-finished', outcome: 'deviated', exitCode: 1, reason: 'latency missed'})
    await pusher.close()
    const final = await scrape(url)
    assert.equal(
      final.get('chaos_fault_active{experiment="ratings-abort",instance="",job="faultline",service="ratings"}'),
      0,
    )
    assert.equal(
      final.get(
        'chaos_experiment_runs_total{experiment="ratings-abort",instance="",job="faultline",outcome="deviated"}',
      ),
      1,
    )
    assert.equal(
      final.get('chaos_experiment_runs_total{experiment="ratings-abort",instance="",job="faultline",outcome="held"}'),
      0,
    )
    assert.equal(
      final.get('chaos_experiment_duration_seconds{experiment="ratings-abort",instance="",job="faultline"}'),
      10,
    )
    assert.deepEqual(
      pusher.pushes.map(p => [p.method, p.reason, p.ok]),
      [
        ['POST', 'fault applied', true],
        ['PUT', 'run finished', true],
      ],
    )
    assert.deepEqual(warnings, [])

    const api = (await (await fetch(`${url}/api/v1/metrics`)).json()) as {status: string; data: ApiGroup[]}
    assert.equal(api.status, 'success')
    const group = api.data.find(g => g.labels['job'] === 'faultline' && g.labels['experiment'] === 'ratings-abort')
    assert.ok(group !== undefined, JSON.stringify(api.data.map(g => g.labels)))
    assert.deepEqual(group.labels, {job: 'faultline', experiment: 'ratings-abort'})
    for (const family of [
      'chaos_experiment_runs_total',
      'chaos_experiment_duration_seconds',
      'chaos_fault_active',
      'chaos_probe_result',
      'push_time_seconds',
      'push_failure_time_seconds',
    ]) {
      assert.ok(family in group, `${family} in the API's group`)
    }
    const duration = group['chaos_experiment_duration_seconds'] as {type: string; metrics: {value: string}[]}
    assert.deepEqual([duration.type, duration.metrics.map(m => Number(m.value))], ['GAUGE', [10]])
  })

  it("one pusher across a game day: each experiment's group holds only its own series; a run's writes in a row make one POST", async () => {
    const pusher = new TelemetryPusher({url, warn: m => assert.fail(m)})
    const {events} = fakeStream()
    events.subscribe(pusher.observe)
    for (const experiment of ['gameday-first', 'gameday-second']) {
      events.emit(started(experiment))
      events.emit({kind: 'fault-applied', fault: applied(`faultline-${experiment}`, [experiment])})
      events.emit({kind: 'fault-applied', fault: applied(`${experiment}-second-object`, [experiment])})
      events.emit({
        kind: 'revert',
        namespace: 'default',
        name: `faultline-${experiment}`,
        action: 'deleted',
        message: 'deleted',
      })
      events.emit({kind: 'run-finished', outcome: 'held', exitCode: 0, reason: 'held'})
    }
    await pusher.close()
    const api = (await (await fetch(`${url}/api/v1/metrics`)).json()) as {data: ApiGroup[]}
    for (const experiment of ['gameday-first', 'gameday-second']) {
      const group = api.data.find(g => g.labels['experiment'] === experiment)
      const active = group?.['chaos_fault_active'] as {metrics: {labels: Record<string, string>}[]} | undefined
      assert.deepEqual(
        active?.metrics.map(m => m.labels['service']),
        [experiment],
        `${experiment}'s group`,
      )
    }
    // Two writes per run, one POST each: writes in a row join the push already queued.
    assert.deepEqual(
      pusher.pushes.map(p => p.method),
      ['POST', 'PUT', 'POST', 'PUT'],
    )
  })

  it('an instance makes a group of its own', async () => {
    const pusher = new TelemetryPusher({url, instance: 'ci-runner-1', warn: m => assert.fail(m)})
    const {events} = fakeStream()
    events.subscribe(pusher.observe)
    events.emit(started('reviews-circuit-breaker'))
    events.emit({kind: 'run-finished', outcome: 'held', exitCode: 0, reason: 'held'})
    await pusher.close()
    const metrics = await scrape(url)
    assert.equal(
      metrics.get(
        'chaos_experiment_runs_total{experiment="reviews-circuit-breaker",instance="ci-runner-1",job="faultline",outcome="held"}',
      ),
      1,
    )
  })
})

describe('telemetry: TelemetryPusher when the Pushgateway fails', function () {
  this.timeout(10_000)
  let silent: Server | undefined
  const sockets: Socket[] = []

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    if (silent !== undefined) await new Promise(resolve => silent?.close(resolve))
    silent = undefined
  })

  /** One run through a pusher; resolves with its warnings once close() returned. */
  async function runThrough(url: string, timeoutMs: number): Promise<{warnings: string[]; pusher: TelemetryPusher}> {
    const warnings: string[] = []
    const pusher = new TelemetryPusher({url, timeoutMs, warn: m => warnings.push(m)})
    const {events} = fakeStream()
    events.subscribe(pusher.observe)
    events.emit(started('ratings-abort'))
    events.emit({kind: 'fault-applied', fault: applied('faultline-ratings', ['ratings'])})
    events.emit({kind: 'run-finished', outcome: 'held', exitCode: 0, reason: 'held'})
    await pusher.close()
    return {warnings, pusher}
  }

  it('nobody listening: two warnings, close() resolves, the subscriber never threw', async () => {
    const {warnings, pusher} = await runThrough(`http://127.0.0.1:${await freePort()}`, 2000)
    assert.equal(warnings.length, 2)
    assert.match(warnings[0] ?? '', /POST \(fault applied\) failed: .*ECONNREFUSED.*; the run goes on/)
    assert.deepEqual(
      pusher.pushes.map(p => p.ok),
      [false, false],
    )
  })

  it('a gateway that never answers: each push abandoned after its timeout', async () => {
    silent = createServer(socket => void sockets.push(socket)) // accepts, answers nothing
    await new Promise<void>(resolve => silent?.listen(0, '127.0.0.1', resolve))
    const started0 = Date.now()
    const {warnings} = await runThrough(`http://127.0.0.1:${(silent.address() as {port: number}).port}`, 300)
    const took = Date.now() - started0
    assert.equal(warnings.length, 2)
    for (const w of warnings) assert.match(w, /no answer within 300ms/)
    assert.ok(took >= 600 && took < 3000, `two bounded pushes took ${took}ms`)
  })

  it('a run that threw before its verdict still gets a final push on close()', async () => {
    const pusher = new TelemetryPusher({url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 500, warn: () => {}})
    const {events} = fakeStream()
    events.subscribe(pusher.observe)
    events.emit(started('ratings-abort'))
    await pusher.close()
    assert.deepEqual(
      pusher.pushes.map(p => [p.method, p.reason]),
      [['PUT', 'run ended without a verdict']],
    )
  })

  it('a URL that is not http(s) is refused at construction', () => {
    for (const url of ['ftp://x', 'not a url', 'pushgateway:9091']) {
      assert.throws(
        () => new TelemetryPusher({url, warn: () => {}}),
        (err: unknown) => err instanceof UsageError && err.exitCode === 2 && /expected an http/.test(err.message),
      )
    }
  })
})
