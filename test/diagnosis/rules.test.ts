import assert from 'node:assert/strict'

import type {Fault} from '../../src/experiment/model.js'
import type {DestinationRule, VirtualService} from '@faultline/core/istio/types.js'
import type {BlastRadiusMap, RuleName} from '../../src/diagnosis/model.js'
import {
  blastRadiusRule,
  controlRule,
  deadlineRule,
  diagnose,
  ejectionRule,
  notFiredRule,
  overflowRule,
  retriesRule,
  type Rule,
  silentDegradationRule,
} from '../../src/diagnosis/rules.js'
import {edge, mapOf, phase} from './maps.js'

const delay7s: Fault = {
  service: 'ratings',
  match: {headers: {'user-agent': {exact: 'faultline-chaos-test'}}},
  delay: {fixedDelay: '7s', percentage: 100},
}
const abort50: Fault = {
  service: 'ratings',
  match: {headers: {'user-agent': {exact: 'faultline-chaos-test'}}},
  abort: {httpStatus: 503, percentage: 50},
}
const delay2s: Fault = {
  service: 'ratings',
  match: {headers: {'user-agent': {exact: 'faultline-chaos-test'}}},
  delay: {fixedDelay: '2s', percentage: 100},
}

const reviewsPool: DestinationRule = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: {name: 'reviews', namespace: 'default'},
  spec: {
    host: 'reviews',
    trafficPolicy: {connectionPool: {tcp: {maxConnections: 5}, http: {http1MaxPendingRequests: 5}}},
  },
}
const ratingsOutlier: DestinationRule = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'DestinationRule',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {host: 'ratings', trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3, baseEjectionTime: '30s'}}},
}
const reviewsTimeout: VirtualService = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'reviews', namespace: 'default'},
  spec: {
    hosts: ['reviews'],
    http: [{route: [{destination: {host: 'reviews'}}], timeout: '6s', retries: {attempts: 1, perTryTimeout: '3s'}}],
  },
}

/** Bookinfo's delay bug: productpage hangs up on reviews at 3 s, twice, while ratings is 7 s slow. */
function delayMap(): BlastRadiusMap {
  return mapOf(
    [
      edge(
        'chaos-client',
        'productpage',
        {baseline: phase(100), fault: phase(100, {p99: 6000})},
        {entry: true, servedBy: ['productpage-v1']},
      ),
      edge(
        'productpage-v1',
        'reviews',
        {
          baseline: phase(100),
          fault: phase(150, {
            codes: {0: 100, 200: 50},
            errors: 100,
            flags: {DC: {count: 100, meanMs: 3001}},
            p99: 3000,
          }),
        },
        {servedBy: ['reviews-v2']},
      ),
      edge(
        'reviews-v2',
        'ratings',
        {baseline: phase(100), fault: phase(150, {flags: {DI: {count: 75, meanMs: 7000}}, p99: 7100})},
        {faulted: true, servedBy: ['ratings-v1']},
      ),
    ],
    {
      classes: {
        targeted: {
          targeted: true,
          phases: {
            baseline: {requests: 50, errorRatio: 0, p50: 10, p99: 40},
            fault: {requests: 50, errorRatio: 0, p50: 6000, p99: 6005},
          },
        },
        control: {
          targeted: false,
          phases: {
            baseline: {requests: 50, errorRatio: 0, p50: 10, p99: 40},
            fault: {requests: 50, errorRatio: 0, p50: 10, p99: 45},
          },
        },
      },
      workloads: {
        'productpage-v1': 'productpage',
        'reviews-v2': 'reviews',
        'ratings-v1': 'ratings',
        'chaos-client': 'chaos-client',
      },
    },
  )
}

/** ratings-abort: reviews keeps answering 200 while half its targeted calls to ratings get 503 FI. */
function abortMap(bytes = false): BlastRadiusMap {
  return mapOf([
    edge(
      'chaos-client',
      'productpage',
      {baseline: phase(100), fault: phase(100)},
      {entry: true, servedBy: ['productpage-v1']},
    ),
    edge(
      'productpage-v1',
      'reviews',
      {baseline: phase(100, bytes ? {responseBytes: 5100} : {}), fault: phase(100, bytes ? {responseBytes: 3200} : {})},
      {servedBy: ['reviews-v2']},
    ),
    edge(
      'reviews-v2',
      'ratings',
      {baseline: phase(100), fault: phase(100, {errors: 25, flags: {FI: {count: 25, meanMs: 0.3}}})},
      {faulted: true, servedBy: ['ratings-v1']},
    ),
  ])
}

