import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {ensureBuilt, REPO} from '../cli.js'

const BUNDLE = join(REPO, 'dist/cluster/client-node.js')

describe('dist/cluster/client-node.js: client-node as one bundled module (npm run build)', () => {
  before(async function () {
    this.timeout(120_000)
    await ensureBuilt(['src/cluster/client-node.ts', 'src/build/client-node-bundle.ts'])
  })

  it('is a bundle, not a re-export of the ~2,600 modules of @kubernetes/client-node', () => {
    const text = readFileSync(BUNDLE, 'utf8')
    assert.doesNotMatch(
      text,
      /from\s*["']@kubernetes\/client-node["']/,
      'the build did not bundle it: run npm run build',
    )
    assert.ok(text.length > 500_000, `${text.length} bytes is too small to hold the library`)
  })

  it('exports what src/cluster/ uses, working: a KubeConfig loads a kubeconfig and makes API clients', async () => {
    const k8s = (await import(pathToFileURL(BUNDLE).href)) as typeof import('../../src/cluster/client-node.js')
    const kc = new k8s.KubeConfig()
    kc.loadFromString(
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'a',
        clusters: [{name: 'a', cluster: {server: 'https://127.0.0.1:6443'}}],
        users: [{name: 'a', user: {token: 't'}}],
        contexts: [{name: 'a', context: {cluster: 'a', user: 'a'}}],
      }),
    )
    assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443')
    assert.equal(typeof kc.makeApiClient(k8s.CoreV1Api).listNamespacedPod, 'function')
    assert.equal(typeof kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject, 'function')
    assert.equal(typeof kc.makeApiClient(k8s.AuthorizationV1Api).createSelfSubjectAccessReview, 'function')
    assert.equal(typeof kc.makeApiClient(k8s.ApisApi).getAPIVersions, 'function')
    assert.equal(typeof new k8s.Exec(kc).exec, 'function')
    assert.ok(new k8s.ApiException(409, 'conflict', {}, {}) instanceof Error)
  })
})
