import assert from 'node:assert/strict'
import {Writable} from 'node:stream'

import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  Exec,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1Status,
} from '@kubernetes/client-node'

import {kubeconfigYaml} from '../../src/kubeconfig.js'
import {ratingsVs, startFixture, STATS_TEXT, type Answer, type Fixture} from './fakes.js'

const group = 'networking.istio.io'
const plural = 'virtualservices'
const namespace = 'default'

describe('sandbox API server with @kubernetes/client-node', function () {
  // The first request that validates an Istio object loads and compiles the CRD schemas (seconds on a busy machine).
  this.timeout(60_000)
  let f: Fixture
  let kc: KubeConfig
  beforeEach(async () => {
    f = await startFixture()
    kc = new KubeConfig()
    kc.loadFromString(
      kubeconfigYaml({server: f.server.url, token: f.token, certificateAuthority: f.server.certificateAuthority}),
    )
  })
  afterEach(async () => {
    await f.close()
  })

  for (const version of ['v1', 'v1beta1', 'v1alpha3']) {
    it(`creates, lists, gets, replaces, patches and deletes VirtualServices in ${version}`, async () => {
      const api = kc.makeApiClient(CustomObjectsApi)
      const created = (await api.createNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        body: ratingsVs(version),
      })) as Answer
      assert.equal(created.apiVersion, `${group}/${version}`)
      const list = (await api.listNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        labelSelector: 'app=ratings',
      })) as Answer
      assert.deepEqual(
        list.items.map((i: Answer) => i.metadata.name),
        ['ratings'],
      )
      const got = (await api.getNamespacedCustomObject({group, version, namespace, plural, name: 'ratings'})) as Answer
      got.spec.http[0].timeout = '2s'
      const replaced = (await api.replaceNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        name: 'ratings',
        body: got,
      })) as Answer
      assert.equal(replaced.spec.http[0].timeout, '2s')
      await assert.rejects(
        api.replaceNamespacedCustomObject({group, version, namespace, plural, name: 'ratings', body: got}),
        (e: unknown) => e instanceof ApiException && e.code === 409,
      )
      // client-node 1.x sends JSON patch unless told otherwise.
      const jsonPatched = (await api.patchNamespacedCustomObject({
        group,
        version,
        namespace,
        plural,
        name: 'ratings',
        body: [{op: 'replace', path: '/spec/http/0/timeout', value: '3s'}],
      })) as Answer
      assert.equal(jsonPatched.spec.http[0].timeout, '3s')
      const merged = (await api.patchNamespacedCustomObject(
        {
          group,
          version,
          namespace,
          plural,
          name: 'ratings',
          body: {spec: {http: [{route: [{destination: {host: 'ratings', subset: 'v2'}}]}]}},
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )) as Answer
      assert.deepEqual(merged.spec.http, [{route: [{destination: {host: 'ratings', subset: 'v2'}}]}])
      await api.deleteNamespacedCustomObject({group, version, namespace, plural, name: 'ratings'})
      await assert.rejects(
        api.getNamespacedCustomObject({group, version, namespace, plural, name: 'ratings'}),
        (e: unknown) => e instanceof ApiException && e.code === 404,
      )
    })
  }

  it('surfaces validation failures as ApiException 422 with the Status body', async () => {
    const api = kc.makeApiClient(CustomObjectsApi)
    const bad = ratingsVs('v1', {
      spec: {hosts: ['ratings'], http: [{timeout: 'soon', route: [{destination: {host: 'ratings'}}]}]},
    })
    await assert.rejects(
      api.createNamespacedCustomObject({group, version: 'v1', namespace, plural, body: bad}),
      (e: unknown) => {
        assert.ok(e instanceof ApiException)
        assert.equal(e.code, 422)
        // A CEL rule's failure names the value's type, as kube-apiserver's does (test/integration/apiserver-compare.test.ts).
        assert.match(
          String(e.body),
          /spec.http\[0\].timeout: Invalid value: \\?"string\\?": must be a valid duration greater than 1ms/,
        )
        return true
      },
    )
  })

  it('lists pods with CoreV1Api and answers SelfSubjectAccessReviews', async () => {
    const pods = await kc
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({namespace, labelSelector: 'app=ratings,version=v1'})
    assert.deepEqual(
      pods.items.map(p => p.metadata?.name),
      ['ratings-v1-7d9c'],
    )
    assert.deepEqual(
      pods.items[0]?.spec?.containers.map(c => c.name),
      ['ratings', 'istio-proxy'],
    )
    assert.equal(pods.items[0]?.status?.phase, 'Running')
    const review = await kc.makeApiClient(AuthorizationV1Api).createSelfSubjectAccessReview({
      body: {spec: {resourceAttributes: {verb: 'get', resource: 'pods', subresource: 'exec', namespace}}},
    })
    assert.equal(review.status?.allowed, true)
  })

  it('execs pilot-agent request GET stats with Exec', async () => {
    const chunks: Buffer[] = []
    const stdout = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk)
        done()
      },
    })
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc)
        .exec(
          namespace,
          'ratings-v1-7d9c',
          'istio-proxy',
          ['pilot-agent', 'request', 'GET', 'stats'],
          stdout,
          null,
          null,
          false,
          resolve,
        )
        .catch(reject)
    })
    assert.equal(status.status, 'Success')
    assert.equal(Buffer.concat(chunks).toString('utf8'), STATS_TEXT)
  })

  it('watches VirtualServices with Watch', async () => {
    const seen: string[] = []
    let sawDelete: () => void = () => undefined
    const deleted = new Promise<void>(resolve => {
      sawDelete = resolve
    })
    const controller = await new Watch(kc).watch(
      `/apis/${group}/v1alpha3/namespaces/${namespace}/${plural}`,
      {resourceVersion: f.store.resourceVersion()},
      (type, obj: Answer) => {
        seen.push(`${type} ${obj.apiVersion} ${obj.metadata.name}`)
        if (type === 'DELETED') sawDelete()
      },
      () => undefined,
    )
    const api = kc.makeApiClient(CustomObjectsApi)
    await api.createNamespacedCustomObject({group, version: 'v1', namespace, plural, body: ratingsVs('v1')})
    await api.deleteNamespacedCustomObject({group, version: 'v1', namespace, plural, name: 'ratings'})
    await deleted
    controller.abort()
    assert.deepEqual(seen, [`ADDED ${group}/v1alpha3 ratings`, `DELETED ${group}/v1alpha3 ratings`])
  })
})
