import assert from 'node:assert/strict'

import {jsonPatch, mergePatch, PatchError, type Json} from '../../src/apiserver/patch.js'

describe('mergePatch (RFC 7386)', () => {
  // The test cases of RFC 7386 Appendix A, verbatim.
  const cases: [Json, Json, Json][] = [
    [{a: 'b'}, {a: 'c'}, {a: 'c'}],
    [{a: 'b'}, {b: 'c'}, {a: 'b', b: 'c'}],
    [{a: 'b'}, {a: null}, {}],
    [{a: 'b', b: 'c'}, {a: null}, {b: 'c'}],
    [{a: ['b']}, {a: 'c'}, {a: 'c'}],
    [{a: 'c'}, {a: ['b']}, {a: ['b']}],
    [{a: {b: 'c'}}, {a: {b: 'd', c: null}}, {a: {b: 'd'}}],
    [{a: [{b: 'c'}]}, {a: [1]}, {a: [1]}],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{a: 'b'}, ['c'], ['c']],
    [{a: 'foo'}, null, null],
    [{a: 'foo'}, 'bar', 'bar'],
    [{e: null}, {a: 1}, {e: null, a: 1}],
    [[1, 2], {a: 'b', c: null}, {a: 'b'}],
    [{}, {a: {bb: {ccc: null}}}, {a: {bb: {}}}],
  ]
  for (const [target, patch, expected] of cases) {
    it(`${JSON.stringify(target)} + ${JSON.stringify(patch)} = ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(mergePatch(target, patch), expected)
    })
  }

  it('does not modify its inputs', () => {
    const target = {spec: {http: [{route: []}]}, metadata: {labels: {a: 'b'}}}
    const patch = {metadata: {labels: {a: null}}}
    mergePatch(target, patch)
    assert.deepEqual(target, {spec: {http: [{route: []}]}, metadata: {labels: {a: 'b'}}})
    assert.deepEqual(patch, {metadata: {labels: {a: null}}})
  })
})

describe('jsonPatch (RFC 6902)', () => {
  it('applies add, remove, replace, move, copy and test', () => {
    const doc: Json = {
      spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}]},
      metadata: {labels: {'a/b': 'x'}},
    }
    const out = jsonPatch(doc, [
      {op: 'test', path: '/spec/hosts/0', value: 'ratings'},
      {op: 'add', path: '/spec/http/0', value: {fault: {abort: {httpStatus: 500}}}},
      {op: 'add', path: '/spec/hosts/-', value: 'ratings.default'},
      {op: 'replace', path: '/metadata/labels/a~1b', value: 'y'},
      {op: 'copy', from: '/spec/hosts/0', path: '/spec/gateways'},
      {op: 'move', from: '/spec/gateways', path: '/metadata/name'},
      {op: 'remove', path: '/spec/http/1'},
    ])
    assert.deepEqual(out, {
      spec: {hosts: ['ratings', 'ratings.default'], http: [{fault: {abort: {httpStatus: 500}}}]},
      metadata: {labels: {'a/b': 'y'}, name: 'ratings'},
    })
    assert.deepEqual((doc as {spec: {hosts: string[]}}).spec.hosts, ['ratings'], 'input untouched')
  })

  it('fails as a whole when any operation fails', () => {
    const doc: Json = {a: {b: 1}}
    assert.throws(
      () =>
        jsonPatch(doc, [
          {op: 'add', path: '/a/c', value: 2},
          {op: 'test', path: '/a/b', value: 2},
        ]),
      PatchError,
    )
    assert.throws(() => jsonPatch(doc, [{op: 'remove', path: '/a/missing'}]), /nonexistent/)
    assert.throws(() => jsonPatch(doc, [{op: 'replace', path: '/x', value: 1}]), /missing path/)
    assert.throws(() => jsonPatch(doc, [{op: 'add', path: '/x/y', value: 1}]), /missing path/)
    assert.throws(() => jsonPatch({l: [1]}, [{op: 'add', path: '/l/5', value: 1}]), /out of bounds/)
    assert.throws(() => jsonPatch(doc, [{op: 'frobnicate', path: '/a'}]), /Unexpected kind/)
    assert.throws(() => jsonPatch(doc, {op: 'add'}), /array/)
    assert.throws(() => jsonPatch(doc, [{op: 'move', from: '/a', path: '/a/b/c'}]), /own child/)
    assert.deepEqual(doc, {a: {b: 1}})
  })

  it('compares test values structurally, ignoring key order', () => {
    assert.doesNotThrow(() =>
      jsonPatch({a: {x: 1, y: [1, {z: 2}]}}, [{op: 'test', path: '/a', value: {y: [1, {z: 2}], x: 1}}]),
    )
  })
})
