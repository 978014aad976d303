/**
 * The Roles `chaos schedule` prints grant exactly what the code calls — derived from the HTTP
 * requests `KubeCluster` (src/cluster/kube.ts) really sends to an API server, not from a list kept
 * by hand: every Cluster method is called against the sandbox's API server through a recorder, and
 * each request is mapped to what RBAC authorizes it as.
 */
import assert from 'node:assert/strict'

import {CustomObjectsApi, KubeConfig} from '@kubernetes/client-node'

import type {ClusterTarget} from '../../src/cluster/cluster.js'
import {KubeCluster} from '../../src/cluster/kube.js'
import {gatewayAddress} from '../../src/cli/entry.js'
import {compileFaults} from '../../src/faults/compile.js'
import type {DestinationRule, VirtualService} from '@faultline/core/istio/types.js'
import {readFaultCounters} from '../../src/runner/evidence.js'
import {revertLeftovers} from '../../src/runner/leftovers.js'
import {requiredAccess} from '../../src/runner/preflight.js'
import {gatewayAccess} from '../../src/runner/preflight-gateway.js'
import {gatewayRules, grantedPermissions, policyRules, reaperRules, runRules} from '../../src/schedule/rbac.js'
import {type Fixture, PODS, startFixture} from '../../packages/sandbox/test/apiserver/fakes.js'
import {attributes, type Recorded, type RecordingProxy, startRecordingProxy} from './recording-proxy.js'

/** What needs no Role, and which built-in ClusterRole grants it to every authenticated user. */
const NO_ROLE_NEEDED: {what: string; grantedBy: string; matches: (r: Recorded) => boolean}[] = [
  {
    what: 'discovery (GET /api, /apis, …)',
    grantedBy: 'system:discovery',
    matches: r => attributes(r).kind === 'non-resource',
  },
  {
    what: 'create selfsubjectaccessreviews',
    grantedBy: 'system:basic-user',
    matches: r => {
      const a = attributes(r)
      return (
        a.kind === 'resource' &&
        a.group === 'authorization.k8s.io' &&
        a.resource === 'selfsubjectaccessreviews' &&
        a.verbs.join() === 'create' &&
        a.namespace === undefined
      )
    },
  },
]

/** `verb group/resource[/subresource]` for each request that needs a Role (the form grantedPermissions uses). */
function permissionsOf(requests: Recorded[], namespace: string): string[] {
  const out = new Set<string>()
  for (const r of requests) {
    if (NO_ROLE_NEEDED.some(n => n.matches(r))) continue
    const a = attributes(r)
    assert.equal(a.kind, 'resource')
    if (a.kind !== 'resource') continue
    assert.equal(
      a.namespace,
      namespace,
      `${r.method} ${r.path} is not namespaced in ${namespace}: a Role cannot grant it`,
    )
    for (const verb of a.verbs)
      out.add(
        `${verb} ${a.group === '' ? 'core' : a.group}/${a.resource}${a.subresource === undefined ? '' : '/' + a.subresource}`,
      )
  }
  return [...out].sort()
}

/** Creates a DestinationRule (the Cluster interface only reads and replaces them: spec.setup never creates one). */
async function createDestinationRule(url: string, body: DestinationRule): Promise<void> {
  const kc = new KubeConfig()
  kc.loadFromString(
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: test-token-0123456789}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\ncurrent-context: x\n`,
  )
  await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: 'networking.istio.io',
    version: 'v1',
    namespace: 'default',
    plural: 'destinationrules',
    body,
  })
}

function clusterAt(url: string, namespace: string): KubeCluster {
  const kc = new KubeConfig()
  kc.loadFromString(
    `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${url}", insecure-skip-tls-verify: true}}]\nusers: [{name: u, user: {token: test-token-0123456789}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: ${namespace}}}]\ncurrent-context: x\n`,
  )
  const target: ClusterTarget = {source: 'kubeconfig', context: 'x', server: url, namespace}
  return new KubeCluster(kc, target)
}

const ratings = (): VirtualService => ({
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'ratings', namespace: 'default'},
  spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings', subset: 'v1'}}]}]},
})

