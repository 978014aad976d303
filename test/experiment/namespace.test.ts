import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'

import {type Diagnostic, InvalidExperiment} from '@faultline/core/errors.js'
import {parseDocumentText, parseExperiment} from '../../src/experiment/load.js'
import type {Experiment} from '../../src/experiment/model.js'
import {NAMESPACE_PLACEHOLDER, withNamespace} from '../../src/experiment/namespace.js'
import {EXAMPLES} from './helpers.js'

const NS = NAMESPACE_PLACEHOLDER

/** An experiment with the placeholder in every field it is substituted in, and in two it is not. */
const yaml = (extra = '') => `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: ns
  description: runs in ${NS}
spec:
  target: {namespace: bookinfo}
  faults:
    - service: ratings
      match: {headers: {x-chaos-test: {exact: "true"}}}
      delay: {fixedDelay: 7s, percentage: 100}
  phases: {baseline: 5s, fault: 5s, recovery: 5s}
  load:
    url: http://productpage.${NS}.svc.cluster.local:9080/productpage
    traffic:
      - {name: targeted, rate: 5/s, headers: {x-chaos-test: "true", x-note: "$ {not a placeholder"}}
  steadyState:
    - name: stat
      envoy: {pods: {app: reviews}, stat: "cluster.outbound|9080|*|ratings.${NS}.svc.cluster.local.upstream_rq_pending_overflow", expect: increase == 0}
    - name: promql
      prometheus: {query: 'sum(rate(istio_requests_total{destination_service_namespace="${NS}"}[1m]))', expect: "> 0"}
    - name: http
      http: {url: "http://ratings.${NS}:9080/health", expect: {status: 200}}
  guardrails:
    abortWhen:
      - prometheus: {query: 'sum(up{namespace="${NS}"})', expect: "< 1"}
      - envoy: {pods: {app: reviews}, stat: "http.*.fault.aborts_injected", expect: "value > ${'10'}"}
${extra}`

function diagnostics(text: string): Diagnostic[] {
  try {
    parseDocumentText(text, 'x.yaml')
  } catch (err) {
    if (err instanceof InvalidExperiment) return err.diagnostics
    throw err
  }
  return []
}

