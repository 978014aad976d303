/**
 * `chaos schedule … | kubectl apply --dry-run=server -f -` against the sandbox's API server: every kind
 * it prints (ServiceAccount, Role, RoleBinding, ConfigMap, CronJob, and with the report flags
 * PersistentVolumeClaim, Deployment, Service) is served with Kubernetes' own OpenAPI v3 schemas, so
 * the real kubectl validates them as on a cluster: an unknown field or a wrong type is refused with
 * kube-apiserver's message, `kubectl explain` reads the schema, and a real apply stores the objects
 * with managedFields.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {join} from 'node:path'

import {builtCliProblem, chaos, REPO} from '../cli.js'
import {type Ran, withKubectlFixture} from './sandbox-cli.js'

function kubectlStdin(kubeconfig: string, input: string, ...args: string[]): Promise<Ran> {
  return new Promise(resolve => {
    const child = spawn('kubectl', ['--kubeconfig', kubeconfig, ...args], {cwd: REPO})
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    child.on('close', code => resolve({code: code ?? 1, stdout, stderr}))
    child.stdin.end(input)
  })
}

describe("chaos schedule's kinds through kubectl against the sandbox", function () {
  this.timeout(120_000)
  const sandbox = withKubectlFixture('schedule-kinds')
  const {kubectl} = sandbox
  before(function () {
    const problem = builtCliProblem(['src/commands/schedule.ts', 'src/schedule/schedule.ts'])
    if (problem !== undefined) {
      console.log(`      skipped: ${problem}`)
      this.skip()
    }
  })
  const kubeconfig = () => join(sandbox.dir, 'kubeconfig')

  it('chaos schedule … | kubectl apply --dry-run=server -f -: every document validated and accepted', async () => {
    const printed = await chaos(['schedule', 'experiments/ratings-delay.yaml', '--cron', '0 3 * * 1'])
    assert.equal(printed.code, 0, printed.stderr)
    const r = await kubectlStdin(kubeconfig(), printed.stdout, 'apply', '--dry-run=server', '-f', '-')
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'serviceaccount/ratings-delay created (server dry run)',
      'role.rbac.authorization.k8s.io/ratings-delay created (server dry run)',
      'rolebinding.rbac.authorization.k8s.io/ratings-delay created (server dry run)',
      'configmap/ratings-delay created (server dry run)',
      'cronjob.batch/ratings-delay created (server dry run)',
    ])
    assert.equal((await kubectl('get', 'cronjobs', '-o', 'name')).stdout.trim(), '', 'a dry run stores nothing')
  })

  it('the report flags add a claim, a Deployment and a Service, all accepted', async () => {
    const printed = await chaos([
      'schedule',
      'experiments/ratings-delay.yaml',
      '--cron',
      '0 3 * * 1',
      '--reports-pvc',
      'chaos-reports',
      '--keep',
      '5',
      '--report-server',
      '--notify-secret',
      'chaos-webhook/url',
    ])
    assert.equal(printed.code, 0, printed.stderr)
    const r = await kubectlStdin(kubeconfig(), printed.stdout, 'apply', '--dry-run=server', '-f', '-')
    assert.equal(r.code, 0, r.stderr)
    for (const kind of ['persistentvolumeclaim/chaos-reports', 'deployment.apps/', 'service/'])
      assert.ok(r.stdout.includes(kind), `${kind} in ${r.stdout}`)
  })

  it('an unknown field or a wrong type is refused as kube-apiserver refuses it', async () => {
    const printed = (await chaos(['schedule', 'experiments/ratings-delay.yaml', '--cron', '0 3 * * 1'])).stdout
    const unknown = await kubectlStdin(
      kubeconfig(),
      printed.replace('\n  schedule: ', '\n  bogusField: 1\n  schedule: '),
      'apply',
      '--dry-run=server',
      '-f',
      '-',
    )
    assert.notEqual(unknown.code, 0)
    assert.match(
      unknown.stderr,
      /Error from server \(BadRequest\): error when creating "STDIN": CronJob in version "v1" cannot be handled as a CronJob: strict decoding error: unknown field "spec.bogusField"/,
    )
    const wrongType = await kubectlStdin(
      kubeconfig(),
      printed.replace(/concurrencyPolicy: \w+/, 'concurrencyPolicy: 5'),
      'apply',
      '--dry-run=server',
      '-f',
      '-',
    )
    assert.match(
      wrongType.stderr,
      /CronJob in version "v1" cannot be handled as a CronJob: json: cannot unmarshal number into Go struct field/,
    )
  })

  it("kubectl explain reads Kubernetes' schema; a real apply stores the objects with their field manager", async () => {
    const explain = await kubectl('explain', 'cronjob.spec.schedule')
    assert.equal(explain.code, 0, explain.stderr)
    assert.match(explain.stdout, /FIELD: schedule <string>/)
    const printed = (await chaos(['schedule', 'experiments/ratings-delay.yaml', '--cron', '0 3 * * 1'])).stdout
    assert.equal((await kubectlStdin(kubeconfig(), printed, 'apply', '-f', '-')).code, 0)
    const again = await kubectlStdin(kubeconfig(), printed, 'apply', '-f', '-')
    assert.match(again.stdout, /cronjob.batch\/ratings-delay unchanged/)
    const cj = JSON.parse(
      (await kubectl('get', 'cronjob', 'ratings-delay', '-o', 'json', '--show-managed-fields')).stdout,
    ) as {metadata: {managedFields: {manager: string; operation: string}[]}; spec: {schedule: string}}
    assert.equal(cj.spec.schedule, '0 3 * * 1')
    assert.deepEqual(
      cj.metadata.managedFields.map(m => [m.manager, m.operation]),
      [['kubectl-client-side-apply', 'Update']],
    )
  })
})
