import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {connect} from '../../src/cluster/connect.js'
import {evaluateEnvoy, snapshotEnvoy} from '../../src/probes/envoy.js'
import type {StatusResult, UpResult} from '@faultline/sandbox/daemon.js'
import type {SandboxState} from '@faultline/sandbox/state.js'
import {pollQuery, PRODUCTPAGE_5XX_RATIO} from '../../packages/sandbox/test/prometheus-query.js'
import {
  builtCliProblem,
  chaos,
  curlVia,
  have,
  listening,
  recordedPorts,
  REPO,
  SAMPLES,
  sandboxSources,
  sh,
} from './sandbox-cli.js'

const PRODUCTPAGE_ABORT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: productpage
spec:
  hosts: [productpage]
  http:
  - match: [{headers: {user-agent: {exact: "faultline-chaos-test"}}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: productpage}}]
  - route: [{destination: {host: productpage}}]
`

describe('chaos sandbox (integration, real CLI)', function () {
  this.timeout(120_000)
  let dir: string
  let state: SandboxState
  let kubectl: (...args: string[]) => ReturnType<typeof sh>

  before(async function () {
    const stale = builtCliProblem(sandboxSources())
    if (stale !== undefined) {
      console.log(`      (skipped: ${stale})`)
      return this.skip()
    }
    for (const tool of ['kubectl', 'curl']) {
      if (!(await have(tool))) {
        console.log(`      (skipped: ${tool} is not on PATH)`)
        return this.skip()
      }
    }
    dir = await mkdtemp(join(tmpdir(), 'faultline-sandbox-'))
    const up = await chaos(['sandbox', 'up', '--detach', '--state-dir', dir, '--json'])
    assert.equal(up.code, 0, up.stderr + up.stdout)
    const result = JSON.parse(up.stdout) as UpResult
    assert.equal(result.outcome, 'started')
    state = result.state
    kubectl = (...args) => sh('kubectl', ['--kubeconfig', state.kubeconfig, ...args])
  })

  after(async () => {
    if (dir === undefined) return
    await chaos(['sandbox', 'down', '--state-dir', dir])
    await rm(dir, {recursive: true, force: true})
  })

  it("is up: status reports it, a second up reports the running one, kubectl lists bookinfo's pods", async () => {
    const status = JSON.parse((await chaos(['sandbox', 'status', '--state-dir', dir, '--json'])).stdout) as StatusResult
    assert.equal(status.running, true)
    assert.equal(status.state?.pid, state.pid)
    const again = await chaos(['sandbox', 'up', '--detach', '--state-dir', dir, '--json'])
    assert.equal(again.code, 0)
    assert.equal((JSON.parse(again.stdout) as UpResult).outcome, 'already-running')
    const pods = await kubectl('get', 'pods', '-o', 'name')
    assert.equal(pods.code, 0, pods.stderr)
    for (const prefix of [
      'productpage-v1-',
      'details-v1-',
      'reviews-v1-',
      'reviews-v2-',
      'reviews-v3-',
      'ratings-v1-',
    ]) {
      assert.match(pods.stdout, new RegExp(`pod/${prefix}`), prefix)
    }
  })

  it('serves productpage through the forward proxy, with details and reviews', async () => {
    for (const host of ['productpage', 'productpage.default', 'productpage.default.svc.cluster.local']) {
      const page = await curlVia(state.proxy, `http://${host}:9080/productpage`)
      assert.equal(page.status, 200, host)
      assert.match(page.body, /Book Details[\s\S]*William Shakespeare/)
      assert.match(page.body, /Book Reviews[\s\S]*Reviewer1/)
    }
    const unknown = await curlVia(state.proxy, 'http://nosuch:9080/')
    assert.equal(unknown.status, 502)
    assert.match(unknown.body, /no service named "nosuch"/)
  })

  it("applies Istio's ratings-test-abort: jason gets 500 fault filter abort, others 200; deleting it restores", async () => {
    for (const file of [
      'virtual-service-all-v1.yaml',
      'destination-rule-all.yaml',
      'virtual-service-ratings-test-abort.yaml',
    ]) {
      const applied = await kubectl('apply', '-f', join(SAMPLES, file))
      assert.equal(applied.code, 0, `${file}: ${applied.stderr}`)
    }
    const jason = await curlVia(state.proxy, 'http://ratings:9080/ratings/0', {'end-user': 'jason'})
    assert.equal(jason.status, 500)
    assert.equal(jason.body, 'fault filter abort')
    const other = await curlVia(state.proxy, 'http://ratings:9080/ratings/0')
    assert.equal(other.status, 200)
    assert.deepEqual(JSON.parse(other.body), {id: 0, ratings: {Reviewer1: 5, Reviewer2: 4}})
    const deleted = await kubectl('delete', 'virtualservice', 'ratings')
    assert.equal(deleted.code, 0, deleted.stderr)
    const restored = await curlVia(state.proxy, 'http://ratings:9080/ratings/0', {'end-user': 'jason'})
    assert.equal(restored.status, 200)
  })

  it('prints Envoy stats from kubectl exec … -c istio-proxy -- pilot-agent request GET stats', async () => {
    const reviews = state.pods.find(p => p.app === 'reviews' && p.version === 'v2')!
    const stats = await kubectl(
      'exec',
      reviews.name,
      '-c',
      'istio-proxy',
      '--',
      'pilot-agent',
      'request',
      'GET',
      'stats',
    )
    assert.equal(stats.code, 0, stats.stderr)
    assert.match(
      stats.stdout,
      /^cluster\.outbound\|9080\|[^|]*\|ratings\.default\.svc\.cluster\.local[.;][\w.]+: \d+$/m,
    )
    assert.match(
      stats.stdout,
      /^http\.outbound_0\.0\.0\.0_9080;\.fault\.delays_injected: \d+$/m,
      'Istio ≥ 1.23 names: `;` after the HTTP connection manager prefix',
    )
  })

  // istio 1.30.3 pkg/bootstrap/config.go: without proxyStatsMatcher a proxy collects neither fault nor outbound cluster stats.
  it("the stats-less pod (no proxy.istio.io/config) exposes only Istio's default stats, and an Envoy probe on it gives the inclusion hint", async () => {
    const bare = state.pods.find(p => p.app === 'stats-less')!
    const stats = await kubectl('exec', bare.name, '-c', 'istio-proxy', '--', 'pilot-agent', 'request', 'GET', 'stats')
    assert.equal(stats.code, 0, stats.stderr)
    assert.doesNotMatch(stats.stdout, /fault|cluster\.outbound/)
    assert.match(stats.stdout, /^server\.live: 1$/m)
    const cluster = connect({kubeconfig: state.kubeconfig})!
    const stat = 'http.outbound_0.0.0.0_9080.fault.delays_injected'
    const verdict = evaluateEnvoy(
      stat,
      'value >= 0',
      undefined,
      await snapshotEnvoy(cluster, 'default', {app: 'stats-less'}),
    )
    assert.equal(verdict.status, 'errored')
    assert.match(verdict.message ?? '', /no sidecar reports .*proxy\.istio\.io\/config/)
    const annotated = evaluateEnvoy(
      stat,
      'value >= 0',
      undefined,
      await snapshotEnvoy(cluster, 'default', {app: 'reviews'}),
    )
    assert.equal(annotated.status, 'held', annotated.message)
  })

  it('shows the classic bug: a 7s ratings delay for jason makes productpage answer after ~6s without reviews', async () => {
    for (const file of ['virtual-service-reviews-test-v2.yaml', 'virtual-service-ratings-test-delay.yaml']) {
      const applied = await kubectl('apply', '-f', join(SAMPLES, file))
      assert.equal(applied.code, 0, `${file}: ${applied.stderr}`)
    }
    // As in Istio's task: sign in as jason. productpage sets end-user from its session only; an
    // end-user header sent to it is dropped (productpage.py getForwardHeaders).
    const login = await sh('curl', [
      '-s',
      '-x',
      state.proxy,
      '-o',
      '/dev/null',
      '-D',
      '-',
      '-H',
      'referer: http://productpage:9080/productpage',
      '--data',
      'username=jason',
      'http://productpage:9080/login',
    ])
    const cookie = /^set-cookie: (session=[^;]+);/im.exec(login.stdout)?.[1]
    assert.ok(cookie !== undefined, login.stdout)
    const header = await curlVia(state.proxy, 'http://productpage:9080/productpage', {'end-user': 'jason'})
    assert.ok(header.seconds < 1, `an end-user header is not a login: took ${header.seconds}s`)
    const jason = await curlVia(state.proxy, 'http://productpage:9080/productpage', {cookie})
    assert.equal(jason.status, 200)
    assert.ok(jason.seconds >= 5.9 && jason.seconds < 7, `took ${jason.seconds}s`)
    assert.match(jason.body, /Sorry, product reviews are currently unavailable for this book\./)
    assert.match(jason.body, /William Shakespeare/)
    const other = await curlVia(state.proxy, 'http://productpage:9080/productpage')
    assert.equal(other.status, 200)
    assert.ok(other.seconds < 1, `took ${other.seconds}s`)
    assert.match(other.body, /Reviewer1/)
  })

  it("answers the README's productpage 5xx ratio from its Prometheus", async function () {
    if (state.prometheus === undefined) {
      console.log(
        '      (skipped: the sandbox runs without Prometheus — no prometheus binary on PATH; .ci/run installs it)',
      )
      return this.skip()
    }
    // The ratio only exists once some 5xx has been seen (an empty numerator is no data, not 0), so
    // abort a tagged part of the traffic at the client's sidecar, as an experiment would.
    const manifest = join(dir, 'productpage-abort.yaml')
    await writeFile(manifest, PRODUCTPAGE_ABORT)
    const applied = await kubectl('apply', '-f', manifest)
    assert.equal(applied.code, 0, applied.stderr)
    const send = async (): Promise<void> => {
      for (let i = 0; i < 6; i++) {
        const tagged = i % 3 === 0
        const res = await curlVia(
          state.proxy,
          'http://productpage:9080/health',
          tagged ? {'user-agent': 'faultline-chaos-test'} : {},
        )
        assert.equal(res.status, tagged ? 503 : 200)
      }
    }
    // A counter's first sample is its baseline: rate() counts only increases seen after it.
    await send()
    await pollQuery(
      state.prometheus,
      'sum(istio_requests_total{destination_service=~"productpage.*",response_code="503"})',
      30_000,
    )
    await send()
    const ratio = await pollQuery(state.prometheus, PRODUCTPAGE_5XX_RATIO, 30_000, v => v > 0)
    assert.ok(ratio > 0 && ratio < 1, `ratio ${ratio}`)
  })

  it('down stops it and leaves nothing listening', async () => {
    const down = await chaos(['sandbox', 'down', '--state-dir', dir])
    assert.equal(down.code, 0, down.stderr)
    assert.match(down.stdout, new RegExp(`Stopped the sandbox \\(pid ${state.pid}\\)`))
    for (const port of recordedPorts(state)) assert.equal(await listening(port), false, `port ${port} still listening`)
    assert.equal(existsSync(join(dir, 'sandbox.json')), false)
    assert.equal(existsSync(join(dir, 'kubeconfig')), false)
    const again = await chaos(['sandbox', 'down', '--state-dir', dir])
    assert.match(again.stdout, /No sandbox is running/)
    const status = JSON.parse((await chaos(['sandbox', 'status', '--state-dir', dir, '--json'])).stdout) as StatusResult
    assert.equal(status.running, false)
  })

  it('runs in the foreground until Ctrl-C, then stops everything', async () => {
    const fg = await mkdtemp(join(tmpdir(), 'faultline-sandbox-fg-'))
    try {
      const child = spawn(process.execPath, ['bin/chaos', 'sandbox', 'up', '--no-prometheus', '--state-dir', fg], {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
      const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)))
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => stdout.includes('Press Ctrl-C to stop.') && resolve())
        void exited.then(code => reject(new Error(`exited ${code} before ready:\n${stdout}`)))
      })
      assert.match(stdout, /Prometheus {2}not running \(disabled \(--no-prometheus\)\)/)
      assert.match(stdout, /export HTTP_PROXY=http:\/\/127\.0\.0\.1:\d+/)
      const running = JSON.parse(await readFile(join(fg, 'sandbox.json'), 'utf8')) as SandboxState
      child.kill('SIGINT')
      assert.equal(await exited, 0)
      assert.match(stdout, /Sandbox stopped\./)
      for (const port of recordedPorts(running))
        assert.equal(await listening(port), false, `port ${port} still listening`)
      assert.equal(existsSync(join(fg, 'sandbox.json')), false)
    } finally {
      await rm(fg, {recursive: true, force: true})
    }
  })
})
