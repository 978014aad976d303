/**
 * The mesh around the target, end to end through kubectl and the built CLI on a detached sandbox
 * (issue 13): a STRICT PeerAuthentication applied with kubectl resets plaintext from clients
 * without a sidecar (the API server's service proxy, load sent to a pod's address) and passes
 * sidecar traffic; `chaos run` with plaintext load exits 4 naming the policy, and through the
 * chaos-client sidecar it runs; a run in the sandbox's ambient namespace exits 4 with the waypoint
 * advice. Nothing is left in the mesh by a refused run.
 */
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {parse, stringify} from 'yaml'

import {connect} from '../../src/cluster/connect.js'
import {besidesSample, chaos, curlVia, sh, withDetachedSandbox} from './sandbox-cli.js'

const SHORT = 'baseline=3s,fault=6s,recovery=3s'

const MESH_STRICT = `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: istio-system
spec:
  mtls:
    mode: STRICT
`

/** The ambient experiment: a fault on ratings in the sandbox's ambient namespace, load through the sandbox's proxy. */
const AMBIENT_EXPERIMENT = `apiVersion: faultline.dev/v1alpha1
kind: Experiment
metadata: {name: ambient-ratings-abort}
spec:
  target: {namespace: ambient}
  faults:
    - service: ratings
      match: {headers: {user-agent: {exact: faultline-chaos-test}}}
      abort: {httpStatus: 503, percentage: 50}
  phases: {baseline: 3s, fault: 6s, recovery: 3s}
  load:
    url: http://ratings.ambient:9080/ratings/0
    traffic:
      - {name: targeted, rate: 5/s, headers: {user-agent: faultline-chaos-test}}
  steadyState:
    - name: ratings answers
      traffic: targeted
      thresholds: {http_req_failed: ["rate<0.6"]}
`

