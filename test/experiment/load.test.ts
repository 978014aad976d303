import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import {loadDocument, loadExperiment, parseExperiment} from '../../src/experiment/load.js'
import {InvalidExperiment} from '@faultline/core/errors.js'
import {diagnosticsOf, FIXTURES} from './helpers.js'

/** One expected diagnostic: exact position and path, and a fragment of the message (and hint). */
interface Expected {
  at: string
  path: string
  message: RegExp
  hint?: RegExp
}

/** Each fixture carries one defect; the table says exactly where and what it is reported as. */
const CASES: Record<string, Expected[]> = {
  'missing-phases.yaml': [
    {at: '5:1', path: 'spec.phases', message: /missing required field "phases"/, hint: /add phases/},
  ],
  'uppercase-header.yaml': [
    {
      at: '10:11',
      path: 'spec.faults[0].match.headers["X-Chaos-Test"]',
      message: /header name X-Chaos-Test must be lowercase/,
      hint: /write x-chaos-test/,
    },
  ],
  'lookahead-regex.yaml': [
    {
      at: '10:33',
      path: 'spec.faults[0].match.headers["x-chaos-test"].regex',
      message:
        /"\(\?=tr\)true": error parsing regexp: invalid or unsupported Perl syntax: `\(\?=`; Istio uses RE2 style regex-based match \(https:\/\/github.com\/google\/re2\/wiki\/Syntax\)/,
      hint: /no look-ahead/,
    },
  ],
  'backreference-regex.yaml': [
    {
      at: '10:33',
      path: 'spec.faults[0].match.headers["x-chaos-test"].regex',
      message: /invalid escape sequence: `\\1`/,
      hint: /no back-references/,
    },
  ],
  'oversized-regex.yaml': [
    {
      at: '10:33',
      path: 'spec.faults[0].match.headers["x-chaos-test"].regex',
      message: /regex is too large, max length allowed is 1024/,
    },
  ],
  'empty-header-prefix.yaml': [
    {
      at: '10:34',
      path: 'spec.faults[0].match.headers["x-chaos-test"].prefix',
      message: /"x-chaos-test": prefix string match should not be empty/,
    },
  ],
  'exact-and-prefix.yaml': [
    {
      at: '10:25',
      path: 'spec.faults[0].match.headers["x-chaos-test"]',
      message: /set exactly one of exact, prefix, regex \(found exact and prefix\)/,
    },
  ],
  'invalid-header-name.yaml': [
    {
      at: '10:11',
      path: 'spec.faults[0].match.headers["x chaos"]',
      message: /header name x chaos is not a valid header name/,
    },
  ],
  'misspelt-field.yaml': [
    {
      at: '11:15',
      path: 'spec.faults[0].delay.fixedDealy',
      message: /unknown field "fixedDealy"/,
      hint: /did you mean "fixedDelay"\?/,
    },
  ],
  'sub-millisecond-delay.yaml': [
    {at: '11:27', path: 'spec.faults[0].delay.fixedDelay', message: /only durations to ms precision are supported/},
  ],
  'microsecond-delay.yaml': [
    {
      at: '11:27',
      path: 'spec.faults[0].delay.fixedDelay',
      message: /"1500us": only durations to ms precision are supported/,
    },
  ],
  'duration-without-unit.yaml': [
    {
      at: '11:27',
      path: 'spec.faults[0].delay.fixedDelay',
      message: /duration "7" has no unit/,
      hint: /write 7s or 7ms/,
    },
  ],
  'missing-percentage.yaml': [
    {at: '11:7', path: 'spec.faults[0].delay.percentage', message: /missing required field "percentage"/},
  ],
  'unquoted-boolean-header-value.yaml': [
    {
      at: '10:33',
      path: 'spec.faults[0].match.headers["x-chaos-test"].exact',
      message: /must be a string \(got the boolean true\)/,
      hint: /quote it: "true"/,
    },
  ],
  'quoted-percentage.yaml': [
    {
      at: '11:43',
      path: 'spec.faults[0].delay.percentage',
      message: /must be a number \(got the string "100"\)/,
      hint: /remove the quotes: 100/,
    },
  ],
  'zero-percentage.yaml': [
    {at: '11:43', path: 'spec.faults[0].delay.percentage', message: /percentage 0 is not in range \[0.0001, 100\]/},
  ],
  'http-status-out-of-range.yaml': [
    {at: '11:27', path: 'spec.faults[0].abort.httpStatus', message: /HTTP status 600 is not in range 200-599/},
  ],
  'grpc-status-number.yaml': [
    {
      at: '11:27',
      path: 'spec.faults[0].abort.grpcStatus',
      message:
        /gRPC status "14" is not supported\. See https:\/\/github.com\/grpc\/grpc\/blob\/master\/doc\/statuscodes.md/,
      hint: /not its number/,
    },
  ],
  'grpc-status-typo.yaml': [
    {
      at: '11:27',
      path: 'spec.faults[0].abort.grpcStatus',
      message: /gRPC status "UNAVAILBLE" is not supported/,
      hint: /did you mean "UNAVAILABLE"\?/,
    },
  ],
  'abort-http-and-grpc-status.yaml': [
    {at: '11:14', path: 'spec.faults[0].abort', message: /set exactly one of httpStatus, grpcStatus/},
  ],
  'fault-without-delay-or-abort.yaml': [
    {at: '7:7', path: 'spec.faults[0]', message: /HTTP fault injection must have an abort and\/or a delay/},
  ],
  'untargeted-fault.yaml': [
    {
      at: '7:7',
      path: 'spec.faults[0]',
      message: /no header match, so it would hit every request to the service, including real users/,
      hint: /allowUntargeted: true/,
    },
  ],
  'percentage-above-blast-radius.yaml': [
    {
      at: '11:43',
      path: 'spec.faults[0].delay.percentage',
      message: /percentage 100 is above spec.blastRadius.maxPercentage \(10\)/,
    },
  ],
  'phase-shorter-than-a-second.yaml': [
    {at: '12:22', path: 'spec.phases.baseline', message: /phase baseline 500ms is shorter than the minimum of 1s/},
  ],
  'max-duration-shorter-than-phases.yaml': [
    {
      at: '28:29',
      path: 'spec.guardrails.maxDuration',
      message: /maxDuration 30s is shorter than the phases \(baseline 10s \+ fault 30s \+ recovery 10s = 50s\)/,
      hint: /bounds the whole run/,
    },
  ],
  'ftp-load-url.yaml': [{at: '14:10', path: 'spec.load.url', message: /is not an http\(s\) URL/}],
  'port-forward-without-port.yaml': [
    {
      at: '16:7',
      path: 'spec.load.entry.portForward.port',
      message: /missing required field "port"/,
      hint: /The Service port, e\.g\. 9080/,
    },
    {
      at: '16:43',
      path: 'spec.load.entry.portForward.prot',
      message: /unknown field "prot"/,
      hint: /allowed here: service, namespace, port/,
    },
  ],
  'uppercase-metadata-name.yaml': [
    {at: '4:9', path: 'metadata.name', message: /"Ratings_Delay" is not a DNS-1123 label/, hint: /ratings-delay/},
  ],
  'duplicate-traffic-class.yaml': [
    {at: '17:16', path: 'spec.load.traffic[1].name', message: /traffic class name "targeted" is used twice/},
  ],
  'unknown-probe-traffic.yaml': [
    {
      at: '20:16',
      path: 'spec.steadyState[0].traffic',
      message: /no traffic class is named "contrl"/,
      hint: /targeted, control/,
    },
  ],
  'traffic-rate-and-vus.yaml': [{at: '17:9', path: 'spec.load.traffic[1]', message: /sets both rate and vus/}],
  'traffic-without-rate.yaml': [{at: '17:9', path: 'spec.load.traffic[1]', message: /sets neither rate nor vus/}],
  // Never "quote it: \"5\"": that is refused too. The hint is a value that is accepted (below).
  'rate-without-unit.yaml': [
    {
      at: '17:31',
      path: 'spec.load.traffic[1].rate',
      message: /^rate 5 has no unit$/,
      hint: /^write 5\/s \(requests per second\)/,
    },
  ],
  'quoted-rate-without-unit.yaml': [
    {
      at: '17:31',
      path: 'spec.load.traffic[1].rate',
      message: /^rate 5 has no unit$/,
      hint: /^write 5\/s \(requests per second\)/,
    },
  ],
  'bad-thresholds.yaml': [
    {
      at: '21:38',
      path: 'spec.steadyState[0].thresholds.http_req_failed[0]',
      message: /http_req_failed is a rate metric and has no p\(99\)/,
    },
    {
      at: '21:73',
      path: 'spec.steadyState[0].thresholds.http_req_duration[0]',
      message: /"p\(99\)<" must end with a number/,
    },
    {
      at: '21:83',
      path: 'spec.steadyState[0].thresholds.http_req_duration[1]',
      message: /http_req_duration is a trend metric and has no rate/,
    },
    {
      at: '21:94',
      path: 'spec.steadyState[0].thresholds.http_req_duraton',
      message: /unknown metric "http_req_duraton"/,
      hint: /did you mean "http_req_duration"\?/,
    },
  ],
  'k6-only-metric-with-builtin-driver.yaml': [
    {
      at: '21:52',
      path: 'spec.steadyState[0].thresholds.http_req_waiting',
      message: /builtin load driver does not record http_req_waiting/,
      hint: /driver: k6/,
    },
  ],
  'bad-envoy-expect.yaml': [{at: '26:17', path: 'spec.steadyState[1].envoy.expect', message: /"increased > 0"/}],
  'prometheus-expect-single-equals.yaml': [
    {at: '25:17', path: 'spec.steadyState[1].prometheus.expect', message: /use == to compare/},
  ],
  // A probe is told apart by its distinguishing key: only the chosen alternative's complaints are shown.
  'prometheus-probe-without-expect.yaml': [
    {
      at: '23:7',
      path: 'spec.steadyState[1].prometheus.expect',
      message: /^missing required field "expect"$/,
      hint: /Comparison for the query result/,
    },
  ],
  'misspelt-probe-kind.yaml': [
    {at: '23:7', path: 'spec.steadyState[1].envoi', message: /unknown field "envoi"/, hint: /did you mean "envoy"\?/},
  ],
  'probe-with-two-kinds.yaml': [
    {
      at: '22:7',
      path: 'spec.steadyState[1]',
      message: /set exactly one of thresholds, prometheus, envoy, http \(found prometheus and envoy\)/,
    },
  ],
  'probe-without-kind.yaml': [
    {at: '22:7', path: 'spec.steadyState[1]', message: /set one of thresholds, prometheus, envoy, http/},
  ],
  'wrong-api-version.yaml': [
    {
      at: '1:13',
      path: 'apiVersion',
      message: /apiVersion "faultline.dev\/v1" is not supported/,
      hint: /set apiVersion: faultline.dev\/v1alpha1/,
    },
  ],
  'unknown-kind.yaml': [
    {
      at: '2:7',
      path: 'kind',
      message: /kind "Experimnt" is neither Experiment nor GameDay/,
      hint: /did you mean "Experiment"\?/,
    },
  ],
  'missing-kind.yaml': [{at: '1:1', path: 'kind', message: /missing required field "kind"/}],
  'multi-document.yaml': [
    {
      at: '28:1',
      path: '',
      message: /file holds 2 YAML documents; document 2 starts here/,
      hint: /one file holds one experiment/,
    },
  ],
  'empty.yaml': [{at: '1:1', path: '', message: /file is empty/}],
  'comments-only.yaml': [{at: '1:1', path: '', message: /file is empty/}],
  'top-level-list.yaml': [{at: '1:1', path: '', message: /this file holds a list/}],
  'top-level-scalar.yaml': [{at: '1:1', path: '', message: /this file holds a single value \("ratings-delay"\)/}],
  'yaml-syntax-error.yaml': [{at: '13:3', path: '', message: /YAML syntax error: Flow map/}],
  'duplicate-key.yaml': [{at: '5:3', path: '', message: /duplicate key "name" \(first set on line 4\)/}],
  'alias-bomb.yaml': [{at: '6:10', path: '', message: /aliases expand too much/}],
  'gameday-missing-file.yaml': [
    {
      at: '8:13',
      path: 'spec.experiments[1].path',
      message: /experiment file no-such-experiment.yaml: cannot read .*no-such-experiment.yaml: no such file/,
    },
  ],
}

