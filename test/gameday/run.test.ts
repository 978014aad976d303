import assert from 'node:assert/strict'

import type {GameDayItem} from '../../src/gameday/entries.js'
import {gameDayOutcomes, type ReportedRun, runGameDay, stopAfter, type GameDayRunInput} from '../../src/gameday/run.js'
import type {Experiment, GameDay} from '../../src/experiment/model.js'
import type {JournalDocument} from '../../src/journal/journal.js'
import {EventStream, type Outcome} from '../../src/journal/events.js'
import type {RunInput} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

const EXIT: Record<Outcome, number> = {held: 0, deviated: 1, aborted: 3, 'could-not-run': 4, 'revert-failed': 5}

function item(name: string, index: number): GameDayItem {
  return {index, name, file: `${name}.yaml`, namespace: 'default', experiment: {metadata: {name}} as Experiment}
}

function gameday(spec: Partial<GameDay['spec']> = {}): GameDay {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'GameDay',
    metadata: {name: 'gd'},
    spec: {experiments: [{path: 'x.yaml'}], ...spec},
  }
}

/**
 * A stand-in for runExperiment: each experiment ends with its scripted outcome, or — scripted as
 * 'wait' — runs until its signal aborts and then ends aborted, as the real one does after reverting.
 */
class FakeRuns {
  readonly started: string[] = []
  readonly signals: AbortSignal[] = []
  private readonly waiting = new Map<string, () => void>()

  constructor(private readonly script: Record<string, Outcome | 'wait'>) {}

  /** Resolves when experiment `name` has started. */
  startedRun(name: string): Promise<void> {
    return new Promise(resolve => this.waiting.set(name, resolve))
  }

  readonly run = async (input: RunInput): Promise<ReportedRun> => {
    const name = input.experiment.metadata.name
    this.started.push(name)
    this.signals.push(input.signal)
    this.waiting.get(name)?.()
    let outcome = this.script[name] ?? 'held'
    if (outcome === 'wait') {
      await new Promise<void>(resolve =>
        input.signal.aborted ? resolve() : input.signal.addEventListener('abort', () => resolve(), {once: true}),
      )
      outcome = 'aborted'
    }
    const reason = outcome === 'aborted' ? 'interrupted (signal); faults were reverted' : `${name} ${outcome}`
    return {
      runId: name,
      outcome,
      exitCode: EXIT[outcome],
      reason,
      runDir: `reports/${name}/t`,
      journalFile: `reports/${name}/t/journal.json`,
      journal: {} as JournalDocument,
      reportFiles: [],
    }
  }
}

function input(
  runs: FakeRuns,
  names: string[],
  spec: Partial<GameDay['spec']>,
  signal = new AbortController().signal,
  lines: string[] = [],
): GameDayRunInput {
  const cluster = new FakeCluster()
  return {
    gameday: gameday(spec),
    items: names.map(item),
    signal,
    run: runs.run,
    say: line => lines.push(line),
    events: () => new EventStream(),
    runInput: (it, s, events) => ({
      file: it.file,
      experiment: it.experiment,
      cluster,
      namespace: it.namespace,
      driver: undefined as never,
      reportDir: 'reports',
      signal: s,
      events,
    }),
  }
}

