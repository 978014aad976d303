/**
 * The way in through the sandbox's ingress gateway, end to end through the built CLI on a detached
 * sandbox: Istio's bookinfo task's `curl http://$GATEWAY_URL/productpage`, ratings-delay through
 * `--entry gateway` with the same verdict as through the sidecar proxy, and a fault on the host the
 * gateway routes to (productpage) written into the gateway's VirtualService and fired in the gateway.
 */
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {parse, stringify} from 'yaml'

import {chaos, DEVIATION_PHASES, sh, withDetachedSandbox} from './sandbox-cli.js'

// ratings-delay runs with DEVIATION_PHASES (sandbox-cli.ts): whether it deviates is chance, and a
// short fault phase holds too few ~6 s pages to make it near certain.

/** An abort on productpage for the test user agent, entering through the ingress gateway. */
const PRODUCTPAGE_ABORT = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata:
  name: productpage-abort-gateway
spec:
  target: {namespace: default}
  faults:
    - service: productpage
      match:
        headers: {user-agent: {exact: faultline-chaos-test}}
      abort: {httpStatus: 503, percentage: 100}
  phases: {baseline: 3s, fault: 6s, recovery: 3s}
  load:
    driver: builtin
    url: http://productpage:9080/productpage
    entry: {gateway: {service: istio-ingressgateway, namespace: istio-system, port: 80}}
    traffic:
      - {name: targeted, rate: 5/s, headers: {user-agent: faultline-chaos-test}}
      - {name: control, rate: 5/s}
  steadyState:
    - name: control traffic is untouched
      traffic: control
      thresholds: {http_req_failed: ["rate<0.01"]}
    - name: targeted requests succeed
      traffic: targeted
      thresholds: {http_req_failed: ["rate<0.01"]}
  guardrails:
    maxDuration: 1m
