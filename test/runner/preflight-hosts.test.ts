import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {Experiment, Fault} from '../../src/experiment/model.js'
import {planExperiment} from '../../src/faults/experiment-plan.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {EventStream, type RunEvent} from '../../src/journal/events.js'
import type {PreflightCheck} from '../../src/runner/preflight-check.js'
import {hostChecks, hostTarget, preflight, requiredAccess} from '../../src/runner/preflight.js'
import {runExperiment} from '../../src/runner/run.js'
import {FakeCluster} from '../fakes/cluster.js'

const MATCH = {headers: {'x-chaos-test': {exact: 'true'}}}

function fault(service: string): Fault {
  return {service, match: MATCH, abort: {httpStatus: 503, percentage: 100}}
}

function experiment(...services: string[]): Experiment {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {name: 'hosts'},
    spec: {
      faults: services.map(fault),
      phases: {baseline: '1s', fault: '1s', recovery: '1s'},
      load: {
        url: 'http://productpage:9080/productpage',
        traffic: [{name: 'targeted', rate: '1/s', headers: {'x-chaos-test': 'true'}}],
      },
      steadyState: [],
    },
  }
}

function virtualService(name: string, hosts: string[]): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z'},
    spec: {hosts, http: [{route: [{destination: {host: hosts[0] ?? name}}]}]},
  }
}

/** The host findings preflight gives for these faults, with these VirtualServices existing. */
async function hosts(
  cluster: FakeCluster,
  services: string[],
  existing: VirtualService[] = [],
): Promise<PreflightCheck[]> {
  const exp = experiment(...services)
  const plan = planExperiment({experiment: exp, existing, runId: 'r1', now: new Date(), namespace: 'default'})
  return hostChecks(cluster, exp.spec.faults, plan, 'default')
}

/** A FakeCluster that records which namespaces' Services were listed. */
function recordingCluster(): FakeCluster & {listed: string[]} {
  const cluster = Object.assign(new FakeCluster(), {listed: [] as string[]})
  const list = cluster.listServices.bind(cluster)
  cluster.listServices = async ns => {
    cluster.listed.push(ns)
    return list(ns)
  }
  return cluster
}

