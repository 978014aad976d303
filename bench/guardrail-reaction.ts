/**
 * Guardrail reaction through the real CLI: from the moment a guardrail's condition becomes true to
 * the moment the run's VirtualService is back as it was, with the runner's 1 s check interval.
 *
 * Each round runs `node bin/chaos run <fixture> --sandbox` against one detached sandbox. In the
 * fixtures (test/fixtures/bench/guardrail-*.yaml) nothing the run itself does makes the guardrail
 * true (their fault is on ratings, which matters only as the thing to revert); the bench makes it
 * true at a moment of its choosing in the fault phase, and observes that without the runner:
 *
 * - threshold: the bench writes its own VirtualService that aborts the watched traffic class's
 *   requests to details; condition true = the first failed response to the bench's own requests
 *   with that class's header, sent every ~5 ms through the sandbox proxy (the runner's load, at
 *   100/s, sees its first failure within ~10 ms of that);
 * - envoy: the bench sends one request to reviews; condition true = the moment it was sent (the
 *   chaos-client sidecar's reviews counter, the guardrail's stat, rises with it).
 *
 * "Revert confirmed" is the watch event (the bench's own watch on the sandbox API) after which no
 * VirtualService carries Faultline's label; "breach detected" is the journal's `guardrail-breached`
 * event. The journal's `revert` event (after the runner's read-back) is checked against the watch.
 * The trigger's offset from the fault write is spread evenly over one check interval across rounds,
 * since the reaction depends on where in the interval the condition turns true.
 */
import {spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {parse as parseYaml} from 'yaml'

import {LABEL_MANAGED} from '../src/faults/annotations.js'
import type {RunEvent} from '../src/journal/events.js'
import type {SandboxState} from '@faultline/sandbox/state.js'
import {ensureBuilt, REPO} from '../test/cli.js'
import {type Bench, type BenchOptions, type BenchResult, fmtStats, stats} from './harness.js'
import {type SandboxProcess, startSandboxProcess} from './sandbox-process.js'

const FIXTURES = join(REPO, 'test', 'fixtures', 'bench')
const TARGET_MS = 1500
const CHECK_INTERVAL_MS = 1000
/** The trigger comes this long after the fault write at the earliest (the guardrails are armed by then). */
const FIRST_TRIGGER_MS = 1200
const INCIDENT = 'bench-incident'

/** One way of making a guardrail's condition true. */
interface Variant {
  name: 'threshold' | 'envoy'
  fixture: string
  guardrail: string
  /** Makes the condition true; resolves with the moment it became true (epoch ms). */
  trigger(sb: SandboxProcess): Promise<number>
  /** Undoes what `trigger` left behind. */
  cleanup(sb: SandboxProcess): Promise<void>
}

/** A GET through the sandbox's forward proxy; resolves with the status. */
function viaProxy(proxy: string, url: string, headers: Record<string, string>, agent: http.Agent): Promise<number> {
  const p = new URL(proxy)
  return new Promise((resolve, reject) => {
    const req = http.get(
      {host: p.hostname, port: p.port, path: url, headers: {host: new URL(url).host, ...headers}, agent, timeout: 5000},
      res => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      },
    )
    req.on('timeout', () => req.destroy(new Error(`${url} through ${proxy} timed out`)))
    req.on('error', reject)
  })
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

const VARIANTS: Variant[] = [
  {
    name: 'threshold',
    fixture: 'guardrail-threshold.yaml',
    guardrail: 'watched requests fail',
    async trigger(sb) {
      const agent = new http.Agent({keepAlive: true, maxSockets: 1})
      try {
        await sb.applyVirtualService({
          apiVersion: 'networking.istio.io/v1',
          kind: 'VirtualService',
          metadata: {name: INCIDENT},
          spec: {
            hosts: ['details'],
            http: [
              {
                match: [{headers: {'x-bench-incident': {exact: '1'}}}],
                fault: {abort: {httpStatus: 503, percentage: {value: 100}}},
                route: [{destination: {host: 'details'}}],
              },
              {route: [{destination: {host: 'details'}}]},
            ],
          },
        })
        for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(5)) {
          const status = await viaProxy(sb.proxy, 'http://details:9080/details/0', {'x-bench-incident': '1'}, agent)
          if (status === 503) return Date.now()
        }
        throw new Error('the incident VirtualService on details never made the watched requests fail (5 s)')
      } finally {
        agent.destroy()
      }
    },
    cleanup: sb => sb.deleteVirtualService(INCIDENT),
  },
  {
    name: 'envoy',
    fixture: 'guardrail-envoy.yaml',
    guardrail: 'someone called reviews',
    async trigger(sb) {
      const agent = new http.Agent({keepAlive: false})
      const at = Date.now()
      const status = await viaProxy(sb.proxy, 'http://reviews:9080/reviews/0', {}, agent)
      if (status !== 200) throw new Error(`the trigger request to reviews answered ${status}`)
      return at
    },
    cleanup: () => Promise.resolve(),
  },
]