`

describe("--entry gateway through the sandbox's ingress gateway (integration, real CLI)", function () {
  this.timeout(240_000)
  const sandbox = withDetachedSandbox('entry-gateway', [
    'packages/sandbox/src/sandbox.ts',
    'packages/sandbox/src/mesh/gateway.ts',
    'packages/sandbox/src/mesh/gateway-config.ts',
    'packages/sandbox/src/gateway-sample.ts',
    'src/cli/entry.ts',
    'src/runner/target.ts',
    'src/faults/compile.ts',
  ])
  const {kubectl} = sandbox

  /** The gateway pod's Envoy counter `name` (kubectl exec … pilot-agent request GET stats). */
  const gatewayStat = async (name: string): Promise<number> => {
    const pod = (
      await kubectl(
        'get',
        'pods',
        '-n',
        'istio-system',
        '-l',
        'istio=ingressgateway',
        '-o',
        'jsonpath={.items[0].metadata.name}',
      )
    ).stdout.trim()
    const r = await kubectl(
      'exec',
      '-n',
      'istio-system',
      pod,
      '-c',
      'istio-proxy',
      '--',
      'pilot-agent',
      'request',
      'GET',
      'stats',
    )
    assert.equal(r.code, 0, r.stderr)
    const line = r.stdout.split('\n').find(l => l.startsWith(`${name}: `))
    assert.ok(line !== undefined, `${name} not in the gateway's stats`)
    return Number(line.slice(name.length + 2))
  }

  it("the gateway URL is recorded, printed and in the kubeconfig; GET /productpage through it serves bookinfo (the bookinfo task's curl)", async () => {
    const url = sandbox.state.gateway
    assert.ok(url !== undefined, 'sandbox.json records the gateway')
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
    const status = await chaos(['sandbox', 'status', '--state-dir', sandbox.dir])
    assert.match(
      status.stdout,
      new RegExp(`gateway +${url.replaceAll('.', '\\.')} \\(istio-system/istio-ingressgateway`),
    )
    const ext = (
      parse(readFileSync(sandbox.state.kubeconfig, 'utf8')) as {
        clusters: {cluster: {extensions: {extension: {gateway?: string}}[]}}[]
      }
    ).clusters[0]?.cluster.extensions[0]?.extension
    assert.equal(ext?.gateway, url)
    const page = await sh('curl', ['-s', '--noproxy', '*', '-w', '\n%{http_code}', `${url}/productpage`])
    assert.match(page.stdout, /<title>Simple Bookstore App<\/title>/)
    assert.match(page.stdout, /\n200$/)
    const unrouted = await sh('curl', [
      '-s',
      '--noproxy',
      '*',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `${url}/ratings/0`,
    ])
    assert.equal(unrouted.stdout, '404', 'a path bookinfo-gateway.yaml does not route: 404 NR')
    // The Service as kubectl shows it: LoadBalancer, 80 → 8080, the listener as node port, no address (kind).
    const svc = JSON.parse(
      (await kubectl('get', 'svc', '-n', 'istio-system', 'istio-ingressgateway', '-o', 'json')).stdout,
    ) as {
      spec: {
        type: string
        selector: Record<string, string>
        ports: {name: string; port: number; targetPort: number; nodePort: number}[]
      }
      status: unknown
    }
    assert.equal(svc.spec.type, 'LoadBalancer')
    assert.deepEqual(svc.spec.selector, {app: 'istio-ingressgateway', istio: 'ingressgateway'})
    assert.deepEqual(
      svc.spec.ports.map(p => [p.name, p.port, p.targetPort, p.nodePort]),
      [['http2', 80, 8080, Number(new URL(url).port)]],
    )
    assert.deepEqual(svc.status, {loadBalancer: {}})
  })

  it("kubectl sees the sample's Gateway, and a Gateway applied with kubectl re-routes the gateway: a Host no server names is 404", async () => {
    const url = sandbox.state.gateway ?? ''
    assert.equal(
      (await kubectl('get', 'gateway', '-o', 'name')).stdout.trim(),
      'gateway.networking.istio.io/bookinfo-gateway',
    )
    assert.match(
      (await kubectl('get', 'svc', '-n', 'istio-system')).stdout,
      /istio-ingressgateway +LoadBalancer +\S+ +<pending> +80:\d+\/TCP/,
    )
    const got = JSON.parse((await kubectl('get', 'gateway', 'bookinfo-gateway', '-o', 'json')).stdout) as {
      apiVersion: string
      kind: string
      metadata: {name: string}
      spec: {servers: {hosts: string[]}[]}
    }
    const gw = {apiVersion: got.apiVersion, kind: got.kind, metadata: {name: got.metadata.name}, spec: got.spec}
    gw.spec.servers[0]!.hosts = ['bookinfo.example.com']
    const file = join(sandbox.dir, 'gateway.json')
    writeFileSync(file, JSON.stringify(gw))
    const applied = await kubectl('apply', '-f', file)
    assert.equal(applied.code, 0, applied.stderr)
    try {
      const code = async (host: string) =>
        (
          await sh('curl', [
            '-s',
            '--noproxy',
            '*',
            '-o',
            '/dev/null',
            '-w',
            '%{http_code}',
            '-H',
            `Host: ${host}`,
            `${url}/productpage`,
          ])
        ).stdout
      assert.equal(await code('bookinfo.example.com'), '200')
      assert.equal(await code('other.example.com'), '404')
    } finally {
      gw.spec.servers[0]!.hosts = ['*']
      writeFileSync(file, JSON.stringify(gw))
      const restored = await kubectl('apply', '-f', file)
      assert.equal(restored.code, 0, restored.stderr)
    }
  })

  it('ratings-delay through --entry gateway gives the verdict and exit code it gives through the sidecar proxy', async () => {
    const run = (...extra: string[]) =>
      chaos([
        'run',
        'experiments/ratings-delay.yaml',
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--phases',
        DEVIATION_PHASES,
        '--report-dir',
        join(sandbox.dir, 'reports'),
        '--json',
        ...extra,
      ])
    const viaProxy = await run()
    const viaGateway = await run('--entry', 'gateway')
    const outcome = (r: {stdout: string}) => (JSON.parse(r.stdout) as {outcome: string}).outcome
    assert.equal(
      viaGateway.code,
      viaProxy.code,
      `proxy: ${viaProxy.stdout}${viaProxy.stderr}\ngateway: ${viaGateway.stdout}${viaGateway.stderr}`,
    )
    assert.equal(viaProxy.code, 1, 'ratings-delay deviates (README)')
    assert.equal(outcome(viaGateway), outcome(viaProxy))
    assert.match(
      viaGateway.stderr,
      /entry: through the gateway at http:\/\/127\.0\.0\.1:\d+, the sandbox's ingress gateway/,
    )
  })

  it("as on kind, without the kubeconfig's gateway URL: --entry gateway port-forwards to the gateway pod's 8080 and gives the same verdict", async () => {
    const doc = parse(readFileSync(sandbox.state.kubeconfig, 'utf8')) as {
      clusters: {cluster: {extensions: {extension: Record<string, unknown>}[]}}[]
    }
    for (const c of doc.clusters) for (const e of c.cluster.extensions) delete e.extension['gateway']
    const kubeconfig = join(sandbox.dir, 'kind-like-kubeconfig')
    writeFileSync(kubeconfig, stringify(doc), {mode: 0o600})
    const r = await chaos([
      'run',
      'experiments/ratings-delay.yaml',
      '--kubeconfig',
      kubeconfig,
      '--entry',
      'gateway',
      '--phases',
      DEVIATION_PHASES,
      '--report-dir',
      join(sandbox.dir, 'reports'),
    ])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(
      r.stdout + r.stderr,
      /entry: through the gateway at http:\/\/127\.0\.0\.1:\d+, a port-forward to istio-system\/istio-ingressgateway-[a-z0-9-]+:8080 \(Service istio-system\/istio-ingressgateway has no load-balancer address\)/,
    )
  })

  it("a fault on productpage, the host the gateway routes to: planned into the gateway's VirtualService, fired in the gateway, restored after", async () => {
    const file = join(sandbox.dir, 'productpage-abort-gateway.yaml')
    writeFileSync(file, PRODUCTPAGE_ABORT)
    const plan = await chaos(['plan', file, '--sandbox', '--state-dir', sandbox.dir])
    assert.equal(plan.code, 0, plan.stdout + plan.stderr)
    assert.match(plan.stdout, /# update VirtualService default\/bookinfo\n#.*abort 503 \(100%\) on productpage/)
    assert.match(plan.stdout, /is applied in the gateway default\/bookinfo-gateway/)
    const before = (await kubectl('get', 'vs', 'bookinfo', '-o', 'json')).stdout
    const aborts = await gatewayStat('http.outbound_0.0.0.0_8080;.fault.aborts_injected')
    const r = await chaos([
      'run',
      file,
      '--sandbox',
      '--state-dir',
      sandbox.dir,
      '--report-dir',
      join(sandbox.dir, 'reports'),
    ])
    assert.equal(r.code, 1, r.stdout + r.stderr)
    assert.match(
      r.stdout,
      /✓ ignition: a 1 ms delay for the targeted match on productpage was counted/,
      "the gateway's counters moved",
    )
    assert.match(r.stdout, /applied VirtualService default\/bookinfo \(update/)
    assert.match(r.stdout, /fault fired \d+ms after the write/, "the evidence polls read the gateway's counters")
    assert.match(r.stdout, /targeted requests succeed +fault +missed/)
    assert.match(r.stdout, /control traffic is untouched +fault +held/)
    assert.ok(
      (await gatewayStat('http.outbound_0.0.0.0_8080;.fault.aborts_injected')) > aborts,
      "the gateway's fault filter counted the aborts",
    )
    const after = JSON.parse((await kubectl('get', 'vs', 'bookinfo', '-o', 'json')).stdout) as {spec: unknown}
    assert.deepEqual(after.spec, (JSON.parse(before) as {spec: unknown}).spec, 'the gateway VirtualService is restored')
  })
})
