import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {GRPC_STATUSES} from '../../src/experiment/model.js'
import {formatPath} from '../../src/experiment/position.js'
import {checkDuration, checkHeaderName, checkHttpUrl, checkRegex, durationMs} from '../../src/experiment/rules.js'
import {closest, suggestion} from '../../src/experiment/suggest.js'

describe('field rules', () => {
  describe('durations: whole milliseconds, at least the minimum', () => {
    const table: Array<[string, number | undefined, RegExp | undefined]> = [
      ['500ms', 500, undefined],
      ['7s', 7000, undefined],
      ['1m30s', 90_000, undefined],
      ['2h', 7_200_000, undefined],
      ['1.001s', 1001, undefined],
      ['0.1s', 100, undefined],
      ['1ms', 1, undefined],
      ['0.5ms', 0.5, /only durations to ms precision are supported/],
      ['1500us', 1.5, /only durations to ms precision are supported/],
      ['0s', 0, /must be a valid duration greater than 1ms/],
      ['7', undefined, /is not a duration/],
      ['seven seconds', undefined, /is not a duration/],
    ]
    for (const [text, ms, problem] of table) {
      it(`${text} → ${String(ms)}ms${problem ? ', refused' : ''}`, () => {
        assert.equal(durationMs(text), ms)
        const issue = checkDuration(['d'], text)
        if (problem === undefined) assert.equal(issue, undefined)
        else assert.match(issue?.message ?? '', problem)
      })
    }
    it('phases are at least a second', () => {
      assert.match(
        checkDuration(['spec', 'phases', 'fault'], '999ms', 1000, 'phase fault')?.message ?? '',
        /phase fault 999ms is shorter than the minimum of 1s/,
      )
      assert.equal(checkDuration(['spec', 'phases', 'fault'], '1s', 1000), undefined)
    })
  })

  describe('header names: lowercase RFC 7230 tokens', () => {
    for (const name of ['x-chaos-test', 'end-user', 'x_b3.traceid', "!#$%&'*+-.^_`|~09az"]) {
      it(`accepts ${name}`, () => assert.equal(checkHeaderName([], name), undefined))
    }
    const refused: Array<[string, RegExp, RegExp?]> = [
      ['X-Chaos-Test', /must be lowercase/, /write x-chaos-test/],
      ['x chaos', /is not a valid header name/],
      [':authority', /is not a valid header name/],
      ['x-chaos:', /is not a valid header name/],
      ['', /header name cannot be empty/],
      ['é', /is not a valid header name/],
    ]
    for (const [name, message, hint] of refused) {
      it(`refuses ${JSON.stringify(name)}`, () => {
        const issue = checkHeaderName(['h'], name)
        assert.equal(issue?.at, 'key')
        assert.match(issue?.message ?? '', message)
        if (hint !== undefined) assert.match(issue?.hint ?? '', hint)
      })
    }
  })

  describe('regexes: RE2 syntax, as istiod compiles them', () => {
    for (const regex of ['true', '(?i)TRUE', 'v[0-9]+', '\\d{1,3}', '(?P<version>v[12])', '\\p{Greek}+', 'a|b|']) {
      it(`accepts ${regex}`, () => assert.equal(checkRegex([], regex), undefined))
    }
    const refused: Array<[string, RegExp]> = [
      ['(?=a)b', /invalid or unsupported Perl syntax: `\(\?=`/],
      ['a(?!b)', /invalid or unsupported Perl syntax: `\(\?!`/],
      ['(?<=a)b', /error parsing regexp/],
      ['(a)\\1', /invalid escape sequence: `\\1`/],
      ['[a-', /missing closing \]/],
      ['a**', /invalid nested repetition operator/],
      ['x'.repeat(1025), /regex is too large, max length allowed is 1024/],
    ]
    for (const [regex, message] of refused) {
      it(`refuses ${regex.slice(0, 20)}`, () => {
        const issue = checkRegex(['r'], regex)
        assert.match(issue?.message ?? '', message)
        if (regex.length <= 1024)
          assert.match(
            issue?.message ?? '',
            /; Istio uses RE2 style regex-based match \(https:\/\/github.com\/google\/re2\/wiki\/Syntax\)$/,
          )
      })
    }
  })

  describe('URLs: http or https with a host', () => {
    for (const url of ['http://productpage:9080/productpage', 'https://example.com', 'http://127.0.0.1:9090']) {
      it(`accepts ${url}`, () => assert.equal(checkHttpUrl([], url), undefined))
    }
    for (const [url, message] of [
      ['ftp://host/x', /not an http\(s\) URL \(scheme ftp\)/],
      ['productpage:9080', /not an http\(s\) URL/],
      ['/productpage', /is not a URL/],
      ['http://', /is not a URL/],
    ] as const) {
      it(`refuses ${url}`, () => assert.match(checkHttpUrl([], url)?.message ?? '', message))
    }
  })

  it('accepts exactly the gRPC status names Istio accepts (test/reference/SEMANTICS.md (b))', () => {
    const semantics = readFileSync(new URL('../reference/SEMANTICS.md', import.meta.url), 'utf8')
    const listed = /\(accepted: ([A-Z_, \n]+) —/.exec(semantics)?.[1]
    assert.ok(listed !== undefined, 'the accepted list was not found in SEMANTICS.md')
    assert.deepEqual(
      [...GRPC_STATUSES],
      listed.split(/,\s*/).map(s => s.trim()),
    )
  })
})

describe('field paths and suggestions', () => {
  it('formats paths the way they are written', () => {
    assert.equal(formatPath(['spec', 'faults', 0, 'delay', 'fixedDelay']), 'spec.faults[0].delay.fixedDelay')
    assert.equal(
      formatPath(['spec', 'faults', 0, 'match', 'headers', 'x-chaos-test']),
      'spec.faults[0].match.headers["x-chaos-test"]',
    )
    assert.equal(formatPath([]), '')
  })

  it('suggests the closest name only when it is a plausible typo', () => {
    assert.equal(closest('fixedDealy', ['fixedDelay', 'percentage']), 'fixedDelay')
    assert.equal(closest('httpstatus', ['httpStatus', 'grpcStatus']), 'httpStatus')
    assert.equal(closest('banana', ['fixedDelay', 'percentage']), undefined)
    assert.equal(suggestion('banana', ['a', 'b']), 'allowed here: a, b')
    assert.equal(suggestion('guardrail', ['guardrails', 'faults']), 'did you mean "guardrails"?')
  })
})
