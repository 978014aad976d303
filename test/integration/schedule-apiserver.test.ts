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
import {readFile, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {grantedPermissions, type PolicyRule} from '../../src/schedule/rbac.js'
import {buildSchedule, renderManifests} from '../../src/schedule/schedule.js'
import {type RealApiServer, realApiServerProblem, startRealApiServer} from './real-apiserver.js'
import type {Kubectl} from './sandbox-cli.js'

describe('chaos schedule documents against a real kube-apiserver (server-side dry run)', function () {
  this.timeout(240_000)
  let server: RealApiServer | undefined
  let kubectl: Kubectl

  before(async function () {
    this.timeout(240_000)
    const why = await realApiServerProblem()
    if (why !== undefined) {
      console.log(`      (skipped: ${why})`)
      return this.skip()
    }
    server = await startRealApiServer('kube-apiserver')
    kubectl = server.kubectl
    // The runs' namespace enforces the "restricted" Pod Security Standard, as a careful cluster would.
    assert.equal((await kubectl('create', 'namespace', 'bookinfo')).code, 0)
    assert.equal(
      (
        await kubectl(
          'label',
          'namespace',
          'bookinfo',
          'pod-security.kubernetes.io/enforce=restricted',
          'pod-security.kubernetes.io/warn=restricted',
        )
      ).code,
      0,
    )
  })

  after(async function () {
    this.timeout(60_000)
    await server?.stop()
  })

  it('accepts every document: the claim, the report server, the Secret reference, RBAC, the CronJobs — no PodSecurity warning', async () => {
    const schedule = await buildSchedule({
      file: 'test/fixtures/schedule/weekly/weekly-gameday.yaml',
      cron: '0 10 * * 1',
      namespace: 'bookinfo',
      reaper: true,
      version: '0.1.0',
      reportsPvc: 'chaos-reports',
      reportsSize: '2Gi',
      storageClass: 'standard',
      keep: 10,
      reportServer: true,
      notifySecret: 'chaos-webhook/url',
      notifyFormat: 'slack',
      reportUrl: 'http://localhost:8080',
    })
    const kinds = schedule.manifests.map(m => m.object.kind)
    for (const kind of ['PersistentVolumeClaim', 'Deployment', 'Service', 'CronJob'])
      assert.ok(kinds.includes(kind), kind)
    const existing = await buildSchedule({
      file: 'experiments/ratings-abort.yaml',
      cron: '@daily',
      namespace: 'bookinfo',
      reaper: false,
      version: '0.1.0',
      reportsPvcExisting: 'chaos-reports',
      reportServer: true,
      name: 'nightly',
    })
    for (const [i, m] of [...schedule.manifests, ...existing.manifests].entries()) {
      const file = join((server as RealApiServer).dir, `${i}.yaml`)
      await writeFile(file, renderManifests([m]))
      const r = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', file)
      assert.equal(r.code, 0, `${m.object.kind} ${m.object.metadata.name}: ${r.stderr}`)
      assert.doesNotMatch(r.stderr, /warning/i, `${m.object.kind} ${m.object.metadata.name}: ${r.stderr}`)
    }
  })

  it("accepts a gateway entry's Role and RoleBinding in the gateway's namespace, its proxies' stats included", async () => {
    const dir = (server as RealApiServer).dir
    const text = (await readFile('experiments/ratings-abort.yaml', 'utf8')).replace(
      /^ {2}load:\n/m,
      '  load:\n    entry: {gateway: {service: istio-ingressgateway}, host: bookinfo.example.com}\n',
    )
    await writeFile(join(dir, 'gateway-entry.yaml'), text)
    const schedule = await buildSchedule({
      file: join(dir, 'gateway-entry.yaml'),
      cron: '@daily',
      namespace: 'bookinfo',
      reaper: false,
      version: '0.1.0',
    })
    const rbac = schedule.manifests.filter(m => m.object.metadata.namespace === 'istio-system')
    assert.deepEqual(
      rbac.map(m => m.object.kind),
      ['Role', 'RoleBinding'],
    )
    const granted = grantedPermissions((rbac[0]?.object as {rules?: PolicyRule[]}).rules ?? [])
    for (const p of ['get core/pods/proxy', 'get core/pods/exec', 'create core/pods/exec', 'get core/pods/portforward'])
      assert.ok(granted.includes(p), p)
    assert.equal((await kubectl('create', 'namespace', 'istio-system')).code, 0)
    const file = join(dir, 'gateway-rbac.yaml')
    await writeFile(file, renderManifests(rbac))
    const r = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', file)
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stderr, /warning/i, r.stderr)
  })

  it('and refuses what it should: the check is real', async () => {
    const schedule = await buildSchedule({
      file: 'experiments/ratings-abort.yaml',
      cron: '@daily',
      namespace: 'bookinfo',
      reaper: false,
      version: '0.1.0',
      reportsPvc: 'chaos-reports',
      reportServer: true,
    })
    const deployment = schedule.manifests.find(m => m.object.kind === 'Deployment')
    assert.ok(deployment !== undefined)
    // A privileged report server: PodSecurity "restricted" warns about the template.
    const spec = (
      deployment.object.spec as {template: {spec: {containers: {securityContext: Record<string, unknown>}[]}}}
    ).template.spec
    const hardened = spec.containers[0]?.securityContext
    spec.containers[0] = {
      ...spec.containers[0],
      securityContext: {...hardened, allowPrivilegeEscalation: true, capabilities: {add: ['NET_ADMIN']}},
    }
    const file = join((server as RealApiServer).dir, 'privileged.yaml')
    await writeFile(file, renderManifests([deployment]))
    const r = await kubectl('apply', '--dry-run=server', '-f', file)
    assert.match(r.stderr, /would violate PodSecurity "restricted/)
    // A misspelt field is refused by strict validation.
    const claim = schedule.manifests.find(m => m.object.kind === 'PersistentVolumeClaim')
    assert.ok(claim !== undefined)
    await writeFile(
      file,
      renderManifests([
        {...claim, object: {...claim.object, spec: {...(claim.object.spec as object), acessModes: ['ReadWriteOnce']}}},
      ]),
    )
    const strict = await kubectl('apply', '--dry-run=server', '--validate=strict', '-f', file)
    assert.notEqual(strict.code, 0)
    assert.match(strict.stderr, /unknown field "spec.acessModes"/)
  })
})
