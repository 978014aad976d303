import {strict as assert} from 'node:assert'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {grantedPermissions, type PolicyRule} from '../../src/schedule/rbac.js'
import {buildSchedule} from '../../src/schedule/schedule.js'

const EXPERIMENT = 'experiments/ratings-abort.yaml'

function roles(
  manifests: {object: {kind: string; metadata: {name: string}; rules?: PolicyRule[]}}[],
): Record<string, string[]> {
  return Object.fromEntries(
    manifests
      .filter(m => m.object.kind === 'Role')
      .map(m => [m.object.metadata.name, grantedPermissions(m.object.rules ?? [])]),
  )
}

describe('chaos schedule --driver k6-operator', () => {
  it("adds the TestRun and ConfigMap rights to the run's Role (and the reaper's), passes --driver, and changes nothing else", async () => {
    const plain = await buildSchedule({file: EXPERIMENT, cron: '@daily', reaper: true, version: '0.1.0'})
    const k6 = await buildSchedule({
      file: EXPERIMENT,
      cron: '@daily',
      reaper: true,
      version: '0.1.0',
      driver: 'k6-operator',
    })
    assert.equal(k6.manifests.length, plain.manifests.length)
    const before = roles(plain.manifests as never)
    const after = roles(k6.manifests as never)
    const added = (name: string) => (after[name] ?? []).filter(p => !(before[name] ?? []).includes(p))
    assert.deepEqual(added('ratings-abort'), [
      'create core/configmaps',
      'create k6.io/testruns',
      'delete core/configmaps',
      'delete k6.io/testruns',
      'get k6.io/testruns',
      'list core/configmaps',
      'list k6.io/testruns',
    ])
    assert.deepEqual(added('ratings-abort-reaper'), [
      'delete core/configmaps',
      'delete k6.io/testruns',
      'list core/configmaps',
      'list k6.io/testruns',
    ])
    for (const name of Object.keys(before))
      assert.deepEqual(
        (before[name] ?? []).filter(p => !(after[name] ?? []).includes(p)),
        [],
        `${name} keeps every right it had`,
      )
    // Every other object is the same, but for the run's --driver flag.
    plain.manifests.forEach((m, i) => {
      const other = k6.manifests[i]
      if (m.object.kind === 'Role') return
      const text = JSON.stringify(m.object)
      const textK6 = JSON.stringify(other?.object).replace('"--driver","k6-operator",', '')
      assert.equal(textK6, text, `${m.object.kind} ${(m.object as {metadata: {name: string}}).metadata.name}`)
    })
    assert.ok(
      k6.manifests.some(
        m => m.object.kind === 'CronJob' && JSON.stringify(m.object).includes('"--driver","k6-operator"'),
      ),
    )
  })

  it('an experiment with spec.load.driver: k6-operator gets the same rights without the flag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'faultline-schedule-k6op-'))
    try {
      const {readFile} = await import('node:fs/promises')
      const text = (await readFile(EXPERIMENT, 'utf8')).replace(
        /^ {2}load:\n/m,
        '  load:\n    driver: k6-operator\n    k6Operator: {parallelism: 1}\n',
      )
      await writeFile(join(dir, 'e.yaml'), text)
      const s = await buildSchedule({file: join(dir, 'e.yaml'), cron: '@daily', reaper: false, version: '0.1.0'})
      assert.ok((roles(s.manifests as never)['ratings-abort'] ?? []).includes('create k6.io/testruns'))
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
