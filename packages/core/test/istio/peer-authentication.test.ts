import assert from 'node:assert/strict'

import {
  effectivePolicies,
  modeForPort,
  type PeerAuthentication,
  policyName,
  workloadMtls,
} from '../../src/istio/peer-authentication.js'

const pa = (
  namespace: string,
  name: string,
  spec: NonNullable<PeerAuthentication['spec']>,
  creationTimestamp = '2026-01-01T00:00:00Z',
): PeerAuthentication => ({metadata: {name, namespace, creationTimestamp}, spec})
const strict = {mtls: {mode: 'STRICT'}}
const permissive = {mtls: {mode: 'PERMISSIVE'}}
const RATINGS: {namespace: string; labels: Record<string, string>} = {
  namespace: 'default',
  labels: {app: 'ratings', version: 'v1'},
}

/** The mode on port 9080 of ratings and the policy that set it (`-` for Istio's default). */
function on9080(policies: PeerAuthentication[], workload = RATINGS): string {
  const {mode, from} = modeForPort(workloadMtls(policies, workload), 9080)
  return `${mode} ${from === undefined ? '-' : policyName(from)}`
}

// istio 1.30.3 pilot/pkg/security/authn/policy_applier.go ComposePeerAuthentication and
// pilot/pkg/model/authentication.go addPeerAuthentication / getConfigsForWorkload.
describe("PeerAuthentication: the mode a workload's inbound sidecar enforces, as istiod composes it", () => {
  it('no policy: PERMISSIVE', () => {
    assert.equal(on9080([]), 'PERMISSIVE -')
  })

  it('mesh-wide (root namespace, no selector) < namespace-wide < workload selector', () => {
    assert.equal(on9080([pa('istio-system', 'default', strict)]), 'STRICT istio-system/default')
    assert.equal(
      on9080([pa('istio-system', 'default', strict), pa('default', 'ns', permissive)]),
      'PERMISSIVE default/ns',
    )
    assert.equal(
      on9080([
        pa('istio-system', 'default', permissive),
        pa('default', 'ns', strict),
        pa('default', 'r', {...permissive, selector: {matchLabels: {app: 'ratings'}}}),
      ]),
      'PERMISSIVE default/r',
    )
    assert.equal(
      on9080([pa('default', 'r', {...strict, selector: {matchLabels: {app: 'ratings'}}})], {
        namespace: 'default',
        labels: {app: 'reviews'},
      }),
      'PERMISSIVE -',
      'a selector that does not match',
    )
    assert.equal(on9080([pa('other', 'ns', strict)]), 'PERMISSIVE -', "another namespace's policy")
  })

  it('UNSET (or no mtls) inherits from the wider scope', () => {
    assert.equal(
      on9080([pa('istio-system', 'default', strict), pa('default', 'ns', {mtls: {mode: 'UNSET'}})]),
      'STRICT istio-system/default',
    )
    assert.equal(
      on9080([pa('default', 'ns', strict), pa('default', 'r', {selector: {matchLabels: {app: 'ratings'}}})]),
      'STRICT default/ns',
    )
  })

  it('a workload-level selector in the root namespace is ignored', () => {
    assert.equal(
      on9080([pa('istio-system', 'r', {...strict, selector: {matchLabels: {app: 'ratings'}}})], {
        namespace: 'default',
        labels: {app: 'ratings'},
      }),
      'PERMISSIVE -',
    )
  })

  it('the oldest of a scope wins; at the same time, the name; later namespace-wide ones are dropped', () => {
    assert.equal(
      on9080([
        pa('default', 'new', permissive, '2026-02-01T00:00:00Z'),
        pa('default', 'old', strict, '2026-01-01T00:00:00Z'),
      ]),
      'STRICT default/old',
    )
    assert.equal(on9080([pa('default', 'b', permissive), pa('default', 'a', strict)]), 'STRICT default/a')
    // An older UNSET namespace-wide policy hides a newer STRICT one (addPeerAuthentication keeps one per namespace).
    assert.equal(
      on9080([
        pa('default', 'a-unset', {}, '2026-01-01T00:00:00Z'),
        pa('default', 'b-strict', strict, '2026-02-01T00:00:00Z'),
      ]),
      'PERMISSIVE -',
    )
    assert.deepEqual(
      effectivePolicies([
        pa('default', 'b', strict),
        pa('default', 'a', strict),
        pa('default', 'w', {...strict, selector: {matchLabels: {app: 'x'}}}),
      ]).map(p => p.metadata.name),
      ['a', 'w'],
    )
  })

  it("portLevelMtls of the workload policy overrides its port; UNSET there inherits the workload's mode", () => {
    const port = pa('default', 'r', {
      ...strict,
      selector: {matchLabels: {app: 'ratings'}},
      portLevelMtls: {9080: {mode: 'PERMISSIVE'}, 9090: {mode: 'UNSET'}},
    })
    assert.equal(on9080([port]), 'PERMISSIVE default/r')
    assert.equal(modeForPort(workloadMtls([port], RATINGS), 9090).mode, 'STRICT')
    assert.equal(modeForPort(workloadMtls([port], RATINGS), 15021).mode, 'STRICT')
    const inherit = pa('default', 'r', {
      selector: {matchLabels: {app: 'ratings'}},
      portLevelMtls: {9080: {mode: 'STRICT'}},
    })
    assert.equal(on9080([pa('default', 'ns', permissive), inherit]), 'STRICT default/r')
    assert.equal(
      modeForPort(workloadMtls([pa('default', 'ns', permissive), inherit], RATINGS), 9081).mode,
      'PERMISSIVE',
    )
  })
})
