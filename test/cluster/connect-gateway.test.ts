import assert from 'node:assert/strict'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {SANDBOX_EXTENSION, sandboxExtension} from '../../src/cluster/connect.js'

describe('the sandbox kubeconfig extension: its ingress gateway', () => {
  it('names the gateway address when it carries one (a URL; anything else is left out)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'faultline-ext-')), 'kubeconfig')
    const write = (gateway: unknown) =>
      writeFileSync(
        file,
        JSON.stringify({
          clusters: [
            {
              name: 'c',
              cluster: {
                server: 'https://127.0.0.1:6443',
                extensions: [{name: SANDBOX_EXTENSION, extension: {proxy: 'http://127.0.0.1:41000', gateway}}],
              },
            },
          ],
        }),
      )
    write('http://127.0.0.1:41002')
    assert.deepEqual(sandboxExtension([file], 'c'), {
      proxy: 'http://127.0.0.1:41000',
      gateway: 'http://127.0.0.1:41002',
    })
    write('not a url')
    assert.deepEqual(sandboxExtension([file], 'c'), {proxy: 'http://127.0.0.1:41000'})
  })
})
