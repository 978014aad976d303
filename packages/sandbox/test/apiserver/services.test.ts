import assert from 'node:assert/strict'

import {ApiException, CoreV1Api, KubeConfig} from '@kubernetes/client-node'

import {printerFor} from '../../src/apiserver/table.js'
import {kubeconfigYaml} from '../../src/kubeconfig.js'
import {startFixture, type Answer, type Fixture} from './fakes.js'

const TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json'

describe('sandbox API server: core/v1 Services (read-only, from the topology)', function () {
  this.timeout(30_000)
  let f: Fixture
  before(async () => {
    f = await startFixture()
  })
  after(async () => {
    await f.close()
  })

  it('lists services in discovery with the svc short name and the verbs of stored Services too', async () => {
    const services = (await f.call('GET', '/api/v1')).body.resources.find((r: Answer) => r.name === 'services')
    assert.deepEqual(
      {kind: services.kind, namespaced: services.namespaced, shortNames: services.shortNames, verbs: services.verbs},
      {
        kind: 'Service',
        namespaced: true,
        shortNames: ['svc'],
        verbs: ['create', 'delete', 'get', 'list', 'patch', 'update'],
      },
    )
  })

  it("gets one Service shaped like bookinfo's: labels, selector, an http port, a ClusterIP", async () => {
    const r = await f.call('GET', '/api/v1/namespaces/default/services/reviews')
    assert.equal(r.status, 200)
    const svc = r.body
    assert.deepEqual(
      [svc.apiVersion, svc.kind, svc.metadata.name, svc.metadata.namespace],
      ['v1', 'Service', 'reviews', 'default'],
    )
    assert.deepEqual(svc.metadata.labels, {app: 'reviews', service: 'reviews'})
    assert.deepEqual(svc.spec.selector, {app: 'reviews'})
    assert.deepEqual(svc.spec.ports, [{name: 'http', port: 9080, protocol: 'TCP', targetPort: 9080}])
    assert.equal(svc.spec.type, 'ClusterIP')
    assert.deepEqual(svc.spec.clusterIPs, [svc.spec.clusterIP])
    assert.match(svc.spec.clusterIP, /^127\.\d+\.\d+\.\d+$/, "a loopback address, like the pods' IPs")
    assert.match(svc.metadata.uid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/)
    const again = (await f.call('GET', '/api/v1/namespaces/default/services/reviews')).body
    assert.deepEqual(again, svc, 'stable across reads')
    const other = (await f.call('GET', '/api/v1/namespaces/staging/services/ratings')).body
    assert.notEqual(
      other.metadata.uid,
      (await f.call('GET', '/api/v1/namespaces/default/services/ratings')).body.metadata.uid,
    )
  })

  it("answers a missing Service with 404 NotFound naming it, and refuses writes to the topology's with 405", async () => {
    const missing = await f.call('GET', '/api/v1/namespaces/default/services/ratngs')
    assert.equal(missing.status, 404)
    assert.deepEqual(
      [missing.body.reason, missing.body.message, missing.body.details.kind],
      ['NotFound', 'services "ratngs" not found', 'services'],
    )
    assert.equal(
      (await f.call('GET', '/api/v1/namespaces/staging/services/reviews')).status,
      404,
      'a Service lives in one namespace only',
    )
    assert.equal((await f.call('DELETE', '/api/v1/namespaces/default/services/reviews')).status, 405)
    // A new Service (chaos schedule's report server) is stored, as a cluster would.
    assert.equal(
      (await f.call('POST', '/api/v1/namespaces/default/services', {body: {metadata: {name: 'x'}}})).status,
      201,
    )
  })

  it('lists per namespace (ordered by name), across namespaces, by label and by field', async () => {
    const list = (await f.call('GET', '/api/v1/namespaces/default/services')).body
    assert.deepEqual([list.apiVersion, list.kind, list.metadata.resourceVersion], ['v1', 'ServiceList', '1'])
    assert.deepEqual(
      list.items.map((s: Answer) => s.metadata.name),
      ['ratings', 'reviews'],
    )
    assert.deepEqual(
      (await f.call('GET', '/api/v1/services')).body.items.map(
        (s: Answer) => `${s.metadata.namespace}/${s.metadata.name}`,
      ),
      ['default/ratings', 'default/reviews', 'staging/ratings'],
    )
    assert.deepEqual(
      (await f.call('GET', '/api/v1/namespaces/default/services?labelSelector=app%3Dreviews')).body.items.map(
        (s: Answer) => s.metadata.name,
      ),
      ['reviews'],
    )
    assert.deepEqual(
      (await f.call('GET', '/api/v1/services?labelSelector=service%20in%20(ratings)')).body.items.length,
      2,
    )
    assert.deepEqual(
      (await f.call('GET', '/api/v1/namespaces/default/services?fieldSelector=metadata.name%3Dratings')).body.items.map(
        (s: Answer) => s.metadata.name,
      ),
      ['ratings'],
    )
    assert.deepEqual(
      (await f.call('GET', '/api/v1/namespaces/nowhere/services')).body.items,
      [],
      'an unknown namespace lists empty, as on a cluster',
    )
    assert.equal((await f.call('GET', '/api/v1/namespaces/default/services?labelSelector=app%3D%3D%3D')).status, 400)
  })

  it("prints kube-apiserver's Service table: NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE, SELECTOR for -o wide", async () => {
    const t = (await f.call('GET', '/api/v1/namespaces/default/services', {headers: {accept: TABLE}})).body
    assert.equal(t.kind, 'Table')
    assert.deepEqual(
      t.columnDefinitions.map((c: Answer) => [c.name, c.priority]),
      [
        ['Name', 0],
        ['Type', 0],
        ['Cluster-IP', 0],
        ['External-IP', 0],
        ['Port(s)', 0],
        ['Age', 0],
        ['Selector', 1],
      ],
    )
    const [row] = t.rows
    assert.deepEqual(row.cells.slice(0, 5), ['ratings', 'ClusterIP', row.cells[2], '<none>', '9080/TCP'])
    assert.match(row.cells[5], /^\d+s$/)
    assert.equal(row.cells[6], 'app=ratings')
    assert.deepEqual([row.object.kind, row.object.metadata.name], ['PartialObjectMetadata', 'ratings'])
    const one = (await f.call('GET', '/api/v1/namespaces/default/services/reviews', {headers: {accept: TABLE}})).body
    assert.deepEqual(
      one.rows.map((r: Answer) => r.cells[0]),
      ['reviews'],
    )
  })

  it('prints other Service types as kube-apiserver does', () => {
    const printer = printerFor('Service', 'v1')
    const cells = (spec: Record<string, unknown>) =>
      printer.cells(
        {apiVersion: 'v1', kind: 'Service', metadata: {name: 's', creationTimestamp: new Date(0).toISOString()}, spec},
        61_000,
      )
    assert.deepEqual(cells({type: 'ExternalName', externalName: 'db.example.com'}), [
      's',
      'ExternalName',
      '<none>',
      'db.example.com',
      '<none>',
      '61s',
      '<none>',
    ])
    assert.deepEqual(
      cells({
        type: 'NodePort',
        clusterIPs: ['10.0.0.7'],
        externalIPs: ['192.0.2.1', '192.0.2.2'],
        ports: [
          {port: 80, nodePort: 30080, protocol: 'TCP'},
          {port: 53, protocol: 'UDP'},
        ],
        selector: {version: 'v1', app: 'x'},
      }),
      ['s', 'NodePort', '10.0.0.7', '192.0.2.1,192.0.2.2', '80:30080/TCP,53/UDP', '61s', 'app=x,version=v1'],
    )
  })

  it("serves client-node's CoreV1Api: list by label, read, and 404 as ApiException", async () => {
    const kc = new KubeConfig()
    kc.loadFromString(
      kubeconfigYaml({server: f.server.url, token: f.token, certificateAuthority: f.server.certificateAuthority}),
    )
    const core = kc.makeApiClient(CoreV1Api)
    const list = await core.listNamespacedService({namespace: 'default', labelSelector: 'app=ratings'})
    assert.deepEqual(
      list.items.map(s => [s.metadata?.name, s.spec?.ports?.[0]?.port, s.spec?.type]),
      [['ratings', 9080, 'ClusterIP']],
    )
    const svc = await core.readNamespacedService({namespace: 'staging', name: 'ratings'})
    assert.equal(svc.metadata?.namespace, 'staging')
    await assert.rejects(
      core.readNamespacedService({namespace: 'default', name: 'details'}),
      (e: unknown) => e instanceof ApiException && e.code === 404,
    )
  })
})
