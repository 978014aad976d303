import assert from 'node:assert/strict'
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import {KubeConfig} from '@kubernetes/client-node'

import {ApiError, type ClusterTarget} from '../../src/cluster/cluster.js'
import {KubeCluster} from '../../src/cluster/kube.js'
import {kubeconfigYaml} from '@faultline/sandbox/kubeconfig.js'
import {startFixture, type Fixture} from '../../packages/sandbox/test/apiserver/fakes.js'

function clusterAt(server: string, yaml: string): KubeCluster {
  const kc = new KubeConfig()
  kc.loadFromString(yaml)
  const target: ClusterTarget = {source: 'kubeconfig', context: kc.getCurrentContext(), server, namespace: 'default'}
  return new KubeCluster(kc, target)
}

describe('KubeCluster.listServices', function () {
  this.timeout(30_000)

  describe('against the sandbox API server', () => {
    let f: Fixture
    before(async () => {
      f = await startFixture()
    })
    after(async () => {
      await f.close()
    })

    it("lists a namespace's Services with their type and ports; an unknown namespace has none", async () => {
      const cluster = clusterAt(
        f.server.url,
        kubeconfigYaml({server: f.server.url, token: f.token, certificateAuthority: f.server.certificateAuthority}),
      )
      const services = await cluster.listServices('default')
      assert.deepEqual(
        services.map(({name, namespace, type, ports}) => ({name, namespace, type, ports})),
        [
          {name: 'ratings', namespace: 'default', type: 'ClusterIP', ports: [9080]},
          {name: 'reviews', namespace: 'default', type: 'ClusterIP', ports: [9080]},
        ],
      )
      // What a port-forward to a Service's pod needs (--entry gateway without a load-balancer address).
      assert.equal(services[0]?.targetPorts?.[9080] !== undefined, true, JSON.stringify(services[0]))
      assert.equal(services[0]?.loadBalancer, undefined)
      assert.deepEqual(
        (await cluster.listServices('staging')).map(s => s.name),
        ['ratings'],
      )
      assert.deepEqual(await cluster.listServices('nowhere'), [])
    })
  })

  describe('against a server that forbids it', () => {
    let server: Server
    let url: string
    const requests: string[] = []
    before(async () => {
      // What kube-apiserver's RBAC authorizer answers a user without `list services`.
      server = createServer((req, res) => {
        requests.push(`${req.method} ${req.url}`)
        const body = JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
          message:
            'services is forbidden: User "system:serviceaccount:chaos:runner" cannot list resource "services" in API group "" in the namespace "default"',
          details: {kind: 'services'},
        })
        res.writeHead(403, {'Content-Type': 'application/json'}).end(body)
      })
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    after(() => new Promise<void>(resolve => server.close(() => resolve())))

    it("throws an ApiError 403 Forbidden that names the call and keeps the server's message", async () => {
      // Plain HTTP on loopback: client-node allows it only with TLS verification off.
      const yaml = `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\ncurrent-context: x\n`
      const cluster = clusterAt(url, yaml)
      await assert.rejects(cluster.listServices('default'), (err: unknown) => {
        assert.ok(err instanceof ApiError)
        assert.deepEqual([err.status, err.reason, err.transient], [403, 'Forbidden', false])
        assert.match(
          err.message,
          /^listing Services in default: services is forbidden: User "system:serviceaccount:chaos:runner" cannot list resource "services"/,
        )
        return true
      })
      assert.deepEqual(requests, ['GET /api/v1/namespaces/default/services'])
    })
  })
})
