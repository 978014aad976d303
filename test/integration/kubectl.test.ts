/**
 * The sandbox API server driven by the real kubectl (skipped when kubectl is not on PATH): discovery,
 * OpenAPI-driven `apply` with server-side field validation, get/replace/delete and `exec` over
 * WebSocket, each checked against what kubectl prints for a real cluster.
 */
import assert from 'node:assert/strict'
import {readFile, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {parse} from 'yaml'

import {STATS_TEXT, type Answer} from '../../packages/sandbox/test/apiserver/fakes.js'
import {withKubectlFixture} from './sandbox-cli.js'

const SAMPLES = fileURLToPath(new URL('../reference/istio-samples/bookinfo-networking/', import.meta.url))

describe('kubectl against the sandbox API server', function () {
  this.timeout(60_000)
  const sandbox = withKubectlFixture('kubectl')
  const {kubectl} = sandbox

  it('writes the kubeconfig readable by its owner only', async () => {
    assert.equal((await stat(join(sandbox.dir, 'kubeconfig'))).mode & 0o777, 0o600)
  })

  it('gets no VirtualServices from an empty sandbox', async () => {
    const r = await kubectl('get', 'vs')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stderr.trim(), 'No resources found in default namespace.')
  })

  it('applies the bookinfo samples with server-side field validation', async () => {
    const vs = await kubectl('apply', '-f', join(SAMPLES, 'virtual-service-all-v1.yaml'))
    assert.equal(vs.code, 0, vs.stderr)
    assert.deepEqual(
      vs.stdout.trim().split('\n'),
      ['productpage', 'reviews', 'ratings', 'details'].map(n => `virtualservice.networking.istio.io/${n} created`),
    )
    const dr = await kubectl('apply', '-f', join(SAMPLES, 'destination-rule-all.yaml'))
    assert.equal(dr.code, 0, dr.stderr)
    assert.match(dr.stdout, /destinationrule.networking.istio.io\/reviews created/)
    const abort = await kubectl('apply', '-f', join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'))
    assert.equal(abort.code, 0, abort.stderr)
    assert.equal(abort.stdout.trim(), 'virtualservice.networking.istio.io/ratings configured')
    const stored = sandbox.fixture.store.get('VirtualService', 'default', 'ratings')?.['spec'] as Answer
    assert.equal(stored.http[0].fault.abort.httpStatus, 500)
    assert.ok(
      sandbox.fixture.store.get('VirtualService', 'default', 'ratings')?.metadata.annotations?.[
        'kubectl.kubernetes.io/last-applied-configuration'
      ],
    )
  })

  it('diffs against a server-side dry run without changing anything', async () => {
    const before = sandbox.fixture.store.resourceVersion()
    const r = await kubectl('diff', '-f', join(SAMPLES, 'virtual-service-all-v1.yaml'))
    if (/executable file not found|exec: "diff"/.test(r.stderr)) return // no diff(1) on this machine: nothing to compare with
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stdout, /^-\s+- fault:$/m)
    assert.equal(sandbox.fixture.store.resourceVersion(), before)
  })

  it('lists what it applied, by short name and by full name', async () => {
    const r = await kubectl('get', 'vs')
    assert.equal(r.code, 0, r.stderr)
    const lines = r.stdout.trim().split('\n')
    assert.deepEqual(
      lines[0]?.split(/\s+/),
      ['NAME', 'GATEWAYS', 'HOSTS', 'AGE'],
      "the CRD's printer columns, as on a cluster",
    )
    assert.deepEqual(
      lines.slice(1).map(l => l.split(/\s+/).slice(0, 2)),
      [
        ['details', '["details"]'],
        ['productpage', '["productpage"]'],
        ['ratings', '["ratings"]'],
        ['reviews', '["reviews"]'],
      ],
    )
    const dr = await kubectl('get', 'destinationrules.networking.istio.io', '-o', 'name')
    assert.equal(dr.stdout.trim().split('\n').length, 4)
    const pods = await kubectl('get', 'pods')
    assert.deepEqual(pods.stdout.trim().split('\n')[1]?.split(/\s+/).slice(0, 4), [
      'ratings-v1-7d9c',
      '2/2',
      'Running',
      '0',
    ])
  })

  it('re-applies through a merge PATCH: changed objects are configured, the rest unchanged', async () => {
    const r = await kubectl('apply', '-f', join(SAMPLES, 'virtual-service-all-v1.yaml'))
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'virtualservice.networking.istio.io/productpage unchanged',
      'virtualservice.networking.istio.io/reviews unchanged',
      'virtualservice.networking.istio.io/ratings configured',
      'virtualservice.networking.istio.io/details unchanged',
    ])
    assert.equal(
      (sandbox.fixture.store.get('VirtualService', 'default', 'ratings')?.['spec'] as Answer).http[0].fault,
      undefined,
    )
  })

  it("shows the server's validation errors for an invalid object and for an unknown field", async () => {
    const bad = join(sandbox.dir, 'bad.yaml')
    await writeFile(
      bad,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: bad\nspec:\n  hosts: [ratings]\n  http:\n  - fault:\n      delay:\n        fixedDelay: 0.5ms\n        percentage: {value: 100}\n    route:\n    - destination: {host: ratings}\n',
    )
    const invalid = await kubectl('apply', '-f', bad)
    assert.equal(invalid.code, 1)
    assert.match(
      invalid.stderr,
      /The VirtualService "bad" is invalid: spec.http\[0\].fault.delay.fixedDelay: Invalid value: "string": must be a valid duration greater than 1ms/,
    )
    const typo = join(sandbox.dir, 'typo.yaml')
    await writeFile(
      typo,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: typo\nspec:\n  hosts: [ratings]\n  htttp: []\n',
    )
    const unknown = await kubectl('apply', '-f', typo)
    assert.equal(unknown.code, 1)
    assert.match(
      unknown.stderr,
      /Error from server \(BadRequest\): error when creating ".*typo.yaml": VirtualService in version "v1" cannot be handled as a VirtualService: strict decoding error: unknown field "spec.htttp"/,
    )
    assert.equal(sandbox.fixture.store.get('VirtualService', 'default', 'typo'), undefined)
    const webhook = join(sandbox.dir, 'webhook.yaml')
    await writeFile(
      webhook,
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: webhook\nspec:\n  hosts: [ratings]\n  http:\n  - fault:\n      abort:\n        httpStatus: 700\n        percentage: {value: 100}\n    route:\n    - destination: {host: ratings}\n',
    )
    const denied = await kubectl('apply', '-f', webhook)
    assert.equal(denied.code, 1)
    assert.match(
      denied.stderr,
      /Error from server: error when creating ".*webhook.yaml": admission webhook "validation.istio.io" denied the request: configuration is invalid: HTTP status 700 is not in range 200-599/,
    )
  })

  it('prints an object as YAML in the version asked for', async () => {
    const r = await kubectl('get', 'vs', 'ratings', '-o', 'yaml')
    assert.equal(r.code, 0, r.stderr)
    const obj = parse(r.stdout) as Answer
    assert.equal(obj.apiVersion, 'networking.istio.io/v1')
    assert.deepEqual(
      obj.spec,
      parse(
        (await readFile(join(SAMPLES, 'virtual-service-all-v1.yaml'), 'utf8'))
          .split('---')
          .find(d => d.includes('name: ratings')) ?? '',
      ).spec,
    )
    const old = parse(
      (await kubectl('get', 'virtualservices.v1alpha3.networking.istio.io', 'ratings', '-o', 'yaml')).stdout,
    ) as Answer
    assert.equal(old.apiVersion, 'networking.istio.io/v1alpha3')
    assert.equal(old.metadata.uid, obj.metadata.uid)
  })

  it('refuses kubectl replace with a stale resourceVersion (Conflict)', async () => {
    const file = join(sandbox.dir, 'ratings.yaml')
    await writeFile(file, (await kubectl('get', 'vs', 'ratings', '-o', 'yaml')).stdout)
    const label = await kubectl('label', 'vs', 'ratings', 'faultline.dev/run=r1')
    assert.equal(label.code, 0, label.stderr)
    const r = await kubectl('replace', '-f', file)
    assert.equal(r.code, 1)
    assert.match(
      r.stderr,
      /Operation cannot be fulfilled on virtualservices.networking.istio.io "ratings": the object has been modified; please apply your changes to the latest version and try again/,
    )
    await writeFile(file, (await kubectl('get', 'vs', 'ratings', '-o', 'yaml')).stdout)
    const fresh = await kubectl('replace', '-f', file)
    assert.equal(fresh.code, 0, fresh.stderr)
    assert.equal(fresh.stdout.trim(), 'virtualservice.networking.istio.io/ratings replaced')
  })

  it('execs pilot-agent request GET stats in istio-proxy over WebSocket', async () => {
    const r = await kubectl(
      'exec',
      'ratings-v1-7d9c',
      '-c',
      'istio-proxy',
      '--',
      'pilot-agent',
      'request',
      'GET',
      'stats',
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, STATS_TEXT)
    assert.deepEqual(sandbox.fixture.exec.calls.at(-1), {
      pod: 'ratings-v1-7d9c',
      container: 'istio-proxy',
      command: ['pilot-agent', 'request', 'GET', 'stats'],
    })
  })

  it("passes on a command's exit code and names a missing container", async () => {
    const failed = await kubectl('exec', 'ratings-v1-7d9c', '-c', 'istio-proxy', '--', 'false')
    assert.equal(failed.code, 1)
    assert.match(failed.stderr, /command terminated with exit code 1/)
    const missing = await kubectl('exec', 'ratings-v1-7d9c', '-c', 'nope', '--', 'ls')
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /container nope is not valid for pod ratings-v1-7d9c/)
  })

  it('lists pods by label and answers can-i', async () => {
    const pods = await kubectl('get', 'pods', '-l', 'app=ratings', '-o', 'name')
    assert.equal(pods.code, 0, pods.stderr)
    assert.equal(pods.stdout.trim(), 'pod/ratings-v1-7d9c')
    const canI = await kubectl('auth', 'can-i', 'patch', 'virtualservices.networking.istio.io')
    assert.equal(canI.stdout.trim(), 'yes')
  })

  it('creates and labels a namespace (protobuf body, strategic merge patch) and applies into it', async () => {
    const created = await kubectl('create', 'namespace', 'team-a')
    assert.equal(created.code, 0, created.stderr)
    assert.equal(created.stdout.trim(), 'namespace/team-a created')
    assert.equal((await kubectl('label', 'namespace', 'team-a', 'owner=sre')).code, 0)
    assert.equal(sandbox.fixture.store.get('Namespace', undefined, 'team-a')?.metadata.labels?.['owner'], 'sre')
    const applied = await kubectl(
      'apply',
      '-n',
      'team-a',
      '-f',
      join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'),
    )
    assert.equal(applied.code, 0, applied.stderr)
    const all = await kubectl('get', 'vs', '-A', '-o', 'name')
    assert.match(all.stdout, /virtualservice.networking.istio.io\/ratings/)
    assert.equal(sandbox.fixture.store.get('VirtualService', 'team-a', 'ratings')?.metadata.namespace, 'team-a')
    const missing = await kubectl(
      'apply',
      '-n',
      'nowhere',
      '-f',
      join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'),
    )
    assert.match(missing.stderr, /namespaces "nowhere" not found/)
  })

  it('deletes a VirtualService and reports NotFound the second time', async () => {
    const r = await kubectl('delete', 'vs', 'ratings')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.trim(), 'virtualservice.networking.istio.io "ratings" deleted')
    const again = await kubectl('delete', 'vs', 'ratings')
    assert.equal(again.code, 1)
    assert.match(
      again.stderr,
      /Error from server \(NotFound\): virtualservices.networking.istio.io "ratings" not found/,
    )
  })
})
