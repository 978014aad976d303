import assert from 'node:assert/strict'

import type {AccessCheck} from '../../src/cluster/cluster.js'
import type {Experiment, LoadEntry} from '../../src/experiment/model.js'
import {planExperiment} from '../../src/faults/experiment-plan.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {preflight} from '../../src/runner/preflight.js'
import {faultsInGateway, GATEWAY_ACCESS, GATEWAY_STATS_ACCESS} from '../../src/runner/preflight-gateway.js'
import {FakeCluster} from '../fakes/cluster.js'

function experiment(entry: LoadEntry | undefined, service = 'ratings'): Experiment {
  return {
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {name: 'gateway'},
    spec: {
      faults: [{service, abort: {httpStatus: 503, percentage: 100}}],
      phases: {baseline: '1s', fault: '1s', recovery: '1s'},
      load: {
        url: 'http://productpage:9080/productpage',
        ...(entry === undefined ? {} : {entry}),
        traffic: [{name: 'targeted', rate: '1/s', headers: {'x-chaos-test': 'true'}}],
      },
      steadyState: [],
    },
  }
}

/** A FakeCluster with Istio's ingress gateway Service (`address`: its load-balancer address), recording what it was asked. */
function clusterWithGateway(address?: string): FakeCluster & {asked: AccessCheck[]} {
  const cluster = Object.assign(new FakeCluster(), {asked: [] as AccessCheck[]})
  cluster.services.push({
    name: 'istio-ingressgateway',
    namespace: 'istio-system',
    type: 'LoadBalancer',
    ports: [80, 443],
    selector: {app: 'istio-ingressgateway'},
    ...(address === undefined ? {} : {loadBalancer: [address]}),
  })
  const canI = cluster.canI.bind(cluster)
  cluster.canI = async checks => {
    cluster.asked.push(...checks)
    return canI(checks)
  }
  return cluster
}

/** Bookinfo's VirtualService bound to its Gateway: the gateway calls productpage (so applies a fault on it), no sidecar does. */
const BOOKINFO: VirtualService = {
  apiVersion: 'networking.istio.io/v1',
  kind: 'VirtualService',
  metadata: {name: 'bookinfo', namespace: 'default'},
  spec: {
    hosts: ['*'],
    gateways: ['bookinfo-gateway'],
    http: [
      {match: [{uri: {exact: '/productpage'}}], route: [{destination: {host: 'productpage', port: {number: 9080}}}]},
    ],
  },
}

/** The permissions findings of a preflight (`service`: the faulted one; `existing`: the namespace's VirtualServices). */
async function findings(
  cluster: FakeCluster,
  entry: LoadEntry | undefined,
  {service = 'ratings', existing = []}: {service?: string; existing?: VirtualService[]} = {},
) {
  const exp = experiment(entry, service)
  const plan = planExperiment({experiment: exp, existing, runId: 'r1', now: new Date(), namespace: 'default'})
  const checks = await preflight({
    experiment: exp,
    cluster,
    namespace: 'default',
    plan,
    prometheus: undefined,
    loadThroughMesh: true,
    now: new Date(),
  })
  return checks.filter(c => c.check === 'permissions')
}

const GATEWAY: LoadEntry = {gateway: {service: 'istio-ingressgateway'}, host: 'bookinfo.example.com'}
const PORT_FORWARD = ['get pods/portforward', 'create pods/portforward']
const STATS = ['get pods/proxy', 'get pods/exec', 'create pods/exec']

