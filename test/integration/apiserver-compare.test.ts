/**
 * The sandbox's API server and a real kube-apiserver 1.32 (with etcd) side by side: the same kubectl
 * operations of test/reference/kubectl.md — apply, re-apply, get, server dry run, server-side apply
 * with its CSA → SSA upgrade, an Argo CD-style apply that conflicts, `--force-conflicts`, and
 * `chaos schedule`'s documents with a bad field — must print the same and leave the same field
 * managers. exec and port-forward cannot be compared (the real server has no kubelet); README's
 * sandbox section lists the remaining differences.
 *
 * The real server is the tool `up`/`down` in $KUBE_APISERVER_DIR, by default
 * `../shared/tools/kube-apiserver` beside the repository (see its SOURCE.md); without it, or without
 * kubectl, the suite is skipped with a message.
 */
import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {parseAllDocuments, stringify} from 'yaml'

import {buildSchedule, renderManifests} from '../../src/schedule/schedule.js'
import {type RealApiServer, realApiServerProblem, startRealApiServer, toolDir} from './real-apiserver.js'
import {type Kubectl, REPO, withKubectlFixture} from './sandbox-cli.js'

const SAMPLES = join(REPO, 'test/reference/istio-samples/bookinfo-networking')

/** What may differ between two servers for the same operation: file paths of this run. */
function normalize(text: string, dirs: string[]): string {
  let out = text
  for (const d of dirs) out = out.replaceAll(d, 'DIR')
  return out.trim()
}

