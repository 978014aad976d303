import assert from 'node:assert/strict'

import {targetedClasses} from '../../src/experiment/traffic.js'
import {journal} from '../report/journals.js'

describe('targeted traffic classes', () => {
  const experiment = () => journal('held').experiment.spec

  it("targets a class whose headers satisfy a fault's match, whatever their case, and leaves the rest control", () => {
    const spec = experiment()
    assert.deepEqual([...targetedClasses({experiment: spec})], ['targeted'])
    const [targeted] = spec.spec.load.traffic
    if (targeted !== undefined) targeted.headers = {'X-Chaos-Test': 'true'}
    assert.deepEqual([...targetedClasses({experiment: spec})], ['targeted'])
  })

  it('targets nothing when no class carries a matching value, and every class when a fault matches all requests', () => {
    const spec = experiment()
    const [fault] = spec.spec.faults
    if (fault === undefined) throw new Error('the held fixture has a fault')
    fault.match = {headers: {'x-chaos-test': {prefix: 'yes'}}}
    assert.deepEqual([...targetedClasses({experiment: spec})], [])
    delete fault.match
    assert.deepEqual([...targetedClasses({experiment: spec})], ['targeted', 'control'])
  })
})
