/**
 * `--entry portForward`, end to end through the built CLI on a detached sandbox, whose API server
 * serves pods/portforward: ratings-delay through chaos's own port-forward to productpage gives the
 * verdict it gives through the sandbox's sidecar proxy (the sandbox's port-forward, like kubelet's,
 * lands on the application's port past the pod's sidecar, and the ratings fault fires in reviews'
 * sidecar either way); a Service without ready pods is exit 4 naming it, nothing injected; a fault on
 * the forwarded Service itself is stopped by preflight (exit 4, what to do); chaos gameday --entry
 * opens the same way in for each experiment.
 */
import assert from 'node:assert/strict'
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {parse, stringify} from 'yaml'

import {chaos, DEVIATION_PHASES, REPO, withDetachedSandbox} from './sandbox-cli.js'

// The 7 s delay meets productpage's 3 s timeout and retry (~6 s a request): a fault phase of a few of those, as README's runs have.
const SHORT = 'baseline=4s,fault=8s,recovery=4s'

const NO_PODS = `apiVersion: v1
kind: Service
metadata: {name: nopods, namespace: default}
spec:
  selector: {app: nothing}
  ports: [{name: http, port: 9080, targetPort: 9080}]
`

describe('--entry portForward (integration, real CLI on the sandbox)', function () {
  this.timeout(300_000)
  const sandbox = withDetachedSandbox('entry-portforward', [
    'src/cli/port-forward.ts',
    'src/cli/way-in.ts',
    'src/cli/entry.ts',
    'src/commands/run.ts',
    'src/commands/gameday.ts',
    'src/cluster/kube.ts',
    'src/runner/preflight.ts',
  ])
  const {kubectl} = sandbox
  const virtualServices = async () => (await kubectl('get', 'vs', '-o', 'name')).stdout.trim()
  const outcome = (r: {stdout: string}) => (JSON.parse(r.stdout) as {outcome: string}).outcome

  it('ratings-delay through --entry portForward=productpage:9080: the verdict and exit code it has through the sidecar proxy', async () => {
    const kubeconfig = sandbox.state.kubeconfig
    const forwarded = await chaos([
      'run',
      'experiments/ratings-delay.yaml',
      '--kubeconfig',
      kubeconfig,
      '--entry',
      'portForward=productpage:9080',
      '--phases',
      DEVIATION_PHASES,
      '--report-dir',
      join(sandbox.dir, 'reports-pf'),
      '--json',
    ])
    const proxied = await chaos([
      'run',
      'experiments/ratings-delay.yaml',
      '--kubeconfig',
      kubeconfig,
      '--phases',
      DEVIATION_PHASES,
      '--report-dir',
      join(sandbox.dir, 'reports-proxy'),
      '--json',
    ])
    assert.match(
      forwarded.stderr,
      /entry: through chaos's port-forward at http:\/\/127\.0\.0\.1:\d+ to Service default\/productpage port 9080 \(1 ready pod\(s\), e\.g\. productpage-v1-[^:]+:9080\) \(Host productpage:9080\)/,
    )
    assert.match(
      forwarded.stderr,
      /entry: the port-forward served \d+ connection\(s\); \d+ retried on another try, 0 answered 502 \(no pod\)/,
    )
    assert.match(proxied.stderr, /through its proxy http:\/\/127\.0\.0\.1:\d+/)
    assert.equal(
      forwarded.code,
      proxied.code,
      `portForward: ${forwarded.stdout}${forwarded.stderr}\nproxy: ${proxied.stdout}${proxied.stderr}`,
    )
    assert.equal(outcome(forwarded), outcome(proxied))
    assert.equal(outcome(forwarded), 'deviated', "README: ratings-delay finds productpage's 3 s timeout")
    // The journal records the experiment as sent: to the forwarder, with the entry.
    const journal = JSON.parse(
      readFileSync((JSON.parse(forwarded.stdout) as {journalFile: string}).journalFile, 'utf8'),
    ) as {experiment: {spec: {spec: {load: {url: string; entry?: unknown}}}}}
    assert.match(journal.experiment.spec.spec.load.url, /^http:\/\/127\.0\.0\.1:\d+\/productpage/)
    assert.deepEqual(journal.experiment.spec.spec.load.entry, {portForward: {service: 'productpage', port: 9080}})
  })

  it('a Service without ready pods: exit 4 naming it and its selector, nothing injected', async () => {
    writeFileSync(join(sandbox.dir, 'nopods.yaml'), NO_PODS)
    assert.equal((await kubectl('apply', '-f', join(sandbox.dir, 'nopods.yaml'))).code, 0)
    const before = await virtualServices()
    const started = Date.now()
    const r = await chaos([
      'run',
      'experiments/ratings-delay.yaml',
      '--kubeconfig',
      sandbox.state.kubeconfig,
      '--entry',
      'portForward=nopods:9080',
      '--report-dir',
      join(sandbox.dir, 'reports-nopods'),
    ])
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.ok(Date.now() - started < 30_000, 'within seconds')
    assert.match(
      r.stderr,
      /--entry portForward: Service default\/nopods has no ready pod to forward to \(its selector app=nothing matches no pod\)/,
    )
    assert.match(r.stderr, /Nothing was injected/)
    assert.equal(await virtualServices(), before, 'nothing left in the mesh')
    const missing = await chaos([
      'run',
      'experiments/ratings-delay.yaml',
      '--kubeconfig',
      sandbox.state.kubeconfig,
      '--entry',
      'portForward=productpage:8080',
    ])
    assert.equal(missing.code, 4, missing.stdout + missing.stderr)
    assert.match(missing.stderr, /Service default\/productpage has no port 8080 \(its ports: 9080\)/)
    const usage = await chaos([
      'run',
      'experiments/ratings-delay.yaml',
      '--kubeconfig',
      sandbox.state.kubeconfig,
      '--entry',
      'portForward=productpage',
    ])
    assert.equal(usage.code, 2, usage.stdout + usage.stderr)
    assert.match(usage.stderr, /portForward= needs SERVICE\[\.NAMESPACE\]:PORT/)
  })

  it('a fault on the forwarded Service itself cannot fire: preflight stops the run (exit 4) and says what to do', async () => {
    const doc = parse(readFileSync(join(REPO, 'experiments/ratings-delay.yaml'), 'utf8')) as {
      metadata: {name: string}
      spec: {faults: {service: string}[]}
    }
    doc.metadata.name = 'productpage-delay'
    for (const f of doc.spec.faults) f.service = 'productpage'
    const file = join(sandbox.dir, 'productpage-delay.yaml')
    writeFileSync(file, stringify(doc))
    const before = await virtualServices()
    const r = await chaos([
      'run',
      file,
      '--kubeconfig',
      sandbox.state.kubeconfig,
      '--entry',
      'portForward=productpage:9080',
      '--phases',
      SHORT,
      '--report-dir',
      join(sandbox.dir, 'reports-self'),
    ])
    assert.equal(r.code, 4, r.stdout + r.stderr)
    assert.match(
      r.stdout,
      /spec\.faults\[0\] on productpage cannot fire: the load enters through a port-forward to default\/productpage's pods, which reaches its application directly/,
    )
    assert.match(r.stdout, /Put the fault on a service productpage calls/)
    assert.equal(await virtualServices(), before, 'nothing left in the mesh')
  })

  it('chaos gameday --entry portForward=…: each experiment enters through its own port-forward, with the verdict it has through the proxy', async () => {
    const day = join(sandbox.dir, 'pf-gameday.yaml')
    writeFileSync(
      day,
      `apiVersion: faultline.dev/v1alpha1\nkind: GameDay\nmetadata: {name: pf-gameday}\nspec:\n  cooldown: 1s\n  experiments:\n    - path: ${join(REPO, 'experiments/ratings-abort.yaml')}\n`,
    )
    const r = await chaos([
      'gameday',
      day,
      '--kubeconfig',
      sandbox.state.kubeconfig,
      '--entry',
      'portForward=productpage:9080',
      '--phases',
      SHORT,
      '--report-dir',
      join(sandbox.dir, 'reports-gameday'),
      '--json',
    ])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(
      r.stderr,
      /ratings-abort: entry: through chaos's port-forward at http:\/\/127\.0\.0\.1:\d+ to Service default\/productpage port 9080/,
    )
    assert.equal((JSON.parse(r.stdout) as {experiments: {outcome: string}[]}).experiments[0]?.outcome, 'held')
    const none = await chaos([
      'gameday',
      day,
      '--kubeconfig',
      sandbox.state.kubeconfig,
      '--entry',
      'portForward=nopods:9080',
      '--report-dir',
      join(sandbox.dir, 'reports-gameday'),
    ])
    assert.equal(none.code, 4, none.stdout + none.stderr)
    assert.match(none.stdout + none.stderr, /Service default\/nopods has no ready pod/)
  })
})
