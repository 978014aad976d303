import assert from 'node:assert/strict'

import {KubeConfig} from '@kubernetes/client-node'

import {KubeCluster} from '../../../src/cluster/kube.js'
import {kubeconfigYaml} from '@faultline/sandbox/kubeconfig.js'
import {startFixture, type Answer, type Fixture} from '../../../packages/sandbox/test/apiserver/fakes.js'

const paPath = (version: string, namespace?: string, name?: string) =>
  `/apis/security.istio.io/${version}${namespace === undefined ? '' : `/namespaces/${namespace}`}/peerauthentications${name === undefined ? '' : `/${name}`}`

const strict = (version = 'v1', spec: Record<string, unknown> = {mtls: {mode: 'STRICT'}}) => ({
  apiVersion: `security.istio.io/${version}`,
  kind: 'PeerAuthentication',
  metadata: {name: 'default'},
  spec,
})

describe('sandbox API server: security.istio.io PeerAuthentication', function () {
  this.timeout(60_000)
  let f: Fixture
  beforeEach(async () => {
    f = await startFixture()
  })
  afterEach(async () => {
    await f.close()
  })

  it('is discovered as Istio 1.30 serves it: v1 preferred, v1beta1, short name pa, and an OpenAPI document per version', async () => {
    const group = (await f.call('GET', '/apis')).body.groups.find((g: Answer) => g.name === 'security.istio.io')
    assert.deepEqual(
      group.versions.map((v: Answer) => v.version),
      ['v1', 'v1beta1'],
    )
    assert.equal(group.preferredVersion.version, 'v1')
    for (const v of ['v1', 'v1beta1']) {
      const [r] = (await f.call('GET', `/apis/security.istio.io/${v}`)).body.resources
      assert.deepEqual(
        {name: r.name, kind: r.kind, shortNames: r.shortNames, namespaced: r.namespaced},
        {name: 'peerauthentications', kind: 'PeerAuthentication', shortNames: ['pa'], namespaced: true},
      )
      const index = (await f.call('GET', '/openapi/v3')).body.paths
      assert.ok(index[`apis/security.istio.io/${v}`] !== undefined, v)
      const doc = (await f.call('GET', `/openapi/v3/apis/security.istio.io/${v}`)).body
      assert.ok(
        doc.paths[`/apis/security.istio.io/${v}/namespaces/{namespace}/peerauthentications/{name}`].patch !== undefined,
      )
    }
    assert.equal((await f.call('GET', '/apis/security.istio.io/v1alpha1')).status, 404)
  })

  it('creates in v1beta1, stores v1, lists across namespaces, prints Mode and Age, deletes', async () => {
    const created = await f.call('POST', paPath('v1beta1', 'istio-system'), {body: strict('v1beta1')})
    assert.equal(created.status, 201, JSON.stringify(created.body))
    assert.equal(created.body.apiVersion, 'security.istio.io/v1beta1')
    assert.equal(f.store.peerAuthentications()[0]?.metadata.namespace, 'istio-system')
    assert.equal(
      (f.store.get('PeerAuthentication', 'istio-system', 'default') as Answer).apiVersion,
      'security.istio.io/v1',
    )
    const all = (await f.call('GET', paPath('v1'))).body
    assert.equal(all.kind, 'PeerAuthenticationList')
    assert.deepEqual(
      all.items.map((i: Answer) => `${i.metadata.namespace}/${i.metadata.name} ${i.spec.mtls.mode}`),
      ['istio-system/default STRICT'],
    )
    const table = (
      await f.call('GET', paPath('v1'), {headers: {accept: 'application/json;as=Table;v=v1;g=meta.k8s.io'}})
    ).body
    assert.deepEqual(
      table.columnDefinitions.map((c: Answer) => c.name),
      ['Name', 'Mode', 'Age'],
    )
    assert.deepEqual(table.rows[0].cells.slice(0, 2), ['default', 'STRICT'])
    assert.equal((await f.call('DELETE', paPath('v1', 'istio-system', 'default'))).status, 200)
    assert.deepEqual(f.store.peerAuthentications(), [])
  })

  it('refuses what the CRD refuses (422 with the field), and a body of the other group (400)', async () => {
    const bad = await f.call('POST', paPath('v1', 'default'), {body: strict('v1', {mtls: {mode: 'strict'}})})
    assert.equal(bad.status, 422)
    // An enum failure keeps the server from running the CRD's CEL rules, and it says so (as kube-apiserver 1.32 does).
    assert.deepEqual(
      bad.body.details.causes.map((c: Answer) => `${c.field}: ${c.message}`),
      [
        'spec.mtls.mode: Unsupported value: "strict": supported values: "UNSET", "DISABLE", "PERMISSIVE", "STRICT"',
        '<nil>: Invalid value: "null": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation',
      ],
    )
    const noSelector = await f.call('POST', paPath('v1', 'default'), {
      body: strict('v1', {portLevelMtls: {9080: {mode: 'DISABLE'}}}),
    })
    assert.equal(noSelector.status, 422)
    assert.equal(
      noSelector.body.message,
      'PeerAuthentication.security.istio.io "default" is invalid: spec: Invalid value: "object": portLevelMtls requires selector',
    )
    const wrongGroup = await f.call('POST', paPath('v1', 'default'), {
      body: {...strict(), apiVersion: 'networking.istio.io/v1'},
    })
    assert.equal(wrongGroup.status, 400)
  })

  it("Cluster.meshFacts reads the namespace's and istio-system's policies (each once) and the namespace labels", async () => {
    assert.equal((await f.call('POST', paPath('v1', 'istio-system'), {body: strict()})).status, 201)
    assert.equal(
      (
        await f.call('POST', paPath('v1', 'default'), {
          body: {
            ...strict(),
            metadata: {name: 'ratings'},
            spec: {selector: {matchLabels: {app: 'ratings'}}, mtls: {mode: 'PERMISSIVE'}},
          },
        })
      ).status,
      201,
    )
    assert.equal(
      (await f.call('POST', paPath('v1', 'staging'), {body: strict()})).status,
      404,
      'no such namespace in the fixture',
    )
    const kc = new KubeConfig()
    kc.loadFromString(
      kubeconfigYaml({server: f.server.url, token: f.token, certificateAuthority: f.server.certificateAuthority}),
    )
    const cluster = new KubeCluster(kc, {
      source: 'kubeconfig',
      context: 'x',
      server: f.server.url,
      namespace: 'default',
    })
    const names = async (ns: string) =>
      (await cluster.meshFacts(ns)).peerAuthentications?.map(p => `${p.metadata.namespace}/${p.metadata.name}`).sort()
    assert.deepEqual(await names('default'), ['default/ratings', 'istio-system/default'])
    assert.deepEqual(await names('istio-system'), ['istio-system/default'])
    const facts = await cluster.meshFacts('default')
    assert.equal(facts.namespaceLabels?.['kubernetes.io/metadata.name'], 'default')
    assert.ok(
      facts.peerAuthentications?.every(p => p.metadata.creationTimestamp !== undefined),
      'creation times, which decide among policies of one scope',
    )
  })
})
