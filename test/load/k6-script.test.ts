import assert from 'node:assert/strict'
import {execFile} from 'node:child_process'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'

import type {LoadPlan} from '../../src/load/driver.js'
import {arrivalRate, FAILED_METRIC, ITERATION_KEY, k6Script, literal, STARTED_METRIC} from '../../src/load/k6-script.js'
import {ANSWER_RULES, answerPeek, PEEK_BYTES, statusReason} from '../../src/load/reasons.js'

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

/** What the stand-in for k6's http module answers: k6's Response fields the script reads. */
interface Answer {
  status: number
  headers: Record<string, string>
  body: string | null
}

/**
 * Evaluates the script with stand-ins for k6's modules; returns its options and what each scenario
 * sends (answered with `answer`) and the reasons it added to the failed counter.
 */
function evaluate(
  source: string,
  answer: () => Answer = () => ({status: 200, headers: {}, body: 'ok'}),
): {
  options: {scenarios: Record<string, Record<string, unknown>>; thresholds?: unknown}
  call: (exec: string) => {
    method: string
    url: string
    body: unknown
    params: {headers: Record<string, string>; timeout: string; responseType: string}
    metadata: Record<string, string>
    started: number
    reasons: string[]
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
  const reasons: string[] = []
  let iteration = 0
  const k6 = {
    http: {
      request: (method: string, url: string, b: unknown, params: never) => {
        requests.push({method, url, body: b, params})
        return answer()
      },
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
        assert.ok([STARTED_METRIC, FAILED_METRIC].includes(name), name)
      }
      add(n: number, tags?: Record<string, string>) {
        if (this.name === STARTED_METRIC) started += n
        else reasons.push(...Array<string>(n).fill(tags?.reason ?? '(no reason tag)'))
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
      return {...r, metadata: {...metadata}, started, reasons: reasons.splice(0)}
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
        {headers: {'x-chaos-test': 'true'}, timeout: '60000ms', responseType: 'text'},
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

  it("keeps the answer's body for a failed answer's first bytes, with discardResponseBodies still on", () => {
    const s = k6Script(plan())
    assert.equal((s.options as {discardResponseBodies?: boolean}).discardResponseBodies, undefined)
    const {options, call} = evaluate(s.source)
    assert.equal((options as {discardResponseBodies?: boolean}).discardResponseBodies, true)
    assert.equal(call('traffic0').params.responseType, 'text')
  })

  describe("labels a failed answer in the builtin driver's words (reasons.ts's functions, embedded)", () => {
    const overflow = 'upstream connect error or disconnect/reset before headers. reset reason: overflow'
    const retried =
      'upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure, transport failure reason: delayed connect error: 111'
    // Header names as Go writes them (canonical) and as HTTP/2 or Node write them (lower case).
    const answers: [Answer, string][] = [
      [{status: 503, headers: {Server: 'envoy', 'X-Envoy-Overloaded': 'true'}, body: overflow}, '503 UO'],
      [{status: 503, headers: {server: 'envoy'}, body: overflow}, '503 UO'],
      [{status: 503, headers: {server: 'envoy'}, body: retried}, '503 UF,URX'],
      [{status: 500, headers: {server: 'envoy'}, body: 'fault filter abort'}, '500 FI'],
      [{status: 504, headers: {Server: 'istio-envoy'}, body: 'upstream request timeout'}, '504 UT'],
      [{status: 503, headers: {Server: 'Envoy'}, body: 'no healthy upstream'}, '503 UH'],
      [{status: 403, headers: {server: 'envoy'}, body: 'RBAC: access denied'}, '403 RBAC'],
      [{status: 404, headers: {server: 'istio-envoy'}, body: ''}, '404 NR'],
      [{status: 503, headers: {server: 'envoy'}, body: null}, '503 NC'],
      [{status: 502, headers: {server: 'envoy'}, body: 'something else'}, '502 envoy'],
      [
        {status: 503, headers: {server: 'envoy', 'x-envoy-upstream-service-time': '3'}, body: 'no healthy upstream'},
        '503',
      ],
      [{status: 500, headers: {}, body: 'fault filter abort'}, '500'],
      [{status: 502, headers: {'X-Faultline-Proxy': 'refused'}, body: ''}, 'proxy refused 502'],
      [
        {status: 502, headers: {'X-Faultline-Port-Forward': 'no ready pod'}, body: 'x'},
        'port-forward lost: no ready pod',
      ],
      [
        {status: 502, headers: {'x-faultline-port-forward': 'stream failed'}, body: ''},
        'port-forward lost: stream failed',
      ],
      [
        {status: 502, headers: {'x-faultline-port-forward': 'anything <b>else</b>'}, body: ''},
        'port-forward lost: unknown',
      ],
      // Only the first PEEK_BYTES count, as in the builtin driver.
      [{status: 503, headers: {server: 'envoy'}, body: `${'x'.repeat(PEEK_BYTES)}no healthy upstream`}, '503 envoy'],
    ]

    for (const [answer, label] of answers)
      it(`${answer.status} ${JSON.stringify(answer.headers)} ${JSON.stringify(answer.body?.slice(0, 40))} → ${label}`, () => {
        const {call} = evaluate(k6Script(plan()).source, () => answer)
        assert.deepEqual(call('traffic0').reasons, [label])
        const lower = Object.fromEntries(Object.entries(answer.headers).map(([k, v]) => [k.toLowerCase(), v]))
        const peek = answerPeek(lower, answer.body === null ? undefined : answer.body.slice(0, PEEK_BYTES))
        assert.equal(statusReason(answer.status, peek), label, 'the builtin driver says the same')
      })

    it('adds no reason for an answer below 400, nor for no answer (status 0: k6 tags its error code)', () => {
      for (const status of [200, 302, 0]) {
        const {call} = evaluate(k6Script(plan()).source, () => ({status, headers: {server: 'envoy'}, body: ''}))
        assert.deepEqual(call('traffic0').reasons, [], String(status))
      }
    })

    it('a classification that throws leaves the bare status, never a failed iteration', () => {
      const headers = new Proxy({} as Record<string, string>, {
        ownKeys() {
          throw new Error('boom')
        },
      })
      const {call} = evaluate(k6Script(plan()).source, () => ({status: 503, headers, body: ''}))
      assert.deepEqual(call('traffic0').reasons, ['503'])
    })

    it('the embedded functions stand alone: the rules and functions come from reasons.ts, the only glue is reasonOf', () => {
      const {source} = k6Script(plan())
      assert.match(source, /^function answerPeek\(/m)
      assert.match(source, /^function localReplyFlag\(/m)
      assert.match(source, /^function answerReason\(/m)
      // Nothing the tests' transpiler (tsx) or a build may inject: a helper k6 does not have would throw in k6.
      assert.doesNotMatch(source, /__name|__defProp|require\(/)
    })
  })

  it('writes the rules as a literal that evaluates back to the same tables', () => {
    const rules = new Function(`return ${literal(ANSWER_RULES)}`)() as typeof ANSWER_RULES
    const plain = (v: unknown): unknown =>
      JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x instanceof RegExp ? `/${x.source}/${x.flags}` : x)))
    assert.deepEqual(plain(rules), plain(ANSWER_RULES))
    assert.ok(rules.resetReply instanceof RegExp)
    const evil = "x'); globalThis.pwned = 1; //\n`${globalThis.pwned = 2}` */ </script>"
    assert.deepEqual(new Function(`return ${literal({[evil]: [evil, /a\/b/gi]})}`)(), {[evil]: [evil, /a\/b/gi]})
    assert.equal((globalThis as {pwned?: number}).pwned, undefined)
  })

  it('expresses any rate as whole iterations per time unit', () => {
    assert.deepEqual(arrivalRate(20), {rate: 20, timeUnit: '1s'})
    assert.deepEqual(arrivalRate(1.5), {rate: 90, timeUnit: '60s'})
    assert.deepEqual(arrivalRate(1 / 60), {rate: 1, timeUnit: '60s'})
    assert.deepEqual(arrivalRate(1 / 3600), {rate: 1, timeUnit: '3600s'})
  })
})
