import assert from 'node:assert/strict'
import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {KubeConfig} from '@kubernetes/client-node'
import {parse} from 'yaml'

import {kubeconfigYaml, writeKubeconfig} from '../../src/kubeconfig.js'

describe('sandbox kubeconfig', () => {
  it('names cluster, user and context faultline-sandbox and carries the token, CA and namespace', () => {
    const text = kubeconfigYaml({
      server: 'https://127.0.0.1:6443',
      token: 'secret',
      namespace: 'bookinfo',
      certificateAuthority: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    })
    const kc = new KubeConfig()
    kc.loadFromString(text)
    assert.equal(kc.getCurrentContext(), 'faultline-sandbox')
    assert.equal(kc.getCurrentCluster()?.name, 'faultline-sandbox')
    assert.equal(kc.getCurrentCluster()?.server, 'https://127.0.0.1:6443')
    assert.equal(
      Buffer.from(kc.getCurrentCluster()?.caData ?? '', 'base64').toString(),
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
    )
    assert.equal(kc.getCurrentUser()?.name, 'faultline-sandbox')
    assert.equal(kc.getCurrentUser()?.token, 'secret')
    assert.equal(kc.getContextObject('faultline-sandbox')?.namespace, 'bookinfo')
  })

  it('defaults the namespace, honours a context name, and trusts an https server without a CA only explicitly', () => {
    const doc = parse(kubeconfigYaml({server: 'https://127.0.0.1:1', token: 't', context: 'mine'})) as {
      contexts: {name: string; context: {namespace: string}}[]
      clusters: {cluster: Record<string, unknown>}[]
    }
    assert.equal(doc.contexts[0]?.name, 'mine')
    assert.equal(doc.contexts[0]?.context.namespace, 'default')
    assert.equal(doc.clusters[0]?.cluster['insecure-skip-tls-verify'], true)
    const plain = parse(kubeconfigYaml({server: 'http://127.0.0.1:1', token: 't'})) as {
      clusters: {cluster: Record<string, unknown>}[]
    }
    assert.deepEqual(plain.clusters[0]?.cluster, {server: 'http://127.0.0.1:1'})
  })

  it('writes the file with mode 0600, also over a wider existing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-kubeconfig-'))
    try {
      const file = join(dir, 'kubeconfig')
      await writeFile(file, 'old', {mode: 0o644})
      await writeKubeconfig(file, {server: 'https://127.0.0.1:1', token: 't'})
      assert.equal((await stat(file)).mode & 0o777, 0o600)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
