/**
 * The Kubernetes objects of a scheduled run, as plain data: a ServiceAccount, a least-privilege
 * Role and RoleBinding per target namespace, a ConfigMap with the experiment files and a CronJob
 * that runs them; with `--reaper`, a second set that runs `chaos revert --expired` every minute;
 * with `--reports-pvc`, a PersistentVolumeClaim the reports survive in, and with `--report-server`
 * a Deployment and Service serving them (`chaos report serve`).
 */
import {NOTIFY_ENV} from '../notify/send.js'
import {REPORTS_VOLUME_ENV} from '../report/volume.js'
import {checkNamespace, type Component, REAPER_SUFFIX, standardLabels} from './names.js'
import {
  gatewayNamespaces,
  gatewayRules,
  hasSetup,
  type PolicyRule,
  reaperRules,
  runRules,
  usesK6Operator,
  usesPortForward,
} from './rbac.js'
import type {ScheduleBundle} from './bundle.js'
import {type Deadline, runDeadline} from './deadline.js'

/** The numeric user the image runs as (the Dockerfile's USER); numeric so `runAsNonRoot` can be verified. */
export const RUNNER_UID = 10001
/** Where the ConfigMap is mounted in the runner's container. */
export const EXPERIMENTS_DIR = '/etc/faultline/experiments'
/** Where run folders are written (an emptyDir: the root filesystem is read-only). */
export const REPORTS_DIR = '/reports'
/** The image published for each release. */
export const IMAGE_REPOSITORY = 'ghcr.io/faultline/chaos'
/** A missed start later than this is skipped: a game day at 10:00 should not start at 14:00 after an outage. */
export const STARTING_DEADLINE_SECONDS = 300
/** Time between SIGTERM (deadline, eviction, drain) and SIGKILL: the runner reverts in it. */
export const TERMINATION_GRACE_SECONDS = 60
/** Suffix of the report server's Deployment and Service. */
export const REPORTS_SUFFIX = '-reports'
/** The report server's port, in the container and on the Service (`kubectl port-forward svc/<name>-reports 8080`). */
export const REPORT_SERVER_PORT = 8080
/** The emptyDir the reports go to without a claim. */
export const REPORTS_EMPTYDIR_SIZE = '256Mi'

/** Any Kubernetes object we generate. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string>}
  [field: string]: unknown
}

/** One generated object with the comment printed above it. */
export interface Manifest {
  comment: string[]
  object: KubeObject
}

/** What `chaos schedule` was asked for, resolved. */
export interface ScheduleOptions {
  name: string
  /** Where the ServiceAccount, ConfigMap and CronJob live (`--namespace`, else the first target namespace). */
  namespace: string
  /** Whether `--namespace` was given: it is then passed to the run, overriding the file's namespaces. */
  namespaceFlag: boolean
  cron: string
  timeZone?: string
  image: string
  version: string
  prometheusUrl?: string
  /** `--driver`: passed to the run; `k6-operator` adds its Role rules. */
  driver?: string
  reaper: boolean
  /** Where the reports go: the pod's emptyDir (default) or a claim (created here or existing). */
  reports?: ReportsVolume
  /** `--keep N` on the run. */
  keep?: number
  /** The Secret (in the CronJob's namespace) whose key holds the `--notify` URL. */
  notifySecret?: {name: string; key: string}
  notifyFormat?: string
  reportUrl?: string
  /** A Deployment and Service running `chaos report serve` on the claim. */
  reportServer?: boolean
}

/** The report volume of a schedule. */
export type ReportsVolume =
  | {kind: 'emptyDir'}
  | {kind: 'claim'; claim: string; create?: {size: string; storageClass?: string; accessMode: string}}

