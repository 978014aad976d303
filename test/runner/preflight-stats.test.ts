import assert from 'node:assert/strict'

import {deniedPermissions, STATS_EXEC_ACCESS, STATS_PROXY_ACCESS, statsCheck} from '../../src/runner/preflight-stats.js'
import {FakeCluster} from '../fakes/cluster.js'

describe('preflight: reading sidecar stats', () => {
  describe('permissions: the pod proxy or exec, either will do', () => {
    const access = [{verb: 'list', group: '', resource: 'pods'}, ...STATS_PROXY_ACCESS, ...STATS_EXEC_ACCESS]
    const cases: Array<[string, boolean[], string[]]> = [
      ['both ways granted', [true, true, true, true], []],
      ['only the pod proxy', [true, true, false, false], []],
      ['only exec (get and create)', [true, false, true, true], []],
      ['list pods missing, a way granted', [false, true, false, false], ['list pods']],
    ]
    for (const [what, allowed, denied] of cases) {
      it(`${what}: ${denied.length === 0 ? 'nothing' : denied.join(', ')} denied`, () =>
        assert.deepEqual(deniedPermissions(access, allowed), denied))
    }

    it('neither way fully granted (exec without create, as Kubernetes ≥ 1.35 needs): names what would do', () => {
      assert.deepEqual(deniedPermissions(access, [true, false, true, false]), [
        'get pods/proxy (or, to read sidecar stats by exec instead, get pods/exec and create pods/exec)',
      ])
    })
  })

  describe('the stats finding', () => {
    function cluster(): FakeCluster {
      const c = new FakeCluster()
      c.pods.push({
        name: 'details-v1-a',
        namespace: 'default',
        labels: {app: 'details'},
        containers: ['details'],
        ready: true,
      })
      c.pods.push({
        name: 'reviews-v1-a',
        namespace: 'default',
        labels: {app: 'reviews'},
        containers: ['reviews', 'istio-proxy'],
        ready: false,
      })
      c.pods.push({
        name: 'reviews-v2-a',
        namespace: 'default',
        labels: {app: 'reviews'},
        containers: ['reviews', 'istio-proxy'],
        ready: true,
      })
      for (const p of ['reviews-v1-a', 'reviews-v2-a']) {
        c.stats.set(p, 'server.live: 1\n')
        c.prometheusStats.set(p, 'envoy_server_live 1\n')
      }
      return c
    }

    it('reads a ready sidecar through the pod proxy and says so', async () => {
      const c = cluster()
      const [found] = await statsCheck(c, 'default')
      assert.deepEqual(found, {
        check: 'stats',
        status: 'ok',
        message:
          "sidecar stats are read through the API server's pod proxy (GET pods/NAME:15090/proxy/stats/prometheus)",
      })
      assert.deepEqual(c.podProxyGets, ['default/reviews-v2-a:15090/stats/prometheus'])
    })

    it('says the run reads by exec, and why, when pods/proxy is forbidden', async () => {
      const c = cluster()
      c.denied.add('get pods/proxy')
      const [found] = await statsCheck(c, 'default')
      assert.equal(found?.status, 'ok')
      assert.match(
        found?.message ?? '',
        /read by exec \(pilot-agent request GET stats in istio-proxy\): the pod proxy to port 15090 answered 403 /,
      )
      assert.match(found?.hint ?? '', /get pods\/proxy/)
    })

    it('warns when neither way reads the sidecar, and says nothing in a namespace without one', async () => {
      const c = cluster()
      c.denied.add('get pods/proxy')
      c.denied.add('create pods/exec')
      const [found] = await statsCheck(c, 'default')
      assert.equal(found?.status, 'warning')
      assert.match(found?.message ?? '', /could not be read: .*through the pod proxy 403 .*by exec 403/)
      assert.deepEqual(await statsCheck(c, 'bookinfo'), [])
    })
  })
})
