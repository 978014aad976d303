import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {homedir, tmpdir} from 'node:os'
import {join} from 'node:path'

import {sandboxStatus, stopSandbox} from '../src/daemon.js'
import {
  acquireStartLock,
  defaultStateDir,
  readSandboxState,
  resolveStateDir,
  type SandboxState,
  STATE_VERSION,
  statePaths,
  writeSandboxState,
} from '../src/state.js'

/** A pid that certainly belongs to no process: one that has just exited. */
function deadPid(): number {
  return Number(
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {encoding: 'utf8'}).stdout,
  )
}

function recorded(pid: number): SandboxState {
  return {
    version: STATE_VERSION,
    pid,
    apiServer: 'https://127.0.0.1:1',
    kubeconfig: '/nowhere/kubeconfig',
    proxy: 'http://127.0.0.1:2',
    metrics: 'http://127.0.0.1:3',
    namespace: 'default',
    startedAt: new Date().toISOString(),
    pods: [],
  }
}

describe('sandbox state', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-state-'))
  })
  afterEach(async () => {
    await rm(dir, {recursive: true, force: true})
  })

  it('defaults to the XDG state directory, overridable by CHAOS_SANDBOX_DIR and --state-dir', () => {
    assert.equal(defaultStateDir({}), join(homedir(), '.local', 'state', 'faultline', 'sandbox'))
    assert.equal(defaultStateDir({XDG_STATE_HOME: '/xdg'}), '/xdg/faultline/sandbox')
    assert.equal(defaultStateDir({XDG_STATE_HOME: '/xdg', CHAOS_SANDBOX_DIR: '/explicit'}), '/explicit')
    assert.equal(resolveStateDir('/flag', {CHAOS_SANDBOX_DIR: '/explicit'}), '/flag')
  })

  it('treats a record whose process is gone as not running, and removes it', async () => {
    await writeSandboxState(dir, recorded(deadPid()))
    await writeFile(statePaths(dir).kubeconfig, 'x')
    assert.equal(await readSandboxState(dir), undefined)
    assert.equal(existsSync(statePaths(dir).state), false)
    assert.equal(existsSync(statePaths(dir).kubeconfig), false)
    assert.deepEqual(await sandboxStatus(dir), {stateDir: dir, running: false})
  })

  it('says so when down finds nothing to stop', async () => {
    assert.deepEqual(await stopSandbox(dir), {stateDir: dir, outcome: 'not-running'})
    await writeSandboxState(dir, recorded(deadPid()))
    assert.deepEqual(await stopSandbox(dir), {stateDir: dir, outcome: 'not-running'})
    assert.equal(existsSync(statePaths(dir).state), false)
  })

  it("lets one start hold the lock, and takes over a dead holder's", async () => {
    const release = await acquireStartLock(dir)
    assert.equal(await readFile(statePaths(dir).lock, 'utf8'), String(process.pid))
    await assert.rejects(acquireStartLock(dir), /already starting or running in .* \(pid \d+\)/)
    await release()
    await writeFile(statePaths(dir).lock, String(deadPid()))
    const again = await acquireStartLock(dir)
    await again()
    await writeFile(statePaths(dir).lock, String(process.ppid))
    await assert.rejects(acquireStartLock(dir), /already starting or running/)
  })
})