describe("preflight: the faults' hosts exist", () => {
  it('resolves hosts relative to the run namespace, as Istio resolves a short name', () => {
    const table: [string, ReturnType<typeof hostTarget>][] = [
      ['ratings', {kind: 'service', fqdn: 'ratings.default.svc.cluster.local', name: 'ratings', namespace: 'default'}],
      [
        'ratings.staging',
        {kind: 'service', fqdn: 'ratings.staging.svc.cluster.local', name: 'ratings', namespace: 'staging'},
      ],
      [
        'ratings.staging.svc',
        {kind: 'service', fqdn: 'ratings.staging.svc.cluster.local', name: 'ratings', namespace: 'staging'},
      ],
      [
        'ratings.staging.svc.cluster.local',
        {kind: 'service', fqdn: 'ratings.staging.svc.cluster.local', name: 'ratings', namespace: 'staging'},
      ],
      ['*', {kind: 'wildcard', fqdn: '*'}],
      ['*.example.com', {kind: 'wildcard', fqdn: '*.example.com'}],
      ['api.example.com', {kind: 'external', fqdn: 'api.example.com'}],
      ['192.0.2.10', {kind: 'external', fqdn: '192.0.2.10'}],
      ['web-0.web.default.svc.cluster.local', {kind: 'not-a-service', fqdn: 'web-0.web.default.svc.cluster.local'}],
    ]
    for (const [host, expected] of table) assert.deepEqual(hostTarget(host, 'default'), expected, host)
  })

  it('passes when every fault targets a Service that exists, listing each namespace once', async () => {
    const cluster = recordingCluster()
    cluster.services.push({name: 'ratings', namespace: 'staging', type: 'ClusterIP', ports: [9080]})
    const checks = await hosts(cluster, ['ratings', 'reviews.default.svc.cluster.local', 'ratings.staging'])
    assert.deepEqual(checks, [
      {
        check: 'hosts',
        status: 'ok',
        message: "the faults' Services exist: ratings.default, reviews.default, ratings.staging",
      },
    ])
    assert.deepEqual(cluster.listed, ['default', 'staging'])
  })

  it('fails a missing Service with a did-you-mean from the Services that exist', async () => {
    const checks = await hosts(new FakeCluster(), ['ratngs'])
    assert.equal(checks.length, 1)
    const [c] = checks as [PreflightCheck]
    assert.equal(c.status, 'failed')
    assert.equal(
      c.message,
      'no Service ratngs in namespace default (ratngs → ratngs.default.svc.cluster.local): did you mean "ratings"?',
    )
    assert.match(
      c.hint ?? '',
      /^Fix spec\.faults\[0\]\.service\. Services in default: details, productpage, ratings, reviews\./,
    )
  })

  it('fails a missing Service that nothing resembles, naming what exists, once for all the faults on it', async () => {
    const [c, ...rest] = await hosts(new FakeCluster(), ['ratings', 'inventory', 'inventory.default.svc.cluster.local'])
    assert.equal(c?.status, 'ok')
    assert.equal(rest.length, 1)
    assert.equal(rest[0]?.status, 'failed')
    assert.equal(
      rest[0]?.message,
      'no Service inventory in namespace default (inventory → inventory.default.svc.cluster.local)',
    )
    assert.match(
      rest[0]?.hint ?? '',
      /Fix spec\.faults\[1\]\.service, spec\.faults\[2\]\.service\. Services in default: details, productpage, ratings, reviews\./,
    )
  })

  it('explains a two-label host whose namespace has no Services', async () => {
    const [c] = await hosts(new FakeCluster(), ['ratings.prod'])
    assert.equal(c?.status, 'failed')
    assert.match(c?.message ?? '', /^no Service ratings in namespace prod/)
    assert.match(
      c?.hint ?? '',
      /Namespace prod has no Services \(does it exist\?\)\. A two-label host is read as <service>\.<namespace>/,
    )
  })

  it('warns about a Service without ports: sidecars have no route to fault', async () => {
    const cluster = new FakeCluster()
    cluster.services.push({
      name: 'legacy',
      namespace: 'default',
      type: 'ExternalName',
      externalName: 'legacy.example.com',
      ports: [],
    })
    const checks = await hosts(cluster, ['legacy'])
    assert.deepEqual(
      checks.map(c => [c.status, c.message]),
      [
        [
          'warning',
          'Service legacy in default has no ports: Istio builds sidecar routes per Service port, so the fault may never fire',
        ],
      ],
    )
  })

  it('only warns about a missing Service that an existing VirtualService routes by name', async () => {
    const cluster = new FakeCluster()
    cluster.services.splice(
      cluster.services.findIndex(s => s.name === 'ratings'),
      1,
    )
    const [c] = await hosts(
      cluster,
      ['ratings'],
      [virtualService('ratings-route', ['ratings.default.svc.cluster.local'])],
    )
    assert.equal(c?.status, 'warning')
    assert.match(
      c?.message ?? '',
      /^no Service ratings in namespace default \(ratings → ratings\.default\.svc\.cluster\.local\), but VirtualService ratings-route routes that host/,
    )
  })

  it('still fails when only a wildcard VirtualService covers the missing host', async () => {
    const [c] = await hosts(
      new FakeCluster(),
      ['ratngs'],
      [virtualService('everything', ['*.default.svc.cluster.local'])],
    )
    assert.equal(c?.status, 'failed')
    assert.match(c?.message ?? '', /did you mean "ratings"\?$/)
  })

  it('never refuses hosts that are not Kubernetes Service names, and lists no Services for them', async () => {
    const cluster = recordingCluster()
    // The compiler names a VirtualService it creates after the host, which a wildcard cannot give: route it first.
    const checks = await hosts(
      cluster,
      ['api.example.com', '*.example.org', 'web-0.web.default.svc.cluster.local'],
      [virtualService('example-org', ['*.example.org'])],
    )
    assert.deepEqual(
      checks.map(c => [c.status, c.message]),
      [
        ['warning', 'api.example.com is not a Kubernetes Service name: no Service to check'],
        ['warning', '*.example.org is a wildcard, which names no one Service: no Service to check'],
        [
          'warning',
          'web-0.web.default.svc.cluster.local is under the cluster domain but is not <service>.<namespace>.svc.cluster.local: no Service to check',
        ],
      ],
    )
    assert.deepEqual(cluster.listed, [])
  })

  it('fails, naming the permission, when Services in the run namespace cannot be read (403)', async () => {
    const cluster = new FakeCluster()
    cluster.denied.add('list services')
    const [c] = await hosts(cluster, ['ratings'])
    assert.deepEqual(c, {
      check: 'hosts',
      status: 'failed',
      message: 'cannot check that Service ratings exists: not allowed to list services in default',
      hint: "Grant list on services (core API group) in default: the run checks every fault's host before injecting.",
    })
  })

  it('only warns when Services of another namespace cannot be read: the run writes in its own', async () => {
    const cluster = new FakeCluster()
    cluster.denied.add('list services in staging')
    const checks = await hosts(cluster, ['ratings', 'ratings.staging'])
    assert.deepEqual(
      checks.map(c => c.status),
      ['ok', 'warning'],
    )
    assert.match(checks[1]?.message ?? '', /not allowed to list services in staging/)
  })

  it('is part of preflight, and list services is among the permissions it asks for', async () => {
    assert.ok(
      requiredAccess('default').some(
        a => a.verb === 'list' && a.group === '' && a.resource === 'services' && a.subresource === undefined,
      ),
    )
    const cluster = new FakeCluster()
    cluster.denied.add('list services')
    const exp = experiment('ratngs')
    const plan = planExperiment({experiment: exp, existing: [], runId: 'r1', now: new Date(), namespace: 'default'})
    const checks = await preflight({
      experiment: exp,
      cluster,
      namespace: 'default',
      plan,
      prometheus: undefined,
      loadThroughMesh: true,
      now: new Date(),
    })
    assert.match(checks.find(c => c.check === 'permissions')?.message ?? '', /not allowed in default: list services$/)
    assert.equal(checks.find(c => c.check === 'hosts')?.status, 'failed')
    cluster.denied.clear()
    const allowed = await preflight({
      experiment: exp,
      cluster,
      namespace: 'default',
      plan,
      prometheus: undefined,
      loadThroughMesh: true,
      now: new Date(),
    })
    assert.match(allowed.find(c => c.check === 'hosts')?.message ?? '', /did you mean "ratings"/)
  })

  it('stops a run on a misspelt host before anything is written or any load is sent (exit 4)', async () => {
    const cluster = new FakeCluster()
    const events = new EventStream()
    const seen: RunEvent[] = []
    events.subscribe(e => void seen.push(e))
    const reportDir = mkdtempSync(join(tmpdir(), 'faultline-preflight-'))
    try {
      // Port 9 (discard) on loopback: nothing listens, and nothing must be sent there anyway.
      const exp = {
        ...experiment('ratngs'),
        spec: {
          ...experiment('ratngs').spec,
          load: {
            url: 'http://127.0.0.1:9/',
            traffic: [{name: 'targeted', rate: '1/s', headers: {'x-chaos-test': 'true'}}],
          },
        },
      }
      const result = await runExperiment({
        file: 'x.yaml',
        experiment: exp,
        cluster,
        namespace: 'default',
        driver: new BuiltinDriver(),
        reportDir,
        signal: new AbortController().signal,
        events,
      })
      assert.equal(result.exitCode, 4)
      assert.match(result.reason, /no Service ratngs in namespace default .*did you mean "ratings"\?/)
      assert.deepEqual(cluster.writes, [])
      assert.ok(!seen.some(e => e.kind === 'phase-started'), 'no phase started')
    } finally {
      rmSync(reportDir, {recursive: true, force: true})
    }
  })
})
