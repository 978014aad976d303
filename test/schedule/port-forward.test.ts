import {strict as assert} from 'node:assert'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {grantedPermissions, type PolicyRule} from '../../src/schedule/rbac.js'
import {buildSchedule} from '../../src/schedule/schedule.js'

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
