import assert from 'node:assert/strict'

import {parseFieldSelector, parseLabelSelector} from '../../src/apiserver/selectors.js'
import {ApiError} from '../../src/apiserver/status.js'

describe('label selectors', () => {
  const labels = {app: 'reviews', version: 'v2', 'faultline.dev/run': 'r1'}
  const table: [string, boolean][] = [
    ['', true],
    ['app=reviews', true],
    ['app==reviews', true],
    ['app!=reviews', false],
    ['app!=ratings', true],
    ['missing!=x', true],
    ['app=reviews,version=v3', false],
    ['version in (v2, v3)', true],
    ['version in (v1,v3)', false],
    ['version notin (v1,v3)', true],
    ['missing notin (v1)', true],
    ['faultline.dev/run', true],
    ['faultline.dev/missing', false],
    ['!faultline.dev/run', false],
    ['!missing', true],
    ['app=reviews, version in (v1,v2), !canary', true],
  ]
  for (const [selector, expected] of table) {
    it(`${JSON.stringify(selector)} → ${expected}`, () => assert.equal(parseLabelSelector(selector)(labels), expected))
  }

  it('treats objects without labels as having none', () => {
    assert.equal(parseLabelSelector('!app')(undefined), true)
    assert.equal(parseLabelSelector('app')(undefined), false)
  })

  it('rejects malformed selectors with 400 BadRequest', () => {
    for (const bad of ['app=re views', 'app=,', '=x', 'a b c']) {
      assert.throws(
        () => parseLabelSelector(bad),
        (e: unknown) => e instanceof ApiError && e.status.code === 400,
        bad,
      )
    }
  })
})

describe('field selectors', () => {
  it('selects on metadata.name and metadata.namespace', () => {
    assert.equal(parseFieldSelector('metadata.name=ratings')({name: 'ratings', namespace: 'default'}), true)
    assert.equal(parseFieldSelector('metadata.name!=ratings')({name: 'ratings'}), false)
    assert.equal(
      parseFieldSelector('metadata.namespace==default,metadata.name=x')({name: 'ratings', namespace: 'default'}),
      false,
    )
  })

  it('rejects other fields as a real server does for custom resources', () => {
    assert.throws(() => parseFieldSelector('spec.hosts=x'), /field label not supported: spec.hosts/)
  })
})