/** The namespaces the run writes faults in: `--namespace`, else each experiment's (GameDay overrides first), else `default`. */
export function targetNamespaces(bundle: ScheduleBundle, flag: string | undefined): string[] {
  if (flag !== undefined) return [checkNamespace(flag, '--namespace')]
  // spec.target.namespace is checked by the experiment schema; a GameDay's override is a free string.
  const all = bundle.experiments.map(e =>
    e.namespaceOverride === undefined
      ? (e.experiment.spec.target?.namespace ?? 'default')
      : checkNamespace(e.namespaceOverride, e.namespaceField ?? 'namespace'),
  )
  return [...new Set(all)]
}

function meta(name: string, namespace: string, component: Component, version: string): KubeObject['metadata'] {
  return {name, namespace, labels: standardLabels(name, component, version)}
}

function rbac(
  name: string,
  home: string,
  namespace: string,
  rules: PolicyRule[],
  component: Component,
  version: string,
): KubeObject[] {
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(name, namespace, component, version),
      rules,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(name, namespace, component, version),
      subjects: [{kind: 'ServiceAccount', name, namespace: home}],
      roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name},
    },
  ]
}

/** The hardened pod: non-root, read-only root, no capabilities, RuntimeDefault seccomp (the "restricted" Pod Security Standard). */
function podSpec(
  name: string,
  container: Record<string, unknown>,
  volumes: Record<string, unknown>[],
): Record<string, unknown> {
  return {
    serviceAccountName: name,
    automountServiceAccountToken: true,
    restartPolicy: 'Never',
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUNNER_UID,
      runAsGroup: RUNNER_UID,
      fsGroup: RUNNER_UID,
      seccompProfile: {type: 'RuntimeDefault'},
    },
    containers: [container],
    volumes,
  }
}

function container(
  image: string,
  command: string[],
  resources: Record<string, unknown>,
  mounts: Record<string, unknown>[],
  env: Record<string, unknown>[] = [],
): Record<string, unknown> {
  return {
    name: 'chaos',
    image,
    imagePullPolicy: 'IfNotPresent',
    command,
    // HOME on the writable /tmp: the root filesystem is read-only; no ~/.kube/config there, so the in-cluster ServiceAccount is used.
    env: [{name: 'HOME', value: '/tmp'}, {name: 'NO_COLOR', value: '1'}, ...env],
    resources,
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: {drop: ['ALL']},
    },
    volumeMounts: mounts,
  }
}

function cronJob(
  m: KubeObject['metadata'],
  spec: {
    schedule: string
    timeZone?: string | undefined
    startingDeadlineSeconds: number
    history: [number, number]
    activeDeadlineSeconds: number
    pod: Record<string, unknown>
  },
): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: m,
    spec: {
      schedule: spec.schedule,
      ...(spec.timeZone === undefined ? {} : {timeZone: spec.timeZone}),
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: spec.startingDeadlineSeconds,
      successfulJobsHistoryLimit: spec.history[0],
      failedJobsHistoryLimit: spec.history[1],
      jobTemplate: {
        metadata: {labels: m.labels},
        spec: {
          // A chaos run is never retried blindly: a second attempt would inject again into a system that just failed.
          backoffLimit: 0,
          activeDeadlineSeconds: spec.activeDeadlineSeconds,
          template: {
            // No sidecar: a Job whose pod has an injected istio-proxy never completes (the proxy keeps running).
            metadata: {labels: m.labels, annotations: {'sidecar.istio.io/inject': 'false'}},
            spec: spec.pod,
          },
        },
      },
    },
  }
}