describe('chaos schedule RBAC, derived from what src/cluster/kube.ts sends', function () {
  this.timeout(30_000)
  let fixture: Fixture
  let proxy: RecordingProxy
  let cluster: KubeCluster
  before(async () => {
    fixture = await startFixture()
    proxy = await startRecordingProxy(fixture.server.url, fixture.server.certificateAuthority)
    cluster = clusterAt(proxy.url, 'default')
  })
  after(async () => {
    await proxy?.close()
    await fixture?.close()
  })
  beforeEach(() => {
    proxy.requests.length = 0
  })

  it("the run's Role grants exactly what every Cluster method of KubeCluster requests — no more, no less", async () => {
    const created = await cluster.createVirtualService({
      ...ratings(),
      metadata: {name: 'faultline-probe', namespace: 'default'},
    })
    await createDestinationRule(proxy.url, {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: {name: 'reviews', namespace: 'default'},
      spec: {host: 'reviews', subsets: [{name: 'v1', labels: {version: 'v1'}}]},
    })
    // A fresh client: KubeCluster caches the served Istio version, and its discovery request must be seen.
    const cluster2 = clusterAt(proxy.url, 'default')
    const sidecar = PODS.find(
      p => p.namespace === 'default' && p.containers.includes('istio-proxy'),
    ) as (typeof PODS)[number]
    // One call per method; the table below must name every method, so a new one cannot slip past.
    const calls: Record<string, () => Promise<unknown>> = {
      istioVersion: () => cluster2.istioVersion(),
      listVirtualServices: () => cluster2.listVirtualServices('default', 'app.kubernetes.io/managed-by=faultline'),
      getVirtualService: () => cluster2.getVirtualService('default', 'faultline-probe'),
      createVirtualService: () => cluster2.createVirtualService(ratings()),
      replaceVirtualService: async () =>
        cluster2.replaceVirtualService({
          ...created,
          spec: {...created.spec, hosts: ['ratings.default.svc.cluster2.local']},
        }),
      deleteVirtualService: async () => cluster2.deleteVirtualService('default', 'ratings'),
      listDestinationRules: () => cluster2.listDestinationRules('default'),
      // spec.setup's two (granted only when an experiment has a setup: compared with runRules({setup: true}) below).
      getDestinationRule: () => cluster2.getDestinationRule('default', 'reviews'),
      replaceDestinationRule: async () => {
        const current = await cluster.getDestinationRule('default', 'reviews')
        assert.ok(current !== undefined)
        await cluster2.replaceDestinationRule(current)
      },
      listPods: () => cluster2.listPods('default', 'app=ratings'),
      listServices: () => cluster2.listServices('default'),
      proxyRequest: async () =>
        assert.match(await cluster2.proxyRequest(sidecar.namespace, sidecar.name, 'stats'), /upstream_rq_total/),
      // Sidecar stats through the pod proxy (the fixture's sidecar echoes the admin path it was asked).
      podProxyGet: async () =>
        assert.equal(
          await cluster2.podProxyGet(sidecar.namespace, sidecar.name, 15090, 'stats/prometheus'),
          'pilot-agent request GET stats/prometheus\n',
        ),
      canI: async () => assert.ok((await cluster2.canI(requiredAccess('default'))).every(Boolean)),
      // Optional reads the Role does not grant (a namespace, every namespace's VirtualServices,
      // istio-system's PeerAuthentications): checked below, and their checks stay silent when refused.
      meshFacts: () => Promise.resolve(),
      // --entry gateway's fallback when the gateway Service has no load-balancer address; checked below.
      portForward: () => Promise.resolve(),
      // --entry portForward's (src/cli/port-forward.ts): the Service, then streams to its pods; checked below.
      readService: () => Promise.resolve(),
      openPortForward: () => Promise.resolve(),
    }
    // Methods only: a getter (the kubeconfig the k6-operator driver hands on) sends no request.
    const methods = Object.getOwnPropertyNames(KubeCluster.prototype).filter(
      m =>
        m !== 'constructor' &&
        m !== 'call' &&
        Object.getOwnPropertyDescriptor(KubeCluster.prototype, m)?.get === undefined,
    )
    assert.deepEqual(Object.keys(calls).sort(), methods.sort(), 'every KubeCluster method is exercised')
    // On a client of its own: cluster2's first call must still make the discovery request checked below.
    proxy.requests.length = 0
    await clusterAt(proxy.url, 'default').meshFacts('default')
    const optional = proxy.requests
      .map(r => attributes(r))
      .filter(a => a.kind === 'resource')
      .map(a =>
        a.kind === 'resource'
          ? `${a.verbs.join()} ${a.group === '' ? 'core' : a.group}/${a.resource} ${a.namespace ?? '(all namespaces)'}`
          : '',
      )
    assert.deepEqual(
      [...new Set(optional)].sort(),
      [
        'get core/namespaces (all namespaces)',
        'list networking.istio.io/virtualservices (all namespaces)',
        'list security.istio.io/peerauthentications default',
        'list security.istio.io/peerauthentications istio-system',
      ],
      "meshFacts reads only what preflight's mesh checks need (none of it granted by the Role: those checks stay silent there)",
    )
    // The port-forward asks for pods/portforward (client-node's WebSocket GET, authorized as get, and from
    // Kubernetes 1.35 also as create, like exec): not in the run's Role in its target namespace; a gateway
    // entry gets it in the gateway's namespace (the next test).
    proxy.requests.length = 0
    const forward = await clusterAt(proxy.url, 'default').portForward('default', sidecar.name, 9080)
    await fetch(`http://127.0.0.1:${forward.port}/`)
      .then(r => r.arrayBuffer())
      .catch(() => undefined)
    await forward.close()
    const forwarded = proxy.requests
      .map(r => attributes(r))
      .flatMap(a =>
        a.kind === 'resource' ? [`${a.verbs.join()} ${a.resource}/${a.subresource ?? ''} ${a.namespace ?? ''}`] : [],
      )
    assert.deepEqual([...new Set(forwarded)], ['get pods/portforward default'])
    // --entry portForward reads the Service and opens streams to its pods: neither in the run's Role either.
    proxy.requests.length = 0
    const entry = clusterAt(proxy.url, 'default')
    assert.ok((await entry.readService('default', 'ratings')) !== undefined)
    const stream = await entry.openPortForward('default', sidecar.name, 9080)
    stream.close()
    await stream.ended
    const entered = proxy.requests
      .map(r => attributes(r))
      .flatMap(a =>
        a.kind === 'resource'
          ? [
              `${a.verbs.join()} ${a.resource}${a.subresource === undefined ? '' : '/' + a.subresource} ${a.namespace ?? ''}`,
            ]
          : [],
      )
    assert.deepEqual([...new Set(entered)], ['get services default', 'get pods/portforward default'])
    assert.ok(
      !grantedPermissions(runRules({setup: true})).includes('get core/services'),
      "the run's Role lists Services, it does not get one",
    )
    assert.ok(
      !grantedPermissions(runRules({setup: true})).some(p => p.includes('portforward')),
      "without a portForward entry the run's Role does not grant port-forwarding",
    )
    // With one, it grants what the forward requested (get), and create, which Kubernetes 1.35 also checks for the WebSocket upgrade.
    const forwarding = grantedPermissions(runRules({portForward: true}))
    assert.deepEqual(
      forwarding.filter(p => !grantedPermissions(runRules()).includes(p)),
      ['create core/pods/portforward', 'get core/pods/portforward', 'get core/services'],
    )
    proxy.requests.length = 0
    for (const call of Object.values(calls)) await call()
    const used = permissionsOf(proxy.requests, 'default')
    assert.deepEqual(grantedPermissions(runRules({setup: true})), used)
    // Without a spec.setup the Role does not let the run touch DestinationRules beyond listing them.
    assert.deepEqual(
      grantedPermissions(runRules()),
      used.filter(p => !/^(get|update) networking\.istio\.io\/destinationrules$/.test(p)),
    )
    // And both of the requests that need no Role were really made (else the exemption would be untested).
    for (const n of NO_ROLE_NEEDED)
      assert.ok(proxy.requests.some(n.matches), `${n.what} (granted by ${n.grantedBy}) was requested`)
    // Preflight checks the same list the Role grants: a scheduled run passes its own permission check.
    assert.deepEqual(grantedPermissions(policyRules(requiredAccess('default', {setup: true}))), used)
  })

  it("a gateway entry's Role in the gateway's namespace grants what finding the gateway (with no load-balancer address) and reading its proxies' fault counters request", async () => {
    // The fixture's ratings Service stands in for the gateway's: no load-balancer address, so chaos port-forwards to its pod.
    const gateway = await gatewayAddress(
      {gateway: {service: 'ratings', namespace: 'default', port: 9080}},
      clusterAt(proxy.url, 'default'),
      undefined,
    )
    assert.match(gateway.via, /^a port-forward to default\/ratings-v1-7d9c:9080 /)
    await fetch(`${gateway.origin}/`)
      .then(r => r.arrayBuffer())
      .catch(() => undefined)
    await gateway.close?.()
    const finding = permissionsOf(proxy.requests, 'default')
    assert.deepEqual(finding, ['get core/pods/portforward', 'list core/pods', 'list core/services'])
    // The ignition check and the fault phase's evidence read the fault counters of every proxy in the
    // gateway's namespace (readFaultCounters, for both): through the pod proxy on a fresh connection…
    proxy.requests.length = 0
    const byProxy = await readFaultCounters(clusterAt(proxy.url, 'default'), 'default')
    assert.equal(byProxy.pods, 2, 'both proxies read')
    const counters = permissionsOf(proxy.requests, 'default')
    assert.deepEqual(counters, ['get core/pods/proxy', 'list core/pods'])
    // …and by exec, the fallback, where the pod proxy is refused.
    const refusing = await startRecordingProxy(fixture.server.url, fixture.server.certificateAuthority, r => {
      const a = attributes(r)
      return a.kind === 'resource' && a.subresource === 'proxy'
    })
    let byExec: string[]
    try {
      const read = await readFaultCounters(clusterAt(refusing.url, 'default'), 'default')
      assert.equal(read.pods, 2, 'both proxies read by exec')
      byExec = permissionsOf(refusing.requests, 'default')
    } finally {
      await refusing.close()
    }
    assert.deepEqual(byExec, ['create core/pods/exec', 'get core/pods/exec', 'get core/pods/proxy', 'list core/pods'])
    const used = [...new Set([...finding, ...counters, ...byExec])].sort()
    // And create pods/portforward, which Kubernetes 1.35 also checks for the WebSocket upgrade, as for exec.
    assert.deepEqual(grantedPermissions(gatewayRules()), [...used, 'create core/pods/portforward'].sort())
    // Preflight asks there exactly what the Role grants: a scheduled run passes its own permission check.
    assert.deepEqual(
      grantedPermissions(policyRules(gatewayAccess({service: 'ratings', namespace: 'default'}))),
      grantedPermissions(gatewayRules()),
    )
  })

  it("the reaper's Role grants exactly what chaos revert --expired requests to revert both kinds of leftovers", async () => {
    await createDestinationRule(proxy.url, {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: {name: 'reviews', namespace: 'default'},
      spec: {host: 'reviews'},
    }).catch(() => undefined)
    await cluster.createVirtualService(ratings())
    const past = new Date(Date.now() - 60_000)
    const plan = compileFaults({
      namespace: 'default',
      existing: await cluster.listVirtualServices('default'),
      runId: 'dead-1',
      expiresAt: past,
      faults: ['ratings', 'details'].map(service => ({
        service,
        match: {headers: {'x-chaos-test': {exact: 'true'}}},
        delay: {fixedDelay: '7s', percentage: 100},
      })),
    })
    assert.deepEqual(plan.objects.map(o => o.action).sort(), ['create', 'update'])
    for (const o of plan.objects)
      await (o.action === 'create' ? cluster.createVirtualService(o.desired) : cluster.replaceVirtualService(o.desired))
    proxy.requests.length = 0

    const report = await revertLeftovers(cluster, 'default', {})
    assert.equal(report.reverted.length, 2)
    assert.ok(report.reverted.every(r => r.ok))
    // chaos revert also lists the k6-operator driver's TestRuns and ConfigMaps: a reaper Role without
    // them (no experiment uses k6-operator) is refused those two lists, which revert tolerates.
    const used = permissionsOf(proxy.requests, 'default')
    assert.deepEqual(
      grantedPermissions(reaperRules()),
      used.filter(p => !/^list (k6\.io\/testruns|core\/configmaps)$/.test(p)),
    )
    assert.deepEqual(
      grantedPermissions(reaperRules({k6Operator: true})).filter(p => p.startsWith('list ')),
      used.filter(p => p.startsWith('list ')),
    )
  })

  it('maps requests the way kube-apiserver authorizes them', () => {
    const r = (method: string, path: string, upgrade = false, query = ''): Recorded => ({
      method,
      path,
      upgrade,
      query: new URLSearchParams(query),
    })
    assert.deepEqual(attributes(r('GET', '/apis/networking.istio.io/v1/namespaces/ns/virtualservices')), {
      kind: 'resource',
      verbs: ['list'],
      group: 'networking.istio.io',
      resource: 'virtualservices',
      namespace: 'ns',
    })
    assert.deepEqual(
      attributes(r('GET', '/apis/networking.istio.io/v1/namespaces/ns/virtualservices', false, 'watch=true')),
      {kind: 'resource', verbs: ['watch'], group: 'networking.istio.io', resource: 'virtualservices', namespace: 'ns'},
    )
    assert.deepEqual(attributes(r('PATCH', '/api/v1/namespaces/ns/pods/p')), {
      kind: 'resource',
      verbs: ['patch'],
      group: '',
      resource: 'pods',
      namespace: 'ns',
    })
    assert.deepEqual(attributes(r('DELETE', '/api/v1/namespaces/ns/pods')), {
      kind: 'resource',
      verbs: ['deletecollection'],
      group: '',
      resource: 'pods',
      namespace: 'ns',
    })
    assert.deepEqual(attributes(r('GET', '/api/v1/namespaces/ns/pods/p/exec', true)), {
      kind: 'resource',
      verbs: ['get', 'create'],
      group: '',
      resource: 'pods',
      subresource: 'exec',
      namespace: 'ns',
    })
    assert.deepEqual(attributes(r('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews')), {
      kind: 'resource',
      verbs: ['create'],
      group: 'authorization.k8s.io',
      resource: 'selfsubjectaccessreviews',
    })
    assert.deepEqual(attributes(r('GET', '/apis')), {kind: 'non-resource', path: '/apis'})
    assert.deepEqual(attributes(r('GET', '/apis/networking.istio.io/v1')), {
      kind: 'non-resource',
      path: '/apis/networking.istio.io/v1',
    })
  })
})
