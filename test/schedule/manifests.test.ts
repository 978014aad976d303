import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {dumpYaml, loadAllYaml} from '@kubernetes/client-node'
import {parse, parseAllDocuments} from 'yaml'

import {InvalidExperiment, UsageError} from '@faultline/core/errors.js'
import {loadDocument, parseDocumentText, parseExperiment} from '../../src/experiment/load.js'
import {CRONJOB_NAME_MAX} from '../../src/schedule/names.js'
import {grantedPermissions, reaperRules, runRules} from '../../src/schedule/rbac.js'
import {buildSchedule, type FullScheduleRequest, renderManifests} from '../../src/schedule/schedule.js'
import {objectProblems} from './kube-validation.js'

const EXPERIMENT = 'experiments/ratings-delay.yaml'
const GAMEDAY = 'test/fixtures/schedule/weekly/weekly-gameday.yaml'

/* eslint-disable @typescript-eslint/no-explicit-any -- reading fields of generated objects */
async function objects(request: Partial<FullScheduleRequest> & {file: string}): Promise<{text: string; docs: any[]}> {
  const schedule = await buildSchedule({cron: '0 10 * * 1', reaper: false, version: '0.1.0', ...request})
  const text = renderManifests(schedule.manifests)
  const docs = parseAllDocuments(text, {version: '1.1'}).map(d => {
    assert.deepEqual(d.errors, [])
    return d.toJS()
  })
  return {text, docs}
}

const find = (docs: any[], kind: string, namespace?: string, name?: string) =>
  docs.filter(
    d =>
      d.kind === kind &&
      (namespace === undefined || d.metadata.namespace === namespace) &&
      (name === undefined || d.metadata.name === name),
  )
const pod = (cronJob: any) => cronJob.spec.jobTemplate.spec.template.spec

