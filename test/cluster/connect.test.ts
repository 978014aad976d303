import assert from 'node:assert/strict'
import {mkdtempSync, mkdirSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {connect, findKubeconfig, SANDBOX_CONTEXT} from '../../src/cluster/connect.js'
import {ClusterUnavailable, UsageError} from '../../src/errors.js'

function kubeconfig(dir: string, name: string, contexts: {name: string; server: string; namespace?: string}[]): string {
  const file = join(dir, name)
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': contexts[0]?.name,
    clusters: contexts.map(c => ({name: c.name, cluster: {server: c.server}})),
    users: contexts.map(c => ({name: c.name, user: {token: 't'}})),
    contexts: contexts.map(c => ({name: c.name, context: {cluster: c.name, user: c.name, ...(c.namespace === undefined ? {} : {namespace: c.namespace})}})),
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
    assert.deepEqual(connect({kubeconfig: file})?.target, {source: 'kubeconfig', context: 'prod', server: 'https://127.0.0.1:1', namespace: 'shop', user: 'prod'})
    assert.equal(connect({kubeconfig: file, namespace: 'other'})?.target.namespace, 'other')
    const sandbox = connect({kubeconfig: file, context: SANDBOX_CONTEXT})?.target
    assert.equal(sandbox?.source, 'sandbox')
    assert.equal(sandbox?.namespace, 'default')
  })

  it('says what is wrong with a bad flag or file', () => {
    assert.throws(() => connect({kubeconfig: join(dir, 'missing')}), (e: unknown) => e instanceof UsageError && /no such file/.test(e.message))
    const file = kubeconfig(dir, 'one', [{name: 'only', server: 'https://127.0.0.1:1'}])
    assert.throws(() => connect({kubeconfig: file, context: 'nope'}), (e: unknown) => e instanceof UsageError && /only/.test(e.hint ?? ''))
    const broken = join(dir, 'broken')
    writeFileSync(broken, '{not yaml: [')
    assert.throws(() => connect({kubeconfig: broken}), ClusterUnavailable)
  })
})
