import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {normaliseStatName, parseEnvoyStats, statMatcher, sumMatching} from '../../src/cluster/stats.js'

const samples = readFileSync(new URL('../reference/envoy-stats/pilot-agent-stats-circuit-breaking-samples.txt', import.meta.url), 'utf8')
const section = (letter: string) => samples.split('# ---- Sample ')[' ABCD'.indexOf(letter)] ?? ''

describe('Envoy stats text', () => {
  it('parses both cluster stat-name forms from real pilot-agent output to the same names', () => {
    const before123 = parseEnvoyStats(section('A'))
    const after123 = parseEnvoyStats(section('B'))
    assert.deepEqual([...before123], [...after123])
    assert.equal(after123.get('cluster.outbound|8000||httpbin.default.svc.cluster.local;.upstream_rq_pending_overflow'), 21)
    assert.equal(after123.size, 7)
  })

  it('skips text readouts and histograms', () => {
    const stats = parseEnvoyStats(section('D'))
    assert.deepEqual([...stats], [['c1', 10], ['c2', 20]])
  })

  it('normalises only cluster stats', () => {
    assert.equal(normaliseStatName('cluster.outbound|9080|v1|ratings.default.svc.cluster.local.outlier_detection.ejections_active'),
      'cluster.outbound|9080|v1|ratings.default.svc.cluster.local;.outlier_detection.ejections_active')
    assert.equal(normaliseStatName('http.outbound_0.0.0.0_9080.fault.delays_injected'), 'http.outbound_0.0.0.0_9080.fault.delays_injected')
    assert.equal(normaliseStatName('cluster.xds-grpc.upstream_cx_active'), 'cluster.xds-grpc.upstream_cx_active')
  })

  it('matches patterns with * in either form and sums across subsets', () => {
    const stats = parseEnvoyStats([
      'cluster.outbound|9080|v1|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow: 3',
      'cluster.outbound|9080|v2|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow: 4',
      'cluster.outbound|9080|v1|reviews.default.svc.cluster.local;.upstream_rq_pending_overflow: 100',
    ].join('\n'))
    assert.deepEqual(sumMatching(stats, 'cluster.outbound|9080|*|ratings.default.svc.cluster.local.upstream_rq_pending_overflow'), {value: 7, matched: 2})
    assert.deepEqual(sumMatching(stats, 'cluster.outbound|9080|*|ratings.default.svc.cluster.local;.upstream_rq_pending_overflow'), {value: 7, matched: 2})
    assert.deepEqual(sumMatching(stats, '*upstream_rq_pending_overflow'), {value: 107, matched: 3})
    assert.deepEqual(sumMatching(stats, 'cluster.outbound|9080||details.default.svc.cluster.local.upstream_rq_total'), {value: 0, matched: 0})
    assert.equal(statMatcher('a.b')('aXb'), false, 'dots are literal')
  })
})