describe('loading experiment files: every defect located by file:line:col and field', () => {
  for (const [fixture, expected] of Object.entries(CASES)) {
    it(fixture, async () => {
      const file = join(FIXTURES, fixture)
      const diagnostics = await diagnosticsOf(file)
      assert.equal(diagnostics.length, expected.length, `diagnostics: ${JSON.stringify(diagnostics, null, 1)}`)
      expected.forEach((want, i) => {
        const got = diagnostics[i]!
        assert.equal(got.file, file)
        assert.equal(`${got.line}:${got.col}`, want.at, got.message)
        assert.equal(got.path, want.path)
        assert.match(got.message, want.message)
        if (want.hint !== undefined) assert.match(got.hint ?? '', want.hint)
      })
    })
  }

  // A hint that names a value must name one that is accepted: the value it suggests, put in place
  // of the one reported, leaves no problem at that field (issue 12: `rate: 5` was told to quote it, then refused).
  for (const fixture of [
    'rate-without-unit.yaml',
    'quoted-rate-without-unit.yaml',
    'unquoted-boolean-header-value.yaml',
    'duration-without-unit.yaml',
    'quoted-percentage.yaml',
  ]) {
    it(`${fixture}: the value the hint suggests is accepted`, async () => {
      const file = join(FIXTURES, fixture)
      const [d] = await diagnosticsOf(file)
      const suggested = /^(?:quote it: |write |remove the quotes: )("[^"]*"|\S+)/.exec(d!.hint ?? '')?.[1]
      assert.ok(suggested !== undefined, `no value in the hint ${JSON.stringify(d!.hint)}`)
      const lines = readFileSync(file, 'utf8').split('\n')
      const line = lines[d!.line - 1]!
      const rest = line.slice(d!.col - 1)
      const old = /^("[^"]*"|[^,}\]\s]+)/.exec(rest)![1]!
      lines[d!.line - 1] = line.slice(0, d!.col - 1) + suggested + rest.slice(old.length)
      try {
        parseExperiment(lines.join('\n'), fixture)
      } catch (error) {
        assert.ok(error instanceof InvalidExperiment, String(error))
        assert.deepEqual(
          error.diagnostics.filter(x => x.path === d!.path).map(x => `${x.message} (${x.hint})`),
          [],
          `with ${suggested} in place of ${old}`,
        )
      }
    })
  }

  it('reports every mistake of a file together, in document order', async () => {
    const diagnostics = await diagnosticsOf(join(FIXTURES, 'many-mistakes.yaml'))
    assert.deepEqual(
      diagnostics.map(d => [d.line, d.path]),
      [
        [4, 'metadata.name'],
        [10, 'spec.faults[0].match.headers["X-Chaos-Test"]'],
        [10, 'spec.faults[0].match.headers["X-Chaos-Test"].regex'],
        [11, 'spec.faults[0].delay.fixedDelay'],
        [12, 'spec.phases.baseline'],
        [14, 'spec.load.url'],
        [20, 'spec.steadyState[0].traffic'],
        [26, 'spec.steadyState[1].envoy.expect'],
        [28, 'spec.guardrail'],
      ],
    )
    assert.match(diagnostics.at(-1)!.hint ?? '', /did you mean "guardrails"\?/)
  })

  it('loads a valid experiment into the typed model', async () => {
    const experiment = await loadExperiment(join(FIXTURES, 'valid-minimal.yaml'))
    assert.equal(experiment.metadata.name, 'ratings-delay')
    assert.deepEqual(experiment.spec.faults[0]!.delay, {fixedDelay: '7s', percentage: 100})
    assert.deepEqual(
      experiment.spec.load.traffic.map(t => t.name),
      ['targeted', 'control'],
    )
  })

  it('accepts an untargeted fault only when the blast-radius policy allows it', async () => {
    const experiment = await loadExperiment(join(FIXTURES, 'untargeted-fault-allowed.yaml'))
    assert.equal(experiment.spec.faults[0]!.match, undefined)
  })

  it('refuses a GameDay where one experiment is expected, at its kind', async () => {
    await assert.rejects(loadExperiment(join(FIXTURES, 'gameday.yaml')), (error: InvalidExperiment) => {
      assert.equal(error.diagnostics[0]?.path, 'kind')
      assert.equal(`${error.diagnostics[0]?.line}:${error.diagnostics[0]?.col}`, '2:7')
      return true
    })
  })

  it('parseExperiment is the same check on text, naming the file it is given', () => {
    assert.throws(
      () => parseExperiment('kind: Experiment\n', 'memory.yaml'),
      (error: InvalidExperiment) => {
        assert.deepEqual(
          error.diagnostics.map(d => `${d.file}:${d.line}:${d.col} ${d.path}`),
          ['memory.yaml:1:1 apiVersion'],
        )
        return true
      },
    )
  })

  it('reports a file that cannot be read as a usage error', async () => {
    await assert.rejects(loadDocument(join(FIXTURES, 'no-such-file.yaml')), /cannot read .*no such file/)
    await assert.rejects(loadDocument(FIXTURES), /it is a directory/)
  })
})

