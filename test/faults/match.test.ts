import assert from 'node:assert/strict'

import {andMatchBlock, andStringMatch, disjoint, implies} from '../../src/faults/match.js'
import type {StringMatch} from '@faultline/core/istio/types.js'

const exact = (v: string): StringMatch => ({exact: v})
const prefix = (v: string): StringMatch => ({prefix: v})
const regex = (v: string): StringMatch => ({regex: v})

describe('AND-ing match conditions', () => {
  const table: [StringMatch, StringMatch, 'a' | 'b' | 'never' | 'conflict'][] = [
    [exact('jason'), exact('jason'), 'a'],
    [exact('jason'), exact('bob'), 'never'],
    [exact('jason'), prefix('ja'), 'a'],
    [prefix('ja'), exact('jason'), 'b'],
    [exact('jason'), prefix('bo'), 'never'],
    [exact('jason'), regex('j.*'), 'a'],
    [exact('jason'), regex('ja'), 'never'], // RE2 matches the full value, not a substring
    [prefix('/api/v1'), prefix('/api'), 'a'],
    [prefix('/api'), prefix('/web'), 'never'],
    [prefix('j'), regex('j.*'), 'conflict'],
    [regex('a+'), regex('a*'), 'conflict'],
    [{}, exact('x'), 'b'],
    [regex('*'), prefix('x'), 'b'],
  ]
  for (const [a, b, want] of table) {
    it(`${JSON.stringify(a)} AND ${JSON.stringify(b)} → ${want}`, () => {
      const c = andStringMatch(a, b, 'headers.x')
      if (want === 'a' || want === 'b') assert.deepEqual(c, {kind: 'match', value: want === 'a' ? a : b})
      else if (want === 'never') assert.deepEqual(c, {kind: 'never'})
      else assert.deepEqual(c, {kind: 'conflict', field: 'headers.x'})
    })
  }

  it('never claims implication or disjointness for an invalid regex', () => {
    assert.equal(implies(exact('a'), regex('(a')), false)
    assert.equal(disjoint(exact('a'), regex('(a')), false)
  })

  it("merges maps, keeps the route's other selectors, and only merges identical withoutHeaders", () => {
    const route = {
      name: 'm',
      headers: {'end-user': exact('jason')},
      port: 9080,
      sourceLabels: {app: 'reviews'},
      withoutHeaders: {'x-canary': {}},
    }
    assert.deepEqual(
      andMatchBlock(route, {headers: {'x-chaos-test': exact('true')}, withoutHeaders: {'x-canary': {}}}),
      {
        kind: 'match',
        value: {
          ...route,
          headers: {'end-user': exact('jason'), 'x-chaos-test': exact('true')},
          withoutHeaders: {'x-canary': {}},
        },
      },
    )
    assert.deepEqual(andMatchBlock(route, {withoutHeaders: {'x-canary': exact('1')}}), {
      kind: 'conflict',
      field: 'withoutHeaders.x-canary',
    })
    assert.deepEqual(andMatchBlock({queryParams: {u: exact('a')}}, {queryParams: {u: exact('b')}}), {kind: 'never'})
  })
})