describe('the sandbox API server beside a real kube-apiserver, operation by operation', function () {
  this.timeout(240_000)
  const sandbox = withKubectlFixture('compare')
  let server: RealApiServer | undefined
  let real: Kubectl

  before(async function () {
    this.timeout(240_000)
    const why = await realApiServerProblem()
    if (why !== undefined) {
      console.log(`      (skipped: ${why})`)
      return this.skip()
    }
    server = await startRealApiServer('compare-apiserver')
    real = server.kubectl
    const crds = await real('apply', '--server-side', '-f', join(toolDir(), '..', '..', 'reference', 'istio-crds'))
    assert.equal(crds.code, 0, crds.stderr)
    // Right after readyz, on a loaded machine, the CRD may not be listed yet and `kubectl wait` fails at
    // once instead of waiting: try again for up to 2 minutes.
    let established = await real(
      'wait',
      '--for=condition=Established',
      'crd/virtualservices.networking.istio.io',
      '--timeout=60s',
    )
    for (let i = 0; i < 12 && established.code !== 0; i++) {
      await new Promise(resolve => setTimeout(resolve, 5000))
      established = await real(
        'wait',
        '--for=condition=Established',
        'crd/virtualservices.networking.istio.io',
        '--timeout=60s',
      )
    }
    assert.equal(established.code, 0, `${established.stderr}${established.stdout}`)
  })

  after(async function () {
    this.timeout(60_000)
    await server?.stop()
  })

  /** Runs one kubectl operation on both servers; asserts the same exit code, stdout and stderr. */
  async function both(...args: string[]): Promise<{stdout: string; stderr: string; code: number}> {
    const [r, s] = [await real(...args), await sandbox.kubectl(...args)]
    const dirs = [server?.dir ?? '', sandbox.dir]
    assert.equal(
      s.code,
      r.code,
      `kubectl ${args.join(' ')}: exit ${s.code} vs the real ${r.code}\nsandbox: ${s.stderr}\nreal: ${r.stderr}`,
    )
    assert.equal(normalize(s.stdout, dirs), normalize(r.stdout, dirs), `kubectl ${args.join(' ')}: stdout`)
    assert.equal(normalize(s.stderr, dirs), normalize(r.stderr, dirs), `kubectl ${args.join(' ')}: stderr`)
    return r
  }

  /** Each manager's operation and fields of a VirtualService, sorted by manager, on both servers. */
  async function managersOf(name: string): Promise<void> {
    const read = async (k: Kubectl) => {
      const r = await k('get', 'vs', name, '-o', 'json', '--show-managed-fields')
      assert.equal(r.code, 0, r.stderr)
      return (
        JSON.parse(r.stdout) as {metadata: {managedFields: {manager: string; operation: string; fieldsV1: unknown}[]}}
      ).metadata.managedFields
        .map(m => ({manager: m.manager, operation: m.operation, fieldsV1: m.fieldsV1}))
        .sort((a, b) => a.manager.localeCompare(b.manager))
    }
    assert.deepEqual(await read(sandbox.kubectl), await read(real), `managedFields of ${name}`)
  }

  it('kubectl apply (client-side), re-apply, get and a server dry run print the same', async () => {
    await both('apply', '-f', join(SAMPLES, 'virtual-service-all-v1.yaml'))
    await both('apply', '-f', join(SAMPLES, 'virtual-service-all-v1.yaml'))
    await both('get', 'vs', '-o', 'name')
    await both('apply', '--dry-run=server', '-f', join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'))
    await managersOf('ratings')
  })

  it('kubectl apply --server-side takes over from client-side apply; the same managers remain', async () => {
    await both('apply', '--server-side', '-f', join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'))
    await managersOf('ratings')
  })

  it('an Argo CD-style apply: co-owning equal values, a 409 on a change, --force-conflicts', async () => {
    await both(
      'apply',
      '--server-side',
      '--field-manager',
      'argocd-controller',
      '-f',
      join(SAMPLES, 'virtual-service-ratings-test-abort.yaml'),
    )
    await managersOf('ratings')
    const docs = parseAllDocuments(await readFile(join(SAMPLES, 'virtual-service-all-v1.yaml'), 'utf8')).map(
      d => d.toJS() as {metadata: {name: string}},
    )
    const ratings = join(sandbox.dir, 'ratings-v1.yaml')
    await writeFile(ratings, stringify(docs.find(d => d.metadata.name === 'ratings')))
    const conflict = await both('apply', '--server-side', '--field-manager', 'argocd-controller', '-f', ratings)
    assert.match(conflict.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.http/)
    await both('apply', '--server-side', '--field-manager', 'argocd-controller', '--force-conflicts', '-f', ratings)
    await managersOf('ratings')
  })

  it("PeerAuthentication (security.istio.io, Istio's CRD): apply, get (also as v1beta1), and the same refusals by the schema and its CEL rules", async () => {
    // The tool's reference CRDs are the networking ones: Istio's PeerAuthentication CRD is the repository's copy.
    const crd = await real(
      'apply',
      '--server-side',
      '-f',
      join(REPO, 'test/reference/istio-crds/peerauthentication.yaml'),
    )
    assert.equal(crd.code, 0, crd.stderr)
    let established = await real(
      'wait',
      '--for=condition=Established',
      'crd/peerauthentications.security.istio.io',
      '--timeout=60s',
    )
    for (let i = 0; i < 12 && established.code !== 0; i++) {
      await new Promise(resolve => setTimeout(resolve, 5000))
      established = await real(
        'wait',
        '--for=condition=Established',
        'crd/peerauthentications.security.istio.io',
        '--timeout=60s',
      )
    }
    assert.equal(established.code, 0, `${established.stderr}${established.stdout}`)
    // kubectl's discovery cache predates the CRD: api-resources reads discovery afresh.
    assert.equal((await real('api-resources', '--api-group=security.istio.io')).code, 0)
    const file = join(sandbox.dir, 'peerauthentication.yaml')
    const write = (spec: string, name = 'default') =>
      writeFile(
        file,
        `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: ${name}\nspec:\n${spec}`,
      )
    await write('  mtls:\n    mode: STRICT\n')
    await both('apply', '-f', file)
    await both('get', 'pa', '-o', 'name')
    await both(
      'get',
      'peerauthentications.v1beta1.security.istio.io',
      'default',
      '-o',
      'jsonpath={.apiVersion} {.spec.mtls.mode}',
    )
    await write('  mtls:\n    mode: strict\n', 'bad-mode')
    await both('apply', '-f', file)
    await write('  portLevelMtls:\n    "9080":\n      mode: DISABLE\n', 'no-selector')
    await both('apply', '-f', file)
    await write(
      '  selector:\n    matchLabels:\n      app: ratings\n  portLevelMtls:\n    "0":\n      mode: DISABLE\n',
      'port-zero',
    )
    await both('apply', '-f', file)
  })

  it("chaos schedule's documents: the same server dry run, and the same refusal of an unknown field", async () => {
    const schedule = await buildSchedule({
      file: 'experiments/ratings-delay.yaml',
      cron: '0 3 * * 1',
      reaper: false,
      version: '0.1.0',
    })
    const file = join(sandbox.dir, 'schedule.yaml')
    await writeFile(file, renderManifests(schedule.manifests))
    await both('apply', '--dry-run=server', '-f', file)
    await writeFile(
      file,
      renderManifests(schedule.manifests).replace('\n  schedule: ', '\n  bogusField: 1\n  schedule: '),
    )
    await both('apply', '--dry-run=server', '-f', file)
  })
})