/** The command the runner's container runs: `chaos run` for an experiment, `chaos gameday` for a GameDay. */
export function runCommand(
  bundle: ScheduleBundle,
  options: Pick<
    ScheduleOptions,
    'namespace' | 'namespaceFlag' | 'prometheusUrl' | 'keep' | 'notifyFormat' | 'reportUrl' | 'driver'
  >,
): string[] {
  const file = `${EXPERIMENTS_DIR}/${bundle.entry}`
  // An experiment always runs where its Role is; a GameDay keeps its entries' namespaces unless --namespace was given.
  const namespace = bundle.kind === 'Experiment' || options.namespaceFlag ? ['--namespace', options.namespace] : []
  const prometheus = [
    ...(options.prometheusUrl === undefined ? [] : ['--prometheus-url', options.prometheusUrl]),
    ...(options.driver === undefined ? [] : ['--driver', options.driver]),
  ]
  const keep = options.keep === undefined ? [] : ['--keep', String(options.keep)]
  const notify = [
    ...(options.notifyFormat === undefined ? [] : ['--notify-format', options.notifyFormat]),
    ...(options.reportUrl === undefined ? [] : ['--report-url', options.reportUrl]),
  ]
  // --summary: the Job's log ends with summary.md, so `kubectl logs job/…` alone says whether it held and why not.
  return [
    'chaos',
    bundle.kind === 'Experiment' ? 'run' : 'gameday',
    file,
    ...namespace,
    '--report-dir',
    REPORTS_DIR,
    ...prometheus,
    ...keep,
    ...notify,
    '--summary',
  ]
}

/** The `reports` volume of the runner's pod (and the report server's, read-only). */
function reportsVolume(reports: ReportsVolume, readOnly = false): Record<string, unknown> {
  return reports.kind === 'claim'
    ? {name: 'reports', persistentVolumeClaim: {claimName: reports.claim, ...(readOnly ? {readOnly: true} : {})}}
    : {name: 'reports', emptyDir: {sizeLimit: REPORTS_EMPTYDIR_SIZE}}
}

/** How the runner names its report volume in a warning when it is full (`$FAULTLINE_REPORTS_VOLUME`). */
export function reportsVolumeDescription(reports: ReportsVolume, namespace: string): string {
  return reports.kind === 'claim'
    ? `PersistentVolumeClaim ${namespace}/${reports.claim}`
    : `the pod's emptyDir "reports" (${REPORTS_EMPTYDIR_SIZE}, deleted with the pod)`
}

/** The runner's pod: the experiments, the reports and /tmp mounted, the notify Secret in its env, near the report server when they share a claim. */
function runnerPodSpec(bundle: ScheduleBundle, options: ScheduleOptions): Record<string, unknown> {
  const {name, namespace: home} = options
  const mounts = [
    {name: 'experiments', mountPath: EXPERIMENTS_DIR, readOnly: true},
    {name: 'reports', mountPath: REPORTS_DIR},
    {name: 'tmp', mountPath: '/tmp'},
  ]
  const reports = options.reports ?? {kind: 'emptyDir'}
  const volumes = [
    {name: 'experiments', configMap: {name, defaultMode: 0o444}},
    reportsVolume(reports),
    {name: 'tmp', emptyDir: {sizeLimit: '64Mi'}},
  ]
  const env = [
    {name: REPORTS_VOLUME_ENV, value: reportsVolumeDescription(reports, home)},
    // The webhook URL is a secret: it reaches the pod from the user's Secret, never through the ConfigMap or the command line.
    ...(options.notifySecret === undefined
      ? []
      : [
          {
            name: NOTIFY_ENV,
            valueFrom: {secretKeyRef: {name: options.notifySecret.name, key: options.notifySecret.key}},
          },
        ]),
  ]
  // No CPU limit: CFS throttling would delay the load generator's own requests and show up as latency the mesh never added.
  const resources = {
    requests: {cpu: '500m', memory: '256Mi', 'ephemeral-storage': '64Mi'},
    limits: {memory: '512Mi', 'ephemeral-storage': '512Mi'},
  }
  const pod = podSpec(name, container(options.image, runCommand(bundle, options), resources, mounts, env), volumes)
  // A ReadWriteOnce claim is mounted by one node at a time: the run goes where the report server has it mounted.
  if (
    options.reportServer === true &&
    reports.kind === 'claim' &&
    (reports.create?.accessMode ?? 'ReadWriteOnce') !== 'ReadWriteMany'
  ) {
    pod.affinity = {
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [
          {labelSelector: {matchLabels: serverSelector(name)}, topologyKey: 'kubernetes.io/hostname'},
        ],
      },
    }
  }
  return pod
}

