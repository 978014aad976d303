/**
 * The runner under a misbehaving control plane: a sandbox whose API server refuses writes (429,
 * 500, 503), answers 409 after concurrent writes, applies writes but loses their answers (504), and
 * lags. With each mode (`FAULTLINE_API_FAULT_MODES` picks some by name, e.g. `latency,conflict`), N
 * short runs (`FAULTLINE_API_FAULT_RUNS`, default 3 per mode) must leave every VirtualService and DestinationRule byte-identical to the snapshot taken before (spec,
 * labels, annotations, read back with kubectl); a run whose revert cannot get through exits 5 and
 * prints the exact `chaos revert` command, which then cleans up.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {connect} from '../../src/cluster/connect.js'
import {ANNOTATION_RUN_ID} from '../../src/faults/annotations.js'
import type {Experiment} from '../../src/experiment/model.js'
import {loadExperiment} from '../../src/experiment/load.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {EventStream, type RunEvent} from '../../src/journal/events.js'
import {runExperiment, type RunResult} from '../../src/runner/run.js'
import {type ApiFaultCounts, NO_API_FAULTS, parseApiFaults} from '@faultline/sandbox/apiserver/faults.js'
import {type RunningSandbox, startSandbox} from '@faultline/sandbox/sandbox.js'
import {chaos, ensureBuilt} from '../cli.js'
import {curlVia, kubectlProblem, REPO, SAMPLES, sh, startDetachedSandbox} from './sandbox-cli.js'

const FIXTURE = join(REPO, 'test/fixtures/api-faults/short-abort.yaml')
const RUNS = Number(process.env.FAULTLINE_API_FAULT_RUNS ?? '3')
const PHASES = 'baseline=1s,fault=2s,recovery=1s'

/** Each mode, and the counts that prove it was exercised (each of `exercised`, and at least one of `someOf`). */
const ALL_MODES: {
  name: string
  spec: string
  exercised: (keyof ApiFaultCounts)[]
  someOf?: (keyof ApiFaultCounts)[]
}[] = [
  {name: 'write-error', spec: 'write-error=30%', exercised: ['writeErrors']},
  {name: 'conflict', spec: 'conflict=30%', exercised: ['conflicts']},
  {name: 'lost-response', spec: 'lost-response=30%', exercised: ['lostResponses']},
  {name: 'read-error', spec: 'read-error=30%', exercised: ['readErrors']},
  {name: 'latency', spec: 'latency=300ms±100ms', exercised: ['delayed']},
  {
    name: 'all combined',
    spec: 'write-error=20%,conflict=10%,lost-response=10%,read-error=5%,latency=100ms±50ms',
    exercised: ['delayed'],
    someOf: ['writeErrors', 'conflicts', 'lostResponses', 'readErrors'],
  },
]

const PICKED = process.env.FAULTLINE_API_FAULT_MODES?.split(',').map(m => m.trim())
const MODES = PICKED === undefined ? ALL_MODES : ALL_MODES.filter(m => PICKED.includes(m.name))
if (MODES.length === 0)
  throw new Error(
    `FAULTLINE_API_FAULT_MODES="${process.env.FAULTLINE_API_FAULT_MODES}" names no mode; known: ${ALL_MODES.map(m => m.name).join(', ')}`,
  )

