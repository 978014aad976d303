import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseAllDocuments} from 'yaml'

import {faultInjection} from '../../src/faults/compile.js'
import {validateIstioObject} from '@faultline/core/istio/crd.js'
import {type RoutableRequest, selectRoute} from '@faultline/core/istio/routing.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {validateVirtualService} from '@faultline/core/istio/validate.js'
import {chaos as cli, ensureBuilt} from '../cli.js'

const samples = 'test/reference/istio-samples/bookinfo-networking/'

const chaos = (...args: string[]) => cli(args)

function yamlDocuments(text: string): VirtualService[] {
  return parseAllDocuments(text).map(d => d.toJS() as VirtualService)
}

function sample(file: string, name: string): VirtualService {
  const found = yamlDocuments(readFileSync(new URL(`../../${samples}${file}`, import.meta.url), 'utf8')).find(
    o => o?.metadata?.name === name,
  )
  assert.ok(found !== undefined)
  return found
}

function requests(): RoutableRequest[] {
  return ['/ratings/0', '/ratings/1', '/health'].flatMap(path => [
    {method: 'GET', path, headers: {}},
    {method: 'GET', path, headers: {'end-user': 'jason'}},
    {method: 'POST', path, headers: {'user-agent': 'curl/8.5.0'}},
    {method: 'GET', path, headers: {'user-agent': 'faultline-chaos-test'}},
  ])
}

