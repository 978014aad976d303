import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {grantedPermissions, type PolicyRule} from '../../src/schedule/rbac.js'
import {buildSchedule} from '../../src/schedule/schedule.js'
import {objectProblems} from './kube-validation.js'

const EXPERIMENT = 'experiments/ratings-abort.yaml'

function runRole(manifests: {object: {kind: string; metadata: {name: string}; rules?: PolicyRule[]}}[]): string[] {
  return grantedPermissions(
    manifests.find(m => m.object.kind === 'Role' && m.object.metadata.name === 'ratings-abort')?.object.rules ?? [],
  )
}

describe('chaos schedule of an experiment entering through a port-forward', () => {
  it('grants the run reading the Service and port-forwarding to its pods, and only then', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-schedule-pf-'))
    try {
      const text = (await readFile(EXPERIMENT, 'utf8')).replace(
        /^ {2}load:\n/m,
        '  load:\n    entry: {portForward: {service: productpage, port: 9080}}\n',
      )
      await writeFile(join(dir, 'e.yaml'), text)
      const plain = runRole(
        (await buildSchedule({file: EXPERIMENT, cron: '@daily', reaper: false, version: '0.1.0'})).manifests as never,
      )
      const forwarding = runRole(
        (await buildSchedule({file: join(dir, 'e.yaml'), cron: '@daily', reaper: false, version: '0.1.0'}))
          .manifests as never,
      )
      assert.deepEqual(
        forwarding.filter(p => !plain.includes(p)),
        ['create core/pods/portforward', 'get core/pods/portforward', 'get core/services'],
      )
      assert.deepEqual(
        plain.filter(p => !forwarding.includes(p)),
        [],
      )
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe('chaos schedule of an experiment entering through a gateway Service', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'faultline-schedule-gw-'))
  })
  after(() => rm(dir, {recursive: true, force: true}))

  /** ratings-abort with this entry, scheduled; its Roles and RoleBindings as `namespace/name` → granted permissions, and their comments. */
  async function schedule(entry: string, namespace?: string) {
    const text = (await readFile(EXPERIMENT, 'utf8')).replace(/^ {2}load:\n/m, `  load:\n    entry: ${entry}\n`)
    await writeFile(join(dir, 'e.yaml'), text)
    const {manifests} = await buildSchedule({
      file: join(dir, 'e.yaml'),
      cron: '@daily',
      reaper: false,
      version: '0.1.0',
      ...(namespace === undefined ? {} : {namespace}),
    })
    for (const m of manifests)
      assert.deepEqual(
        objectProblems(m.object),
        [],
        `${m.object.kind} ${m.object.metadata.namespace}/${m.object.metadata.name}`,
      )
    const rbac = manifests.filter(m => m.object.kind === 'Role' || m.object.kind === 'RoleBinding')
    const roles = Object.fromEntries(
      rbac
        .filter(m => m.object.kind === 'Role')
        .map(m => [
          `${m.object.metadata.namespace}/${m.object.metadata.name}`,
          grantedPermissions((m.object as {rules?: PolicyRule[]}).rules ?? []),
        ]),
    )
    return {roles, rbac}
  }

  const plain = async () =>
    runRole(
      (await buildSchedule({file: EXPERIMENT, cron: '@daily', reaper: false, version: '0.1.0'})).manifests as never,
    )
  const GATEWAY_ROLE = [
    'create core/pods/exec',
    'create core/pods/portforward',
    'get core/pods/exec',
    'get core/pods/portforward',
    'get core/pods/proxy',
    'list core/pods',
    'list core/services',
  ]

  it("grants, in the gateway's namespace, reading its Services, port-forwarding to its pods and reading their proxies' stats, bound to the run's ServiceAccount, saying why", async () => {
    const {roles, rbac} = await schedule('{gateway: {service: istio-ingressgateway}, host: bookinfo.example.com}')
    assert.deepEqual(Object.keys(roles).sort(), ['default/ratings-abort', 'istio-system/ratings-abort'])
    assert.deepEqual(roles['default/ratings-abort'], await plain(), "the target namespace's Role is unchanged")
    assert.deepEqual(roles['istio-system/ratings-abort'], GATEWAY_ROLE)
    const binding = rbac.find(m => m.object.kind === 'RoleBinding' && m.object.metadata.namespace === 'istio-system')
    assert.deepEqual((binding?.object as {subjects?: unknown}).subjects, [
      {kind: 'ServiceAccount', name: 'ratings-abort', namespace: 'default'},
    ])
    assert.deepEqual(binding?.comment, [
      "RoleBinding istio-system/ratings-abort: the run's way in, through a gateway, and the fault counters of its proxies",
      'for the gateway entry of ratings-abort (Service istio-system/istio-ingressgateway): list services, to find its load-balancer address;',
      'without one (unknown until the run) chaos port-forwards to a ready pod of it: list pods, get and create pods/portforward;',
      "a fault the gateway applies (on a service its VirtualServices route to directly) is counted by the proxies here, which the ignition check and the fault phase's evidence read:",
      'list pods, get pods/proxy, and get and create pods/exec as the fallback (preflight wants either of those two)',
    ])
  })

  it("follows the entry's namespace; a target namespace that is the gateway's gets it all in one Role; a gateway URL needs nothing", async () => {
    const other = await schedule('{gateway: {service: gw, namespace: ingress, port: 8080}}')
    assert.deepEqual(other.roles['ingress/ratings-abort'], GATEWAY_ROLE)
    const same = await schedule('{gateway: {service: istio-ingressgateway}}', 'istio-system')
    assert.deepEqual(Object.keys(same.roles), ['istio-system/ratings-abort'])
    assert.deepEqual(
      same.roles['istio-system/ratings-abort'],
      [...new Set([...(await plain()), ...GATEWAY_ROLE])].sort(),
    )
    assert.match(same.rbac[0]?.comment.join('\n') ?? '', /\nfor the gateway entry of ratings-abort/)
    const url = await schedule('{url: "http://203.0.113.10", host: bookinfo.example.com}')
    assert.deepEqual(Object.keys(url.roles), ['default/ratings-abort'])
    assert.deepEqual(url.roles['default/ratings-abort'], await plain())
  })
})