interface Item {
  kind: string
  metadata: {name: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  spec: unknown
}

describe('the runner under a misbehaving API server (integration, in-process sandbox)', function () {
  this.timeout(120_000 + RUNS * 60_000)
  let dir: string
  let reports: string
  let sandbox: RunningSandbox
  let experiment: Experiment
  let original: string
  let kubectl: (...args: string[]) => ReturnType<typeof sh>

  /** Every VirtualService and DestinationRule: spec, labels and annotations, as the API serves them. */
  const snapshot = async (): Promise<string> => {
    const r = await kubectl('get', 'vs,dr', '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    const items = (JSON.parse(r.stdout) as {items: Item[]}).items
    return JSON.stringify(
      items.map(i => ({
        kind: i.kind,
        name: i.metadata.name,
        labels: i.metadata.labels,
        annotations: i.metadata.annotations,
        spec: i.spec,
      })),
      null,
      1,
    )
  }

  const run = async (
    revertTimeoutMs?: number,
    onEvent?: (e: RunEvent) => void,
  ): Promise<{result: RunResult; events: RunEvent[]}> => {
    const cluster = connect({kubeconfig: sandbox.state.kubeconfig})
    assert.ok(cluster !== undefined)
    const events = new EventStream()
    const seen: RunEvent[] = []
    events.subscribe(e => {
      seen.push(e)
      onEvent?.(e)
    })
    const result = await runExperiment({
      file: FIXTURE,
      experiment,
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      proxy: sandbox.state.proxy,
      reportDir: reports,
      phases: PHASES,
      signal: new AbortController().signal,
      events,
      ...(revertTimeoutMs === undefined ? {} : {revertTimeoutMs}),
    })
    return {result, events: seen}
  }

  before(async function () {
    this.timeout(300_000)
    const problem = await kubectlProblem()
    if (problem !== undefined) {
      console.log(`      (skipped: ${problem})`)
      return this.skip()
    }
    await ensureBuilt([
      'src/commands/run.ts',
      'src/commands/revert.ts',
      'src/runner/run.ts',
      'src/runner/revert.ts',
      'src/cluster/kube.ts',
      'packages/sandbox/src/apiserver/faults.ts',
      'src/commands/sandbox/up.ts',
      'src/commands/sandbox/status.ts',
      'packages/sandbox/src/state.ts',
    ])
    dir = await mkdtemp(join(tmpdir(), 'faultline-api-faults-'))
    reports = join(dir, 'reports')
    sandbox = await startSandbox({stateDir: dir, prometheus: false, reaperIntervalMs: 0})
    kubectl = (...args) => sh('kubectl', ['--kubeconfig', sandbox.state.kubeconfig, ...args])
    for (const f of ['virtual-service-all-v1.yaml', 'destination-rule-all.yaml'])
      assert.equal((await kubectl('apply', '-f', join(SAMPLES, f))).code, 0)
    // details gets no VirtualService, so the fixture's second fault creates one (the delete path of a revert).
    assert.equal((await kubectl('delete', 'vs', 'details')).code, 0)
    // Someone else's labels and annotations on the object we change must come back byte for byte.
    assert.equal((await kubectl('label', 'vs', 'ratings', 'team=ratings', 'tier=backend')).code, 0)
    assert.equal((await kubectl('annotate', 'vs', 'ratings', 'owner.example.com/oncall=ratings-team')).code, 0)
    experiment = await loadExperiment(FIXTURE)
    for (let i = 0; i < 20; i++) await curlVia(sandbox.state.proxy, 'http://productpage:9080/productpage')
    original = await snapshot()
  })

  after(async () => {
    await sandbox?.stop()
    if (dir !== undefined) await rm(dir, {recursive: true, force: true})
  })

  afterEach(() => sandbox?.apiFaults.set(NO_API_FAULTS))

  for (const mode of MODES) {
    it(`${mode.name} (${mode.spec}): ${RUNS} runs leave every VirtualService and DestinationRule as it was`, async () => {
      const outcomes = new Map<string, number>()
      const hits: Partial<Record<keyof ApiFaultCounts, number>> = {}
      for (let i = 0; i < RUNS; i++) {
        sandbox.apiFaults.set(parseApiFaults(`${mode.spec},seed=${i + 1}`))
        const {result, events} = await run()
        // Nobody else edits these objects (a conflict only moves the resourceVersion): a revert that
        // says it kept someone's edits misreads its own earlier attempt that landed.
        const misread = events.filter(e => e.kind === 'revert' && e.action === 'stripped')
        assert.deepEqual(misread, [], `run ${i + 1}`)
        for (const k of [...mode.exercised, ...(mode.someOf ?? [])])
          hits[k] = (hits[k] ?? 0) + sandbox.apiFaults.counts[k]
        sandbox.apiFaults.set(NO_API_FAULTS)
        outcomes.set(`exit ${result.exitCode}`, (outcomes.get(`exit ${result.exitCode}`) ?? 0) + 1)
        assert.notEqual(
          result.exitCode,
          5,
          `run ${i + 1}: a transient fault must not defeat the revert: ${result.reason}`,
        )
        // The apply reads back and tries again through transient errors and rv-only conflicts.
        assert.doesNotMatch(result.reason, /^applying VirtualService/, `run ${i + 1}`)
        assert.equal(
          await snapshot(),
          original,
          `run ${i + 1} (${result.outcome}: ${result.reason}) left something behind`,
        )
      }
      console.log(
        `      ${mode.name}: ${RUNS} runs, ${[...outcomes].map(([k, n]) => `${k} ×${n}`).join(', ')}; faults played: ${JSON.stringify(hits)}; left behind: 0`,
      )
      for (const k of mode.exercised) assert.ok((hits[k] ?? 0) > 0, `${k}: the mode never played, so it tested nothing`)
      if (mode.someOf !== undefined)
        assert.ok(
          mode.someOf.some(k => (hits[k] ?? 0) > 0),
          'no API error was played, so the mode tested nothing',
        )
    })
  }

  it('a run whose revert cannot get through exits 5 and prints the exact chaos revert command, which then restores everything', async () => {
    let applied = 0
    const {result, events} = await run(2000, e => {
      // Once both faults are live, the API server stops taking writes: the revert has no way through.
      if (e.kind === 'fault-applied' && ++applied === experiment.spec.faults.length)
        sandbox.apiFaults.set(parseApiFaults('write-error=100%,seed=9'))
    })
    sandbox.apiFaults.set(NO_API_FAULTS)
    const command = `chaos revert --run ${result.runId} --namespace default`
    assert.equal(result.exitCode, 5, result.reason)
    assert.equal(result.outcome, 'revert-failed')
    assert.ok(result.reason.endsWith(`Run: ${command}`), result.reason)
    const failed = events.filter(e => e.kind === 'revert-failed')
    assert.deepEqual(
      failed.map(e => e.kind === 'revert-failed' && e.command),
      experiment.spec.faults.map(() => command),
    )
    assert.notEqual(await snapshot(), original, 'the faults are still live')
    // The printed command, word for word, through the real CLI (as an operator would, with KUBECONFIG set).
    const revert = await sh(process.execPath, ['bin/chaos', ...command.split(' ').slice(1)], {
      ...process.env,
      NO_COLOR: '1',
      KUBECONFIG: sandbox.state.kubeconfig,
    })
    assert.equal(revert.code, 0, revert.stdout + revert.stderr)
    assert.equal(await snapshot(), original)
  })

  it('through the real CLI: a bad --api-faults exits 2; up --api-faults switches the running sandbox, status shows it, and chaos run under it leaves nothing behind', async () => {
    const bad = await chaos(['sandbox', 'up', '--state-dir', dir, '--api-faults', 'write-error=20%,conflict=ten'])
    assert.equal(bad.code, 2, bad.stdout + bad.stderr)
    assert.match(bad.stderr, /"conflict=ten" is not a percentage between 0% and 100%/)
    assert.match(bad.stderr, /accepted: comma-separated write-error=P%, conflict=P%, lost-response=P%/)
    const spec = 'write-error=20%,conflict=10%,lost-response=10%,latency=50ms±20ms,seed=11'
    const up = await chaos(['sandbox', 'up', '--state-dir', dir, '--api-faults', spec])
    assert.equal(up.code, 0, up.stdout + up.stderr)
    assert.match(up.stdout, /A sandbox is already running/)
    assert.match(up.stdout, /API faults {2}write-error=20%,conflict=10%,lost-response=10%,latency=50ms±20ms,seed=11$/m)
    assert.equal(sandbox.apiFaults.spec.conflict, 10)
    const status = await chaos(['sandbox', 'status', '--state-dir', dir])
    assert.match(
      status.stdout,
      /API faults {2}write-error=20%,conflict=10%,lost-response=10%,latency=50ms±20ms,seed=11$/m,
    )
    const r = await chaos([
      'run',
      FIXTURE,
      '--sandbox',
      '--state-dir',
      dir,
      '--report-dir',
      reports,
      '--phases',
      PHASES,
      '--no-html',
    ])
    const played = sandbox.apiFaults.counts
    const off = await chaos(['sandbox', 'up', '--state-dir', dir, '--api-faults', 'none'])
    assert.equal(off.code, 0, off.stderr)
    assert.match((await chaos(['sandbox', 'status', '--state-dir', dir])).stdout, /API faults {2}none$/m)
    console.log(`      chaos run: exit ${r.code}; faults played: ${JSON.stringify(played)}`)
    assert.ok([0, 1, 4].includes(r.code), r.stdout + r.stderr)
    assert.ok(played.delayed > 0)
    assert.equal(await snapshot(), original)
  })

  it('chaos sandbox up --detach takes the fault mode from $CHAOS_SANDBOX_API_FAULTS and records it in sandbox.json', async () => {
    const detached = await startDetachedSandbox('api-faults-env', {
      CHAOS_SANDBOX_API_FAULTS: 'conflict=5%, latency=10ms±5ms',
    })
    try {
      assert.equal(detached.state.apiFaults, 'conflict=5%,latency=10ms±5ms')
    } finally {
      await detached.stop()
    }
  })

  it('through the real CLI: a run whose revert cannot get through exits 5 and prints the chaos revert command on the console', async function () {
    // The CLI's revert keeps trying for 30 s per object (its fresh deadline) before it gives up.
    this.timeout(180_000)
    const runIds = () =>
      new Set(
        sandbox.store
          .virtualServices()
          .map(vs => vs.metadata.annotations?.[ANNOTATION_RUN_ID])
          .filter(id => id !== undefined),
      )
    const live = () =>
      sandbox.store.virtualServices().filter(vs => vs.metadata.annotations?.[ANNOTATION_RUN_ID] !== undefined).length
    // Once both faults are live (seen in the store, before the API answers the second write), writes stop getting through.
    const unsubscribe = sandbox.store.subscribe(() => {
      if (live() === experiment.spec.faults.length) sandbox.apiFaults.set(parseApiFaults('write-error=100%'))
    })
    let r: Awaited<ReturnType<typeof chaos>>
    try {
      r = await chaos([
        'run',
        FIXTURE,
        '--sandbox',
        '--state-dir',
        dir,
        '--report-dir',
        reports,
        '--phases',
        PHASES,
        '--no-html',
      ])
    } finally {
      unsubscribe()
      sandbox.apiFaults.set(NO_API_FAULTS)
    }
    const [runId] = runIds()
    assert.ok(runId !== undefined, 'the faults are still live')
    const command = `chaos revert --run ${runId} --namespace default`
    assert.equal(r.code, 5, r.stdout + r.stderr)
    assert.ok((r.stdout + r.stderr).includes(command), r.stdout + r.stderr)
    const revert = await sh(process.execPath, ['bin/chaos', ...command.split(' ').slice(1)], {
      ...process.env,
      NO_COLOR: '1',
      KUBECONFIG: sandbox.state.kubeconfig,
    })
    assert.equal(revert.code, 0, revert.stdout + revert.stderr)
    assert.equal(await snapshot(), original)
  })
})
