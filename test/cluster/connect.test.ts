import assert from 'node:assert/strict'
import {mkdtempSync, mkdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {connect, connectWith, findKubeconfig, SANDBOX_CONTEXT, SANDBOX_EXTENSION} from '../../src/cluster/connect.js'
import {ClusterUnavailable, UsageError} from '@faultline/core/errors.js'
import {kubeconfigYaml, SANDBOX_EXTENSION as WRITTEN_EXTENSION} from '@faultline/sandbox/kubeconfig.js'

function kubeconfig(dir: string, name: string, contexts: {name: string; server: string; namespace?: string}[]): string {
  const file = join(dir, name)
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': contexts[0]?.name,
    clusters: contexts.map(c => ({name: c.name, cluster: {server: c.server}})),
    users: contexts.map(c => ({name: c.name, user: {token: 't'}})),
    contexts: contexts.map(c => ({
      name: c.name,
      context: {cluster: c.name, user: c.name, ...(c.namespace === undefined ? {} : {namespace: c.namespace})},
    })),
  }
  writeFileSync(file, JSON.stringify(doc))
  return file
}

describe('cluster connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-connect-'))
  const emptyHome = mkdtempSync(join(tmpdir(), 'faultline-home-'))

  it('has no cluster when there is no kubeconfig anywhere (the run then uses the sandbox)', () => {
    assert.equal(findKubeconfig({env: {}, home: emptyHome}), undefined)
    assert.equal(connect({env: {}, home: emptyHome}), undefined)
  })

  it('prefers --kubeconfig, then $KUBECONFIG, then ~/.kube/config', () => {
    const a = kubeconfig(dir, 'a', [{name: 'a', server: 'https://127.0.0.1:1'}])
    const b = kubeconfig(dir, 'b', [{name: 'b', server: 'https://127.0.0.1:2'}])
    const home = mkdtempSync(join(tmpdir(), 'faultline-home-'))
    mkdirSync(join(home, '.kube'))
    kubeconfig(join(home, '.kube'), 'config', [{name: 'home', server: 'https://127.0.0.1:3'}])
    assert.equal(findKubeconfig({kubeconfig: a, env: {KUBECONFIG: b}, home}), a)
    assert.equal(findKubeconfig({env: {KUBECONFIG: b}, home}), b)
    assert.equal(findKubeconfig({env: {}, home}), join(home, '.kube', 'config'))
    assert.equal(connect({env: {KUBECONFIG: b}, home})?.target.server, 'https://127.0.0.1:2')
  })

  it('applies --context and --namespace, and recognises the sandbox context', () => {
    const file = kubeconfig(dir, 'multi', [
      {name: 'prod', server: 'https://127.0.0.1:1', namespace: 'shop'},
      {name: SANDBOX_CONTEXT, server: 'http://127.0.0.1:2'},
    ])
    assert.deepEqual(connect({kubeconfig: file})?.target, {
      source: 'kubeconfig',
      context: 'prod',
      server: 'https://127.0.0.1:1',
      namespace: 'shop',
      user: 'prod',
    })
    assert.equal(connect({kubeconfig: file, namespace: 'other'})?.target.namespace, 'other')
    const sandbox = connect({kubeconfig: file, context: SANDBOX_CONTEXT})?.target
    assert.equal(sandbox?.source, 'sandbox')
    assert.equal(sandbox?.namespace, 'default')
  })

  it("a cluster carrying the faultline.dev/sandbox extension names the sandbox's proxy and Prometheus, whichever way the context is chosen", () => {
    assert.equal(SANDBOX_EXTENSION, WRITTEN_EXTENSION)
    const sandbox = join(dir, 'sandbox-kubeconfig')
    writeFileSync(
      sandbox,
      kubeconfigYaml({
        server: 'https://127.0.0.1:6443',
        token: 't',
        context: 'my-sandbox',
        sandbox: {proxy: 'http://127.0.0.1:41000', prometheus: 'http://127.0.0.1:41001'},
      }),
    )
    const other = kubeconfig(dir, 'other', [{name: 'prod', server: 'https://127.0.0.1:7'}])
    const viaFlag = connectWith({kubeconfig: sandbox, env: {}, home: emptyHome})
    assert.deepEqual(viaFlag?.sandbox, {proxy: 'http://127.0.0.1:41000', prometheus: 'http://127.0.0.1:41001'})
    assert.equal(viaFlag?.cluster.target.source, 'sandbox', 'a renamed sandbox context is still the sandbox')
    // KUBECONFIG with two files: the current context (the first file's) is prod, --context picks the sandbox.
    const env = {KUBECONFIG: `${other}:${sandbox}`}
    assert.equal(connectWith({env, home: emptyHome})?.sandbox, undefined)
    assert.equal(connectWith({env, home: emptyHome})?.cluster.target.source, 'kubeconfig')
    assert.deepEqual(
      connectWith({env, context: 'my-sandbox', home: emptyHome})?.sandbox?.proxy,
      'http://127.0.0.1:41000',
    )
    // Without Prometheus, and with a malformed extension (no usable proxy URL: ignored).
    writeFileSync(
      sandbox,
      kubeconfigYaml({server: 'https://127.0.0.1:6443', token: 't', sandbox: {proxy: 'http://127.0.0.1:41000'}}),
    )
    assert.deepEqual(connectWith({kubeconfig: sandbox, env: {}, home: emptyHome})?.sandbox, {
      proxy: 'http://127.0.0.1:41000',
    })
    writeFileSync(
      sandbox,
      kubeconfigYaml({server: 'https://127.0.0.1:6443', token: 't', context: 'x', sandbox: {proxy: 'not a url'}}),
    )
    assert.equal(connectWith({kubeconfig: sandbox, env: {}, home: emptyHome})?.sandbox, undefined)
  })

  it('says what is wrong with a bad flag or file', () => {
    assert.throws(
      () => connect({kubeconfig: join(dir, 'missing')}),
      (e: unknown) => e instanceof UsageError && /no such file/.test(e.message),
    )
    const file = kubeconfig(dir, 'one', [{name: 'only', server: 'https://127.0.0.1:1'}])
    assert.throws(
      () => connect({kubeconfig: file, context: 'nope'}),
      (e: unknown) => e instanceof UsageError && /only/.test(e.hint ?? ''),
    )
    const broken = join(dir, 'broken')
    writeFileSync(broken, '{not yaml: [')
    assert.throws(() => connect({kubeconfig: broken}), ClusterUnavailable)
  })
})