/**
 * The run's Roles and RoleBindings: in each target namespace what preflight checks there, and in
 * each namespace a gateway entry finds its gateway Service in, what finding it may take and reading
 * its proxies' fault counters (a target namespace that is also a gateway's gets both in one Role).
 */
function runnerRbac(bundle: ScheduleBundle, options: ScheduleOptions, targets: string[]): Manifest[] {
  const {name, namespace: home, version} = options
  const gateways = gatewayNamespaces(bundle.experiments)
  const uses = {
    setup: hasSetup(bundle.experiments),
    k6Operator: usesK6Operator(bundle.experiments, options.driver),
    portForward: usesPortForward(bundle.experiments),
  }
  // Whether the gateway Service has a load-balancer address when the run starts cannot be known here: without one, the run port-forwards to a gateway pod.
  // Nor whether the gateway will apply a fault: that depends on the VirtualServices bound to it when the run compiles.
  const gatewayWhy = (ns: string) => [
    `for the gateway entry of ${(gateways.get(ns) ?? []).map(g => `${g.experiment} (Service ${ns}/${g.service})`).join(', ')}: list services, to find its load-balancer address;`,
    'without one (unknown until the run) chaos port-forwards to a ready pod of it: list pods, get and create pods/portforward;',
    "a fault the gateway applies (on a service its VirtualServices route to directly) is counted by the proxies here, which the ignition check and the fault phase's evidence read:",
    'list pods, get pods/proxy, and get and create pods/exec as the fallback (preflight wants either of those two)',
  ]
  const inTargets = targets.flatMap(ns =>
    rbac(name, home, ns, runRules({...uses, gateway: gateways.has(ns)}), 'runner', version).map(object => ({
      comment: [
        `${object.kind} ${ns}/${name}: exactly what preflight checks before a run (chaos run's permission check)`,
        ...(gateways.has(ns) ? gatewayWhy(ns) : []),
      ],
      object,
    })),
  )
  const elsewhere = [...gateways.keys()]
    .filter(ns => !targets.includes(ns))
    .flatMap(ns =>
      rbac(name, home, ns, gatewayRules(), 'runner', version).map(object => ({
        comment: [
          `${object.kind} ${ns}/${name}: the run's way in, through a gateway, and the fault counters of its proxies`,
          ...gatewayWhy(ns),
        ],
        object,
      })),
    )
  return [...inTargets, ...elsewhere]
}

/** The run's objects. */
function runnerManifests(
  bundle: ScheduleBundle,
  options: ScheduleOptions,
  targets: string[],
  deadline: Deadline,
): Manifest[] {
  const {name, namespace: home, version} = options
  const m = meta(name, home, 'runner', version)
  const pod = runnerPodSpec(bundle, options)
  const files = [...bundle.files.keys()]
  return [
    {
      comment: [`ServiceAccount ${home}/${name}: the identity the scheduled runs act as`],
      object: {apiVersion: 'v1', kind: 'ServiceAccount', metadata: m},
    },
    ...runnerRbac(bundle, options, targets),
    {
      comment: [`ConfigMap ${home}/${name}: ${files.join(', ')} (mounted at ${EXPERIMENTS_DIR})`],
      object: {apiVersion: 'v1', kind: 'ConfigMap', metadata: m, data: Object.fromEntries(bundle.files)},
    },
    {
      comment: [
        `CronJob ${home}/${name}: ${runCommand(bundle, options).join(' ')}`,
        `schedule "${options.cron}"${options.timeZone === undefined ? " (the controller's time zone, usually UTC)" : ` in ${options.timeZone}`}`,
        `activeDeadlineSeconds: ${deadline.explanation}`,
      ],
      object: cronJob(m, {
        schedule: options.cron,
        timeZone: options.timeZone,
        startingDeadlineSeconds: STARTING_DEADLINE_SECONDS,
        history: [3, 3],
        activeDeadlineSeconds: deadline.activeDeadlineSeconds,
        pod,
      }),
    },
  ]
}

