/**
 * The sandbox as Istio really is, seen through the real kubectl and the real CLI, on both behaviour
 * profiles (`chaos sandbox up --istio 1.30|1.22`, packages/sandbox/src/mesh/README.md's profile table):
 * - 1.30 injects istio-proxy as a native sidecar (an init container with restartPolicy: Always) and
 *   names HTTP connection manager and cluster stats with Istio's `;` delimiter; 1.22 neither.
 * - bookinfo forwards what the real apps forward, so an experiment targeting `x-chaos-test` (which no
 *   app forwards) is stopped by the ignition check: exit 4, nothing left behind.
 * - the examples give the outcomes README's "The examples" promises, on both profiles, the PromQL one
 *   on a sandbox of that profile with Prometheus (skipped without a `prometheus` binary, as in
 *   promql-scrape.test.ts); every run reads the sidecars' stats through the API server's pod proxy
 *   (`pods/NAME:15090/proxy/stats/prometheus`, whose names the runner reads back into Envoy's), and
 *   says so in preflight.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {mkdtemp, rm} from 'node:fs/promises'

import {besidesSample, chaos, DEVIATION_PHASES, have, sh, withDetachedSandbox} from './sandbox-cli.js'

const SOURCES = [
  'src/runner/ignition.ts',
  'src/runner/run.ts',
  'packages/sandbox/src/mesh/profile.ts',
  'packages/sandbox/src/bookinfo/productpage.ts',
  'packages/sandbox/src/apiserver/pods.ts',
  'src/cluster/sidecar-stats.ts',
  'src/cluster/prometheus-stats.ts',
  'src/runner/preflight-stats.ts',
]
/** What preflight says when the run reads the sidecars through the pod proxy (src/cluster/sidecar-stats.ts). */
const THROUGH_POD_PROXY =
  /preflight\s+✓ stats: sidecar stats are read through the API server's pod proxy \(GET pods\/NAME:15090\/proxy\/stats\/prometheus\)/
const SHORT = 'baseline=4s,fault=8s,recovery=4s'

/** The examples and the exit code each must give (README, "The examples in experiments/"). */
const EXAMPLES: Array<{file: string; exit: number; setup?: boolean; phases?: string}> = [
  {file: 'experiments/ratings-abort.yaml', exit: 0},
  {file: 'experiments/ratings-delay.yaml', exit: 1, phases: DEVIATION_PHASES},
  {file: 'experiments/reviews-circuit-breaker.yaml', exit: 0, setup: true},
]