describe('loading GameDay files', () => {
  it('resolves experiment paths against the GameDay file and validates inline experiments', async () => {
    const loaded = await loadDocument(join(FIXTURES, 'gameday.yaml'))
    assert.equal(loaded.kind, 'GameDay')
    if (loaded.kind !== 'GameDay') return
    const [first, second, third] = loaded.gameday.spec.experiments
    assert.equal(first!.path, join(FIXTURES, 'valid-minimal.yaml'))
    assert.equal(second!.path, join(FIXTURES, 'untargeted-fault-allowed.yaml'))
    assert.deepEqual(second!.phases, {fault: '10s'})
    assert.equal(third!.experiment?.metadata.name, 'inline-delay')
  })

  it('reports an invalid referenced experiment in its own file', async () => {
    const diagnostics = await diagnosticsOf(join(FIXTURES, 'gameday-referencing-invalid.yaml'))
    assert.equal(diagnostics.length, 1)
    assert.equal(diagnostics[0]!.file, join(FIXTURES, 'uppercase-header.yaml'))
    assert.equal(diagnostics[0]!.line, 10)
  })

  it('checks entries and inline experiments with paths below the entry', async () => {
    const diagnostics = await diagnosticsOf(join(FIXTURES, 'gameday-invalid-inline.yaml'))
    const paths = diagnostics.map(d => `${d.line}:${d.col} ${d.path}`)
    assert.ok(paths.includes('7:7 spec.experiments[0]'), paths.join('\n'))
    assert.ok(paths.includes('8:7 spec.experiments[0].experiment.apiVersion'), paths.join('\n'))
    assert.ok(paths.includes('9:7 spec.experiments[1]'), paths.join('\n'))
    assert.ok(paths.includes('21:35 spec.experiments[2].experiment.spec.faults[0].delay.fixedDelay'), paths.join('\n'))
    assert.match(diagnostics.find(d => d.path.endsWith('fixedDelay'))!.message, /has no unit/)
  })
})
