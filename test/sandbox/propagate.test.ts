import assert from 'node:assert/strict'

import {parsePropagate} from '../../src/commands/sandbox/up.js'

describe('chaos sandbox up --propagate', () => {
  it('takes baggage (case-insensitive, repeated once), none or nothing; refuses anything else naming it (exit 2)', () => {
    assert.deepEqual(parsePropagate(undefined), [])
    assert.deepEqual(parsePropagate('none'), [])
    assert.deepEqual(parsePropagate('Baggage, baggage'), ['baggage'])
    assert.throws(
      () => parsePropagate('baggage,x-chaos-test'),
      (err: Error & {exitCode?: number}) => /unknown value "x-chaos-test"/.test(err.message) && err.exitCode === 2,
    )
  })
})
