import assert from 'node:assert/strict'

import type {Fault} from '../../../src/experiment/model.js'
import {faultSentence, lastFaultedWords} from '../../../src/report/run/faults.js'
import {lastEvidence} from '../../../src/runner/fault-phase.js'

const CALLING = ', applied in the calling sidecars'
const TEST_HEADER = {headers: {'x-chaos-test': {exact: 'true'}}}

describe('report.html: what was injected, in words', () => {
  const cases: [string, Fault, string][] = [
    [
      'a delay (ratings-delay.yaml)',
      {service: 'ratings', match: TEST_HEADER, delay: {fixedDelay: '7s', percentage: 100}},
      `delay 7 s on 100 % of requests to ratings carrying x-chaos-test: true${CALLING}`,
    ],
    [
      'an HTTP abort (ratings-abort.yaml)',
      {service: 'ratings', match: TEST_HEADER, abort: {httpStatus: 503, percentage: 50}},
      `abort with HTTP 503 on 50 % of requests to ratings carrying x-chaos-test: true${CALLING}`,
    ],
    [
      'a gRPC abort on an FQDN, prefix match, a small share',
      {
        service: 'reviews.shop.svc.cluster.local',
        match: {headers: {'x-user': {prefix: 'qa-'}}},
        abort: {grpcStatus: 'UNAVAILABLE', percentage: 0.5},
      },
      `abort with gRPC UNAVAILABLE on 0.5 % of requests to reviews.shop.svc.cluster.local carrying x-user starting with “qa-”${CALLING}`,
    ],
    [
      'a regex match',
      {
        service: 'ratings',
        match: {headers: {'x-user': {regex: 'qa-[0-9]+'}}},
        delay: {fixedDelay: '250ms', percentage: 10},
      },
      `delay 250 ms on 10 % of requests to ratings carrying x-user matching the regex “qa-[0-9]+”${CALLING}`,
    ],
    [
      'delay and abort at different shares, two headers',
      {
        service: 'ratings',
        match: {headers: {'x-chaos-test': {exact: 'true'}, 'x-tenant': {exact: 'acme'}}},
        delay: {fixedDelay: '1.5s', percentage: 100},
        abort: {httpStatus: 500, percentage: 10},
      },
      `delay 1.5 s on 100 % and abort with HTTP 500 on 10 % of requests to ratings carrying x-chaos-test: true and x-tenant: acme${CALLING}`,
    ],
    [
      'three headers, an empty value and a prefix that matches any value',
      {
        service: 'ratings',
        match: {headers: {'x-a': {exact: ''}, 'x-b': {prefix: ''}, 'x-c': {exact: ' padded '}}},
        delay: {fixedDelay: '1m30s', percentage: 100},
      },
      `delay 1 min 30 s on 100 % of requests to ratings carrying x-a: “”, x-b (any value) and x-c: “ padded ”${CALLING}`,
    ],
    [
      'no match: every request (allowUntargeted)',
      {service: 'ratings', delay: {fixedDelay: '2s', percentage: 100}},
      `delay 2 s on 100 % of all requests to ratings${CALLING}`,
    ],
    [
      'an empty match is no match',
      {service: 'ratings', match: {}, abort: {httpStatus: 503, percentage: 100}},
      `abort with HTTP 503 on 100 % of all requests to ratings${CALLING}`,
    ],
    [
      'without a header',
      {
        service: 'ratings',
        match: {withoutHeaders: {'x-real-user': {exact: 'yes'}}},
        abort: {httpStatus: 503, percentage: 100},
      },
      `abort with HTTP 503 on 100 % of requests to ratings not carrying x-real-user: yes${CALLING}`,
    ],
    [
      'without any of two headers',
      {
        service: 'ratings',
        match: {withoutHeaders: {'x-a': {exact: '1'}, 'x-b': {regex: '.+'}}},
        abort: {httpStatus: 503, percentage: 100},
      },
      `abort with HTTP 503 on 100 % of requests to ratings carrying none of x-a: 1 and x-b matching the regex “.+”${CALLING}`,
    ],
    [
      'path, method and query parameters besides the header',
      {
        service: 'ratings',
        match: {
          ...TEST_HEADER,
          uri: {prefix: '/ratings/'},
          method: {exact: 'GET'},
          queryParams: {debug: {exact: '1'}, v: {regex: '[23]'}},
        },
        delay: {fixedDelay: '7s', percentage: 100},
      },
      `delay 7 s on 100 % of requests to ratings carrying x-chaos-test: true, with a path starting with “/ratings/”, with method GET, with query parameters debug=1 and v matching the regex “[23]”${CALLING}`,
    ],
    [
      'an exact path and a method regex',
      {
        service: 'ratings',
        match: {...TEST_HEADER, uri: {exact: '/health'}, method: {regex: 'P(UT|OST)'}},
        abort: {httpStatus: 503, percentage: 100},
      },
      `abort with HTTP 503 on 100 % of requests to ratings carrying x-chaos-test: true, with path /health, with a method matching the regex “P(UT|OST)”${CALLING}`,
    ],
    [
      'a percentage without float noise',
      {service: 'ratings', match: TEST_HEADER, abort: {httpStatus: 503, percentage: 100 / 3}},
      `abort with HTTP 503 on 33.3333 % of requests to ratings carrying x-chaos-test: true${CALLING}`,
    ],
    [
      'the smallest share',
      {service: 'ratings', match: TEST_HEADER, abort: {httpStatus: 503, percentage: 0.0001}},
      `abort with HTTP 503 on 0.0001 % of requests to ratings carrying x-chaos-test: true${CALLING}`,
    ],
    [
      'neither delay nor abort (the schema refuses it; the page still says so)',
      {service: 'ratings', match: TEST_HEADER},
      `nothing (neither a delay nor an abort) on requests to ratings carrying x-chaos-test: true${CALLING}`,
    ],
  ]
  for (const [name, fault, sentence] of cases) {
    it(name, () => assert.equal(faultSentence(fault), sentence))
  }
})

describe('report.html: the last faulted request after the revert, in words', () => {
  const cases: [string, {afterRevertMs: number; message: string}, string][] = [
    [
      'one came after the revert',
      lastEvidence({startMs: 1, endMs: 90}, {afterMs: 300, byMs: 710}),
      'last faulted request seen 710 ms after the revert',
    ],
    [
      'one came seconds after',
      lastEvidence({startMs: 1, endMs: 90}, {afterMs: 1300, byMs: 1510}),
      'last faulted request seen 1.51 s after the revert',
    ],
    ['none came', lastEvidence({startMs: 3, endMs: 95}, undefined), 'no faulted request seen after the revert'],
    [
      'none came (journals before the polling window was recorded)',
      {afterRevertMs: 0, message: 'no faulted request after the revert'},
      'no faulted request seen after the revert',
    ],
    [
      'the counters could not be read',
      lastEvidence(undefined, undefined),
      'unknown when the last faulted request came: the fault counters could not be read after the revert',
    ],
  ]
  for (const [name, event, words] of cases) {
    it(name, () => assert.equal(lastFaultedWords(event), words))
  }
})
