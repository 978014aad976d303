import assert from 'node:assert/strict'
import {readFileSync, readdirSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import {crdFiles, crdFor, fieldPath, ISTIO_KINDS, validateIstioObject} from '../../src/istio/crd.js'
import {crdJsonText} from '../../src/istio/crd-json.js'

const reference = new URL('../../../../test/reference/', import.meta.url)
const samples = new URL('istio-samples/bookinfo-networking/', reference)

function documents(url: URL): {apiVersion: string; kind: string; metadata: {name: string}; spec: unknown}[] {
  return parseAllDocuments(readFileSync(url, 'utf8'))
    .map(d => (d as {toJS(): unknown}).toJS())
    .filter(Boolean) as never
}

describe('Istio CRD validation', () => {
  it("carries Istio's CRDs verbatim", () => {
    for (const f of ['virtualservice.yaml', 'destinationrule.yaml', 'gateway.yaml', 'peerauthentication.yaml']) {
      assert.equal(
        readFileSync(new URL(`../../schema/istio/${f}`, import.meta.url), 'utf8'),
        readFileSync(new URL(`istio-crds/${f}`, reference), 'utf8'),
        f,
      )
    }
    assert.deepEqual(
      crdFor('VirtualService')
        .versions.map(v => v.name)
        .sort(),
      ['v1', 'v1alpha3', 'v1beta1'],
    )
    assert.deepEqual(crdFor('DestinationRule').shortNames, ['dr'])
    assert.deepEqual(
      crdFor('PeerAuthentication').versions.map(v => `${v.name}${v.storage ? ' (storage)' : ''}`),
      ['v1 (storage)', 'v1beta1'],
    )
  })

  it("PeerAuthentication: the modes, and the CRD's CEL rules on portLevelMtls", () => {
    const pa = (spec: unknown) =>
      validateIstioObject({apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', spec}, {strict: true}).map(
        ({path, message, celType}) => ({path, message, ...(celType === undefined ? {} : {celType})}),
      )
    assert.deepEqual(pa({mtls: {mode: 'STRICT'}}), [])
    assert.deepEqual(pa({selector: {matchLabels: {app: 'ratings'}}, portLevelMtls: {9080: {mode: 'PERMISSIVE'}}}), [])
    assert.deepEqual(
      pa({mtls: {mode: 'strict'}}).map(v => v.path),
      ['spec.mtls.mode'],
    )
    assert.deepEqual(pa({portLevelMtls: {9080: {mode: 'DISABLE'}}}), [
      {path: 'spec', message: 'Invalid value: portLevelMtls requires selector', celType: 'object'},
    ])
    assert.deepEqual(pa({selector: {matchLabels: {app: 'r'}}, portLevelMtls: {0: {mode: 'DISABLE'}}}), [
      {path: 'spec.portLevelMtls', message: 'Invalid value: port must be between 1-65535', celType: 'object'},
    ])
    assert.deepEqual(
      pa({mtls: {mode: 'STRICT'}}).length,
      validateIstioObject({
        apiVersion: 'security.istio.io/v1beta1',
        kind: 'PeerAuthentication',
        spec: {mtls: {mode: 'STRICT'}},
      }).length,
    )
  })

  it('keeps the JSON rendering of each CRD in step with the YAML (regenerate with npm run schema)', () => {
    for (const kind of ISTIO_KINDS) {
      assert.equal(
        readFileSync(crdFiles(kind).json, 'utf8'),
        crdJsonText(kind),
        `schema/istio/${kind} JSON is stale: run npm run schema`,
      )
    }
  })

  it('accepts every bookinfo sample in all three versions', () => {
    for (const file of readdirSync(samples).filter(f => f.endsWith('.yaml'))) {
      for (const obj of documents(new URL(file, samples))) {
        if (obj.kind !== 'VirtualService' && obj.kind !== 'DestinationRule' && obj.kind !== 'Gateway') continue
        for (const version of ['v1', 'v1beta1', 'v1alpha3']) {
          const violations = validateIstioObject({...obj, apiVersion: `networking.istio.io/${version}`}, {strict: true})
          assert.deepEqual(violations, [], `${file} ${obj.metadata.name} ${version}`)
        }
      }
    }
  })

  it('rejects what the API server rejects, with field paths', () => {
    const violations = validateIstioObject(
      {
        apiVersion: 'networking.istio.io/v1beta1',
        kind: 'VirtualService',
        spec: {
          hosts: ['ratings'],
          htttp: [],
          http: [
            {
              fault: {
                delay: {fixedDelay: '0.5ms', percentage: {value: 1}},
                abort: {httpStatus: 500, grpcStatus: 'UNAVAILABLE'},
              },
              route: [{destination: {host: 'ratings'}}],
            },
          ],
        },
      },
      {strict: true},
    )
    assert.deepEqual(
      violations.map(v => v.path).sort(),
      ['spec.htttp', 'spec.http[0].fault.abort', 'spec.http[0].fault.delay.fixedDelay'].sort(),
    )
    assert.match(
      violations.find(v => v.path.endsWith('fixedDelay'))?.message ?? '',
      /must be a valid duration greater than 1ms/,
    )
    assert.deepEqual(
      validateIstioObject({apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', spec: {htttp: []}}),
      [],
      'unknown fields only fail in strict mode',
    )
    assert.match(
      validateIstioObject({apiVersion: 'networking.istio.io/v2', kind: 'VirtualService', spec: {}})[0]?.message ?? '',
      /not served/,
    )
    assert.match(
      validateIstioObject({apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', spec: {}})[0]?.message ?? '',
      /Unsupported value/,
    )
  })

  it('types and int-or-string are enforced', () => {
    const v = validateIstioObject({
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      spec: {hosts: 'ratings', http: [{route: [{destination: {host: 'ratings', port: {number: 'x'}}, weight: 'ten'}]}]},
    })
    assert.ok(
      v.some(x => x.path === 'spec.hosts' && /array/.test(x.message)),
      JSON.stringify(v),
    )
    assert.ok(
      v.some(x => x.path === 'spec.http[0].route[0].weight'),
      JSON.stringify(v),
    )
  })

  it('turns JSON pointers into Kubernetes field paths', () => {
    assert.equal(fieldPath('/spec/http/0/match/1/headers/x-a~1b'), 'spec.http[0].match[1].headers.x-a/b')
    assert.equal(fieldPath(''), '')
  })
})