/** The reaper's objects in one namespace: its own ServiceAccount and Role, and a CronJob every minute. */
function reaperManifests(options: ScheduleOptions, namespace: string, setup: boolean, k6Operator: boolean): Manifest[] {
  const name = options.name + REAPER_SUFFIX
  const m = meta(name, namespace, 'reaper', options.version)
  const command = ['chaos', 'revert', '--expired', '--namespace', namespace]
  const resources = {requests: {cpu: '50m', memory: '128Mi'}, limits: {memory: '256Mi', 'ephemeral-storage': '64Mi'}}
  const pod = podSpec(name, container(options.image, command, resources, [{name: 'tmp', mountPath: '/tmp'}]), [
    {name: 'tmp', emptyDir: {sizeLimit: '16Mi'}},
  ])
  return [
    {
      comment: [`ServiceAccount ${namespace}/${name}: the reaper's identity`],
      object: {apiVersion: 'v1', kind: 'ServiceAccount', metadata: m},
    },
    ...rbac(name, namespace, namespace, reaperRules({setup, k6Operator}), 'reaper', options.version).map(object => ({
      comment: [
        `${object.kind} ${namespace}/${name}: what chaos revert --expired needs (list, get, update, delete VirtualServices; list DestinationRules${setup ? ', get and update them to restore a spec.setup' : ''})`,
      ],
      object,
    })),
    {
      comment: [
        `CronJob ${namespace}/${name}: ${command.join(' ')} every minute — reverts faults whose run died (SIGKILL, eviction) once they expire`,
      ],
      // Skipping a missed minute is harmless: the next one reverts the same faults.
      object: cronJob(m, {
        schedule: '* * * * *',
        startingDeadlineSeconds: 50,
        history: [1, 3],
        activeDeadlineSeconds: 240,
        pod,
      }),
    },
  ]
}

/** The labels that select the report server's pod. */
function serverSelector(name: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'faultline',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/component': 'reports',
  }
}

/** The report objects belong to the schedule: `app.kubernetes.io/instance` is its name, as the selector's. */
function reportsMeta(objectName: string, options: ScheduleOptions): KubeObject['metadata'] {
  return {
    name: objectName,
    namespace: options.namespace,
    labels: standardLabels(options.name, 'reports', options.version),
  }
}

/** The claim, when the schedule creates it. */
function claimManifest(options: ScheduleOptions): Manifest[] {
  const reports = options.reports
  if (reports?.kind !== 'claim' || reports.create === undefined) return []
  const {size, storageClass, accessMode} = reports.create
  return [
    {
      comment: [
        `PersistentVolumeClaim ${options.namespace}/${reports.claim}: the report root (${size}, ${accessMode}${storageClass === undefined ? ', the default storage class' : `, storage class ${storageClass}`}), mounted at ${REPORTS_DIR}; it outlives every Job — kubectl delete -f on this file deletes it too`,
      ],
      object: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: reportsMeta(reports.claim, options),
        spec: {
          accessModes: [accessMode],
          resources: {requests: {storage: size}},
          ...(storageClass === undefined ? {} : {storageClassName: storageClass}),
        },
      },
    },
  ]
}

