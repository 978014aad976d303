import assert from 'node:assert/strict'

import type {MeshFacts, PeerAuthentication} from '../../src/cluster/cluster.js'
import type {Experiment} from '../../src/experiment/model.js'
import {planExperiment} from '../../src/faults/experiment-plan.js'
import {virtualServicesInPrecedence} from '@faultline/core/istio/routing.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {meshChecks} from '../../src/runner/preflight-mesh.js'

const NOW = new Date(Date.UTC(2026, 11, 7, 12, 0, 0))

const experiment: Experiment = {
  apiVersion: 'faultline.dev/v1alpha1',
  kind: 'Experiment',
  metadata: {name: 'ratings-abort'},
  spec: {
    faults: [
      {
        service: 'ratings',
        match: {headers: {'user-agent': {exact: 'faultline-chaos-test'}}},
        abort: {httpStatus: 503, percentage: 100},
      },
    ],
    phases: {baseline: '5s', fault: '10s', recovery: '5s'},
    load: {
      url: 'http://productpage:9080/productpage',
      traffic: [{name: 'targeted', rate: '5/s', headers: {'user-agent': 'faultline-chaos-test'}}],
    },
    steadyState: [{name: 'ok', traffic: 'targeted', thresholds: {http_req_failed: ['rate<0.5']}}],
  },
}

function vs(
  namespace: string,
  name: string,
  created: string,
  spec: Partial<VirtualService['spec']> = {},
): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {name, namespace, creationTimestamp: created},
    spec: {
      hosts: ['ratings.default.svc.cluster.local'],
      http: [{route: [{destination: {host: 'ratings.default.svc.cluster.local'}}]}],
      ...spec,
    },
  }
}

const pa = (
  namespace: string,
  name: string,
  mode: string,
  matchLabels?: Record<string, string>,
  creationTimestamp?: string,
): PeerAuthentication => ({
  metadata: {name, namespace, ...(creationTimestamp === undefined ? {} : {creationTimestamp})},
  spec: {mtls: {mode}, ...(matchLabels === undefined ? {} : {selector: {matchLabels}})},
})

function checks(facts: MeshFacts, existing: VirtualService[] = [], loadThroughMesh = true) {
  const plan = planExperiment({experiment, existing, runId: 'r1', now: NOW, namespace: 'default'})
  return meshChecks({facts, namespace: 'default', plan, faultedServices: ['ratings'], loadThroughMesh, now: NOW})
}

