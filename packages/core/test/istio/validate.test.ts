import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import type {HTTPRoute, VirtualService} from '../../src/istio/types.js'
import {validateVirtualService, virtualServiceWarnings} from '../../src/istio/validate.js'

const samples = new URL('../../../../test/reference/istio-samples/', import.meta.url)

function vs(http: HTTPRoute[], extra: Partial<VirtualService['spec']> = {}): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {name: 'ratings', namespace: 'default'},
    spec: {hosts: ['ratings'], http, ...extra},
  }
}
const to = (host = 'ratings', subset?: string) => [{destination: {host, ...(subset === undefined ? {} : {subset})}}]

describe('validateVirtualService (Istio webhook rules)', () => {
  it("accepts every VirtualService in Istio's bookinfo and testdata samples", () => {
    for (const dir of ['bookinfo-networking/', 'testdata/']) {
      for (const file of readdirSync(new URL(dir, samples))) {
        for (const doc of parseAllDocuments(readFileSync(new URL(dir + file, samples), 'utf8'))) {
          const obj = doc.toJS() as VirtualService | null
          if (obj?.kind !== 'VirtualService') continue
          assert.deepEqual(validateVirtualService(obj, {strict: true}), [], `${dir}${file} ${obj.metadata.name}`)
        }
      }
    }
  })

  const cases: {name: string; object: VirtualService; expect: {path: string; message: string}[]}[] = [
    {
      name: 'no routes at all',
      object: vs([]),
      expect: [{path: 'spec', message: 'http, tcp or tls must be provided in virtual service'}],
    },
    {
      name: 'route without destination',
      object: vs([{name: 'x'}]),
      expect: [{path: 'spec.http[0]', message: 'HTTP route, redirect or direct_response is required'}],
    },
    {
      name: 'fault with redirect',
      object: vs([{redirect: {uri: '/x'}, fault: {abort: {httpStatus: 503, percentage: {value: 1}}}}]),
      expect: [{path: 'spec.http[0]', message: 'HTTP route cannot contain both fault and redirect'}],
    },
    {
      name: 'fault with directResponse',
      object: vs([{directResponse: {status: 200}, fault: {abort: {httpStatus: 503, percentage: {value: 1}}}}]),
      expect: [{path: 'spec.http[0]', message: 'HTTP route cannot contain both fault and direct_response'}],
    },
    {
      name: 'empty fault',
      object: vs([{fault: {}, route: to()}]),
      expect: [{path: 'spec.http[0].fault', message: 'HTTP fault injection must have an abort and/or a delay'}],
    },
    {
      name: 'percentage out of range',
      object: vs([{fault: {delay: {fixedDelay: '1s', percentage: {value: 0.00001}}}, route: to()}]),
      expect: [
        {
          path: 'spec.http[0].fault.delay.percentage',
          message: 'percentage 0.00001 is neither 0.0, nor in range [0.0001, 100.0]',
        },
      ],
    },
    {
      name: "http status 600 (Envoy refuses it even though Istio's check lets it by)",
      object: vs([{fault: {abort: {httpStatus: 600, percentage: {value: 1}}}, route: to()}]),
      expect: [{path: 'spec.http[0].fault.abort.httpStatus', message: 'HTTP status 600 is not in range 200-599'}],
    },
    {
      name: 'unknown gRPC status',
      object: vs([{fault: {abort: {grpcStatus: '14', percentage: {value: 1}}}, route: to()}]),
      expect: [
        {
          path: 'spec.http[0].fault.abort.grpcStatus',
          message:
            'gRPC status "14" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example \'NOT_FOUND\'',
        },
      ],
    },
    {
      name: 'sub-millisecond precision',
      object: vs([{fault: {delay: {fixedDelay: '1.5ms', percentage: {value: 1}}}, route: to()}]),
      expect: [{path: 'spec.http[0].fault.delay.fixedDelay', message: 'only durations to ms precision are supported'}],
    },
    {
      name: 'bad header name and empty prefix',
      object: vs([{match: [{headers: {'x chaos': {exact: 'a'}, 'x-a': {prefix: ''}}}], route: to()}]),
      expect: [
        {path: 'spec.http[0].match[0].headers', message: 'header name x chaos is not a valid header name'},
        {path: 'spec.http[0].match[0].headers[x-a]', message: '"headers": prefix string match should not be empty'},
      ],
    },
    {
      name: 'invalid RE2 and oversized regex',
      object: vs([{match: [{uri: {regex: '(ab'}, queryParams: {q: {regex: 'a'.repeat(1025)}}}], route: to()}]),
      expect: [
        {
          path: 'spec.http[0].match[0].uri',
          message:
            '"uri": error parsing regexp: missing closing ): `(ab`; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)',
        },
        {
          path: 'spec.http[0].match[0].queryParams[q]',
          message: '"queryParams": regex is too large, max length allowed is 1024',
        },
      ],
    },
    {
      name: 'weights and destinations',
      object: vs([
        {
          route: [
            {destination: {host: 'ratings', subset: 'V1'}, weight: 0},
            {destination: {host: '*'}, weight: 0},
          ],
        },
      ]),
      expect: [
        {path: 'spec.http[0].route[0].destination.subset', message: 'subset name is invalid: V1'},
        {path: 'spec.http[0].route[1].destination.host', message: 'invalid destination host *'},
        {path: 'spec.http[0].route', message: 'total destination weight = 0'},
      ],
    },
    {
      name: 'retries',
      object: vs([{route: to(), retries: {retryOn: '5xx,bogus,503', perTryTimeout: '1.5ms'}}]),
      expect: [
        {path: 'spec.http[0].retries', message: 'http retry policy configured when attempts are set to 0 (disabled)'},
        {path: 'spec.http[0].retries.perTryTimeout', message: 'only durations to ms precision are supported'},
        {path: 'spec.http[0].retries.retryOn', message: '"bogus" is not a valid retryOn policy'},
      ],
    },
    {
      name: 'mesh wildcard host and duplicates',
      object: {...vs([{route: to()}]), spec: {hosts: ['*'], http: [{route: to()}]}},
      expect: [
        {
          path: 'spec.hosts[0]',
          message: 'wildcard host * is not allowed for virtual services bound to the mesh gateway',
        },
      ],
    },
    {
      name: 'overlapping hosts',
      object: {...vs([{route: to()}]), spec: {hosts: ['*.example.com', 'a.example.com'], http: [{route: to()}]}},
      expect: [{path: 'spec.hosts', message: 'duplicate hosts in virtual service: *.example.com & a.example.com'}],
    },
    {
      name: 'JWT claim routing on sidecars',
      object: vs([{match: [{headers: {'@request.auth.claims.group': {exact: 'a'}}}], route: to()}]),
      expect: [
        {
          path: 'spec.http[0].match[0]',
          message:
            'JWT claim based routing (key: @request.auth.claims.group) is only supported for gateway, found no gateways: []',
        },
      ],
    },
    {
      name: 'bad object name',
      object: {...vs([{route: to()}]), metadata: {name: 'Ratings_1'}},
      expect: [
        {
          path: 'metadata.name',
          message:
            "Invalid value: \"Ratings_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        },
      ],
    },
  ]
  for (const c of cases) {
    it(`rejects: ${c.name}`, () => {
      assert.deepEqual(validateVirtualService(c.object, {strict: true}), c.expect)
    })
  }

  it('reports schema violations alone, as the API server rejects before the webhook runs', () => {
    const bad = vs([{route: to(), fault: {delay: {fixedDelay: '0ms', percentage: {value: 1}}}}])
    const violations = validateVirtualService(bad)
    assert.equal(violations.length, 1)
    assert.equal(violations[0]?.path, 'spec.http[0].fault.delay.fixedDelay')
    assert.match(violations[0]?.message ?? '', /must be a valid duration greater than 1ms/)
  })

  it('flags undeclared fields only in strict mode', () => {
    const typo = vs([{route: to(), timout: '1s'}])
    assert.deepEqual(validateVirtualService(typo), [])
    assert.deepEqual(validateVirtualService(typo, {strict: true}), [
      {path: 'spec.http[0].timout', message: 'field not declared in schema'},
    ])
  })
})

describe('virtualServiceWarnings (rules that can never match)', () => {
  it("reports Istio's unreachable-rule and ineffective-match warnings", () => {
    const object = vs([
      {name: 'a', match: [{headers: {x: {exact: '1'}}}], route: to()},
      {match: [{name: 'again', headers: {x: {exact: '1'}}}], route: to()},
      {route: to()},
      {name: 'late', match: [{uri: {prefix: '/'}}], route: to()},
      {route: to()},
    ])
    assert.deepEqual(virtualServiceWarnings(object), [
      {
        path: 'spec.http[1]',
        message: 'virtualService rule #1 match "again" is not used (duplicate/overlapping match in rule "a")',
      },
      {path: 'spec.http[1]', message: 'virtualService rule #1 not used (all matches used by prior rules)'},
      {path: 'spec.http[3]', message: 'virtualService rule "late" not used (route without matches defined before)'},
      {path: 'spec.http[4]', message: 'virtualService rule #4 not used (only the last rule can have no matches)'},
    ])
    assert.deepEqual(
      virtualServiceWarnings(vs([{match: [{headers: {x: {exact: '1'}}}], route: to()}, {route: to()}])),
      [],
    )
  })
})
