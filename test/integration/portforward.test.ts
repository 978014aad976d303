/**
 * `pods/portforward`, `pods/proxy` and `services/proxy` of a detached sandbox, driven by the real
 * kubectl (WebSocket-tunnelled SPDY, and the plain SPDY upgrade it falls back to) and by
 * client-node's `PortForward` (the WebSocket channel protocol), each reaching bookinfo's pods.
 */
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {createServer, type AddressInfo} from 'node:net'

import {KubeConfig, PortForward} from '@kubernetes/client-node'

import {connect} from '../../src/cluster/connect.js'
import type {KubeCluster} from '../../src/cluster/kube.js'
import {have, kubectlProblem, sh, withDetachedSandbox} from './sandbox-cli.js'

/** Starts `kubectl port-forward TARGET LOCAL:REMOTE`, resolving once it says it is forwarding. */
function portForward(
  kubeconfig: string,
  target: string,
  ports: string,
  env: Record<string, string> = {},
): Promise<{child: ChildProcess; output: () => string}> {
  const child = spawn('kubectl', ['--kubeconfig', kubeconfig, 'port-forward', target, ports], {
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kubectl port-forward did not start: ${output}`)), 20_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('Forwarding from 127.0.0.1')) {
        clearTimeout(timer)
        resolve({child, output: () => output})
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.on('exit', code => reject(new Error(`kubectl port-forward exited ${code}: ${output}`)))
  })
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise(resolve => {
    if (child.exitCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGTERM')
  })
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

describe('port-forward and proxy against the sandbox', function () {
  this.timeout(120_000)
  const sandbox = withDetachedSandbox('portforward-sandbox', [
    'packages/sandbox/src/apiserver/portforward.ts',
    'packages/sandbox/src/apiserver/podproxy.ts',
    'packages/sandbox/src/apiserver.ts',
  ])
  let skip: string | undefined
  before(async function () {
    skip = await kubectlProblem()
    if (skip !== undefined) this.skip()
  })
  const podOf = (app: string) => sandbox.state.pods.find(p => p.app === app)?.name ?? assert.fail(`no ${app} pod`)

  it('kubectl port-forward svc/productpage: curl answers through the WebSocket-tunnelled SPDY', async () => {
    const local = await freePort()
    const pf = await portForward(sandbox.state.kubeconfig, 'svc/productpage', `${local}:9080`)
    try {
      const res = await fetch(`http://127.0.0.1:${local}/productpage`)
      assert.equal(res.status, 200)
      assert.match(await res.text(), /Simple Bookstore App/)
      const again = await fetch(`http://127.0.0.1:${local}/productpage`)
      assert.equal(again.status, 200, 'a second connection is a second pair of streams')
      if (await have('curl')) {
        const curl = await sh('curl', ['-s', '-m', '10', `http://127.0.0.1:${local}/productpage`])
        assert.equal(curl.code, 0, curl.stderr)
        assert.match(curl.stdout, /Simple Bookstore App/)
      }
    } finally {
      await stop(pf.child)
    }
  })

  it('kubectl port-forward pod/NAME over the plain SPDY upgrade it falls back to', async () => {
    const local = await freePort()
    const pf = await portForward(sandbox.state.kubeconfig, `pod/${podOf('ratings')}`, `${local}:9080`, {
      KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false',
    })
    try {
      const res = await fetch(`http://127.0.0.1:${local}/ratings/0`)
      assert.equal(res.status, 200)
      assert.deepEqual(await res.json(), {id: 0, ratings: {Reviewer1: 5, Reviewer2: 4}})
    } finally {
      await stop(pf.child)
    }
  })

  it("a port nothing listens on: kubectl prints kubelet's error from the error stream", async () => {
    const local = await freePort()
    const pf = await portForward(sandbox.state.kubeconfig, `pod/${podOf('ratings')}`, `${local}:8443`)
    try {
      await fetch(`http://127.0.0.1:${local}/`).catch(() => undefined)
      for (let i = 0; i < 50 && !pf.output().includes('error forwarding port 8443'); i++)
        await new Promise(r => setTimeout(r, 100))
      assert.match(
        pf.output(),
        /error forwarding port 8443 to pod ratings-v1-\S+, uid : failed to connect to localhost:8443 inside namespace/,
      )
    } finally {
      await stop(pf.child)
    }
  })

  it('client-node PortForward: the channel protocol, the port number first on each channel', async () => {
    const kc = new KubeConfig()
    kc.loadFromFile(sandbox.state.kubeconfig)
    const server = createServer(socket => {
      new PortForward(kc)
        .portForward('default', podOf('details'), [9080], socket, null, socket)
        .catch(err => socket.destroy(err as Error))
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/details/0`, {
        headers: {connection: 'close'},
      })
      assert.equal(res.status, 200)
      assert.equal(((await res.json()) as {id: number}).id, 0)
    } finally {
      server.close()
    }
  })

  it("KubeCluster.portForward (the runner's client): a local port reaching a pod's application", async () => {
    const cluster = connect({kubeconfig: sandbox.state.kubeconfig}) as KubeCluster
    const forward = await cluster.portForward('default', podOf('productpage'), 9080)
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`http://127.0.0.1:${forward.port}/productpage`, {headers: {connection: 'close'}})
        assert.equal(res.status, 200)
        assert.match(await res.text(), /Simple Bookstore App/)
      }
    } finally {
      await forward.close()
    }
  })

  it("services/proxy and pods/proxy through kubectl get --raw, to the app and to the sidecar's stats port", async () => {
    const svc = await sandbox.kubectl(
      'get',
      '--raw',
      '/api/v1/namespaces/default/services/ratings:9080/proxy/ratings/0',
    )
    assert.equal(svc.code, 0, svc.stderr)
    assert.deepEqual(JSON.parse(svc.stdout), {id: 0, ratings: {Reviewer1: 5, Reviewer2: 4}})
    const named = await sandbox.kubectl(
      'get',
      '--raw',
      '/api/v1/namespaces/default/services/http:ratings:http/proxy/ratings/1',
    )
    assert.equal(named.code, 0, named.stderr)
    const pod = await sandbox.kubectl(
      'get',
      '--raw',
      `/api/v1/namespaces/default/pods/${podOf('reviews')}:9080/proxy/reviews/0`,
    )
    assert.equal(pod.code, 0, pod.stderr)
    assert.match(pod.stdout, /"reviews"/)
    const stats = await sandbox.kubectl(
      'get',
      '--raw',
      `/api/v1/namespaces/default/pods/${podOf('productpage')}:15090/proxy/stats/prometheus`,
    )
    assert.equal(stats.code, 0, stats.stderr)
    assert.match(stats.stdout, /^# TYPE istio_requests_total counter$/m)
    const refused = await sandbox.kubectl(
      'get',
      '--raw',
      `/api/v1/namespaces/default/pods/${podOf('productpage')}:1234/proxy/`,
    )
    assert.notEqual(refused.code, 0)
    assert.match(
      refused.stderr,
      /\(ServiceUnavailable\): error trying to reach service: dial tcp 127.0.0.1:1234: connect: connection refused/,
    )
  })
})
