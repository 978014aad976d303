import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {KubeConfig} from '@kubernetes/client-node'

import {ApiError} from '../../src/cluster/cluster.js'
import {KubeCluster} from '../../src/cluster/kube.js'
import {type Fixture, startFixture} from '../../packages/sandbox/test/apiserver/fakes.js'

function clusterAt(url: string, token: string): KubeCluster {
  const kc = new KubeConfig()
  kc.loadFromString(
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: ${token}}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\ncurrent-context: x\n`,
  )
  return new KubeCluster(kc, {source: 'kubeconfig', context: 'x', server: url, namespace: 'default'})
}

describe('KubeCluster.podProxyGet (GET pods/NAME:PORT/proxy/PATH)', function () {
  this.timeout(30_000)

  describe('against the sandbox API server', () => {
    let fixture: Fixture
    let cluster: KubeCluster
    before(async () => {
      fixture = await startFixture()
      cluster = clusterAt(fixture.server.url, fixture.token)
    })
    after(() => fixture?.close())

    it("reaches the sidecar's /stats/prometheus on 15090 over TLS with the kubeconfig's token, the path unescaped", async () => {
      // The fake sidecar echoes the admin path it was asked for.
      assert.equal(
        await cluster.podProxyGet('default', 'reviews-v2-5f4b', 15090, 'stats/prometheus'),
        'pilot-agent request GET stats/prometheus\n',
      )
    })

    it("a missing pod is a 404 NotFound (the pod is gone), Envoy's admin port a 503: it listens on localhost only", async () => {
      await assert.rejects(
        cluster.podProxyGet('default', 'reviews-v9-gone', 15090, 'stats/prometheus'),
        (err: ApiError) => err.status === 404 && err.reason === 'NotFound',
      )
      await assert.rejects(
        cluster.podProxyGet('default', 'reviews-v2-5f4b', 15000, 'stats'),
        (err: ApiError) => err.status === 503 && /connection refused/.test(err.message),
      )
      // 15090 routes only /stats/prometheus: another path is the listener's 404, not a missing pod.
      await assert.rejects(
        cluster.podProxyGet('default', 'reviews-v2-5f4b', 15090, 'stats'),
        (err: ApiError) => err.status === 404 && err.reason === undefined,
      )
    })
  })

  describe('against an API server whose RBAC refuses pods/proxy', () => {
    let server: Server
    let cluster: KubeCluster
    const asked: string[] = []
    before(async () => {
      server = createServer((req, res) => {
        asked.push(`${req.method} ${req.url} ${req.headers.authorization}`)
        res.writeHead(403, {'Content-Type': 'application/json'}).end(
          JSON.stringify({
            kind: 'Status',
            apiVersion: 'v1',
            status: 'Failure',
            reason: 'Forbidden',
            code: 403,
            message:
              'pods "reviews-v2-5f4b" is forbidden: User "system:serviceaccount:chaos:faultline" cannot get resource "pods/proxy" in API group "" in the namespace "default"',
          }),
        )
      })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      cluster = clusterAt(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'tok-1')
    })
    after(() => new Promise<void>(resolve => server.close(() => resolve())))

    it("is an ApiError 403 Forbidden with the server's message", async () => {
      await assert.rejects(
        cluster.podProxyGet('default', 'reviews-v2-5f4b', 15090, 'stats/prometheus'),
        (err: ApiError) =>
          err instanceof ApiError &&
          err.status === 403 &&
          err.reason === 'Forbidden' &&
          /cannot get resource "pods\/proxy"/.test(err.message),
      )
      assert.deepEqual(asked, [
        'GET /api/v1/namespaces/default/pods/reviews-v2-5f4b:15090/proxy/stats/prometheus Bearer tok-1',
      ])
    })
  })
})
