/**
 * `chaos schedule`'s documents — the report claim, the report server's Deployment and Service, the
 * CronJob with its Secret reference, the RBAC and the reaper — through a real kube-apiserver (with
 * etcd): `kubectl apply --dry-run=server` must accept every one (strict field validation, the
 * API server's own validation and admission), in a namespace that enforces the "restricted" Pod
 * Security Standard, with no PodSecurity warning for any pod template.
 *
 * The API server is the tool `up`/`down` in $KUBE_APISERVER_DIR, by default
 * `../shared/tools/kube-apiserver` beside the repository (see its SOURCE.md). Without it, or
 * without kubectl, the suite is skipped with a message: a clone alone does not have it.
 */
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {buildSchedule, renderManifests} from '../../src/schedule/schedule.js'
import {type Kubectl, kubectlFor, REPO, sh} from './sandbox-cli.js'

/** Where the API server tool lives: $KUBE_APISERVER_DIR, else the shared tools beside the repository. */
function toolDir(): string {
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

describe('chaos schedule documents against a real kube-apiserver (server-side dry run)', function () {
  this.timeout(240_000)
  let dir: string | undefined
  let kubectl: Kubectl

  before(async function () {
    this.timeout(240_000)
    const tool = toolDir()
    const why = !existsSync(join(tool, 'up')) ? `no kube-apiserver tool in ${tool} (set KUBE_APISERVER_DIR)`
      : (await sh('kubectl', ['version', '--client'])).code !== 0 ? 'kubectl is not on PATH' : undefined
    if (why !== undefined) {
      console.log(`      (skipped: ${why})`)
      return this.skip()
    }
    dir = await mkdtemp(join(tmpdir(), 'faultline-kube-apiserver-'))
    const up = await sh(join(tool, 'up'), [dir, String(await freePorts())])
    if (up.code !== 0) throw new Error(`kube-apiserver did not start: ${up.stderr}${up.stdout}`)
    kubectl = kubectlFor(up.stdout.trim().split('\n').at(-1) ?? join(dir, 'kubeconfig'), dir)
    // The runs' namespace enforces the "restricted" Pod Security Standard, as a careful cluster would.
    assert.equal((await kubectl('create', 'namespace', 'bookinfo')).code, 0)
    assert.equal((await kubectl('label', 'namespace', 'bookinfo', 'pod-security.kubernetes.io/enforce=restricted', 'pod-security.kubernetes.io/warn=restricted')).code, 0)
  })

  after(async function () {
    this.timeout(60_000)
    if (dir === undefined) return
    await sh(join(toolDir(), 'down'), [dir])
    await rm(dir, {recursive: true, force: true})
  })

  it('accepts every document: the claim, the report server, the Secret reference, RBAC, the CronJobs — no PodSecurity warning', async () => {
    const schedule = await buildSchedule({
      file: 'test/fixtures/schedule/weekly/weekly-gameday.yaml', cron: '0 10 * * 1', namespace: 'bookinfo', reaper: true, version: '0.1.0',
      reportsPvc: 'chaos-reports', reportsSize: '2Gi', storageClass: 'standard', keep: 10, reportServer: true,
      notifySecret: 'chaos-webhook/url', notifyFormat: 'slack', reportUrl: 'http://localhost:8080',
    })
    const kinds = schedule.manifests.map(m => m.object.kind)
    for (const kind of ['PersistentVolumeClaim', 'Deployment', 'Service', 'CronJob']) assert.ok(kinds.includes(kind), kind)
    const existing = await buildSchedule({file: 'experiments/ratings-abort.yaml', cron: '@daily', namespace: 'bookinfo', reaper: false, version: '0.1.0', reportsPvcExisting: 'chaos-reports', reportServer: true, name: 'nightly'})
    for (const [i, m] of [...schedule.manifests, ...existing.manifests].entries()) {
      const file = join(dir as string, `${i}.yaml`)
      await writeFile(file, renderManifests([m]))
      const r = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', file)
      assert.equal(r.code, 0, `${m.object.kind} ${m.object.metadata.name}: ${r.stderr}`)
      assert.doesNotMatch(r.stderr, /warning/i, `${m.object.kind} ${m.object.metadata.name}: ${r.stderr}`)
    }
  })

  it('and refuses what it should: the check is real', async () => {
    const schedule = await buildSchedule({file: 'experiments/ratings-abort.yaml', cron: '@daily', namespace: 'bookinfo', reaper: false, version: '0.1.0', reportsPvc: 'chaos-reports', reportServer: true})
    const deployment = schedule.manifests.find(m => m.object.kind === 'Deployment')
    assert.ok(deployment !== undefined)
    // A privileged report server: PodSecurity "restricted" warns about the template.
    const spec = (deployment.object.spec as {template: {spec: {containers: {securityContext: Record<string, unknown>}[]}}}).template.spec
    const hardened = spec.containers[0]?.securityContext
    spec.containers[0] = {...spec.containers[0], securityContext: {...hardened, allowPrivilegeEscalation: true, capabilities: {add: ['NET_ADMIN']}}}
    const file = join(dir as string, 'privileged.yaml')
    await writeFile(file, renderManifests([deployment]))
    const r = await kubectl('apply', '--dry-run=server', '-f', file)
    assert.match(r.stderr, /would violate PodSecurity "restricted/)
    // A misspelt field is refused by strict validation.
    const claim = schedule.manifests.find(m => m.object.kind === 'PersistentVolumeClaim')
    assert.ok(claim !== undefined)
    await writeFile(file, renderManifests([{...claim, object: {...claim.object, spec: {...claim.object.spec as object, acessModes: ['ReadWriteOnce']}}}]))
    const strict = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', file)
    assert.notEqual(strict.code, 0)
    assert.match(strict.stderr, /unknown field "spec.acessModes"/)
  })
})
