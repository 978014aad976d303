/**
 * `chaos schedule`'s documents through the real kubectl against the sandbox API server, which serves
 * every kind `chaos schedule` prints with Kubernetes' own OpenAPI schemas (packages/sandbox/src/apiserver/builtin.ts):
 * kubectl decodes each document (its YAML 1.1 reader, sigs.k8s.io/yaml) and a served kind must pass
 * `kubectl apply --dry-run=server`; a kind not served would stop at the REST mapping.
 * Offline schema validation is test/schedule/manifests.test.ts.
 */
import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {buildSchedule, renderManifests} from '../../src/schedule/schedule.js'
import {withKubectlFixture} from './sandbox-cli.js'

describe('chaos schedule documents through kubectl against the sandbox', function () {
  this.timeout(120_000)
  const sandbox = withKubectlFixture('schedule')
  const {kubectl} = sandbox

  it('kubectl reads every document; served kinds pass --dry-run=server, the others stop only at the REST mapping', async () => {
    const gameday = await buildSchedule({
      file: 'test/fixtures/schedule/weekly/weekly-gameday.yaml',
      cron: '0 10 * * 1',
      reaper: true,
      version: '0.1.0',
    })
    // A name YAML 1.1 would read as a boolean: kubectl must still see the string "on".
    const on = await buildSchedule({
      file: 'experiments/ratings-delay.yaml',
      cron: '@daily',
      reaper: false,
      name: 'on',
      version: '0.1.0',
    })
    const schedule = {manifests: [...gameday.manifests, ...on.manifests]}
    const served = new Set<string>()
    for (const path of [
      '/api/v1',
      ...((await sandbox.fixture.call('GET', '/apis')).body.groups as {preferredVersion: {groupVersion: string}}[]).map(
        g => `/apis/${g.preferredVersion.groupVersion}`,
      ),
    ]) {
      const list = (await sandbox.fixture.call('GET', path)).body as {groupVersion: string; resources: {kind: string}[]}
      for (const r of list.resources) served.add(`${list.groupVersion} ${r.kind}`)
    }
    const outcomes: string[] = []
    // As on a cluster, objects go into namespaces that exist.
    for (const ns of new Set(schedule.manifests.map(m => m.object.metadata.namespace)))
      if (ns !== undefined && ns !== 'default') await kubectl('create', 'namespace', ns)
    for (const [i, m] of schedule.manifests.entries()) {
      const file = join(sandbox.dir, `${i}.yaml`)
      await writeFile(file, renderManifests([m]))
      const {apiVersion, kind} = m.object
      const isServed = served.has(`${apiVersion} ${kind}`)
      // kubectl's client-side validation reads the server's OpenAPI, which the sandbox has only for what it serves.
      const r = await kubectl('apply', '--dry-run=server', ...(isServed ? [] : ['--validate=false']), '-f', file)
      if (isServed) {
        assert.equal(r.code, 0, `${kind} ${m.object.metadata.name}: ${r.stderr}`)
        outcomes.push(`${kind}: accepted by --dry-run=server`)
      } else {
        assert.notEqual(r.code, 0)
        const {name, namespace} = m.object.metadata
        assert.ok(
          r.stderr.includes(
            `resource mapping not found for name: "${name}" namespace: "${namespace}" from "${file}": no matches for kind "${kind}" in version "${apiVersion}"`,
          ),
          `${kind} ${name}: kubectl decoded it (name, namespace, kind, version) and stopped only at the mapping: ${r.stderr}`,
        )
        outcomes.push(`${kind}: decoded by kubectl, not served by the sandbox`)
      }
    }
    assert.equal(outcomes.length, schedule.manifests.length)
  })
})
