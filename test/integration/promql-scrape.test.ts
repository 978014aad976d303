/**
 * A PromQL experiment against a sandbox whose Prometheus scrapes every 15 s, as a real mesh's
 * usually does (istio 1.30.3 samples/addons/prometheus.yaml), not the sandbox's quicker default:
 * the mesh-view probes must still decide with the lag a real dashboard has.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {builtCliProblem, have, sh} from './sandbox-cli.js'

describe('chaos run with PromQL probes at a 15 s scrape interval (integration)', function () {
  this.timeout(300_000)

  it('chaos sandbox up --scrape-interval 15s (inherited by the ephemeral sandbox): the mesh-view probes decide', async function () {
    if (
      builtCliProblem(['src/commands/run.ts', 'src/commands/sandbox/up.ts', 'packages/sandbox/src/prometheus.ts']) !==
        undefined ||
      !(await have('prometheus'))
    ) {
      console.log('      (skipped: prometheus is not on PATH, or dist/ is stale)')
      return this.skip()
    }
    const empty = await mkdtemp(join(tmpdir(), 'faultline-no-sandbox-'))
    const reports = await mkdtemp(join(tmpdir(), 'faultline-promql15-reports-'))
    try {
      const r = await sh(
        process.execPath,
        [
          'bin/chaos',
          'run',
          'experiments/ratings-delay-promql.yaml',
          '--sandbox',
          '--state-dir',
          empty,
          '--report-dir',
          reports,
        ],
        {...process.env, NO_COLOR: '1', CHAOS_SANDBOX_SCRAPE_INTERVAL: '15s'},
      )
      assert.ok(r.code === 0 || r.code === 1, r.stdout + r.stderr)
      assert.match(r.stdout, /productpage 5xx ratio \(mesh view\)\s+baseline\s+held\s+0\b/)
      assert.match(r.stdout, /the delay was injected \(mesh view\)\s+fault\s+held/)
    } finally {
      await rm(empty, {recursive: true, force: true})
      await rm(reports, {recursive: true, force: true})
    }
  })
})