describe('preflight: the mesh around the namespace', () => {
  it('says nothing it was not given facts for', () => {
    assert.deepEqual(checks({}), [])
  })

  it('ambient namespace: exit 4 with what to do (a waypoint), since there is no sidecar for the fault', () => {
    const [c] = checks({namespaceLabels: {'istio.io/dataplane-mode': 'ambient'}})
    assert.equal(c?.status, 'failed')
    assert.match(c?.message ?? '', /namespace default is in ambient mode .* no calling sidecar to run in/)
    assert.match(c?.hint ?? '', /waypoint/)
    assert.deepEqual(checks({namespaceLabels: {'istio-injection': 'enabled'}}), [])
  })

  const mtls: Array<{name: string; policies: PeerAuthentication[]; through: boolean; status?: string}> = [
    {
      name: 'namespace STRICT, load from outside the mesh',
      policies: [pa('default', 'strict', 'STRICT')],
      through: false,
      status: 'failed',
    },
    {
      name: 'mesh-wide STRICT in istio-system',
      policies: [pa('istio-system', 'default', 'STRICT')],
      through: false,
      status: 'failed',
    },
    {
      name: 'mesh STRICT, namespace PERMISSIVE overrides it',
      policies: [pa('istio-system', 'default', 'STRICT'), pa('default', 'relax', 'PERMISSIVE')],
      through: false,
    },
    {
      name: 'namespace STRICT, but the load comes through a sidecar',
      policies: [pa('default', 'strict', 'STRICT')],
      through: true,
    },
    {
      name: 'a workload-level STRICT only: a warning',
      policies: [pa('default', 'pp', 'STRICT', {app: 'productpage'})],
      through: false,
      status: 'warning',
    },
    {
      name: 'UNSET falls through to the mesh',
      policies: [pa('istio-system', 'default', 'STRICT'), pa('default', 'x', 'UNSET')],
      through: false,
      status: 'failed',
    },
    {
      name: 'only the oldest namespace-wide policy counts: an older UNSET hides a newer STRICT',
      policies: [
        pa('default', 'b-strict', 'STRICT', undefined, '2026-02-01T00:00:00Z'),
        pa('default', 'a-unset', 'UNSET', undefined, '2026-01-01T00:00:00Z'),
      ],
      through: false,
    },
    {
      name: 'same creation time: the name decides (a-strict before b-permissive)',
      policies: [
        pa('default', 'b-permissive', 'PERMISSIVE', undefined, '2026-01-01T00:00:00Z'),
        pa('default', 'a-strict', 'STRICT', undefined, '2026-01-01T00:00:00Z'),
      ],
      through: false,
      status: 'failed',
    },
    {
      name: 'namespace STRICT, a workload policy allows plaintext for some workloads: a warning',
      policies: [pa('default', 'strict', 'STRICT'), pa('default', 'pp-plain', 'PERMISSIVE', {app: 'productpage'})],
      through: false,
      status: 'warning',
    },
    {
      name: 'namespace STRICT, a workload policy opens one port: a warning',
      policies: [
        pa('default', 'strict', 'STRICT'),
        {
          metadata: {name: 'pp-port', namespace: 'default'},
          spec: {selector: {matchLabels: {app: 'productpage'}}, portLevelMtls: {9080: {mode: 'PERMISSIVE'}}},
        },
      ],
      through: false,
      status: 'warning',
    },
  ]
  for (const c of mtls) {
    it(`mTLS: ${c.name}`, () => {
      const found = checks({peerAuthentications: c.policies}, [], c.through).filter(x => x.check === 'mtls')
      assert.deepEqual(
        found.map(x => x.status),
        c.status === undefined ? [] : [c.status],
      )
      if (c.status === 'failed')
        assert.match(
          found[0]?.message ?? '',
          /refuse plaintext from a client without a sidecar \(the connection is reset\)/,
        )
      if (c.name.includes('allows plaintext'))
        assert.match(
          found[0]?.message ?? '',
          /unless its entry workload is one that PeerAuthentication default\/pp-plain allows plaintext for/,
        )
    })
  }

  it('precedence: an older public VirtualService in another namespace shadows the one we would create', () => {
    const other = vs('routing', 'ratings-routes', '2025-01-01T00:00:00Z')
    const [c] = checks({virtualServices: [other]})
    assert.equal(c?.status, 'failed')
    assert.match(
      c?.message ?? '',
      /VirtualService routing\/ratings-routes \(public, created 2025-01-01T00:00:00Z\) takes precedence for ratings\.default\.svc\.cluster\.local in default's sidecars/,
    )
    assert.match(c?.hint ?? '', /--namespace routing/)
  })

  it('precedence: ours wins when it is private, or the other is newer, private elsewhere or exported elsewhere', () => {
    const mine = vs('default', 'ratings', '2026-01-01T00:00:00Z', {exportTo: ['.']})
    assert.deepEqual(
      checks({virtualServices: [mine, vs('routing', 'r', '2025-01-01T00:00:00Z')]}, [mine]),
      [],
      'private to default beats an older public one',
    )
    assert.deepEqual(
      checks({virtualServices: [vs('routing', 'r', '2027-01-01T00:00:00Z')]}),
      [],
      'ours, created now, is older than a public one created later',
    )
    assert.deepEqual(
      checks({virtualServices: [vs('routing', 'r', '2025-01-01T00:00:00Z', {exportTo: ['.']})]}),
      [],
      'private to its own namespace',
    )
    assert.deepEqual(
      checks({virtualServices: [vs('routing', 'r', '2025-01-01T00:00:00Z', {exportTo: ['e']})]}),
      [],
      'exported to another namespace only',
    )
    assert.deepEqual(
      checks({virtualServices: [vs('routing', 'r', '2025-01-01T00:00:00Z', {gateways: ['istio-system/gw']})]}),
      [],
      'bound to a gateway only',
    )
  })

  it('orders as istiod does: exact before wildcard, then private → exported → public, each oldest first', () => {
    const list = [
      vs('a', 'public-old', '2024-01-01T00:00:00Z'),
      vs('default', 'private-new', '2026-06-01T00:00:00Z', {exportTo: ['.']}),
      vs('b', 'exported-to-default', '2026-07-01T00:00:00Z', {exportTo: ['default']}),
      vs('c', 'hidden', '2020-01-01T00:00:00Z', {exportTo: ['~']}),
      vs('d', 'elsewhere-only', '2020-01-01T00:00:00Z', {exportTo: ['e']}),
      vs('f', 'wildcard', '2019-01-01T00:00:00Z', {hosts: ['*.default.svc.cluster.local']}),
    ]
    assert.deepEqual(
      virtualServicesInPrecedence(list, 'ratings.default.svc.cluster.local', 'default').map(v => v.metadata.name),
      ['private-new', 'exported-to-default', 'public-old', 'wildcard'],
    )
    assert.deepEqual(
      virtualServicesInPrecedence(list, 'ratings.default.svc.cluster.local', 'zz').map(v => v.metadata.name),
      ['public-old', 'wildcard'],
    )
  })
})