/** A watch on the namespace's VirtualServices, stamped on arrival; `managed` names the ones Faultline holds. */
class VirtualServiceWatch {
  readonly managed = new Set<string>()
  private readonly waiters: (() => void)[] = []
  private readonly req: http.ClientRequest
  /** When the first Faultline object appeared, and when the last one went (epoch ms). */
  appliedAt: number | undefined
  clearedAt: number | undefined

  constructor(state: SandboxState, ready: () => void, failed: (err: Error) => void) {
    const kubeconfig = parseYaml(readFileSync(state.kubeconfig, 'utf8')) as {users: {user: {token: string}}[]}
    const token = kubeconfig.users[0]?.user.token ?? ''
    const url = new URL(
      `/apis/networking.istio.io/v1/namespaces/${state.namespace}/virtualservices?watch=true&timeoutSeconds=600`,
      state.apiServer,
    )
    this.req = https.get(url, {headers: {authorization: `Bearer ${token}`}, rejectUnauthorized: false}, res => {
      if (res.statusCode !== 200)
        return failed(new Error(`watching VirtualServices at ${url.href} answered ${res.statusCode}`))
      ready()
      let buffered = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        const at = Date.now()
        buffered += chunk
        for (let i = buffered.indexOf('\n'); i >= 0; i = buffered.indexOf('\n')) {
          this.observe(
            JSON.parse(buffered.slice(0, i)) as {
              type: string
              object: {metadata: {name: string; labels?: Record<string, string>}}
            },
            at,
          )
          buffered = buffered.slice(i + 1)
        }
      })
    })
    this.req.on('error', err => failed(err))
  }

  private observe(
    e: {type: string; object: {metadata: {name: string; labels?: Record<string, string>}}},
    at: number,
  ): void {
    const {name, labels} = e.object.metadata
    const ours = e.type !== 'DELETED' && labels?.[LABEL_MANAGED] !== undefined
    if (ours && this.managed.size === 0) this.appliedAt ??= at
    if (ours) this.managed.add(name)
    else if (this.managed.delete(name) && this.managed.size === 0) this.clearedAt = at
    for (const w of this.waiters.splice(0)) w()
  }

  /** Resolves when `done()` holds, after any event; rejects after `ms`. */
  async until(done: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
      await Promise.race([new Promise<void>(resolve => this.waiters.push(resolve)), sleep(100)])
    }
  }

  close(): void {
    this.req.destroy()
  }
}

/** One round's figures (ms). */
interface Round {
  variant: string
  offsetMs: number
  detect: number
  revert: number
  total: number
  /** Journal `revert` event minus the watch's confirmation (the runner's read-back, clocks shared). */
  journalLag: number
}