describe('gameday/run', () => {
  it('runs every experiment in order when nothing stops it, deviations included', async () => {
    const runs = new FakeRuns({b: 'deviated'})
    const result = await runGameDay(input(runs, ['a', 'b', 'c'], {}))
    assert.deepEqual(runs.started, ['a', 'b', 'c'])
    assert.deepEqual(
      result.entries.map(e => [e.item.name, e.status, e.status === 'ran' ? e.result.outcome : '']),
      [
        ['a', 'ran', 'held'],
        ['b', 'ran', 'deviated'],
        ['c', 'ran', 'held'],
      ],
    )
    assert.equal(result.stoppedBecause, undefined)
    assert.deepEqual(gameDayOutcomes(result), ['held', 'deviated', 'held'])
  })

  it('stopOnFirstFailure skips the rest after the first outcome that is not held, and says why', async () => {
    const runs = new FakeRuns({b: 'could-not-run'})
    const result = await runGameDay(input(runs, ['a', 'b', 'c', 'd'], {stopOnFirstFailure: true}))
    assert.deepEqual(runs.started, ['a', 'b'])
    assert.deepEqual(
      result.entries.map(e => e.status),
      ['ran', 'ran', 'skipped', 'skipped'],
    )
    assert.equal(result.stoppedBecause, 'stopOnFirstFailure: b ended could-not-run')
    assert.equal(result.entries[3]?.reason, 'stopOnFirstFailure: b ended could-not-run')
    assert.deepEqual(
      gameDayOutcomes(result),
      ['held', 'could-not-run'],
      'skipped by stopOnFirstFailure: no extra outcome',
    )
  })

  it('a failed revert skips the rest even without stopOnFirstFailure: a fault may still be live', async () => {
    const runs = new FakeRuns({a: 'revert-failed'})
    const result = await runGameDay(input(runs, ['a', 'b'], {}))
    assert.deepEqual(runs.started, ['a'])
    assert.match(result.entries[1]?.reason ?? '', /a's revert failed/)
    assert.equal(stopAfter('deviated', 'x', false), undefined)
    assert.equal(stopAfter('held', 'x', true), undefined)
  })

  it('Ctrl-C aborts the running experiment through its signal and skips the rest', async () => {
    const runs = new FakeRuns({a: 'wait'})
    const ctrlC = new AbortController()
    const started = runs.startedRun('a')
    const done = runGameDay(input(runs, ['a', 'b'], {}, ctrlC.signal))
    await started
    assert.equal(runs.signals[0]?.aborted, false)
    ctrlC.abort()
    const result = await done
    assert.deepEqual(runs.started, ['a'])
    const [first, second] = result.entries
    assert.equal(first?.status === 'ran' && first.result.outcome, 'aborted')
    assert.equal(second?.status, 'skipped')
    assert.equal(second?.reason, 'interrupted (signal)')
  })

  it("the game day's maxDuration stops the running experiment, names itself in its reason and skips the rest", async () => {
    const runs = new FakeRuns({b: 'wait'})
    const result = await runGameDay(input(runs, ['a', 'b', 'c'], {guardrails: {maxDuration: '1s'}}))
    assert.deepEqual(runs.started, ['a', 'b'])
    const b = result.entries[1]
    assert.equal(b?.status === 'ran' && b.result.outcome, 'aborted')
    assert.match(b?.reason ?? '', /^the game day's guardrails\.maxDuration \(1s\) was reached: interrupted/)
    assert.equal(result.entries[2]?.status, 'skipped')
    assert.ok(result.finishedAt.getTime() - result.startedAt.getTime() < 5000)
  })

  it('waits the cooldown between experiments, and a Ctrl-C during it skips the rest without starting another', async () => {
    const runs = new FakeRuns({})
    const lines: string[] = []
    const ctrlC = new AbortController()
    const done = runGameDay(input(runs, ['a', 'b'], {cooldown: '1h'}, ctrlC.signal, lines))
    while (!lines.some(l => l.startsWith('cooldown'))) await new Promise(resolve => setImmediate(resolve))
    ctrlC.abort()
    const result = await done
    assert.deepEqual(runs.started, ['a'])
    assert.ok(lines.includes('cooldown 1h before b (2/2)…'))
    assert.deepEqual(
      result.entries.map(e => e.status),
      ['ran', 'skipped'],
    )
    assert.deepEqual(
      gameDayOutcomes(result),
      ['held', 'aborted'],
      'an interrupted game day is aborted even when what ran held',
    )
  })

  it('a signal that came before the start runs nothing', async () => {
    const runs = new FakeRuns({})
    const result = await runGameDay(input(runs, ['a'], {}, AbortSignal.abort()))
    assert.deepEqual(runs.started, [])
    assert.deepEqual(
      result.entries.map(e => e.status),
      ['skipped'],
    )
    assert.deepEqual(gameDayOutcomes(result), ['aborted'])
  })
})
