/**
 * The stats reader over a real client and a real API server implementation (the sandbox's, through
 * a recorder that can refuse requests as RBAC does): the pod proxy when allowed, exec over
 * WebSocket when `pods/proxy` is forbidden — one refused GET, then exec for the rest of the run.
 */
import assert from 'node:assert/strict'

import {KubeConfig} from '@kubernetes/client-node'

import {KubeCluster} from '../../src/cluster/kube.js'
import {SidecarStats, type StatsDecision} from '../../src/cluster/sidecar-stats.js'
import {sumMatching} from '../../src/cluster/stats.js'
import {type Fixture, PODS, startFixture} from '../../packages/sandbox/test/apiserver/fakes.js'
import {attributes, type Recorded, type RecordingProxy, startRecordingProxy} from '../schedule/recording-proxy.js'

function clusterAt(url: string): KubeCluster {
  const kc = new KubeConfig()
  kc.loadFromString(
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: test-token-0123456789}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\ncurrent-context: x\n`,
  )
  return new KubeCluster(kc, {source: 'kubeconfig', context: 'x', server: url, namespace: 'default'})
}

const subresource = (r: Recorded) => {
  const a = attributes(r)
  return a.kind === 'resource' ? a.subresource : undefined
}

describe('sidecar stats against an API server (pods/proxy allowed, then forbidden)', function () {
  this.timeout(30_000)
  let fixture: Fixture
  const proxies: RecordingProxy[] = []
  before(async () => {
    fixture = await startFixture()
  })
  after(async () => {
    for (const p of proxies) await p.close()
    await fixture?.close()
  })

  const sidecar = PODS.find(
    p => p.namespace === 'default' && p.containers.includes('istio-proxy'),
  ) as (typeof PODS)[number]

  it('reads through the pod proxy when RBAC allows it: no exec at all', async () => {
    const proxy = await startRecordingProxy(fixture.server.url, fixture.server.certificateAuthority)
    proxies.push(proxy)
    const stats = new SidecarStats(clusterAt(proxy.url))
    // The fixture's sidecar echoes the admin path it was asked for: the GET reached 15090's /stats/prometheus.
    assert.equal(await stats.prometheus('default', sidecar.name), 'pilot-agent request GET stats/prometheus\n')
    assert.deepEqual(proxy.requests.map(subresource), ['proxy'])
    assert.equal(stats.decided?.way, 'pod-proxy')
  })

  it('falls back to exec when pods/proxy is forbidden, asks the proxy once, and says why', async () => {
    const proxy = await startRecordingProxy(
      fixture.server.url,
      fixture.server.certificateAuthority,
      r => subresource(r) === 'proxy',
    )
    proxies.push(proxy)
    const stats = new SidecarStats(clusterAt(proxy.url))
    const decisions: StatsDecision[] = []
    stats.onDecided(d => decisions.push(d))
    for (let i = 0; i < 3; i++) {
      const read = await stats.envoy('default', sidecar.name)
      assert.equal(
        sumMatching(read, 'cluster.outbound|9080|*|ratings.default.svc.cluster.local.upstream_rq_total').value,
        42,
      )
    }
    assert.deepEqual(
      proxy.requests.map(r => `${subresource(r) ?? ''}${r.upgrade ? ' (WebSocket)' : ''}`),
      ['proxy', 'exec (WebSocket)', 'exec (WebSocket)', 'exec (WebSocket)'],
    )
    assert.equal(decisions.length, 1)
    assert.equal(decisions[0]?.way, 'exec')
    assert.match(decisions[0]?.reason ?? '', /^403 .*cannot get resource "pods\/proxy"/)
  })
})