describe('chaos plan (through the CLI)', function () {
  this.timeout(180_000)

  before(async function () {
    // `npm test` builds first; run on its own, this test builds what it needs.
    this.timeout(300_000)
    await ensureBuilt([
      'src/commands/plan.ts',
      'src/faults/compile.ts',
      'src/faults/render.ts',
      'src/faults/existing.ts',
      'src/faults/plan-files.ts',
      'src/faults/match.ts',
    ])
  })

  it("prints a ratings VirtualService that passes Istio's schema and routes untargeted traffic exactly as before", async () => {
    const r = await chaos(
      'plan',
      'experiments/ratings-delay.yaml',
      '--existing',
      `${samples}virtual-service-all-v1.yaml`,
      '-o',
      'yaml',
      '--run-id',
      't1',
    )
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stdout,
      /^# update VirtualService default\/ratings\n# {3}spec\.faults\[0\]: delay 7s \(100%\) on ratings for user-agent="faultline-chaos-test"\n/,
    )
    const docs = yamlDocuments(r.stdout)
    assert.deepEqual(
      docs.map(d => `${d.kind}/${d.metadata.name}`),
      ['VirtualService/ratings'],
    )
    const desired = docs[0] as VirtualService
    assert.deepEqual(validateIstioObject(desired, {strict: true}), [])
    assert.deepEqual(validateVirtualService(desired, {strict: true}), [])
    const before = sample('virtual-service-all-v1.yaml', 'ratings')
    const fault = faultInjection({service: 'ratings', delay: {fixedDelay: '7s', percentage: 100}})
    for (const req of requests()) {
      const was = selectRoute(before.spec.http, req)?.route
      const now = selectRoute(desired.spec.http, req)?.route
      if (req.headers['user-agent'] === 'faultline-chaos-test') {
        assert.deepEqual(now?.route, was?.route)
        assert.deepEqual(now?.fault, fault)
      } else {
        assert.deepEqual(now, was, JSON.stringify(req))
      }
    }
  })

  it('prints a kubectl List with -o json and the plan as data with --json', async () => {
    const [list, data] = await Promise.all([
      chaos(
        'plan',
        'experiments/ratings-delay.yaml',
        '--existing',
        `${samples}virtual-service-all-v1.yaml`,
        '-o',
        'json',
        '--run-id',
        't1',
      ),
      chaos(
        'plan',
        'experiments/ratings-delay.yaml',
        '--existing',
        `${samples}virtual-service-all-v1.yaml`,
        '--json',
        '--run-id',
        't1',
      ),
    ])
    assert.equal(list.code, 0, list.stderr)
    const parsed = JSON.parse(list.stdout) as {kind: string; items: VirtualService[]}
    assert.equal(parsed.kind, 'List')
    assert.deepEqual(
      parsed.items.map(i => i.metadata.name),
      ['ratings'],
    )
    assert.equal(data.code, 0, data.stderr)
    const plan = (
      JSON.parse(data.stdout) as {
        plan: {runId: string; namespace: string; objects: {action: string; faults: number[]; desired: VirtualService}[]}
      }
    ).plan
    assert.equal(plan.runId, 't1')
    assert.equal(plan.namespace, 'default')
    assert.deepEqual(
      plan.objects.map(o => [o.action, o.faults]),
      [['update', [0]]],
    )
    // Two processes, two clocks: everything but the expiry annotation is the same.
    assert.deepEqual(plan.objects[0]?.desired.spec, parsed.items[0]?.spec)
    assert.deepEqual(plan.objects[0]?.desired.metadata.labels, parsed.items[0]?.metadata.labels)
  })

  it('prints a unified diff per object with -o diff', async () => {
    const r = await chaos(
      'plan',
      'test/fixtures/faults/ratings-and-reviews.yaml',
      '-n',
      'default',
      '--existing',
      `${samples}virtual-service-all-v1.yaml`,
      '-o',
      'diff',
      '--run-id',
      't2',
    )
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^--- a\/default\/ratings\n\+\+\+ b\/default\/ratings\n@@ /m)
    assert.match(r.stdout, /^--- a\/default\/reviews\n\+\+\+ b\/default\/reviews\n@@ /m)
    assert.match(r.stdout, /^\+ {4}- name: faultline:t2:0$/m)
    assert.match(r.stdout, /^\+ {10}httpStatus: 503$/m)
    assert.doesNotMatch(r.stdout, /^-(?!--)/m, 'nothing of the existing objects is removed')
  })

  it("creates objects in the experiment's namespace when nothing exists (DestinationRules are read, not noted as ignored)", async () => {
    const r = await chaos(
      'plan',
      'test/fixtures/faults/ratings-and-reviews.yaml',
      '--existing',
      `${samples}destination-rule-all.yaml`,
      '--run-id',
      't3',
    )
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /ignored \d+ DestinationRule/)
    const docs = yamlDocuments(r.stdout)
    assert.deepEqual(
      docs.map(d => `${d.metadata.namespace}/${d.metadata.name}`),
      ['bookinfo/faultline-ratings', 'bookinfo/faultline-reviews'],
    )
    assert.match(
      r.stdout,
      /^# create VirtualService bookinfo\/faultline-reviews\n# {3}spec\.faults\[1\]: abort 503 \(50%\) on reviews for x-chaos-test="true"\n# {3}revert: delete the object$/m,
    )
    for (const d of docs) assert.deepEqual(validateVirtualService(d, {strict: true}), [])
  })

  it('refuses to stack a fault on a hand-written one, with exit code 2', async () => {
    const r = await chaos(
      'plan',
      'experiments/ratings-delay.yaml',
      '--existing',
      `${samples}virtual-service-ratings-test-delay.yaml`,
    )
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(
      r.stderr,
      /Error: fault cannot be safely injected because route #0 of VirtualService ratings already injects a fault that Faultline did not write/,
    )
    assert.match(r.stderr, /Hint: /)
  })

  it('names a manifest that is not YAML, or missing', async () => {
    const [broken, missing] = await Promise.all([
      chaos('plan', 'experiments/ratings-delay.yaml', '--existing', 'test/fixtures/faults/broken-manifest.yaml'),
      chaos('plan', 'experiments/ratings-delay.yaml', '--existing', 'test/fixtures/faults/no-such-file.yaml'),
    ])
    assert.equal(broken.code, 2)
    assert.match(broken.stderr, /Error: test\/fixtures\/faults\/broken-manifest\.yaml:\d+:\d+: not valid YAML/)
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /Error: cannot read test\/fixtures\/faults\/no-such-file\.yaml: ENOENT/)
  })

  it('reports an invalid experiment with its diagnostics', async () => {
    const r = await chaos('plan', 'test/fixtures/faults/broken-manifest.yaml')
    assert.equal(r.code, 2)
    assert.match(r.stderr, /problems? found/)
  })
})