describe('chaos schedule manifests', function () {
  this.timeout(20_000)

  it('for an experiment: ServiceAccount, Role, RoleBinding, ConfigMap, CronJob — in that order, all named and labelled alike', async () => {
    const {docs} = await objects({file: EXPERIMENT, namespace: 'bookinfo'})
    assert.deepEqual(
      docs.map(d => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`),
      [
        'ServiceAccount bookinfo/ratings-delay',
        'Role bookinfo/ratings-delay',
        'RoleBinding bookinfo/ratings-delay',
        'ConfigMap bookinfo/ratings-delay',
        'CronJob bookinfo/ratings-delay',
      ],
    )
    for (const d of docs) {
      assert.equal(d.metadata.labels['app.kubernetes.io/name'], 'faultline')
      assert.equal(d.metadata.labels['app.kubernetes.io/component'], 'runner')
      assert.equal(d.metadata.labels['app.kubernetes.io/managed-by'], 'chaos-schedule')
    }
  })

  it("every document passes the offline Kubernetes validation, and survives client-node's typed round trip unchanged", async () => {
    for (const request of [
      {file: EXPERIMENT},
      {file: GAMEDAY, reaper: true, timeZone: 'Europe/Berlin', prometheusUrl: 'http://prometheus.istio-system:9090'},
      {
        file: EXPERIMENT,
        reportsPvc: 'chaos-reports',
        storageClass: 'standard',
        reportServer: true,
        notifySecret: 'chaos-webhook/url',
        keep: 5,
      },
    ]) {
      const {text, docs} = await objects(request)
      for (const d of docs) assert.deepEqual(objectProblems(d), [], `${d.kind} ${d.metadata.name}`)
      // client-node's own YAML loader deserializes into its models, dropping any field they do not know.
      const typed = loadAllYaml(text)
      assert.equal(typed.length, docs.length)
      typed.forEach((t, i) => {
        assert.equal(t.constructor.name, `V1${docs[i].kind}`)
        assert.deepEqual(
          parse(dumpYaml(t)),
          docs[i],
          `${docs[i].kind} ${docs[i].metadata.name} loses nothing through client-node's models`,
        )
      })
    }
  })

  it('every example in experiments/ schedules into valid documents', async () => {
    const {readdir} = await import('node:fs/promises')
    const examples = (await readdir('experiments')).filter(f => f.endsWith('.yaml'))
    assert.ok(examples.length >= 4)
    for (const file of examples) {
      const {docs} = await objects({file: `experiments/${file}`, reaper: true})
      for (const d of docs) assert.deepEqual(objectProblems(d), [], `${file}: ${d.kind} ${d.metadata.name}`)
    }
  })

  it('the validation does catch what the API server would refuse', () => {
    assert.match(
      objectProblems({
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: {name: 'x', namespace: 'n'},
        spec: {schedul: '* * * * *'},
      }).join('\n'),
      /spec\.schedul: unknown field[\s\S]*spec\.jobTemplate: required[\s\S]*spec\.schedule: required/,
    )
    assert.match(
      objectProblems({
        apiVersion: 'batch/v1',
        kind: 'CronJob',
        metadata: {name: 'x', namespace: 'n'},
        spec: {
          schedule: '@daily',
          concurrencyPolicy: 'Never',
          jobTemplate: {
            spec: {
              template: {
                spec: {
                  restartPolicy: 'Always',
                  containers: [
                    {name: 'c', volumeMounts: [{name: 'v', mountPath: '/v'}], resources: {limits: {memory: '512MB'}}},
                  ],
                },
              },
            },
          },
        },
      }).join('\n'),
      /concurrencyPolicy[\s\S]*activeDeadlineSeconds[\s\S]*restartPolicy[\s\S]*imagePullPolicy[\s\S]*v is not a volume[\s\S]*512MB/,
    )
    assert.match(
      objectProblems({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {name: 'x', namespace: 'n'},
        data: {'a/b': 'x'},
      }).join('\n'),
      /invalid key a\/b/,
    )
    assert.match(
      objectProblems({apiVersion: 'batch/v1beta1', kind: 'CronJob', metadata: {name: 'x', namespace: 'n'}}).join('\n'),
      /apiVersion/,
    )
    assert.match(
      objectProblems({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: {name: 'x', namespace: 'n'},
        roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Rol', name: 'x'},
      }).join('\n'),
      /roleRef\.kind/,
    )
  })

  it('the CronJob: Forbid, a starting deadline, no retries, a deadline from the phases, the run command and the image', async () => {
    const {docs} = await objects({file: EXPERIMENT, namespace: 'bookinfo'})
    const [cron] = find(docs, 'CronJob')
    assert.equal(cron.spec.schedule, '0 10 * * 1')
    assert.equal(cron.spec.concurrencyPolicy, 'Forbid')
    assert.equal(cron.spec.startingDeadlineSeconds, 300)
    const job = cron.spec.jobTemplate.spec
    assert.equal(job.backoffLimit, 0)
    // ratings-delay: phases 10s+30s+10s, maxDuration 2m → 120s, + 60s overhead = 180s; ×1.2 + 300s.
    assert.equal(job.activeDeadlineSeconds, Math.ceil(180 * 1.2) + 300)
    const spec = pod(cron)
    assert.equal(spec.restartPolicy, 'Never')
    assert.equal(spec.serviceAccountName, 'ratings-delay')
    const [c] = spec.containers
    // --summary: the Job's log ends with summary.md.
    assert.deepEqual(c.command, [
      'chaos',
      'run',
      '/etc/faultline/experiments/ratings-delay.yaml',
      '--namespace',
      'bookinfo',
      '--report-dir',
      '/reports',
      '--summary',
    ])
    assert.equal(c.image, 'ghcr.io/faultline/chaos:0.1.0')
    assert.ok(c.resources.requests.cpu !== undefined && c.resources.limits.memory !== undefined)
  })

  it('the pod meets the restricted Pod Security Standard, with writable emptyDirs only where the runner writes', async () => {
    const {docs} = await objects({file: EXPERIMENT, reaper: true})
    for (const cron of find(docs, 'CronJob')) {
      const spec = pod(cron)
      assert.equal(spec.securityContext.runAsNonRoot, true)
      assert.ok(spec.securityContext.runAsUser > 0)
      assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault')
      const [c] = spec.containers
      assert.deepEqual(c.securityContext, {
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        capabilities: {drop: ['ALL']},
      })
      const volumes = new Map(spec.volumes.map((v: any) => [v.name, v]))
      for (const m of c.volumeMounts) {
        const v = volumes.get(m.name) as any
        assert.ok(v.emptyDir !== undefined || m.readOnly === true, `${m.mountPath} is writable only as an emptyDir`)
      }
    }
    const runner = pod(find(docs, 'CronJob', undefined, 'ratings-delay')[0])
    assert.deepEqual(runner.containers[0].volumeMounts.map((m: any) => m.mountPath).sort(), [
      '/etc/faultline/experiments',
      '/reports',
      '/tmp',
    ])
  })

  it('the ConfigMap holds the experiment exactly as written, under a valid key the command names', async () => {
    const {docs} = await objects({file: EXPERIMENT})
    const [cm] = find(docs, 'ConfigMap')
    const {readFile} = await import('node:fs/promises')
    assert.deepEqual(Object.keys(cm.data), ['ratings-delay.yaml'])
    assert.equal(cm.data['ratings-delay.yaml'], await readFile(EXPERIMENT, 'utf8'))
  })

  it('for a GameDay: every referenced file once, base-name collisions disambiguated, paths rewritten to the keys, still a valid GameDay', async () => {
    const {docs} = await objects({file: GAMEDAY})
    const [cm] = find(docs, 'ConfigMap')
    assert.deepEqual(Object.keys(cm.data), ['weekly-gameday.yaml', 'ratings-delay.yaml', 'ratings-delay-2.yaml'])
    const loaded = parseDocumentText(cm.data['weekly-gameday.yaml'], 'weekly-gameday.yaml')
    assert.equal(loaded.kind, 'GameDay')
    if (loaded.kind !== 'GameDay') return
    assert.deepEqual(
      loaded.gameday.spec.experiments.map(e => e.path),
      ['ratings-delay.yaml', 'ratings-delay-2.yaml', 'ratings-delay.yaml', undefined],
    )
    assert.match(cm.data['weekly-gameday.yaml'], /# same base name, another experiment/, 'comments are kept')
    assert.equal(parseExperiment(cm.data['ratings-delay.yaml'], 'x').metadata.name, 'ratings-delay-short')
    assert.equal(parseExperiment(cm.data['ratings-delay-2.yaml'], 'x').metadata.name, 'ratings-abort-short')
    const [cron] = find(docs, 'CronJob')
    // No --namespace: the GameDay keeps its entries' namespaces.
    assert.deepEqual(pod(cron).containers[0].command, [
      'chaos',
      'gameday',
      '/etc/faultline/experiments/weekly-gameday.yaml',
      '--report-dir',
      '/reports',
      '--summary',
    ])
    // (5+20+5) + max(50, 120) + (5+10+5) + 15 = 185s, + 4 × 60s overhead + 3 × 30s cooldown = 515s.
    assert.equal(cron.spec.jobTemplate.spec.activeDeadlineSeconds, Math.ceil(515 * 1.2) + 300)
  })

  it('mounted as the kubelet mounts a ConfigMap (..data symlinks), the GameDay loads and finds every experiment inside the volume', async () => {
    const {docs} = await objects({file: GAMEDAY})
    const [cm] = find(docs, 'ConfigMap')
    const volume = await mkdtemp(join(tmpdir(), 'faultline-cm-'))
    try {
      // The kubelet's atomic-writer layout: files in a timestamped dir, ..data → it, each key → ..data/key.
      await mkdir(join(volume, '..2026_11_26_10_00_00.000000001'))
      for (const [key, text] of Object.entries(cm.data as Record<string, string>))
        await writeFile(join(volume, '..2026_11_26_10_00_00.000000001', key), text)
      await symlink('..2026_11_26_10_00_00.000000001', join(volume, '..data'))
      for (const key of Object.keys(cm.data)) await symlink(join('..data', key), join(volume, key))
      const [cron] = find(docs, 'CronJob')
      const entry = pod(cron).containers[0].command[2].replace('/etc/faultline/experiments', volume)
      const loaded = await loadDocument(entry)
      assert.equal(loaded.kind, 'GameDay')
      if (loaded.kind !== 'GameDay') return
      assert.deepEqual(
        loaded.gameday.spec.experiments.map(e => e.path),
        [
          join(volume, 'ratings-delay.yaml'),
          join(volume, 'ratings-delay-2.yaml'),
          join(volume, 'ratings-delay.yaml'),
          undefined,
        ],
      )
    } finally {
      await rm(volume, {recursive: true, force: true})
    }
  })

  it('a GameDay across namespaces gets a Role and RoleBinding in each, bound to the one ServiceAccount', async () => {
    const {docs} = await objects({file: GAMEDAY})
    assert.deepEqual(
      find(docs, 'Role').map(r => r.metadata.namespace),
      ['bookinfo', 'staging'],
    )
    for (const rb of find(docs, 'RoleBinding'))
      assert.deepEqual(rb.subjects, [{kind: 'ServiceAccount', name: 'weekly-gameday', namespace: 'bookinfo'}])
    for (const r of find(docs, 'Role')) assert.deepEqual(grantedPermissions(r.rules), grantedPermissions(runRules()))
    const withFlag = await objects({file: GAMEDAY, namespace: 'chaos'})
    assert.deepEqual(
      find(withFlag.docs, 'Role').map(r => r.metadata.namespace),
      ['chaos'],
    )
    assert.deepEqual(pod(find(withFlag.docs, 'CronJob')[0]).containers[0].command.slice(3, 5), ['--namespace', 'chaos'])
  })

  it('--reaper: per target namespace, its own ServiceAccount, a Role of get/list/update/delete VirtualServices, a CronJob every minute', async () => {
    const {docs} = await objects({file: GAMEDAY, reaper: true})
    const reapers = docs.filter(d => d.metadata.labels['app.kubernetes.io/component'] === 'reaper')
    assert.deepEqual(
      reapers.map(d => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`),
      ['bookinfo', 'staging'].flatMap(ns =>
        ['ServiceAccount', 'Role', 'RoleBinding', 'CronJob'].map(kind => `${kind} ${ns}/weekly-gameday-reaper`),
      ),
    )
    for (const role of find(reapers, 'Role'))
      assert.deepEqual(grantedPermissions(role.rules), grantedPermissions(reaperRules()))
    assert.deepEqual(
      grantedPermissions(reaperRules()),
      [
        ...['delete', 'get', 'list', 'update'].map(v => `${v} networking.istio.io/virtualservices`),
        'list networking.istio.io/destinationrules',
      ].sort(),
    )
    for (const cron of find(reapers, 'CronJob')) {
      assert.equal(cron.spec.schedule, '* * * * *')
      assert.equal(cron.spec.concurrencyPolicy, 'Forbid')
      assert.deepEqual(pod(cron).containers[0].command, [
        'chaos',
        'revert',
        '--expired',
        '--namespace',
        cron.metadata.namespace,
      ])
      assert.equal(pod(cron).serviceAccountName, 'weekly-gameday-reaper')
    }
  })

  it('--image, --name, --time-zone and --prometheus-url land where they belong', async () => {
    const {docs} = await objects({
      file: EXPERIMENT,
      image: 'registry.example.com/chaos:dev',
      name: 'nightly',
      timeZone: 'Europe/Berlin',
      prometheusUrl: 'http://prom:9090',
    })
    assert.ok(docs.every(d => d.metadata.name === 'nightly'))
    const [cron] = find(docs, 'CronJob')
    assert.equal(cron.spec.timeZone, 'Europe/Berlin')
    assert.equal(pod(cron).containers[0].image, 'registry.example.com/chaos:dev')
    assert.deepEqual(pod(cron).containers[0].command.slice(-3), ['--prometheus-url', 'http://prom:9090', '--summary'])
    assert.equal(pod(cron).volumes.find((v: any) => v.name === 'experiments').configMap.name, 'nightly')
  })

  it('a name YAML 1.1 reads as a boolean is quoted, as kubectl needs', async () => {
    const {text, docs} = await objects({file: EXPERIMENT, name: 'on'})
    assert.match(text, /name: "on"/)
    assert.ok(docs.every(d => d.metadata.name === 'on'))
  })

  it('refuses names Kubernetes would refuse, saying the limit and how to fix it', async () => {
    const long = 'a'.repeat(CRONJOB_NAME_MAX + 1)
    await assert.rejects(
      buildSchedule({file: EXPERIMENT, cron: '@daily', reaper: false, name: long}),
      (e: unknown) => e instanceof UsageError && /52/.test(e.message) && /--name/.test(e.hint ?? ''),
    )
    await assert.rejects(
      buildSchedule({file: EXPERIMENT, cron: '@daily', reaper: true, name: 'a'.repeat(46)}),
      (e: unknown) => e instanceof UsageError && /reaper/.test(e.message) && /45/.test(e.hint ?? ''),
    )
    await assert.rejects(
      buildSchedule({file: EXPERIMENT, cron: '@daily', reaper: false, name: 'Ratings_Delay'}),
      /DNS-1123/,
    )
    await assert.rejects(
      buildSchedule({file: EXPERIMENT, cron: '@daily', reaper: false, namespace: 'Bookinfo'}),
      /--namespace: "Bookinfo" is not a valid namespace/,
    )
    await assert.rejects(
      buildSchedule({file: 'test/fixtures/schedule/invalid/gameday-bad-namespace.yaml', cron: '@daily', reaper: false}),
      /gameday-bad-namespace\.yaml: spec\.experiments\[0\]\.namespace: "Staging_1" is not a valid namespace name/,
    )
  })

  it('an invalid referenced experiment is refused with its located diagnostics, as chaos validate reports them', async () => {
    await assert.rejects(
      buildSchedule({
        file: 'test/fixtures/schedule/invalid/gameday-referencing-bad-delay.yaml',
        cron: '@daily',
        reaper: false,
      }),
      (e: unknown) => {
        assert.ok(e instanceof InvalidExperiment)
        assert.equal(e.exitCode, 2)
        assert.deepEqual(
          e.diagnostics.map(d => `${d.file}:${d.line}:${d.col} ${d.path}`),
          ['test/fixtures/schedule/invalid/bad-delay.yaml:12:27 spec.faults[0].delay.fixedDelay'],
        )
        return true
      },
    )
  })

  it('warns about what the default image cannot do: k6, and PromQL probes without a Prometheus URL', async () => {
    const schedule = await buildSchedule({
      file: 'test/fixtures/schedule/k6-and-promql.yaml',
      cron: '@daily',
      reaper: false,
    })
    assert.equal(schedule.warnings.length, 2)
    assert.match(schedule.warnings[0] ?? '', /k6.*--image/)
    assert.match(schedule.warnings[1] ?? '', /--prometheus-url/)
    assert.deepEqual(
      (
        await buildSchedule({
          file: 'test/fixtures/schedule/k6-and-promql.yaml',
          cron: '@daily',
          reaper: false,
          image: 'mine:k6',
          prometheusUrl: 'http://p:9090',
        })
      ).warnings,
      [],
    )
  })

  it('--reports-pvc: a PersistentVolumeClaim before the CronJob, mounted at /reports instead of the emptyDir; the volume named for a full-disk warning', async () => {
    const {docs} = await objects({
      file: EXPERIMENT,
      namespace: 'bookinfo',
      reportsPvc: 'chaos-reports',
      reportsSize: '5Gi',
      storageClass: 'fast-ssd',
      keep: 10,
    })
    assert.deepEqual(
      docs.map(d => d.kind),
      ['ServiceAccount', 'Role', 'RoleBinding', 'ConfigMap', 'PersistentVolumeClaim', 'CronJob'],
    )
    for (const d of docs) assert.deepEqual(objectProblems(d), [], `${d.kind} ${d.metadata.name}`)
    const [pvc] = find(docs, 'PersistentVolumeClaim')
    assert.deepEqual(
      [
        pvc.metadata.namespace,
        pvc.metadata.name,
        pvc.metadata.labels['app.kubernetes.io/instance'],
        pvc.metadata.labels['app.kubernetes.io/component'],
      ],
      ['bookinfo', 'chaos-reports', 'ratings-delay', 'reports'],
    )
    assert.deepEqual(pvc.spec, {
      accessModes: ['ReadWriteOnce'],
      resources: {requests: {storage: '5Gi'}},
      storageClassName: 'fast-ssd',
    })
    const spec = pod(find(docs, 'CronJob')[0])
    assert.deepEqual(
      spec.volumes.find((v: any) => v.name === 'reports'),
      {name: 'reports', persistentVolumeClaim: {claimName: 'chaos-reports'}},
    )
    const [c] = spec.containers
    assert.deepEqual(c.command.slice(-3), ['--keep', '10', '--summary'])
    assert.deepEqual(
      c.env.find((e: any) => e.name === 'FAULTLINE_REPORTS_VOLUME'),
      {name: 'FAULTLINE_REPORTS_VOLUME', value: 'PersistentVolumeClaim bookinfo/chaos-reports'},
    )
    assert.equal(spec.affinity, undefined, 'no report server: the run goes anywhere')
    // An existing claim: mounted, not printed.
    const existing = await objects({file: EXPERIMENT, reportsPvcExisting: 'team-reports'})
    assert.deepEqual(find(existing.docs, 'PersistentVolumeClaim'), [])
    assert.equal(
      pod(find(existing.docs, 'CronJob')[0]).volumes.find((v: any) => v.name === 'reports').persistentVolumeClaim
        .claimName,
      'team-reports',
    )
    // Without a claim: the emptyDir as before, and said to die with the pod.
    const plain = pod(find((await objects({file: EXPERIMENT})).docs, 'CronJob')[0])
    assert.deepEqual(
      plain.volumes.find((v: any) => v.name === 'reports'),
      {name: 'reports', emptyDir: {sizeLimit: '256Mi'}},
    )
    assert.match(
      plain.containers[0].env.find((e: any) => e.name === 'FAULTLINE_REPORTS_VOLUME').value,
      /emptyDir "reports" \(256Mi, deleted with the pod\)/,
    )
  })

  it('--report-server: a Deployment and Service <name>-reports serving the claim read-only, as hardened as the runner, with no API token and no new rights', async () => {
    const {docs} = await objects({file: GAMEDAY, reportsPvc: 'chaos-reports', reportServer: true, reaper: true})
    for (const d of docs) assert.deepEqual(objectProblems(d), [], `${d.kind} ${d.metadata.name}`)
    const [deployment] = find(docs, 'Deployment')
    const [service] = find(docs, 'Service')
    assert.equal(deployment.metadata.name, 'weekly-gameday-reports')
    assert.equal(service.metadata.name, 'weekly-gameday-reports')
    assert.equal(deployment.spec.strategy.type, 'Recreate')
    const server = deployment.spec.template.spec
    assert.equal(server.automountServiceAccountToken, false)
    assert.equal(server.serviceAccountName, undefined)
    assert.deepEqual(server.securityContext, pod(find(docs, 'CronJob', undefined, 'weekly-gameday')[0]).securityContext)
    const [c] = server.containers
    assert.deepEqual(c.command, ['chaos', 'report', 'serve', '/reports', '--host', '0.0.0.0', '--port', '8080'])
    assert.deepEqual(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: {drop: ['ALL']},
    })
    assert.deepEqual(
      c.volumeMounts.find((m: any) => m.name === 'reports'),
      {name: 'reports', mountPath: '/reports', readOnly: true},
    )
    assert.deepEqual(
      server.volumes.find((v: any) => v.name === 'reports'),
      {name: 'reports', persistentVolumeClaim: {claimName: 'chaos-reports', readOnly: true}},
    )
    assert.deepEqual(service.spec.ports, [{name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP'}])
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels)
    assert.deepEqual(service.spec.selector, {
      'app.kubernetes.io/name': 'faultline',
      'app.kubernetes.io/instance': 'weekly-gameday',
      'app.kubernetes.io/component': 'reports',
    })
    // A ReadWriteOnce claim is mounted on one node: the run is scheduled where the server has it.
    const runner = pod(find(docs, 'CronJob', undefined, 'weekly-gameday')[0])
    assert.deepEqual(runner.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution, [
      {labelSelector: {matchLabels: service.spec.selector}, topologyKey: 'kubernetes.io/hostname'},
    ])
    const many = await objects({
      file: GAMEDAY,
      reportsPvc: 'chaos-reports',
      reportsAccessMode: 'ReadWriteMany',
      reportServer: true,
    })
    assert.equal(pod(find(many.docs, 'CronJob')[0]).affinity, undefined)
    // The Role grows by nothing.
    assert.deepEqual(
      find(docs, 'Role', undefined, 'weekly-gameday').map(r => r.rules),
      find((await objects({file: GAMEDAY})).docs, 'Role').map(r => r.rules),
    )
  })

  it('--notify-secret: the webhook URL reaches the run from the Secret (secretKeyRef), never through the ConfigMap or the command', async () => {
    const {text, docs} = await objects({
      file: EXPERIMENT,
      notifySecret: 'chaos-webhook/url',
      notifyFormat: 'slack',
      reportUrl: 'https://chaos.example.com/reports',
    })
    const [c] = pod(find(docs, 'CronJob')[0]).containers
    assert.deepEqual(
      c.env.find((e: any) => e.name === 'FAULTLINE_NOTIFY_URL'),
      {name: 'FAULTLINE_NOTIFY_URL', valueFrom: {secretKeyRef: {name: 'chaos-webhook', key: 'url'}}},
    )
    assert.deepEqual(c.command.slice(-5), [
      '--notify-format',
      'slack',
      '--report-url',
      'https://chaos.example.com/reports',
      '--summary',
    ])
    assert.ok(!text.includes('hooks.slack.com'))
    for (const d of docs) assert.deepEqual(objectProblems(d), [], `${d.kind} ${d.metadata.name}`)
  })

  it('refuses bad report and notification values before printing anything (exit 2), saying what is wrong', async () => {
    const refused = async (request: Partial<FullScheduleRequest>, message: RegExp) => {
      await assert.rejects(
        objects({file: EXPERIMENT, ...request}),
        (err: unknown) => err instanceof UsageError && message.test(err.message) && err.exitCode === 2,
      )
    }
    await refused({reportsPvc: 'Chaos_Reports'}, /--reports-pvc "Chaos_Reports": not a DNS-1123 label/)
    await refused({reportsPvcExisting: 'a.b'}, /--reports-pvc-existing "a\.b": not a DNS-1123 label/)
    await refused({reportsPvc: 'x', reportsSize: '1 GB'}, /--reports-size "1 GB": not a storage quantity/)
    await refused({reportsPvc: 'x', reportsSize: '0Gi'}, /not a storage quantity/)
    await refused({reportsSize: '1Gi'}, /--reports-size applies to the claim --reports-pvc creates/)
    await refused({keep: 0}, /--keep 0: keep at least 1 run/)
    await refused({reportServer: true}, /--report-server needs the reports on a claim/)
    await refused(
      {reportsPvc: 'x', reportServer: true, name: '1st-day'},
      /Service "1st-day-reports" would not start with a letter/,
    )
    await refused({notifySecret: 'webhook'}, /--notify-secret "webhook": expected NAME\/KEY/)
    await refused({reportUrl: 'ftp://x'}, /--report-url ftp:\/\/x: not an http\(s\) URL/)
  })
})