describe('preflight: STRICT mTLS and ambient namespaces (integration, kubectl and the real CLI on the sandbox)', function () {
  this.timeout(240_000)
  const sandbox = withDetachedSandbox('preflight-mesh', [
    'src/runner/preflight-mesh.ts',
    'packages/core/src/istio/peer-authentication.ts',
    'src/cluster/kube.ts',
    'packages/sandbox/src/mesh/inbound.ts',
    'packages/sandbox/src/ambient.ts',
    'packages/sandbox/src/sandbox.ts',
    'packages/sandbox/src/apiserver.ts',
    'packages/sandbox/src/apiserver/podproxy.ts',
    'packages/sandbox/src/apiserver/pods.ts',
    'packages/sandbox/src/store.ts',
  ])
  const {kubectl} = sandbox
  const inboundPort = (app: string) =>
    sandbox.state.pods.find(p => p.app === app)?.inboundPort ?? assert.fail(`no inbound port recorded for ${app}`)
  /** The sandbox's kubeconfig without its faultline.dev/sandbox extension: load goes straight to its URL, not through the proxy. */
  const plainKubeconfig = () => {
    const doc = parse(readFileSync(sandbox.state.kubeconfig, 'utf8')) as {
      clusters: {cluster: Record<string, unknown>}[]
    }
    for (const c of doc.clusters) delete c.cluster['extensions']
    const file = join(sandbox.dir, 'plain-kubeconfig')
    writeFileSync(file, stringify(doc), {mode: 0o600})
    return file
  }
  const leftInMesh = async (namespace: string) =>
    besidesSample((await kubectl('get', 'vs', '-n', namespace, '-o', 'name')).stdout)

  describe('with a mesh-wide STRICT PeerAuthentication', () => {
    before(async () => {
      const file = join(sandbox.dir, 'strict.yaml')
      writeFileSync(file, MESH_STRICT)
      const applied = await kubectl('apply', '-f', file)
      assert.equal(applied.code, 0, applied.stderr)
      assert.equal(applied.stdout.trim(), 'peerauthentication.security.istio.io/default created')
    })
    after(() => kubectl('delete', 'peerauthentication', '-n', 'istio-system', 'default'))

    it('kubectl lists it with its mode, and Cluster.meshFacts reads it and the namespace labels', async () => {
      const listed = await kubectl('get', 'peerauthentication', '-A')
      assert.equal(listed.code, 0, listed.stderr)
      const [header, row] = listed.stdout
        .trim()
        .split('\n')
        .map(l => l.split(/\s+/))
      assert.deepEqual(header, ['NAMESPACE', 'NAME', 'MODE', 'AGE'])
      assert.deepEqual(row?.slice(0, 3), ['istio-system', 'default', 'STRICT'])
      assert.equal(
        (await kubectl('get', 'pa', '-n', 'istio-system', '-o', 'name')).stdout.trim(),
        'peerauthentication.security.istio.io/default',
      )
      const cluster = connect({kubeconfig: sandbox.state.kubeconfig})
      assert.ok(cluster !== undefined)
      const facts = await cluster.meshFacts('default')
      assert.deepEqual(
        facts.peerAuthentications?.map(p => `${p.metadata.namespace}/${p.metadata.name} ${p.spec?.mtls?.mode}`),
        ['istio-system/default STRICT'],
      )
      assert.equal(facts.namespaceLabels?.['kubernetes.io/metadata.name'], 'default')
      assert.equal((await cluster.meshFacts('ambient')).namespaceLabels?.['istio.io/dataplane-mode'], 'ambient')
    })

    it("the server sidecars reset plaintext (a pod's address, the API server's service proxy) and pass sidecar traffic", async () => {
      const direct = await sh('curl', [
        '-sS',
        '--max-time',
        '10',
        `http://127.0.0.1:${inboundPort('productpage')}/productpage`,
      ])
      assert.equal(direct.code, 56, `curl exit ${direct.code}: ${direct.stderr}`)
      assert.match(direct.stderr, /Connection reset by peer/)
      const proxied = await kubectl('get', '--raw', '/api/v1/namespaces/default/services/ratings:9080/proxy/ratings/0')
      assert.notEqual(proxied.code, 0)
      assert.match(proxied.stderr, /error trying to reach service: read tcp .*: read: connection reset by peer/)
      const meshed = await curlVia(sandbox.state.proxy, 'http://productpage:9080/productpage')
      assert.equal(meshed.status, 200)
      assert.match(meshed.body, /Book Reviews/)
      assert.doesNotMatch(
        meshed.body,
        /unavailable/,
        'productpage reached details, reviews and ratings through their sidecars',
      )
    })

    it('chaos run with load from outside a sidecar: exit 4 naming the PeerAuthentication and what to do, nothing injected', async () => {
      const file = join(sandbox.dir, 'ratings-abort-plaintext.yaml')
      writeFileSync(
        file,
        readFileSync('experiments/ratings-abort.yaml', 'utf8').replace(
          'url: http://productpage:9080/productpage',
          `url: http://127.0.0.1:${inboundPort('productpage')}/productpage`,
        ),
      )
      const r = await chaos([
        'run',
        file,
        '--kubeconfig',
        plainKubeconfig(),
        '--report-dir',
        join(sandbox.dir, 'reports-plaintext'),
      ])
      assert.equal(r.code, 4, r.stdout + r.stderr)
      const out = r.stdout + r.stderr
      assert.match(
        out,
        /PeerAuthentication istio-system\/default makes mTLS STRICT for default: the server sidecars refuse plaintext from a client without a sidecar \(the connection is reset\)/,
      )
      assert.match(out, /Send the load through the ingress gateway \(--entry gateway\) or from inside the mesh/)
      assert.match(out, /ECONNRESET|connection reset/i, 'the reachability check met the reset itself')
      assert.deepEqual(await leftInMesh('default'), [])
    })

    it('chaos run through the chaos-client sidecar: not refused by the mTLS check, and the experiment runs to its outcome', async () => {
      const r = await chaos([
        'run',
        'experiments/ratings-abort.yaml',
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--phases',
        SHORT,
        '--report-dir',
        join(sandbox.dir, 'reports-meshed'),
        '--json',
      ])
      // It runs to a verdict (README's outcome for ratings-abort is 0; a loaded machine can miss its latency bound, 1), never stopped in preflight.
      assert.ok([0, 1].includes(r.code), `exit ${r.code}: ${r.stdout}${r.stderr}`)
      assert.ok(['held', 'deviated'].includes((JSON.parse(r.stdout) as {outcome: string}).outcome), r.stdout)
      assert.doesNotMatch(r.stdout + r.stderr, /PeerAuthentication/)
      assert.deepEqual(await leftInMesh('default'), [])
    })
  })

  describe('the ambient namespace', () => {
    it('is labelled istio.io/dataplane-mode=ambient, and its pods have no sidecar (none is injected there)', async () => {
      const ns = await kubectl('get', 'ns', 'ambient', '-o', 'jsonpath={.metadata.labels.istio\\.io/dataplane-mode}')
      assert.equal(ns.stdout, 'ambient', ns.stderr)
      const pods = await kubectl(
        'get',
        'pods',
        '-n',
        'ambient',
        '-o',
        'jsonpath={range .items[*]}{.metadata.name} {.spec.containers[*].name} {.spec.initContainers[*].name}{"\\n"}{end}',
      )
      const rows = pods.stdout.trim().split('\n')
      assert.equal(rows.length, 1, pods.stdout)
      assert.match(rows[0] ?? '', /^ratings-v1-\S+ ratings\s*$/)
      const answer = await curlVia(sandbox.state.proxy, 'http://ratings.ambient:9080/ratings/0')
      assert.equal(answer.status, 200, answer.body)
    })

    it('chaos run on a service there: exit 4 with the waypoint advice, nothing injected', async () => {
      const file = join(sandbox.dir, 'ambient.yaml')
      writeFileSync(file, AMBIENT_EXPERIMENT)
      const r = await chaos([
        'run',
        file,
        '--sandbox',
        '--state-dir',
        sandbox.dir,
        '--report-dir',
        join(sandbox.dir, 'reports-ambient'),
      ])
      assert.equal(r.code, 4, r.stdout + r.stderr)
      const out = r.stdout + r.stderr
      assert.match(
        out,
        /namespace ambient is in ambient mode \(istio\.io\/dataplane-mode=ambient\): its pods have no sidecar/,
      )
      assert.match(out, /waypoint/)
      assert.match(out, /alpha/)
      assert.deepEqual(await leftInMesh('ambient'), [])
    })
  })
})
