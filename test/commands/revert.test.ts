/**
 * `chaos revert` when it cannot ask the cluster (the real CLI): a closed port, or an API server
 * that refuses the listing, is "could not reach / could not check" with exit 4 — never "nothing to
 * revert" or a run's "nothing was injected", since faults may still be live there (issue 12).
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {createServer as createNetServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {ensureBuilt, sh} from '../cli.js'
import {ExitCode} from '@faultline/core/errors.js'

const SOURCES = [
  'src/commands/revert.ts',
  'src/runner/leftovers.ts',
  'src/runner/target.ts',
  'src/cluster/connect.ts',
  'src/cluster/kube.ts',
  'src/cli/base.ts',
]

/** A loopback port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createNetServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise(resolve => server.close(resolve))
  return port
}

function kubeconfig(dir: string, server: string): string {
  const file = join(dir, 'kubeconfig')
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "${server}", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: test}
contexts:
- name: c
  context: {cluster: c, user: u, namespace: default}
current-context: c
`,
  )
  return file
}

describe('chaos revert when the cluster cannot be asked (the real CLI)', function () {
  this.timeout(60_000)
  let dir = ''

  before(async function () {
    this.timeout(300_000)
    await ensureBuilt(SOURCES)
  })
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'faultline-revert-cli-'))
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  const revert = (args: string[]) =>
    sh(process.execPath, ['bin/chaos', 'revert', ...args], {...process.env, NO_COLOR: '1', KUBECONFIG: ''})

  it('a closed port: exit 4, "cannot reach the cluster", and never "Nothing was injected" or "Nothing to revert"', async () => {
    const server = `https://127.0.0.1:${await closedPort()}`
    const r = await revert(['--kubeconfig', kubeconfig(dir, server)])
    assert.equal(r.code, ExitCode.CouldNotRun, r.stdout + r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `Error: cannot reach the cluster ${server} \\(context c\\): .*ECONNREFUSED.*; nothing was checked or reverted, so faults left by a run may still be live there`,
      ),
    )
    assert.match(r.stderr, /Hint: Check the kubeconfig .* then run the same chaos revert again/)
    assert.doesNotMatch(r.stdout + r.stderr, /nothing was injected|nothing to revert/i)

    const json = await revert(['--kubeconfig', kubeconfig(dir, server), '--json'])
    assert.equal(json.code, ExitCode.CouldNotRun)
    const {error} = JSON.parse(json.stdout) as {error: {code: string; exitCode: number; message: string}}
    assert.equal(error.code, 'CLUSTER_UNAVAILABLE')
    assert.equal(error.exitCode, ExitCode.CouldNotRun)
  })

  it('an API server that answers discovery but refuses the listing: exit 4, nothing was checked', async () => {
    const api: Server = createServer((req, res) => {
      res.setHeader('content-type', 'application/json')
      if (req.url?.split('?')[0] === '/apis') {
        const version = {groupVersion: 'networking.istio.io/v1', version: 'v1'}
        res.end(
          JSON.stringify({
            kind: 'APIGroupList',
            apiVersion: 'v1',
            groups: [{name: 'networking.istio.io', versions: [version], preferredVersion: version}],
          }),
        )
        return
      }
      res.statusCode = 403
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'Forbidden',
          code: 403,
          message:
            'virtualservices.networking.istio.io is forbidden: User "test" cannot list resource "virtualservices"',
        }),
      )
    })
    await new Promise<void>(resolve => api.listen(0, '127.0.0.1', resolve))
    try {
      const {port} = api.address() as {port: number}
      const r = await revert(['--kubeconfig', kubeconfig(dir, `http://127.0.0.1:${port}`)])
      assert.equal(r.code, ExitCode.CouldNotRun, r.stdout + r.stderr)
      assert.match(
        r.stderr,
        /Error: could not list the VirtualServices in namespace default \(http:\/\/127\.0\.0\.1:\d+\): .*forbidden.*; nothing was checked or reverted/is,
      )
      assert.doesNotMatch(r.stdout + r.stderr, /nothing was injected|nothing to revert/i)
    } finally {
      await new Promise(resolve => api.close(resolve))
    }
  })
})
