import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'

import {parseExperiment} from '../../src/experiment/load.js'
import {configMapKey, rewriteGameDayPaths} from '../../src/schedule/bundle.js'
import {experimentBudgetMs, runDeadline} from '../../src/schedule/deadline.js'
import {labelValue, nameProblem} from '../../src/schedule/names.js'

const experiment = parseExperiment(readFileSync('experiments/ratings-delay.yaml', 'utf8'), 'ratings-delay.yaml')

describe('chaos schedule: names, keys and deadlines', () => {
  it("names: DNS-1123, at most 52 characters (45 with the reaper's suffix)", () => {
    assert.equal(nameProblem('a'.repeat(52), false), undefined)
    assert.match(nameProblem('a'.repeat(53), false) ?? '', /53 characters.*at most 52/)
    assert.equal(nameProblem('a'.repeat(45), true), undefined)
    assert.match(nameProblem('a'.repeat(46), true) ?? '', /a{46}-reaper.*at most 45/)
    for (const bad of ['-a', 'a-', 'A', 'a_b', 'a.b', '']) assert.match(nameProblem(bad, false) ?? '', /DNS-1123/, bad)
  })

  it('label values: a semver build suffix is made valid', () => {
    assert.equal(labelValue('0.1.0'), '0.1.0')
    assert.equal(labelValue('1.0.0+build.5'), '1.0.0_build.5')
    assert.equal(labelValue('-x-'), 'x')
  })

  it('ConfigMap keys: the base name, made valid and unique', () => {
    assert.equal(configMapKey('experiments/ratings-delay.yaml', new Set()), 'ratings-delay.yaml')
    assert.equal(configMapKey('a/ratings delay (1).yaml', new Set()), 'ratings-delay--1-.yaml')
    assert.equal(configMapKey('b/x.yaml', new Set(['x.yaml', 'x-2.yaml'])), 'x-3.yaml')
    assert.equal(configMapKey('..', new Set()), 'experiment.yaml')
    for (const key of [configMapKey('dir/ä ö.yml', new Set()), configMapKey('x'.repeat(400) + '.yaml', new Set())]) {
      assert.match(key, /^[-._a-zA-Z0-9]+$/)
      assert.ok(key.length <= 253)
    }
  })

  it('GameDay paths are rewritten in place, comments kept', () => {
    const text =
      'kind: GameDay\nspec:\n  experiments:\n    - path: ../a/x.yaml # first\n    - experiment: {}\n    - path: b/x.yaml\n'
    assert.equal(
      rewriteGameDayPaths(
        text,
        new Map([
          [0, 'x.yaml'],
          [2, 'x-2.yaml'],
        ]),
      ),
      'kind: GameDay\nspec:\n  experiments:\n    - path: x.yaml # first\n    - experiment: {}\n    - path: x-2.yaml\n',
    )
  })

  it('deadlines: the longer of the phases and maxDuration, per experiment, plus cooldowns and margin', () => {
    assert.equal(experimentBudgetMs(experiment), 120_000)
    const noMax = {...experiment, spec: {...experiment.spec, guardrails: {}}}
    assert.equal(experimentBudgetMs(noMax), 50_000)
    const one = runDeadline({experiments: [{experiment: noMax}], cooldownMs: 0})
    assert.equal(one.budgetSeconds, 110)
    assert.equal(one.activeDeadlineSeconds, 132 + 300)
    const three = runDeadline({
      experiments: [{experiment: noMax}, {experiment}, {experiment: noMax}],
      cooldownMs: 30_000,
    })
    assert.equal(three.budgetSeconds, 110 + 180 + 110 + 60)
    assert.match(three.explanation, /3 experiments.*60s of cooldowns = 460s/)
  })
})
