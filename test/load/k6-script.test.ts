import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import type {LoadPlan} from '../../src/load/driver.js'
import {arrivalRate, ITERATION_KEY, k6Script, STARTED_METRIC} from '../../src/load/k6-script.js'

const plan = (over: Partial<LoadPlan> = {}): LoadPlan => ({
  url: 'http://productpage:9080/productpage',
  method: 'GET',
  durationMs: 70_000,
  requestTimeoutMs: 60_000,
  traffic: [
    {name: 'targeted', ratePerSecond: 5, headers: {'x-chaos-test': 'true'}},
    {name: 'control', ratePerSecond: 5, headers: {}},
  ],
  ...over,
})

/** Evaluates the script with stand-ins for k6's modules; returns its options and what each scenario sends. */
function evaluate(source: string): {
  options: {scenarios: Record<string, Record<string, unknown>>; thresholds?: unknown}
  call: (exec: string) => {
    method: string
    url: string
    body: unknown
    params: {headers: Record<string, string>; timeout: string}
    metadata: Record<string, string>
    started: number
  }
} {
  const body = source
    .replace(/^import http from 'k6\/http'$/m, 'const http = k6.http')
    .replace(/^import exec from 'k6\/execution'$/m, 'const exec = k6.exec')
    .replace(/^import \{Counter\} from 'k6\/metrics'$/m, 'const Counter = k6.Counter')
    .replace(/^export /gm, '')
  assert.doesNotMatch(body, /^import /m, 'only the three k6 modules are imported')
  const names = [...body.matchAll(/^function (traffic\d+)\(/gm)].map(m => m[1])
  const requests: {method: string; url: string; body: unknown; params: never}[] = []
  const metadata: Record<string, string> = {}
  let started = 0
  let iteration = 0
  const k6 = {
    http: {
      request: (method: string, url: string, b: unknown, params: never) =>
        requests.push({method, url, body: b, params}),
    },
    exec: {
      vu: {metrics: {metadata}},
      scenario: {
        get iterationInTest() {
          return iteration++
        },
      },
    },
    Counter: class {
      constructor(readonly name: string) {
        assert.equal(name, STARTED_METRIC)
      }
      add(n: number) {
        started += n
      }
    },
  }
  const module = new Function('k6', `${body}\nreturn {options, ${names.join(', ')}}`) as (
    k: typeof k6,
  ) => Record<string, unknown>
  const m = module(k6)
  return {
    options: m.options as never,
    call: exec => {
      ;(m[exec] as () => void)()
      const r = requests.pop()
      assert.ok(r !== undefined, `${exec} sent a request`)
      return {...r, metadata: {...metadata}, started}
    },
  }
}

describe('k6 script generation', () => {
  it('is valid JavaScript (node --check) with k6 imports', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-k6-script-'))
    try {
      await writeFile(join(dir, 'script.mjs'), k6Script(plan()).source)
      await promisify(execFile)(process.execPath, ['--check', join(dir, 'script.mjs')])
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('one constant-arrival-rate scenario per open-model class, tagged traffic:<name>, no thresholds', () => {
    const s = k6Script(plan())
    const {options} = evaluate(s.source)
    assert.equal(options.thresholds, undefined)
    assert.deepEqual(
      [...s.scenarios],
      [
        ['t0_targeted', 'targeted'],
        ['t1_control', 'control'],
      ],
    )
    assert.deepEqual(options.scenarios.t0_targeted, {
      executor: 'constant-arrival-rate',
      rate: 5,
      timeUnit: '1s',
      duration: '70000ms',
      preAllocatedVUs: 10,
      maxVUs: 301,
      gracefulStop: '61000ms',
      exec: 'traffic0',
      tags: {traffic: 'targeted'},
    })
    assert.deepEqual(options.scenarios.t1_control?.tags, {traffic: 'control'})
    assert.deepEqual(options, {...s.options, discardResponseBodies: true})
  })

  it('a closed-model class (vus) is a constant-vus scenario', () => {
    const {options} = evaluate(k6Script(plan({traffic: [{name: 'loop', vus: 3, headers: {}}]})).source)
    assert.deepEqual(options.scenarios.t0_loop, {
      executor: 'constant-vus',
      vus: 3,
      duration: '70000ms',
      gracefulStop: '61000ms',
      exec: 'traffic0',
      tags: {traffic: 'loop'},
    })
  })

  it('each scenario sends the method, body, its own headers and the timeout, after marking its start', () => {
    const {call} = evaluate(k6Script(plan({method: 'POST', body: '{"a":1}'})).source)
    const targeted = call('traffic0')
    assert.deepEqual(
      [targeted.method, targeted.url, targeted.body, targeted.params],
      [
        'POST',
        'http://productpage:9080/productpage',
        '{"a":1}',
        {headers: {'x-chaos-test': 'true'}, timeout: '60000ms'},
      ],
    )
    assert.deepEqual([targeted.metadata[ITERATION_KEY], targeted.started], ['0', 1])
    const control = call('traffic1')
    assert.deepEqual(
      [control.params.headers, control.body, control.metadata[ITERATION_KEY], control.started],
      [{}, '{"a":1}', '1', 2],
    )
    assert.equal(evaluate(k6Script(plan()).source).call('traffic0').body, null)
  })

  it('every experiment string is JSON-encoded: quotes, backticks, newlines and </script> cannot escape', () => {
    const evil = "x'); globalThis.pwned = 1; //\n`${globalThis.pwned = 2}` */ </script>"
    const s = k6Script(
      plan({
        url: `http://h/${evil}`,
        method: evil,
        body: evil,
        traffic: [{name: evil, ratePerSecond: 1, headers: {[evil]: evil}}],
      }),
    )
    const {options, call} = evaluate(s.source)
    const r = call('traffic0')
    assert.deepEqual([r.url, r.method, r.body, r.params.headers], [`http://h/${evil}`, evil, evil, {[evil]: evil}])
    const [name] = Object.keys(options.scenarios)
    assert.match(name ?? '', /^[A-Za-z0-9_-]+$/)
    assert.deepEqual(options.scenarios[name ?? '']?.tags, {traffic: evil})
    assert.equal((globalThis as {pwned?: number}).pwned, undefined)
  })

  it('sizes VUs: pre-allocated for 2 s of latency, at most one per request in flight within the timeout', () => {
    const {options} = evaluate(
      k6Script(
        plan({
          requestTimeoutMs: 10_000,
          traffic: [
            {name: 'fast', ratePerSecond: 1000, headers: {}},
            {name: 'slow', ratePerSecond: 0.5, headers: {}},
          ],
        }),
      ).source,
    )
    assert.deepEqual([options.scenarios.t0_fast?.preAllocatedVUs, options.scenarios.t0_fast?.maxVUs], [1000, 10_000])
    assert.deepEqual(
      [
        options.scenarios.t1_slow?.preAllocatedVUs,
        options.scenarios.t1_slow?.maxVUs,
        options.scenarios.t1_slow?.rate,
        options.scenarios.t1_slow?.timeUnit,
      ],
      [2, 6, 30, '60s'],
    )
  })

  it('expresses any rate as whole iterations per time unit', () => {
    assert.deepEqual(arrivalRate(20), {rate: 20, timeUnit: '1s'})
    assert.deepEqual(arrivalRate(1.5), {rate: 90, timeUnit: '60s'})
    assert.deepEqual(arrivalRate(1 / 60), {rate: 1, timeUnit: '60s'})
    assert.deepEqual(arrivalRate(1 / 3600), {rate: 1, timeUnit: '3600s'})
  })
})