for (const istio of ['1.30', '1.22'] as const) {
  describe(`the sandbox as Istio ${istio} (integration, real kubectl and CLI)`, function () {
    this.timeout(300_000)
    const sandbox = withDetachedSandbox(`istio-${istio.replace('.', '')}`, SOURCES, {CHAOS_SANDBOX_ISTIO: istio})
    const {kubectl} = sandbox

    it(`kubectl get pod -o yaml shows istio-proxy ${istio === '1.30' ? 'under initContainers with restartPolicy: Always' : 'under containers'}`, async () => {
      const r = await kubectl('get', 'pod', '-l', 'app=reviews', '-o', 'json')
      assert.equal(r.code, 0, r.stderr)
      const pods = (
        JSON.parse(r.stdout) as {
          items: {spec: {containers: {name: string}[]; initContainers?: {name: string; restartPolicy?: string}[]}}[]
        }
      ).items
      assert.ok(pods.length >= 3, r.stdout)
      for (const pod of pods) {
        const native = (pod.spec.initContainers ?? []).find(c => c.name === 'istio-proxy')
        const classic = pod.spec.containers.find(c => c.name === 'istio-proxy')
        if (istio === '1.30') {
          assert.equal(native?.restartPolicy, 'Always')
          assert.equal(classic, undefined)
        } else {
          assert.ok(classic !== undefined)
          assert.equal(native, undefined)
        }
      }
    })

    it(`kubectl exec … pilot-agent request GET stats names stats ${istio === '1.30' ? 'with' : 'without'} Istio's ";"`, async () => {
      const pods = await kubectl('get', 'pod', '-l', 'app=productpage', '-o', 'name')
      const pod =
        pods.stdout
          .trim()
          .split('\n')[0]
          ?.replace(/^pod\//, '') ?? ''
      const r = await kubectl('exec', pod, '-c', 'istio-proxy', '--', 'pilot-agent', 'request', 'GET', 'stats')
      assert.equal(r.code, 0, r.stderr)
      // Circuit-breaker gauges: in the stats the sandbox's bookinfo pods include (proxy.istio.io/config's proxyStatsMatcher).
      const delimited =
        /^cluster\.outbound\|9080\|\|reviews\.default\.svc\.cluster\.local;\.circuit_breakers\.default\.cx_open: \d+$/m
      if (istio === '1.30') assert.match(r.stdout, delimited)
      else {
        assert.doesNotMatch(r.stdout, /;\./)
        assert.match(
          r.stdout,
          /^cluster\.outbound\|9080\|\|reviews\.default\.svc\.cluster\.local\.circuit_breakers\.default\.cx_open: \d+$/m,
        )
      }
    })

    it('an experiment targeting x-chaos-test (no bookinfo app forwards it) is stopped by the ignition check: exit 4, no VirtualService left', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'faultline-ignition-'))
      const file = join(dir, 'ratings-abort-x-chaos-test.yaml')
      writeFileSync(
        file,
        readFileSync('experiments/ratings-abort.yaml', 'utf8')
          .replaceAll('user-agent: {exact: faultline-chaos-test}', 'x-chaos-test: {exact: "true"}')
          .replaceAll('user-agent: faultline-chaos-test', 'x-chaos-test: "true"'),
      )
      assert.match(readFileSync(file, 'utf8'), /x-chaos-test: \{exact: "true"\}/, 'the fixture targets x-chaos-test')
      const r = await chaos([
        'run',
        file,
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--phases',
        SHORT,
        '--report-dir',
        join(dir, 'reports'),
      ])
      assert.equal(r.code, 4, r.stdout + r.stderr)
      assert.match(r.stdout + r.stderr, /the targeted header does not reach ratings's callers/)
      assert.match(r.stdout + r.stderr, /Real bookinfo forwards only .*user-agent/)
      const vs = await kubectl('get', 'vs', '-o', 'name')
      assert.deepEqual(besidesSample(vs.stdout), [], 'no VirtualService left')
    })

    for (const example of EXAMPLES) {
      it(`${example.file} exits ${example.exit}`, async () => {
        if (example.setup === true)
          assert.equal(
            (await kubectl('apply', '-f', 'test/reference/istio-samples/bookinfo-networking/destination-rule-all.yaml'))
              .code,
            0,
          )
        try {
          const r = await chaos([
            'run',
            example.file,
            '--sandbox',
            '--state-dir',
            sandbox.dir,
            '--phases',
            example.phases ?? SHORT,
            '--report-dir',
            join(sandbox.dir, 'reports'),
          ])
          assert.equal(r.code, example.exit, r.stdout + r.stderr)
          assert.match(r.stdout, THROUGH_POD_PROXY)
          assert.deepEqual(besidesSample((await kubectl('get', 'vs', '-o', 'name')).stdout), [], 'nothing left behind')
        } finally {
          if (example.setup === true)
            await kubectl('delete', '-f', 'test/reference/istio-samples/bookinfo-networking/destination-rule-all.yaml')
        }
      })
    }

    it('experiments/ratings-delay-promql.yaml exits 1 (the 7 s delay breaks the 4 s threshold, as ratings-delay.yaml) and its mesh-view probes hold', async function () {
      if (!(await have('prometheus'))) {
        console.log('      (skipped: prometheus is not on PATH)')
        return this.skip()
      }
      // An ephemeral sandbox of this profile with Prometheus (the suite's shared one runs without it):
      // `chaos sandbox up` takes the profile from CHAOS_SANDBOX_ISTIO, which the run's sandbox inherits.
      const empty = await mkdtemp(join(tmpdir(), 'faultline-promql-profile-'))
      try {
        // baseline 15 s: a 1m rate() needs two scrapes of the baseline's traffic at the sandbox's 5 s interval;
        // fault 30 s: the DI series first appears in the fault phase, and increase() needs it in several scrapes;
        // and the exit 1 needs enough ~6 s pages to be near certain (DEVIATION_PHASES, sandbox-cli.ts).
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
            join(empty, 'reports'),
            '--phases',
            'baseline=15s,fault=30s,recovery=5s',
          ],
          {...process.env, NO_COLOR: '1', CHAOS_SANDBOX_ISTIO: istio},
        )
        assert.equal(r.code, 1, r.stdout + r.stderr)
        assert.match(r.stdout, THROUGH_POD_PROXY)
        assert.match(r.stdout, /productpage answers targeted users within 4s\s+fault\s+missed/)
        assert.match(r.stdout, /productpage 5xx ratio \(mesh view\)\s+baseline\s+held\s+0\b/)
        assert.match(r.stdout, /the delay was injected \(mesh view\)\s+fault\s+held/)
        // The console's table wraps this probe's name after "stays".
        assert.match(r.stdout, /reviews' circuit breaker to ratings stays\s+fault\s+held/)
      } finally {
        await rm(empty, {recursive: true, force: true})
      }
    })
  })
}