describe("preflight: a gateway entry's permissions in the gateway's namespace", () => {
  it("asks there, each once, for what finding the gateway takes (list services, list pods, pods/portforward) and reading its proxies' fault counters (pods/proxy, else pods/exec), and says nothing more when they're granted", async () => {
    const cluster = clusterWithGateway()
    const checks = await findings(cluster, GATEWAY, {service: 'productpage', existing: [BOOKINFO]})
    assert.deepEqual(
      checks.map(c => c.status),
      ['ok'],
    )
    const asked = cluster.asked
      .filter(a => a.namespace === 'istio-system')
      .map(a => `${a.verb} ${a.resource}${a.subresource === undefined ? '' : '/' + a.subresource}`)
    assert.deepEqual(asked, ['list services', 'list pods', ...PORT_FORWARD, ...STATS])
    assert.equal(GATEWAY_ACCESS.length + GATEWAY_STATS_ACCESS.length - 1, asked.length, 'list pods is wanted by both')
  })

  it('is an error when the gateway has no load-balancer address (the run port-forwards to its pod), naming what is missing where', async () => {
    const cluster = clusterWithGateway()
    for (const p of PORT_FORWARD) cluster.denied.add(`${p} in istio-system`)
    const checks = await findings(cluster, GATEWAY)
    assert.deepEqual(
      checks.map(c => c.status),
      ['ok', 'failed'],
      'the target namespace has what it needs; the gateway namespace does not',
    )
    assert.equal(
      checks[1]?.message,
      'not allowed in istio-system, where the gateway entry finds Service istio-ingressgateway: get pods/portforward, create pods/portforward, and the Service has no load-balancer address, so chaos port-forwards to one of its ready pods',
    )
    assert.match(checks[1]?.hint ?? '', /Role in istio-system .*--entry gateway=URL\. Nothing was injected\.$/)
  })

  it('is a warning while the Service has a load-balancer address: the port-forward is not needed then', async () => {
    const cluster = clusterWithGateway('203.0.113.10')
    for (const p of PORT_FORWARD) cluster.denied.add(`${p} in istio-system`)
    const checks = await findings(cluster, GATEWAY)
    assert.deepEqual(
      checks.map(c => c.status),
      ['ok', 'warning'],
    )
    assert.match(
      checks[1]?.message ?? '',
      /: get pods\/portforward, create pods\/portforward; not needed while the Service has its load-balancer address 203\.0\.113\.10, but without one chaos port-forwards to one of its pods$/,
    )
  })

  it('is an error when the Service cannot be listed, whatever its address', async () => {
    const cluster = clusterWithGateway('203.0.113.10')
    cluster.denied.add('list services in istio-system')
    const checks = await findings(cluster, GATEWAY)
    assert.equal(checks[1]?.status, 'failed')
    assert.match(checks[1]?.message ?? '', /: list services, so the Service's load-balancer address cannot be read$/)
  })

  it("follows the entry's namespace, and asks nothing for a gateway given by URL or for no entry", async () => {
    const cluster = clusterWithGateway()
    cluster.denied.add('list pods in ingress')
    const elsewhere = await findings(cluster, {gateway: {service: 'gw', namespace: 'ingress'}})
    assert.match(
      elsewhere[1]?.message ?? '',
      /^not allowed in ingress, where the gateway entry finds Service gw: list pods,/,
    )
    for (const entry of [{url: 'http://203.0.113.10'}, undefined]) {
      const quiet = clusterWithGateway()
      quiet.denied.add('create pods/portforward')
      assert.deepEqual(
        (await findings(quiet, entry)).map(c => c.status),
        ['ok'],
      )
      assert.ok(!quiet.asked.some(a => a.subresource === 'portforward'))
    }
  })
})

describe("preflight: a gateway entry reading the fault counters of the gateway's proxies", () => {
  it('knows the faults the plan has the gateway apply: its fault routes bound to the gateway, not those of sidecars', () => {
    const plan = (service: string, existing: VirtualService[]) =>
      planExperiment({
        experiment: experiment(GATEWAY, service),
        existing,
        runId: 'r1',
        now: new Date(),
        namespace: 'default',
      })
    assert.deepEqual(faultsInGateway(plan('productpage', [BOOKINFO])), ['productpage'])
    assert.deepEqual(faultsInGateway(plan('ratings', [BOOKINFO])), [], 'the gateway does not call ratings')
    assert.deepEqual(faultsInGateway(plan('productpage', [])), [], 'no VirtualService is bound to a gateway')
  })

  it('either way of reading them will do, as in the target namespace', async () => {
    for (const denied of [['get pods/proxy'], ['get pods/exec', 'create pods/exec']]) {
      const cluster = clusterWithGateway()
      for (const p of denied) cluster.denied.add(`${p} in istio-system`)
      const checks = await findings(cluster, GATEWAY, {service: 'productpage', existing: [BOOKINFO]})
      assert.deepEqual(
        checks.map(c => c.status),
        ['ok'],
        `${denied.join(', ')} denied`,
      )
    }
  })

  it('is an error when neither is granted and the gateway applies a fault, naming the namespace, the fault and the fix', async () => {
    const cluster = clusterWithGateway()
    for (const p of STATS) cluster.denied.add(`${p} in istio-system`)
    const checks = await findings(cluster, GATEWAY, {service: 'productpage', existing: [BOOKINFO]})
    assert.deepEqual(
      checks.map(c => c.status),
      ['ok', 'failed'],
    )
    assert.equal(
      checks[1]?.message,
      'not allowed in istio-system, where the gateway istio-ingressgateway applies the fault on productpage: get pods/proxy (or, to read sidecar stats by exec instead, get pods/exec and create pods/exec), so the fault counters of its proxies cannot be read: the ignition check would not see the gateway apply the fault (and stops the run when no sidecar counts it either), nor the fault phase time its effect',
    )
    assert.equal(
      checks[1]?.hint,
      'Grant them with a Role in istio-system (`chaos schedule` prints one for a scheduled run), or run as a user who has them. Nothing was injected.',
    )
  })

  it("names list pods too, beside the gateway's own finding, when the pods cannot be listed", async () => {
    const cluster = clusterWithGateway('203.0.113.10')
    cluster.denied.add('list pods in istio-system')
    const checks = await findings(cluster, GATEWAY, {service: 'productpage', existing: [BOOKINFO]})
    assert.deepEqual(
      checks.map(c => c.status),
      ['ok', 'warning', 'failed'],
    )
    assert.match(checks[2]?.message ?? '', /applies the fault on productpage: list pods, so the fault counters/)
  })

  it('says nothing when no fault is applied in the gateway: its counters cannot move', async () => {
    const cluster = clusterWithGateway()
    for (const p of STATS) cluster.denied.add(`${p} in istio-system`)
    const checks = await findings(cluster, GATEWAY, {service: 'ratings', existing: [BOOKINFO]})
    assert.deepEqual(
      checks.map(c => c.status),
      ['ok'],
    )
  })

  it("adds nothing to the target namespace's own finding when the gateway runs there", async () => {
    const cluster = clusterWithGateway()
    for (const p of STATS) cluster.denied.add(`${p} in default`)
    const checks = await findings(
      cluster,
      {gateway: {service: 'istio-ingressgateway', namespace: 'default'}},
      {
        service: 'productpage',
        existing: [BOOKINFO],
      },
    )
    assert.deepEqual(
      checks.map(c => c.status),
      ['failed'],
    )
    assert.match(
      checks[0]?.message ?? '',
      /^not allowed in default: get pods\/proxy \(or, to read sidecar stats by exec/,
    )
  })
})