/** reviews-circuit-breaker: productpage's pool to reviews overflows. */
function overflowMap(): BlastRadiusMap {
  return mapOf([
    edge(
      'chaos-client',
      'productpage',
      {baseline: phase(300), fault: phase(300, {p99: 900})},
      {entry: true, servedBy: ['productpage-v1']},
    ),
    edge(
      'productpage-v1',
      'reviews',
      {
        baseline: phase(300, {envoy: {overflow: 0, retries: 0}}),
        fault: phase(600, {errors: 300, flags: {UO: {count: 300, meanMs: 0.1}}, envoy: {overflow: 300, retries: 0}}),
      },
      {servedBy: ['reviews-v2']},
    ),
    edge(
      'reviews-v2',
      'ratings',
      {baseline: phase(300), fault: phase(300, {flags: {DI: {count: 300, meanMs: 2000}}, p99: 2100})},
      {faulted: true, servedBy: ['ratings-v1']},
    ),
  ])
}

interface Case {
  name: string
  rule: Rule
  map: BlastRadiusMap
  faults?: Fault[]
  vss?: VirtualService[]
  drs?: DestinationRule[]
  /** Every sentence must match these, in order; none at all when empty. */
  expect: RegExp[]
}

const cases: Case[] = [
  {
    name: 'deadline: productpage → reviews 3 s × 2 against the 7 s delay',
    rule: deadlineRule,
    map: delayMap(),
    faults: [delay7s],
    expect: [
      /^productpage-v1 gives reviews 3\.0 s per attempt and tries 2 times \(≈ 6\.0 s in all.*\).*shorter than the 7\.0 s delay injected on ratings: 100 of its calls to reviews .*ended at 3\.0 s .*DC/,
    ],
  },
  {
    name: "deadline: the VirtualService's timeout is named",
    rule: deadlineRule,
    map: delayMap(),
    faults: [delay7s],
    vss: [reviewsTimeout],
    expect: [/VirtualService reviews sets timeout 6s for up to 2 attempts of 3s/],
  },
  {
    name: 'deadline: silent when the delay is shorter than the deadline',
    rule: deadlineRule,
    map: delayMap(),
    faults: [delay2s],
    expect: [],
  },
  {
    name: 'deadline: silent without a fixed-duration ending',
    rule: deadlineRule,
    map: abortMap(),
    faults: [delay7s],
    expect: [],
  },
  {
    name: 'deadline: silent when the baseline ended the same way',
    rule: deadlineRule,
    faults: [delay7s],
    map: mapOf(
      [
        edge('productpage-v1', 'reviews', {
          baseline: phase(100, {flags: {DC: {count: 100, meanMs: 3000}}}),
          fault: phase(100, {flags: {DC: {count: 100, meanMs: 3000}}}),
        }),
        edge('reviews-v1', 'ratings', {baseline: phase(10), fault: phase(10)}),
      ],
      {workloads: {'reviews-v1': 'reviews'}},
    ),
    expect: [],
  },
  {
    name: 'retries: factor and URX',
    rule: retriesRule,
    faults: [abort50],
    map: mapOf([
      edge('reviews-v2', 'ratings', {
        baseline: phase(100, {envoy: {retries: 0}}),
        fault: phase(100, {errors: 40, flags: {URX: {count: 20}}, envoy: {retries: 80}}),
      }),
    ]),
    expect: [
      /^reviews-v2 retried its calls to ratings 80 times in the fault phase \(upstream_rq_retry; 0 in the baseline\), so ratings got 1\.8× the 100 requests reviews-v2 sent; 20 gave up at the retry limit \(URX\) — retries multiplying the load on the faulted service ratings\.$/,
    ],
  },
  {
    name: 'retries: silent when the baseline retried as much',
    rule: retriesRule,
    map: mapOf([
      edge('a', 'b', {baseline: phase(100, {envoy: {retries: 50}}), fault: phase(100, {envoy: {retries: 60}})}),
    ]),
    expect: [],
  },
  {
    name: "overflow: names the caller, the pool and the DestinationRule's limits",
    rule: overflowRule,
    map: overflowMap(),
    faults: [delay2s],
    drs: [reviewsPool],
    expect: [
      /^productpage-v1's connection pool to reviews overflowed .*300 answered 503 UO at once and upstream_rq_pending_overflow \+300 in the fault phase, none in the baseline; the DestinationRule reviews allows each caller 5 connections and 5 pending requests\.$/,
    ],
  },
  {name: 'overflow: silent without UO or the counter', rule: overflowRule, map: delayMap(), expect: []},
  {
    name: 'ejection: UH and ejections_active with the outlier settings',
    rule: ejectionRule,
    drs: [ratingsOutlier],
    map: mapOf([
      edge('reviews-v2', 'ratings', {
        baseline: phase(100, {envoy: {ejectionsActive: 0}}),
        fault: phase(100, {errors: 30, flags: {UH: {count: 30}}, envoy: {ejectionsActive: 1}}),
      }),
    ]),
    expect: [
      /^reviews-v2's outlier detection ejected ratings's hosts: ejections_active reached 1 and 30 requests found no healthy host \(503 UH\) in the fault phase; outlier detection ejects a host after 3 consecutive errors for 30s\.$/,
    ],
  },
  {name: 'ejection: silent without evidence', rule: ejectionRule, map: abortMap(), expect: []},
  {
    name: 'silent degradation: reviews absorbs the aborts (graceful degradation)',
    rule: silentDegradationRule,
    map: abortMap(),
    faults: [abort50],
    expect: [
      /^reviews-v2 kept answering productpage-v1 with success .* while 25 of its 100 calls to ratings failed \(503 × 25, FI × 25 .*\): a silent, graceful degradation/,
    ],
  },
  {
    name: 'silent degradation: shrinking responses are named',
    rule: silentDegradationRule,
    map: abortMap(true),
    expect: [/its responses shrank from 5\.1 kB to 3\.2 kB/],
  },
  {
    name: 'silent degradation: silent when the caller passes the errors on',
    rule: silentDegradationRule,
    map: mapOf([
      edge(
        'productpage-v1',
        'reviews',
        {baseline: phase(100), fault: phase(100, {errors: 25})},
        {servedBy: ['reviews-v2']},
      ),
      edge('reviews-v2', 'ratings', {baseline: phase(100), fault: phase(100, {errors: 25})}),
    ]),
    expect: [],
  },
  {
    name: 'not fired: callers sent requests, no DI/FI',
    rule: notFiredRule,
    faults: [delay7s],
    map: mapOf([edge('reviews-v2', 'ratings', {baseline: phase(100), fault: phase(100)})]),
    expect: [
      /^The fault on ratings never fired: reviews-v2 sent 100 request\(s\) to ratings in the fault phase and none carried DI or FI — the fault's match \(user-agent exact faultline-chaos-test\) did not hold/,
    ],
  },
  {
    name: 'not fired: nothing called the service',
    rule: notFiredRule,
    faults: [delay7s],
    map: mapOf([edge('productpage-v1', 'details', {baseline: phase(100), fault: phase(100)})]),
    expect: [/nothing called ratings in the fault phase/],
  },
  {name: 'not fired: silent when DI was counted', rule: notFiredRule, faults: [delay7s], map: delayMap(), expect: []},
  {
    name: 'not fired: silent without a fault phase',
    rule: notFiredRule,
    faults: [delay7s],
    map: mapOf([], {phases: ['baseline']}),
    expect: [],
  },
  {
    name: 'blast radius: the edges that changed without a fault on them',
    rule: blastRadiusRule,
    faults: [delay7s],
    map: delayMap(),
    expect: [
      /^The fault on ratings reached beyond it: 2 edge\(s\) changed .* chaos-client → productpage \(p99 20 ms → 6\.0 s\); productpage-v1 → reviews \(new: 150 requests|errors 0 % → 67 %/,
    ],
  },
  {
    name: 'blast radius: silent when only the faulted edge changed',
    rule: blastRadiusRule,
    faults: [abort50],
    map: mapOf([
      edge('reviews-v2', 'ratings', {baseline: phase(100), fault: phase(100, {errors: 50})}),
      edge('productpage-v1', 'reviews', {baseline: phase(100), fault: phase(100)}),
    ]),
    expect: [],
  },
  {
    name: 'control: control traffic that slowed',
    rule: controlRule,
    map: mapOf([edge('chaos-client', 'productpage', {baseline: phase(10), fault: phase(10)}, {entry: true})], {
      classes: {
        control: {
          targeted: false,
          phases: {
            baseline: {requests: 100, errorRatio: 0, p50: 10, p99: 20},
            fault: {requests: 100, errorRatio: 0, p50: 10, p99: 580},
          },
        },
      },
    }),
    expect: [
      /^Control traffic changed although no fault targeted it: control p99 20 ms → 580 ms at the entry chaos-client → productpage/,
    ],
  },
  {name: 'control: silent when control held', rule: controlRule, map: delayMap(), expect: []},
]

describe('diagnosis rules (table-driven)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const findings = c.rule({
        map: c.map,
        faults: c.faults ?? [delay7s],
        virtualServices: c.vss ?? [],
        destinationRules: c.drs ?? [],
      })
      assert.equal(findings.length, c.expect.length, JSON.stringify(findings, null, 1))
      findings.forEach((f, i) => {
        assert.match(f.sentence, c.expect[i] as RegExp)
        assert.ok(f.evidence.length > 0, 'a finding carries its evidence')
      })
    })
  }

  it('diagnose: the bookinfo delay map names the deadline, the degradation and the blast radius, and nothing without evidence', () => {
    const rules = diagnose({map: delayMap(), faults: [delay7s], virtualServices: [], destinationRules: []}).map(
      f => f.rule,
    )
    assert.deepEqual(rules, ['deadline', 'silent-degradation', 'blast-radius'] satisfies RuleName[])
  })

  it('diagnose: an empty map (no phase read) says nothing', () => {
    assert.deepEqual(
      diagnose({map: mapOf([], {phases: []}), faults: [delay7s], virtualServices: [], destinationRules: []}),
      [],
    )
  })
})