describe('${namespace}', () => {
  describe("withNamespace substitutes the run's namespace once, in the fields that name things in it", () => {
    const experiment = parseExperiment(yaml(), 'x.yaml')
    const before = structuredClone(experiment)
    const resolved = withNamespace(experiment, 'staging')
    const probes = resolved.spec.steadyState
    const abortWhen = resolved.spec.guardrails?.abortWhen ?? []
    const table: Array<[string, (e: Experiment) => unknown, unknown]> = [
      ['spec.load.url', e => e.spec.load.url, 'http://productpage.staging.svc.cluster.local:9080/productpage'],
      [
        'envoy.stat',
        () => ('envoy' in probes[0]! ? probes[0].envoy.stat : undefined),
        'cluster.outbound|9080|*|ratings.staging.svc.cluster.local.upstream_rq_pending_overflow',
      ],
      [
        'prometheus.query',
        () => ('prometheus' in probes[1]! ? probes[1].prometheus.query : undefined),
        'sum(rate(istio_requests_total{destination_service_namespace="staging"}[1m]))',
      ],
      ['http.url', () => ('http' in probes[2]! ? probes[2].http.url : undefined), 'http://ratings.staging:9080/health'],
      [
        'abortWhen prometheus.query',
        () => ('prometheus' in abortWhen[0]! ? abortWhen[0].prometheus.query : undefined),
        'sum(up{namespace="staging"})',
      ],
      [
        'abortWhen envoy.stat (no placeholder)',
        () => ('envoy' in abortWhen[1]! ? abortWhen[1].envoy.stat : undefined),
        'http.*.fault.aborts_injected',
      ],
      ['metadata (free text) is left alone', e => e.metadata.description, `runs in ${NS}`],
      ['spec.target.namespace is left alone', e => e.spec.target?.namespace, 'bookinfo'],
      ['faults are left alone', e => e.spec.faults, before.spec.faults],
    ]
    for (const [what, get, expected] of table) it(what, () => assert.deepEqual(get(resolved), expected))

    it('does not change its argument, and changes nothing else', () => {
      assert.deepEqual(experiment, before)
      assert.notEqual(resolved, experiment)
      const back = JSON.parse(JSON.stringify(resolved).replaceAll('staging', NS)) as Experiment
      assert.deepEqual(back, before)
    })

    it('replaces every occurrence in a field', () => {
      const twice = {...before, spec: {...before.spec, load: {...before.spec.load, url: `http://a.${NS}/${NS}`}}}
      assert.equal(withNamespace(twice, 'default').spec.load.url, 'http://a.default/default')
    })
  })

  describe('chaos validate accepts ${namespace} where it is substituted and locates every other placeholder', () => {
    it('accepts the placeholder in every substituted field', () => {
      assert.deepEqual(diagnostics(yaml()), [])
    })

    const cases: Array<[string, string, number, RegExp, string]> = [
      [
        'an unknown placeholder in a query',
        yaml().replace(`namespace="${NS}"}[1m]`, 'namespace="${ns}"}[1m]'),
        21,
        /unknown placeholder \$\{ns\}: the only placeholder is \$\{namespace\}/,
        'spec.steadyState[1].prometheus.query',
      ],
      [
        'a Grafana variable in a query',
        yaml().replace(`up{namespace="${NS}"}`, 'up{namespace="${__rate_interval}"}'),
        26,
        /unknown placeholder \$\{__rate_interval\}/,
        'spec.guardrails.abortWhen[0].prometheus.query',
      ],
      [
        'an unknown placeholder in a stat',
        yaml().replace(`ratings.${NS}.svc`, 'ratings.${NAMESPACE}.svc'),
        19,
        /unknown placeholder \$\{NAMESPACE\}/,
        'spec.steadyState[0].envoy.stat',
      ],
      [
        'an unclosed placeholder in a URL',
        yaml().replace(`http://ratings.${NS}:9080`, 'http://ratings.${namespace:9080'),
        23,
        /is not closed/,
        'spec.steadyState[2].http.url',
      ],
      [
        '${namespace} where it is not substituted',
        yaml().replace('- service: ratings', `- service: ratings.${NS}.svc.cluster.local`),
        9,
        /\$\{namespace\} is not substituted in this field/,
        'spec.faults[0].service',
      ],
      [
        'another placeholder where nothing is substituted',
        yaml().replace('x-chaos-test: "true", x-note', 'x-chaos-test: "${user}", x-note'),
        16,
        /unknown placeholder \$\{user\}/,
        'spec.load.traffic[0].headers["x-chaos-test"]',
      ],
    ]
    for (const [what, text, line, message, path] of cases) {
      it(`refuses ${what}, at ${path} (line ${line})`, () => {
        const found = diagnostics(text)
        assert.equal(found.length, 1, JSON.stringify(found))
        assert.equal(found[0]?.path, path)
        assert.equal(found[0]?.line, line)
        assert.match(found[0]?.message ?? '', message)
        assert.ok((found[0]?.hint ?? '').length > 0)
      })
    }

    it("in a GameDay's inline experiment too, at the entry's path", () => {
      const inline = yaml()
        .replace(`namespace="${NS}"}[1m]`, 'namespace="${ns}"}[1m]')
        .split('\n')
        .map(l => `        ${l}`)
        .join('\n')
      const found = diagnostics(
        `apiVersion: faultline.dev/v1alpha1\nkind: GameDay\nmetadata: {name: gd}\nspec:\n  experiments:\n    - experiment:\n${inline}\n`,
      )
      assert.deepEqual(
        found.map(d => [d.path, d.line]),
        [['spec.experiments[0].experiment.spec.steadyState[1].prometheus.query', 27]],
      )
    })
  })

  it('the examples use ${namespace} instead of a hard-coded default in stats and PromQL, and stay valid', () => {
    for (const file of readdirSync(EXAMPLES).filter(f => f.endsWith('.yaml'))) {
      const text = readFileSync(`${EXAMPLES}${file}`, 'utf8')
      const loaded = parseDocumentText(text, file)
      if (loaded.kind !== 'Experiment') continue
      const probes = [...loaded.experiment.spec.steadyState, ...(loaded.experiment.spec.guardrails?.abortWhen ?? [])]
      for (const p of probes) {
        if ('envoy' in p) assert.doesNotMatch(p.envoy.stat, /\.default\./, `${file}: ${p.envoy.stat}`)
        if ('prometheus' in p)
          assert.doesNotMatch(p.prometheus.query, /"default"|\.default\b/, `${file}: ${p.prometheus.query}`)
      }
    }
  })
})
