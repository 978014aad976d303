import assert from 'node:assert/strict'

import {UnsafeFault, UsageError} from '@faultline/core/errors.js'
import {canonicalJson, isLabelValue, rfc3339} from '../../src/faults/annotations.js'
import {compileFaults} from '../../src/faults/compile.js'
import {parseExistingObjects} from '../../src/faults/existing.js'
import {faultExpiry, planExperiment, targetNamespace} from '../../src/faults/experiment-plan.js'
import {isFaultRouteName, newRunId, runIdOfRoute} from '../../src/faults/names.js'
import {describeFault, renderYaml} from '../../src/faults/render.js'
import type {Experiment} from '../../src/experiment/model.js'
import {EXPIRES, to, typicalFault, virtualService} from './helpers.js'

describe('reading existing objects', () => {
  it('takes VirtualServices and DestinationRules from multi-document YAML and kubectl Lists, and notes the rest', () => {
    const text = [
      'apiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.istio.io/v1beta1\n  kind: VirtualService\n  metadata: {name: a}\n  spec: {hosts: [a]}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}',
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: b}\nspec: {host: b}',
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: c, namespace: x}\nspec: {hosts: [c]}',
      '',
    ].join('\n---\n')
    const parsed = parseExistingObjects(text, 'cluster.yaml')
    assert.deepEqual(
      parsed.virtualServices.map(v => v.metadata.name),
      ['a', 'c'],
    )
    assert.deepEqual(
      parsed.destinationRules.map(d => d.metadata.name),
      ['b'],
    )
    assert.deepEqual(parsed.notes, [
      'cluster.yaml: ignored 1 Service object (only VirtualServices and DestinationRules matter to a plan)',
    ])
  })

  it('names the file and document of a VirtualService without a name or spec', () => {
    assert.throws(
      () =>
        parseExistingObjects(
          'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {}\nspec: {}',
          'f.yaml',
        ),
      (e: unknown) =>
        e instanceof UsageError && e.message === 'f.yaml (document 1): a VirtualService without metadata.name',
    )
    assert.throws(
      () =>
        parseExistingObjects(
          '---\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x}',
          'f.yaml',
        ),
      (e: unknown) =>
        e instanceof UsageError && /f\.yaml \(document 2\): VirtualService x has no spec mapping/.test(e.message),
    )
  })
})

describe('names, marks and rendering', () => {
  it('makes run ids that are label values and recognises its route names', () => {
    const id = newRunId(new Date('2026-11-26T01:02:03Z'), () => 'beef')
    assert.equal(id, '20261126-010203-beef')
    assert.ok(isLabelValue(id))
    assert.ok(isFaultRouteName('faultline:r1:0', 'r1'))
    assert.ok(!isFaultRouteName('faultline:r10:0', 'r1'))
    assert.ok(!isFaultRouteName('default'))
    assert.equal(runIdOfRoute('faultline:r1:jason:f2'), 'r1')
  })

  it('fingerprints specs independently of key order', () => {
    assert.equal(canonicalJson({b: [{d: 1, c: 2}], a: 1}), '{"a":1,"b":[{"c":2,"d":1}]}')
    assert.equal(rfc3339(new Date('2026-11-26T01:02:03.456Z')), '2026-11-26T01:02:03Z')
  })

  it('expires faults after the longest the run can last plus a grace period', () => {
    const experiment = {
      metadata: {name: 'x'},
      spec: {phases: {baseline: '10s', fault: '1m', recovery: '10s'}, guardrails: {maxDuration: '5m'}},
    } as unknown as Experiment
    assert.deepEqual(faultExpiry(experiment, new Date('2026-11-26T00:00:00Z')), new Date('2026-11-26T00:10:00Z'))
    assert.equal(targetNamespace(experiment), 'default')
    assert.equal(targetNamespace(experiment, 'ns1'), 'ns1')
  })

  it('describes faults and heads each YAML document with what and why', () => {
    const fault = typicalFault('ratings')
    assert.equal(describeFault(fault), 'delay 7s (100%) + abort 503 (50%) on ratings for x-chaos-test="true"')
    assert.equal(
      describeFault({service: 'details', abort: {grpcStatus: 'UNAVAILABLE', percentage: 1}}),
      'abort UNAVAILABLE (1%) on details for ALL requests',
    )
    const plan = compileFaults({namespace: 'default', existing: [], faults: [fault], runId: 'r1', expiresAt: EXPIRES})
    assert.match(
      renderYaml(plan, [fault]),
      /^# create VirtualService default\/faultline-ratings\n# {3}spec\.faults\[0\]: delay 7s \(100%\) \+ abort 503 \(50%\) on ratings for x-chaos-test="true"\n# {3}revert: delete the object\napiVersion: networking\.istio\.io\/v1\n/,
    )
  })
})

describe('planExperiment', () => {
  const experiment = (faults: Experiment['spec']['faults']) =>
    ({
      metadata: {name: 'x'},
      spec: {faults, phases: {baseline: '1s', fault: '1s', recovery: '1s'}},
    }) as unknown as Experiment

  it("passes on Istio's warning when a fault copy can never match", () => {
    const existing = virtualService('ratings', [
      {route: to('ratings', 'v1')},
      {name: 'dead', match: [{uri: {prefix: '/x'}}], route: to('ratings', 'v2')},
    ])
    const plan = planExperiment({
      experiment: experiment([typicalFault('ratings')]),
      existing: [existing],
      runId: 'r1',
      now: EXPIRES,
    })
    assert.deepEqual(plan.objects[0]?.notes, [
      'Istio will warn: virtualService rule "faultline:r1:dead" not used (route without matches defined before)',
    ])
  })

  it('refuses to plan an object a cluster would reject', () => {
    const invalid = virtualService('ratings', [{route: to('ratings', 'V1')}])
    assert.throws(
      () =>
        planExperiment({
          experiment: experiment([typicalFault('ratings')]),
          existing: [invalid],
          runId: 'r1',
          now: EXPIRES,
        }),
      (e: unknown) =>
        e instanceof UnsafeFault &&
        /subset name is invalid: V1/.test(e.message) &&
        /kubectl apply --dry-run=server/.test(e.hint ?? ''),
    )
  })
})
