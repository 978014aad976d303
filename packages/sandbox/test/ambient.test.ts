import assert from 'node:assert/strict'

import {
  AMBIENT_NAMESPACE,
  ambientPod,
  ambientServices,
  AMBIENT_WORKLOADS,
  createAmbientNamespace,
} from '../src/ambient.js'
import {podObject} from '../src/apiserver/pods.js'
import {ObjectStore} from '../src/store.js'
import {StaticTopology} from '../src/topology.js'

describe('sandbox ambient namespace', () => {
  it('is a namespace labelled istio.io/dataplane-mode=ambient', () => {
    const store = new ObjectStore()
    createAmbientNamespace(store)
    assert.deepEqual(store.get('Namespace', undefined, AMBIENT_NAMESPACE)?.metadata.labels, {
      'istio.io/dataplane-mode': 'ambient',
      'kubernetes.io/metadata.name': 'ambient',
    })
  })

  it('runs ratings v1 behind a ratings Service, its pod without istio-proxy and marked as redirected to ztunnel', () => {
    const [workload] = AMBIENT_WORKLOADS
    assert.deepEqual(workload, {app: 'ratings', version: 'v1'})
    const pod = ambientPod(workload!, 'ratings-v1-abc-def', 12345)
    assert.deepEqual(pod.containers, ['ratings'])
    assert.equal(pod.namespace, 'ambient')
    const topology = new StaticTopology(ambientServices(), [pod])
    assert.deepEqual(
      topology.endpoints(topology.serviceForHost('ratings.ambient')!).map(p => p.name),
      ['ratings-v1-abc-def'],
    )
    assert.equal(topology.serviceForHost('ratings'), undefined, 'a short name resolves in default')
    const obj = podObject(pod, '2026-01-01T00:00:00Z') as {
      metadata: {labels: Record<string, string>; annotations: Record<string, string>}
      spec: {containers: {name: string}[]; initContainers?: unknown[]}
    }
    assert.deepEqual(
      obj.spec.containers.map(c => c.name),
      ['ratings'],
    )
    assert.equal(obj.spec.initContainers, undefined)
    assert.equal(obj.metadata.annotations['ambient.istio.io/redirection'], 'enabled')
    assert.equal(obj.metadata.annotations['sidecar.istio.io/status'], undefined, 'nothing was injected')
    assert.equal(
      obj.metadata.labels['security.istio.io/tlsMode'],
      undefined,
      "the injector's label is not there either",
    )
  })
})
