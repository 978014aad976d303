/**
 * `Cluster.getDestinationRule`/`replaceDestinationRule` (src/cluster/kube.ts, through client-node's
 * CustomObjectsApi) against the sandbox's API server: it serves DestinationRules like a real one —
 * get, replace with optimistic concurrency (409 on a stale resourceVersion), 404 for none, and
 * admission against Istio's CRD schema (422) — which `spec.setup` relies on.
 */
import assert from 'node:assert/strict'

import {KubeConfig} from '@kubernetes/client-node'

import {ApiError, ConflictError} from '../../src/cluster/cluster.js'
import {KubeCluster} from '../../src/cluster/kube.js'
import type {DestinationRule} from '@faultline/core/istio/types.js'
import {kubeconfigYaml} from '@faultline/sandbox/kubeconfig.js'
import {type Fixture, startFixture} from '../../packages/sandbox/test/apiserver/fakes.js'

describe('KubeCluster DestinationRules on the sandbox API server', function () {
  // The first request that validates an Istio object loads and compiles the CRD schemas.
  this.timeout(60_000)
  let f: Fixture
  let cluster: KubeCluster
  before(async () => {
    f = await startFixture()
    const kc = new KubeConfig()
    kc.loadFromString(
      kubeconfigYaml({server: f.server.url, token: f.token, certificateAuthority: f.server.certificateAuthority}),
    )
    cluster = new KubeCluster(kc, {source: 'sandbox', context: 'sandbox', server: f.server.url, namespace: 'default'})
  })
  after(async () => {
    await f.close()
  })

  it("gets, replaces with optimistic concurrency, and refuses what Istio's schema refuses", async () => {
    assert.equal(await cluster.getDestinationRule('default', 'reviews'), undefined)
    const body = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: {name: 'reviews', namespace: 'default'},
      spec: {host: 'reviews', subsets: [{name: 'v1', labels: {version: 'v1'}}]},
    }
    const created = await f.call('POST', '/apis/networking.istio.io/v1/namespaces/default/destinationrules', {body})
    assert.equal(created.status, 201, JSON.stringify(created.body))
    const got = (await cluster.getDestinationRule('default', 'reviews')) as DestinationRule
    assert.deepEqual(got.spec, body.spec)
    const patched = {
      ...got,
      spec: {...got.spec, trafficPolicy: {connectionPool: {tcp: {maxConnections: 5}}}},
      metadata: {...got.metadata, annotations: {'faultline.dev/run-id': 'r'}},
    }
    const replaced = await cluster.replaceDestinationRule(patched)
    assert.notEqual(replaced.metadata.resourceVersion, got.metadata.resourceVersion)
    assert.deepEqual((await cluster.getDestinationRule('default', 'reviews'))?.spec.trafficPolicy, {
      connectionPool: {tcp: {maxConnections: 5}},
    })
    await assert.rejects(cluster.replaceDestinationRule(patched), (e: unknown) => e instanceof ConflictError)
    const invalid = {
      ...replaced,
      spec: {...replaced.spec, trafficPolicy: {connectionPool: {tcp: {maxConnections: 'five'}}}},
    } as unknown as DestinationRule
    await assert.rejects(
      cluster.replaceDestinationRule(invalid),
      (e: unknown) => e instanceof ApiError && e.status === 422,
    )
  })
})
