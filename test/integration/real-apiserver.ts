/**
 * A real kube-apiserver 1.32 + etcd for the tests that compare with one: the tool in
 * `$KUBE_APISERVER_DIR`, else `shared/tools/kube-apiserver` beside the repository (`up DIR PORT`,
 * `down DIR`; see its SOURCE.md). Absent, or without kubectl, the suite skips and says why.
 */
import {existsSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {type Kubectl, kubectlFor, kubectlProblem, REPO, sh} from './sandbox-cli.js'

/** Where the API server tool lives: $KUBE_APISERVER_DIR, else the shared tools beside the repository. */
export function toolDir(): string {
  return resolve(process.env.KUBE_APISERVER_DIR ?? join(REPO, '..', 'shared', 'tools', 'kube-apiserver'))
}

async function portFree(port: number): Promise<boolean> {
  return new Promise(done => {
    const server = createServer()
    server.once('error', () => done(false))
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)))
  })
}

/** A secure port whose etcd ports (+7000, +7001, +7002, as `up` picks them) are free too. */
async function freePorts(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000)
    if ((await Promise.all([0, 7000, 7001, 7002].map(d => portFree(port + d)))).every(Boolean)) return port
  }
  throw new Error('no free ports for kube-apiserver and etcd')
}

/** A running real API server: kubectl on it, and how to stop it. */
export interface RealApiServer {
  /** Its own directory (state, kubeconfig), also for a test's files. */
  dir: string
  kubectl: Kubectl
  stop: () => Promise<void>
}

/** Why a real API server cannot be had here, or undefined when it can. */
export async function realApiServerProblem(): Promise<string | undefined> {
  const tool = toolDir()
  return !existsSync(join(tool, 'up')) ? `no kube-apiserver tool in ${tool} (set KUBE_APISERVER_DIR)` : kubectlProblem()
}

/** Starts one in a fresh directory named after `name`; throws with its output when it does not start. */
export async function startRealApiServer(name: string): Promise<RealApiServer> {
  const dir = await mkdtemp(join(tmpdir(), `faultline-${name}-`))
  const stop = async () => {
    await sh(join(toolDir(), 'down'), [dir])
    await rm(dir, {recursive: true, force: true})
  }
  const up = await sh(join(toolDir(), 'up'), [dir, String(await freePorts())])
  if (up.code !== 0) {
    await stop()
    throw new Error(`kube-apiserver did not start: ${up.stderr}${up.stdout}`)
  }
  return {dir, kubectl: kubectlFor(up.stdout.trim().split('\n').at(-1) ?? join(dir, 'kubeconfig'), dir), stop}
}
