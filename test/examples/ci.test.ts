/**
 * The CI recipes in examples/ci/ are copied into other people's pipelines: each must be valid
 * YAML of the right shape, upload the reports and publish junit.xml even when the run fails, point
 * at the paths chaos really writes, and use only commands and flags the real CLI accepts.
 */
import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {type Command, Parser} from '@oclif/core'
import {parse} from 'yaml'

import GameDayCommand from '../../src/commands/gameday.js'
import Run from '../../src/commands/run.js'
import {loadDocument} from '../../src/experiment/load.js'
import {runDirectory} from '../../src/journal/journal.js'
import {phaseDurations} from '../../src/runner/timeline.js'
import {REPO} from '../cli.js'

const COMMANDS: Record<string, Command.Class> = {run: Run, gameday: GameDayCommand}

const text = (name: string) => readFileSync(join(REPO, 'examples', 'ci', name), 'utf8')

/** Every `bin/chaos …` command line in a file, commented-out alternatives included. */
function chaosCommands(source: string): string[][] {
  const joined = source.replace(/\n\s*--/g, ' --') // a folded `run: >-` block continues on the next lines
  return [...joined.matchAll(/bin\/chaos ([^\n#]+)/g)].map(m => (m[1] ?? '').trim().split(/\s+/))
}

/** A CI glob (`*` within a path segment, `**` across) as a RegExp. */
function globRegExp(glob: string): RegExp {
  const body = glob
    .split('**')
    .map(part =>
      part
        .split('*')
        .map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*')
  return new RegExp(`^${body}$`)
}

/** Parses a command line with the command's own flags (unknown flags, bad option values and missing args throw), and checks its file. */
async function checkCommand(argv: string[]): Promise<{reportDir: string; file: string}> {
  const [name, ...rest] = argv
  const command = COMMANDS[name ?? '']
  assert.ok(command !== undefined, `chaos ${name} is one of: ${Object.keys(COMMANDS).join(', ')}`)
  const {args, flags} = await Parser.parse(rest, {flags: command.flags, args: command.args, strict: true})
  const file = join(REPO, String(args.file))
  const loaded = await loadDocument(file)
  assert.equal(
    loaded.kind,
    name === 'run' ? 'Experiment' : 'GameDay',
    `${String(args.file)} is what chaos ${name} takes`,
  )
  if (typeof flags.phases === 'string' && loaded.kind === 'Experiment') phaseDurations(loaded.experiment, flags.phases)
  return {reportDir: String(flags['report-dir']), file}
}

/** The junit.xml a run of `file` writes under `reportDir`, relative to the repository. */
async function junitPath(reportDir: string, file: string): Promise<string> {
  const loaded = await loadDocument(file)
  const name = loaded.kind === 'Experiment' ? loaded.experiment.metadata.name : loaded.gameday.metadata.name
  return join(runDirectory(reportDir, name, new Date()), 'junit.xml')
}

interface Step {
  name?: string
  uses?: string
  run?: string
  if?: string
  with?: Record<string, unknown>
}

describe('examples/ci', () => {
  it('the command-line helpers find folded commands and match globs as CI does', () => {
    assert.deepEqual(
      chaosCommands('run: >-\n  bin/chaos run a.yaml\n  --sandbox\n# - run: bin/chaos gameday g.yaml -n x # why\n'),
      [
        ['run', 'a.yaml', '--sandbox'],
        ['gameday', 'g.yaml', '-n', 'x'],
      ],
    )
    assert.ok(globRegExp('reports/*/*/junit.xml').test('reports/ratings-abort/2026-11-26T031515Z/junit.xml'))
    assert.ok(!globRegExp('reports/*/*/junit.xml').test('reports/junit.xml'))
    assert.ok(globRegExp('reports/**/junit.xml').test('reports/a/b/junit.xml'))
  })

  describe('github-actions.yml', () => {
    const source = text('github-actions.yml')
    const workflow = parse(source) as {on: unknown; jobs: Record<string, {'runs-on': string; steps: Step[]}>}
    const steps = Object.values(workflow.jobs).flatMap(j => j.steps)

    it('checks out, sets up Node 20, installs, runs chaos, then uploads the reports and publishes junit even on failure', () => {
      assert.ok(workflow.on !== undefined)
      const uses = (prefix: string) => steps.findIndex(s => s.uses?.startsWith(prefix) === true)
      const chaos = steps.findIndex(s => s.run?.includes('bin/chaos') === true)
      assert.ok(uses('actions/checkout@') === 0)
      assert.equal(steps[uses('actions/setup-node@')]?.with?.['node-version'], 20)
      assert.ok(steps.findIndex(s => s.run?.trim() === 'npm ci') < chaos)
      const upload = steps[uses('actions/upload-artifact@')]
      const junit = steps[uses('mikepenz/action-junit-report@')]
      assert.ok(uses('actions/upload-artifact@') > chaos && uses('mikepenz/action-junit-report@') > chaos)
      assert.equal(upload?.if, 'always()')
      assert.equal(junit?.if, 'always()')
      assert.equal(steps[chaos]?.if, undefined, 'the chaos step fails the job by its exit code')
    })

    it("every chaos command parses with the real CLI's flags, and the artifact and junit paths match what it writes", async () => {
      const commands = chaosCommands(source)
      assert.ok(commands.length >= 2)
      const upload = steps.find(s => s.uses?.startsWith('actions/upload-artifact@') === true)
      const junit = steps.find(s => s.uses?.startsWith('mikepenz/action-junit-report@') === true)
      for (const argv of commands) {
        const {reportDir, file} = await checkCommand(argv)
        assert.equal(String(upload?.with?.path).replace(/\/$/, ''), reportDir)
        if (argv[0] === 'run')
          assert.match(await junitPath(reportDir, file), globRegExp(String(junit?.with?.report_paths)))
      }
    })
  })

  describe('gitlab-ci.yml', () => {
    const source = text('gitlab-ci.yml')
    const pipeline = parse(source) as {
      stages: string[]
      chaos: {
        stage: string
        image: string
        script: string[]
        artifacts: {when: string; paths: string[]; reports: {junit: string}}
      }
    }

    it('keeps the reports as artifacts whatever the outcome, with junit as the test report', () => {
      const job = pipeline.chaos
      assert.ok(pipeline.stages.includes(job.stage))
      assert.match(job.image, /^node:20\b/)
      assert.equal(job.artifacts.when, 'always')
      assert.ok(job.script.indexOf('npm ci') < job.script.findIndex(l => l.startsWith('bin/chaos')))
    })

    it("every chaos command parses with the real CLI's flags, and the artifact and junit paths match what it writes", async () => {
      const commands = chaosCommands(source)
      assert.ok(commands.length >= 2)
      for (const argv of commands) {
        const {reportDir, file} = await checkCommand(argv)
        assert.deepEqual(
          pipeline.chaos.artifacts.paths.map(p => p.replace(/\/$/, '')),
          [reportDir],
        )
        if (argv[0] === 'run')
          assert.match(await junitPath(reportDir, file), globRegExp(pipeline.chaos.artifacts.reports.junit))
      }
    })
  })

  it('a command line with a flag the CLI does not have is refused by the same check', async () => {
    await assert.rejects(
      checkCommand(['run', 'experiments/ratings-abort.yaml', '--fail-on', 'sometimes']),
      /Expected --fail-on=sometimes to be one of: any, deviated, aborted/,
    )
    await assert.rejects(
      checkCommand(['run', 'experiments/ratings-abort.yaml', '--no-such-flag']),
      /Nonexistent flag: --no-such-flag/,
    )
    await assert.rejects(checkCommand(['run', 'experiments/weekly-gameday.yaml']), /is what chaos run takes/)
  })
})