/** The report server's container: `command` on the claim mounted read-only, its HTTP port probed for readiness and liveness. */
function reportServerContainer(image: string, command: string[]): Record<string, unknown> {
  const serving = container(
    image,
    command,
    {requests: {cpu: '10m', memory: '64Mi'}, limits: {memory: '128Mi', 'ephemeral-storage': '64Mi'}},
    [
      {name: 'reports', mountPath: REPORTS_DIR, readOnly: true},
      {name: 'tmp', mountPath: '/tmp'},
    ],
  )
  serving.name = 'reports'
  serving.ports = [{name: 'http', containerPort: REPORT_SERVER_PORT, protocol: 'TCP'}]
  const probe = {httpGet: {path: '/', port: 'http'}, periodSeconds: 10, timeoutSeconds: 2}
  serving.readinessProbe = probe
  serving.livenessProbe = {...probe, initialDelaySeconds: 10, failureThreshold: 6}
  return serving
}

/** The report server's pod template: outside the mesh, without an API token, as the runner's user, the claim read-only. */
function reportServerPod(
  serving: Record<string, unknown>,
  labels: Record<string, string>,
  reports: ReportsVolume,
): Record<string, unknown> {
  return {
    metadata: {labels, annotations: {'sidecar.istio.io/inject': 'false'}},
    spec: {
      // It reads files and talks to nobody: no API token, no service account rights (the Role grows by nothing).
      automountServiceAccountToken: false,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: RUNNER_UID,
        runAsGroup: RUNNER_UID,
        fsGroup: RUNNER_UID,
        seccompProfile: {type: 'RuntimeDefault'},
      },
      containers: [serving],
      volumes: [reportsVolume(reports, true), {name: 'tmp', emptyDir: {sizeLimit: '16Mi'}}],
    },
  }
}

/** `chaos report serve /reports` on the claim, read-only, as hardened as the runner; and its Service. */
function reportServerManifests(options: ScheduleOptions): Manifest[] {
  const reports = options.reports
  if (options.reportServer !== true || reports?.kind !== 'claim') return []
  const name = options.name + REPORTS_SUFFIX
  const m = reportsMeta(name, options)
  const command = ['chaos', 'report', 'serve', REPORTS_DIR, '--host', '0.0.0.0', '--port', String(REPORT_SERVER_PORT)]
  const selector = serverSelector(options.name)
  const pod = reportServerPod(reportServerContainer(options.image, command), m.labels, reports)
  return [
    {
      comment: [
        `Deployment ${options.namespace}/${name}: ${command.join(' ')} — the claim ${reports.claim}, read-only`,
        `kubectl port-forward -n ${options.namespace} svc/${name} ${REPORT_SERVER_PORT}, then open http://localhost:${REPORT_SERVER_PORT}/`,
      ],
      object: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: m,
        // Recreate: a ReadWriteOnce claim cannot be mounted by the old and the new pod on two nodes at once.
        spec: {replicas: 1, strategy: {type: 'Recreate'}, selector: {matchLabels: selector}, template: pod},
      },
    },
    {
      comment: [
        `Service ${options.namespace}/${name}: port ${REPORT_SERVER_PORT} of the report server (ClusterIP: reach it with kubectl port-forward, or put your own authenticated ingress in front)`,
      ],
      object: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: m,
        spec: {
          type: 'ClusterIP',
          selector,
          ports: [{name: 'http', port: REPORT_SERVER_PORT, targetPort: 'http', protocol: 'TCP'}],
        },
      },
    },
  ]
}

/** Every object `chaos schedule` prints, in the order `kubectl apply` needs them (identities and rights before the CronJob, the claim before what mounts it). */
export function scheduleManifests(bundle: ScheduleBundle, options: ScheduleOptions, targets: string[]): Manifest[] {
  const out = runnerManifests(bundle, options, targets, runDeadline(bundle))
  // The claim before the CronJob that mounts it (a pod waits for a missing claim, but the order reads right).
  out.splice(out.length - 1, 0, ...claimManifest(options))
  out.push(...reportServerManifests(options))
  if (options.reaper)
    for (const ns of targets)
      out.push(
        ...reaperManifests(
          options,
          ns,
          hasSetup(bundle.experiments),
          usesK6Operator(bundle.experiments, options.driver),
        ),
      )
  return out
}
