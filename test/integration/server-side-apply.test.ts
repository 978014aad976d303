/**
 * Server-side apply against a detached sandbox, the way GitOps controllers write: the real kubectl
 * applies VirtualServices with field manager `argocd-controller` (Argo CD) and `kustomize-controller`
 * (Flux); managedFields name them, a conflicting apply gets kube-apiserver's 409, `--force-conflicts`
 * takes the field over, and `chaos plan --live` shows preflight's "managed by another controller"
 * warning, read from managedFields (src/runner/preflight.ts foreignController).
 */
import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {chaos, kubectlProblem, withDetachedSandbox} from './sandbox-cli.js'

const vs = (name: string, subset: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts: [${name}]
  http:
  - route:
    - destination: {host: ${name}, subset: ${subset}}
`

interface Managed {
  manager: string
  operation: string
  fieldsV1: Record<string, unknown>
}

describe('server-side apply by GitOps controllers, and preflight noticing them', function () {
  this.timeout(120_000)
  const sandbox = withDetachedSandbox('ssa-sandbox', [
    'packages/sandbox/src/apiserver/managed.ts',
    'packages/sandbox/src/apiserver/istio.ts',
    'src/runner/preflight.ts',
  ])
  before(async function () {
    const problem = await kubectlProblem()
    if (problem !== undefined) this.skip()
  })
  const file = async (name: string, text: string) => {
    const path = join(sandbox.dir, name)
    await writeFile(path, text)
    return path
  }
  const managers = async (name: string) => {
    const r = await sandbox.kubectl('get', 'vs', name, '-o', 'json', '--show-managed-fields')
    assert.equal(r.code, 0, r.stderr)
    return (JSON.parse(r.stdout) as {metadata: {managedFields: Managed[]}}).metadata.managedFields
  }

  it("Argo CD's apply: the object is created and managedFields name argocd-controller with the fields it applied", async () => {
    const r = await sandbox.kubectl(
      'apply',
      '--server-side',
      '--field-manager',
      'argocd-controller',
      '-f',
      await file('ratings.yaml', vs('ratings', 'v1')),
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.trim(), 'virtualservice.networking.istio.io/ratings serverside-applied')
    const m = await managers('ratings')
    assert.deepEqual(
      m.map(e => [e.manager, e.operation]),
      [['argocd-controller', 'Apply']],
    )
    assert.deepEqual(m[0]?.fieldsV1, {'f:spec': {'f:hosts': {}, 'f:http': {}}})
  })

  it('chaos plan --live warns that ratings is managed by argocd-controller', async () => {
    const r = await chaos(['plan', 'experiments/ratings-delay.yaml', '--kubeconfig', sandbox.state.kubeconfig])
    assert.match(
      r.stdout + r.stderr,
      /controller: VirtualService ratings is managed by argocd-controller, which may overwrite our routes mid-run/,
    )
  })

  it("Flux's conflicting apply gets 409 with kube-apiserver's message; --force-conflicts takes the field", async () => {
    const path = await file('ratings-v2.yaml', vs('ratings', 'v2'))
    const refused = await sandbox.kubectl(
      'apply',
      '--server-side',
      '--field-manager',
      'kustomize-controller',
      '-f',
      path,
    )
    assert.notEqual(refused.code, 0)
    assert.match(
      refused.stderr,
      /^error: Apply failed with 1 conflict: conflict with "argocd-controller": \.spec\.http$/m,
    )
    const forced = await sandbox.kubectl(
      'apply',
      '--server-side',
      '--field-manager',
      'kustomize-controller',
      '--force-conflicts',
      '-f',
      path,
    )
    assert.equal(forced.code, 0, forced.stderr)
    const m = await managers('ratings')
    assert.deepEqual(
      m.map(e => [e.manager, e.operation, e.fieldsV1]),
      [
        ['argocd-controller', 'Apply', {'f:spec': {'f:hosts': {}}}],
        ['kustomize-controller', 'Apply', {'f:spec': {'f:hosts': {}, 'f:http': {}}}],
      ],
    )
  })

  it('a VirtualService written by Flux alone is reported as managed by kustomize-controller', async () => {
    assert.equal((await sandbox.kubectl('delete', 'vs', 'ratings')).code, 0)
    const r = await sandbox.kubectl(
      'apply',
      '--server-side',
      '--field-manager',
      'kustomize-controller',
      '-f',
      await file('ratings-flux.yaml', vs('ratings', 'v1')),
    )
    assert.equal(r.code, 0, r.stderr)
    const plan = await chaos(['plan', 'experiments/ratings-delay.yaml', '--kubeconfig', sandbox.state.kubeconfig])
    assert.match(plan.stdout + plan.stderr, /controller: VirtualService ratings is managed by kustomize-controller/)
  })
})
