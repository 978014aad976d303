/**
 * A real `runExperiment` against the fake cluster and a local HTTP server, returning the journal it
 * wrote. The journal-schema test validates such fresh journals (so a change to the runner's types
 * that the schema does not know about fails), and `test/fixtures/journals/record-revert-failed.ts`
 * records the revert-failed fixture with it: the sandbox cannot be made to refuse a revert.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {Experiment} from '../../src/experiment/model.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {EventStream} from '../../src/journal/events.js'
import type {JournalDocument} from '../../src/journal/journal.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

/** Which way the fake run should end. */
export type FakeRunScenario = 'held' | 'revert-failed'

const RATINGS: VirtualService = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings'}}]}]},
}

function experiment(url: string): Experiment {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {
      name: 'ratings-delay',
      description: 'A 7s delay on ratings for test traffic must not break productpage.',
    },
    spec: {
      faults: [
        {
          service: 'ratings',
          match: {headers: {'x-chaos-test': {exact: 'true'}}},
          delay: {fixedDelay: '7s', percentage: 100},
        },
      ],
      phases: {baseline: '1s', fault: '2s', recovery: '1s'},
      load: {
        url,
        traffic: [
          {name: 'targeted', rate: '10/s', headers: {'x-chaos-test': 'true'}},
          {name: 'control', rate: '10/s'},
        ],
      },
      steadyState: [
        {name: 'control traffic is untouched', traffic: 'control', thresholds: {http_req_failed: ['rate<0.01']}},
        {
          name: 'the delay was injected',
          phases: ['fault'],
          envoy: {
            pods: {app: 'reviews'},
            stat: 'http.outbound_0.0.0.0_9080.fault.delays_injected',
            expect: 'increase > 0',
          },
        },
      ],
    },
  }
}

/**
 * While our fault is on the ratings VirtualService, the reviews sidecar's delay counter rises, and
 * at once for each targeted request (so the ignition check's few requests are counted, as a sidecar would).
 */
function fakeMesh(cluster: FakeCluster): {
  stop: () => void
  request: (headers: Record<string, string | string[] | undefined>) => void
} {
  cluster.pods.push({
    name: 'reviews-v2-x',
    namespace: 'default',
    labels: {app: 'reviews'},
    containers: ['reviews', 'istio-proxy'],
    ready: true,
  })
  let delays = 0
  const live = () => (cluster.objects.get('default/ratings')?.spec.http ?? []).some(r => r.fault !== undefined)
  const stat = () =>
    cluster.stats.set(
      'reviews-v2-x',
      `http.outbound_0.0.0.0_9080.fault.delays_injected: ${delays}\nhttp.outbound_0.0.0.0_9080.fault.aborts_injected: 0\n`,
    )
  stat()
  const tick = setInterval(() => {
    if (live()) delays++
    stat()
  }, 20)
  return {
    stop: () => clearInterval(tick),
    request: headers => {
      if (headers['x-chaos-test'] === 'true' && live()) {
        delays++
        stat()
      }
    },
  }
}

/** Runs the scenario end to end (a few seconds) and returns the journal the runner wrote. */
export async function fakeRunJournal(scenario: FakeRunScenario): Promise<JournalDocument> {
  const cluster = new FakeCluster()
  cluster.seed(RATINGS)
  const mesh = fakeMesh(cluster)
  const server = createServer((req, res) => {
    mesh.request(req.headers)
    res.writeHead(200).end('ok')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/productpage`
  const reportDir = mkdtempSync(join(tmpdir(), 'faultline-report-'))
  const events = new EventStream()
  if (scenario === 'revert-failed') {
    // The API server refuses every write from the end of the fault phase on: the revert cannot land.
    events.subscribe(e => {
      if (e.kind === 'phase-ended' && e.phase === 'fault')
        cluster.failNext.set('replace', {
          count: 1_000_000,
          error: () => new Error('admission webhook "validation.istio.io" denied the request: configuration is locked'),
        })
    })
  }
  try {
    const result = await runExperiment({
      file: 'experiments/ratings-delay.yaml',
      experiment: experiment(url),
      cluster,
      namespace: 'default',
      driver: new BuiltinDriver(),
      reportDir,
      signal: new AbortController().signal,
      events,
      owner: 'ci@runner',
      revertTimeoutMs: 1000,
    })
    return JSON.parse(readFileSync(result.journalFile, 'utf8')) as JournalDocument
  } finally {
    mesh.stop()
    server.close()
    rmSync(reportDir, {recursive: true, force: true})
  }
}
