/**
 * `spec.setup` offline, through the real CLI: a trafficPolicy Istio would refuse is exit 2 with
 * file:line:col, field and fix; a DestinationRule the `--existing` manifests show does not exist is
 * exit 2 from `chaos validate` and `chaos plan`, with a did-you-mean; manifests without any
 * DestinationRule leave it to preflight.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {chaos, ensureBuilt} from '../cli.js'

const DRS = 'test/reference/istio-samples/bookinfo-networking/destination-rule-all.yaml'
const VSS = 'test/reference/istio-samples/bookinfo-networking/virtual-service-all-v1.yaml'

describe('spec.setup offline (through the CLI)', function () {
  this.timeout(120_000)
  let dir: string
  const withSetup = (name: string, trafficPolicy: string) => {
    const text = readFileSync('experiments/reviews-circuit-breaker.yaml', 'utf8').replace(
      / {6}- name: reviews\n {8}trafficPolicy:\n {10}connectionPool:\n {12}tcp: \{maxConnections: 5\}\n {12}http: \{http1MaxPendingRequests: 5\}\n/,
      `      - name: ${name}\n        trafficPolicy: ${trafficPolicy}\n`,
    )
    assert.notEqual(text, readFileSync('experiments/reviews-circuit-breaker.yaml', 'utf8'))
    const file = join(dir, `${name}.yaml`)
    writeFileSync(file, text.replace('$schema=../schema', '$schema=schema'))
    return file
  }
  before(async () => {
    await ensureBuilt([
      'src/commands/validate.ts',
      'src/commands/plan.ts',
      'src/faults/setup.ts',
      'src/faults/setup-files.ts',
      'src/experiment/setup-rules.ts',
      'packages/core/src/istio/destination-rule.ts',
    ])
    dir = mkdtempSync(join(tmpdir(), 'faultline-setup-'))
  })

  it("the example validates, and plans against bookinfo's DestinationRules with a note of what it patches", async () => {
    const v = await chaos(['validate', 'experiments/reviews-circuit-breaker.yaml', '--existing', DRS])
    assert.equal(v.code, 0, v.stdout + v.stderr)
    const p = await chaos(['plan', 'experiments/reviews-circuit-breaker.yaml', '--existing', DRS])
    assert.equal(p.code, 0, p.stderr)
    assert.match(
      p.stderr,
      /note: spec\.setup: DestinationRule default\/reviews: trafficPolicy\.connectionPool set to \{"tcp":\{"maxConnections":5\},"http":\{"http1MaxPendingRequests":5\}\}/,
    )
  })

  it('an invalid trafficPolicy: exit 2 with file:line:col, the field and the fix', async () => {
    const file = withSetup(
      'reviews',
      '{connectionPool: {tcp: {maxConnection: 5}, http: {http1MaxPendingRequests: five}}}',
    )
    const r = await chaos(['validate', file])
    assert.equal(r.code, 2, r.stdout)
    assert.match(
      r.stdout,
      /:\d+:\d+: spec\.setup\.destinationRules\[0\]\.trafficPolicy\.connectionPool\.tcp\.maxConnection: field not declared in schema[^\n]*\n\s+hint: did you mean maxConnections\?/,
    )
    assert.match(
      r.stdout,
      /spec\.setup\.destinationRules\[0\]\.trafficPolicy\.connectionPool\.http\.http1MaxPendingRequests: Invalid value: must be of type integer[^\n]*\n\s+hint: write a whole number/,
    )
    const webhook = await chaos(['validate', withSetup('reviews', '{outlierDetection: {maxEjectionPercent: 150}}')])
    assert.equal(webhook.code, 2, webhook.stdout)
    assert.match(webhook.stdout, /outlierDetection\.maxEjectionPercent: percentage 150 is not in range 0\.\.100/)
  })

  it('a DestinationRule the manifests show does not exist: exit 2 from validate and plan, with a did-you-mean; none in them: left to preflight', async () => {
    const file = withSetup('reviws', '{connectionPool: {tcp: {maxConnections: 5}}}')
    const v = await chaos(['validate', file, '--existing', DRS])
    assert.equal(v.code, 2, v.stdout)
    assert.match(
      v.stdout,
      /:\d+:\d+: spec\.setup\.destinationRules\[0\]\.name: no DestinationRule reviws in namespace default: did you mean "reviews"\?/,
    )
    assert.match(v.stdout, /DestinationRules in default: details, productpage, ratings, reviews/)
    const p = await chaos(['plan', file, '--existing', DRS])
    assert.equal(p.code, 2, p.stderr)
    assert.match(p.stderr, /no DestinationRule reviws in namespace default/)
    const unknown = await chaos(['plan', file, '--existing', VSS])
    assert.equal(unknown.code, 0, unknown.stderr)
    assert.match(
      unknown.stderr,
      /note: spec\.setup: the manifests hold no DestinationRule in default, so whether reviws exists is left to preflight/,
    )
  })
})