/** `chaos run` as a child process; its exit code and stdout once it exits (killed after `ms`). */
function chaosRun(
  args: string[],
  ms: number,
): {done: Promise<{code: number | null; stdout: string; stderr: string}>; kill: () => void} {
  const child = spawn(process.execPath, [join(REPO, 'bin', 'chaos'), 'run', ...args], {
    cwd: REPO,
    env: {...process.env, NO_COLOR: '1'},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const timer = setTimeout(() => child.kill('SIGINT'), ms)
  const done = new Promise<{code: number | null; stdout: string; stderr: string}>(resolve =>
    child.on('exit', code => {
      clearTimeout(timer)
      resolve({code, stdout, stderr})
    }),
  )
  return {done, kill: () => child.kill('SIGINT')}
}

async function round(sb: SandboxProcess, variant: Variant, offsetMs: number, reports: string): Promise<Round> {
  let watch: VirtualServiceWatch | undefined
  await new Promise<void>((resolve, reject) => {
    watch = new VirtualServiceWatch(sb.state, resolve, reject)
  })
  const w = watch as VirtualServiceWatch
  const run = chaosRun(
    [join(FIXTURES, variant.fixture), '--sandbox', '--state-dir', sb.stateDir, '--report-dir', reports, '--no-html'],
    90_000,
  )
  try {
    await w.until(() => w.appliedAt !== undefined, 60_000, 'the run to apply its fault')
    await sleep(Math.max(0, (w.appliedAt as number) + offsetMs - Date.now()))
    const conditionAt = await variant.trigger(sb)
    await w.until(
      () => w.clearedAt !== undefined,
      30_000,
      'the run to revert its fault after the guardrail condition turned true',
    )
    const confirmedAt = w.clearedAt as number
    const r = await run.done
    if (r.code !== 3)
      throw new Error(
        `chaos run ${variant.fixture} exited ${r.code}, not 3 (aborted by the guardrail):\n${r.stdout}\n${r.stderr}`,
      )
    const journalFile = /Journal: (.*journal\.json)/.exec(r.stdout)?.[1]
    if (journalFile === undefined) throw new Error(`chaos run printed no journal path:\n${r.stdout}`)
    const events = (JSON.parse(readFileSync(journalFile, 'utf8')) as {events: RunEvent[]}).events
    const breach = events.find(e => e.kind === 'guardrail-breached')
    const reverted = events.filter(e => e.kind === 'revert').at(-1)
    if (breach?.kind !== 'guardrail-breached' || breach.guardrail !== variant.guardrail)
      throw new Error(`the run was not stopped by guardrail "${variant.guardrail}": ${JSON.stringify(breach)}`)
    if (reverted === undefined) throw new Error(`the journal ${journalFile} has no revert event`)
    const breachAt = Date.parse(breach.at)
    if (breachAt < conditionAt)
      throw new Error(
        `the guardrail breached ${conditionAt - breachAt} ms before the bench made its condition true: something else tripped it (${breach.message})`,
      )
    return {
      variant: variant.name,
      offsetMs,
      detect: breachAt - conditionAt,
      revert: confirmedAt - breachAt,
      total: confirmedAt - conditionAt,
      journalLag: Date.parse(reverted.at) - confirmedAt,
    }
  } finally {
    run.kill()
    await run.done
    w.close()
    await variant.cleanup(sb)
  }
}

/** Warms the sandbox's code paths (and makes the reviews counter exist before a guardrail arms on it). */
async function warm(sb: SandboxProcess): Promise<void> {
  const agent = new http.Agent({keepAlive: true, maxSockets: 4})
  for (let i = 0; i < 200; i++) {
    await Promise.all(
      ['details:9080/details/0', 'reviews:9080/reviews/0', 'ratings:9080/ratings/0'].map(path =>
        viaProxy(sb.proxy, `http://${path}`, {}, agent),
      ),
    )
  }
  agent.destroy()
}

const ms = (x: number) => `${x.toFixed(0)} ms`

async function run(opts: BenchOptions): Promise<BenchResult> {
  await ensureBuilt([
    'src/commands/run.ts',
    'src/runner/run.ts',
    'src/runner/fault-phase.ts',
    'src/runner/guardrails.ts',
    'src/load/recorder.ts',
    'src/probes/envoy.ts',
  ])
  const reports = mkdtempSync(join(tmpdir(), 'faultline-bench-guardrail-'))
  const sb = await startSandboxProcess({reaperIntervalMs: 0})
  const rounds: Round[] = []
  try {
    await warm(sb)
    for (let i = 0; i < opts.runs; i++) {
      // Spread over one check interval: where in it the condition turns true decides the wait.
      const offsetMs = FIRST_TRIGGER_MS + Math.round(((i + 0.5) / opts.runs) * CHECK_INTERVAL_MS)
      for (const v of VARIANTS) {
        const r = await round(sb, v, offsetMs, reports)
        opts.log(
          `${v.name} round ${i + 1}: trigger ${ms(offsetMs)} after the write; condition → breach ${ms(r.detect)}, breach → revert confirmed ${ms(r.revert)}, total ${ms(r.total)}`,
        )
        rounds.push(r)
      }
    }
  } finally {
    await sb.stop()
    rmSync(reports, {recursive: true, force: true})
  }
  const of = (name: string) => rounds.filter(r => r.variant === name)
  const worst = Math.max(...rounds.map(r => r.total))
  return {
    method: [
      '`npx tsx bench/run.ts --only guardrail` (compiled CLI: dist/ is rebuilt first when stale).',
      'Per round and guardrail kind: `node bin/chaos run test/fixtures/bench/guardrail-<kind>.yaml --sandbox --no-html` against one detached sandbox (`bench/sandbox-process.ts`, no Prometheus, reaper off), load 100 requests/s.',
      'threshold: `http_req_failed: ["rate>0"]` on the watched class (load to details); the bench writes a VirtualService aborting that class on details and takes the first 503 its own probe requests (same header, every ~5 ms) see as the moment the condition turned true. The run\'s own fault (ratings) never fires, so the runner polls every sidecar for evidence all through the fault phase.',
      "envoy: `increase > 0` of the chaos-client sidecar's requests to reviews (load to ratings, which the run's fault aborts: it fires at once, as in most runs); the bench sends one request to reviews and takes its send time. Like most experiments it has an Envoy probe for the fault phase, read when the phase ends: between the breach and the revert.",
      `The trigger comes ${FIRST_TRIGGER_MS} ms + (i + ½)/rounds × ${CHECK_INTERVAL_MS} ms after the fault write, so the rounds cover one check interval evenly.`,
      "Revert confirmed: the bench's own watch on the sandbox API sees the last Faultline-labelled VirtualService go; breach detected: the journal's `guardrail-breached` event (same clock).",
    ],
    tables: [
      {
        caption: `Median (min–max) over ${opts.runs} round(s) per kind`,
        headers: [
          'guardrail',
          'condition true → breach detected',
          'breach → revert confirmed',
          'total',
          'journal revert event after the watch saw it',
        ],
        rows: VARIANTS.map(v => {
          const rs = of(v.name)
          return [
            v.name,
            fmtStats(stats(rs.map(r => r.detect)), 0, ' ms'),
            fmtStats(stats(rs.map(r => r.revert)), 0, ' ms'),
            fmtStats(stats(rs.map(r => r.total)), 0, ' ms'),
            fmtStats(stats(rs.map(r => r.journalLag)), 0, ' ms'),
          ]
        }),
      },
      {
        caption: 'Every round',
        headers: ['guardrail', 'trigger after the fault write', 'condition → breach', 'breach → revert', 'total'],
        rows: rounds.map(r => [r.variant, ms(r.offsetMs), ms(r.detect), ms(r.revert), ms(r.total)]),
      },
    ],
    targets: [
      {
        name: 'guardrail reaction (condition true → revert confirmed), every round',
        target: `≤ ${TARGET_MS / 1000} s with a ${CHECK_INTERVAL_MS / 1000} s check interval`,
        value: `worst ${ms(worst)}; median ${fmtStats(stats(rounds.map(r => r.total)), 0, ' ms')}`,
        met: worst <= TARGET_MS,
      },
    ],
    notes: [
      'The guardrails are checked every second from the fault write, so the wait for the next check is anywhere from 0 to 1 s: that is the spread of the first column.',
      "threshold: the runner's own watched requests (100/s) fail within ~10 ms of the bench's first failed probe, so the figures may be off by that much either way.",
      'The target is judged on the worst round: a guardrail that is fast on average but sometimes slow is not one to trust.',
      'Before this bench, threshold guardrails read only sealed seconds (sealed up to 1.25 s after a failure) and every check queued behind an evidence poll of every sidecar: threshold rounds took 1.3–1.7 s. Guardrails now read the second in progress, and the checks run beside the polls.',
    ],
  }
}

const bench: Bench = {
  name: 'guardrail',
  title: 'Guardrail reaction',
  what: "From the moment a guardrail's condition becomes true to the revert confirmed (the VirtualService back as before), through the real CLI on the sandbox, for a threshold guardrail on a traffic class and an Envoy-stat guardrail.",
  run,
}
export default bench
