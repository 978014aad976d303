/**
 * The Kubernetes objects of a scheduled run, as plain data: a ServiceAccount, a least-privilege
 * Role and RoleBinding per target namespace, a ConfigMap with the experiment files and a CronJob
 * that runs them; with `--reaper`, a second set that runs `chaos revert --expired` every minute.
 */
import {checkNamespace, type Component, REAPER_SUFFIX, standardLabels} from './names.js'
import {type PolicyRule, reaperRules, runRules} from './rbac.js'
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
  reaper: boolean
}

/** The namespaces the run writes faults in: `--namespace`, else each experiment's (GameDay overrides first), else `default`. */
export function targetNamespaces(bundle: ScheduleBundle, flag: string | undefined): string[] {
  if (flag !== undefined) return [checkNamespace(flag, '--namespace')]
  // spec.target.namespace is checked by the experiment schema; a GameDay's override is a free string.
  const all = bundle.experiments.map(e => e.namespaceOverride === undefined ? e.experiment.spec.target?.namespace ?? 'default' : checkNamespace(e.namespaceOverride, e.namespaceField ?? 'namespace'))
  return [...new Set(all)]
}

function meta(name: string, namespace: string, component: Component, version: string): KubeObject['metadata'] {
  return {name, namespace, labels: standardLabels(name, component, version)}
}

function rbac(name: string, home: string, namespace: string, rules: PolicyRule[], component: Component, version: string): KubeObject[] {
  return [
    {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: meta(name, namespace, component, version), rules},
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: meta(name, namespace, component, version),
      subjects: [{kind: 'ServiceAccount', name, namespace: home}],
      roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name},
    },
  ]
}

/** The hardened pod: non-root, read-only root, no capabilities, RuntimeDefault seccomp (the "restricted" Pod Security Standard). */
function podSpec(name: string, container: Record<string, unknown>, volumes: Record<string, unknown>[]): Record<string, unknown> {
  return {
    serviceAccountName: name,
    automountServiceAccountToken: true,
    restartPolicy: 'Never',
    terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
    securityContext: {runAsNonRoot: true, runAsUser: RUNNER_UID, runAsGroup: RUNNER_UID, fsGroup: RUNNER_UID, seccompProfile: {type: 'RuntimeDefault'}},
    containers: [container],
    volumes,
  }
}

function container(image: string, command: string[], resources: Record<string, unknown>, mounts: Record<string, unknown>[]): Record<string, unknown> {
  return {
    name: 'chaos', image, imagePullPolicy: 'IfNotPresent', command,
    // HOME on the writable /tmp: the root filesystem is read-only; no ~/.kube/config there, so the in-cluster ServiceAccount is used.
    env: [{name: 'HOME', value: '/tmp'}, {name: 'NO_COLOR', value: '1'}],
    resources,
    securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: {drop: ['ALL']}},
    volumeMounts: mounts,
  }
}

function cronJob(m: KubeObject['metadata'], spec: {schedule: string; timeZone?: string | undefined; startingDeadlineSeconds: number; history: [number, number]; activeDeadlineSeconds: number; pod: Record<string, unknown>}): KubeObject {
  return {
    apiVersion: 'batch/v1', kind: 'CronJob', metadata: m,
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
export function runCommand(bundle: ScheduleBundle, options: Pick<ScheduleOptions, 'namespace' | 'namespaceFlag' | 'prometheusUrl'>): string[] {
  const file = `${EXPERIMENTS_DIR}/${bundle.entry}`
  // An experiment always runs where its Role is; a GameDay keeps its entries' namespaces unless --namespace was given.
  const namespace = bundle.kind === 'Experiment' || options.namespaceFlag ? ['--namespace', options.namespace] : []
  const prometheus = options.prometheusUrl === undefined ? [] : ['--prometheus-url', options.prometheusUrl]
  return ['chaos', bundle.kind === 'Experiment' ? 'run' : 'gameday', file, ...namespace, '--report-dir', REPORTS_DIR, ...prometheus]
}

/** The run's objects. */
function runnerManifests(bundle: ScheduleBundle, options: ScheduleOptions, targets: string[], deadline: Deadline): Manifest[] {
  const {name, namespace: home, version} = options
  const m = meta(name, home, 'runner', version)
  const rules = runRules()
  const mounts = [
    {name: 'experiments', mountPath: EXPERIMENTS_DIR, readOnly: true},
    {name: 'reports', mountPath: REPORTS_DIR},
    {name: 'tmp', mountPath: '/tmp'},
  ]
  const volumes = [
    {name: 'experiments', configMap: {name, defaultMode: 0o444}},
    {name: 'reports', emptyDir: {sizeLimit: '256Mi'}},
    {name: 'tmp', emptyDir: {sizeLimit: '64Mi'}},
  ]
  // No CPU limit: CFS throttling would delay the load generator's own requests and show up as latency the mesh never added.
  const resources = {requests: {cpu: '500m', memory: '256Mi', 'ephemeral-storage': '64Mi'}, limits: {memory: '512Mi', 'ephemeral-storage': '512Mi'}}
  const pod = podSpec(name, container(options.image, runCommand(bundle, options), resources, mounts), volumes)
  const files = [...bundle.files.keys()]
  return [
    {comment: [`ServiceAccount ${home}/${name}: the identity the scheduled runs act as`], object: {apiVersion: 'v1', kind: 'ServiceAccount', metadata: m}},
    ...targets.flatMap(ns => rbac(name, home, ns, rules, 'runner', version).map(object => ({
      comment: [`${object.kind} ${ns}/${name}: exactly what preflight checks before a run (chaos run's permission check)`], object,
    }))),
    {comment: [`ConfigMap ${home}/${name}: ${files.join(', ')} (mounted at ${EXPERIMENTS_DIR})`], object: {apiVersion: 'v1', kind: 'ConfigMap', metadata: m, data: Object.fromEntries(bundle.files)}},
    {
      comment: [`CronJob ${home}/${name}: ${runCommand(bundle, options).join(' ')}`, `schedule "${options.cron}"${options.timeZone === undefined ? ' (the controller\'s time zone, usually UTC)' : ` in ${options.timeZone}`}`, `activeDeadlineSeconds: ${deadline.explanation}`],
      object: cronJob(m, {schedule: options.cron, timeZone: options.timeZone, startingDeadlineSeconds: STARTING_DEADLINE_SECONDS, history: [3, 3], activeDeadlineSeconds: deadline.activeDeadlineSeconds, pod}),
    },
  ]
}

/** The reaper's objects in one namespace: its own ServiceAccount and Role, and a CronJob every minute. */
function reaperManifests(options: ScheduleOptions, namespace: string): Manifest[] {
  const name = options.name + REAPER_SUFFIX
  const m = meta(name, namespace, 'reaper', options.version)
  const command = ['chaos', 'revert', '--expired', '--namespace', namespace]
  const resources = {requests: {cpu: '50m', memory: '128Mi'}, limits: {memory: '256Mi', 'ephemeral-storage': '64Mi'}}
  const pod = podSpec(name, container(options.image, command, resources, [{name: 'tmp', mountPath: '/tmp'}]), [{name: 'tmp', emptyDir: {sizeLimit: '16Mi'}}])
  return [
    {comment: [`ServiceAccount ${namespace}/${name}: the reaper's identity`], object: {apiVersion: 'v1', kind: 'ServiceAccount', metadata: m}},
    ...rbac(name, namespace, namespace, reaperRules(), 'reaper', options.version).map(object => ({
      comment: [`${object.kind} ${namespace}/${name}: what chaos revert --expired needs (list, get, update, delete VirtualServices)`], object,
    })),
    {
      comment: [`CronJob ${namespace}/${name}: ${command.join(' ')} every minute — reverts faults whose run died (SIGKILL, eviction) once they expire`],
      // Skipping a missed minute is harmless: the next one reverts the same faults.
      object: cronJob(m, {schedule: '* * * * *', startingDeadlineSeconds: 50, history: [1, 3], activeDeadlineSeconds: 240, pod}),
    },
  ]
}

/** Every object `chaos schedule` prints, in the order `kubectl apply` needs them (identities and rights before the CronJob). */
export function scheduleManifests(bundle: ScheduleBundle, options: ScheduleOptions, targets: string[]): Manifest[] {
  const out = runnerManifests(bundle, options, targets, runDeadline(bundle))
  if (options.reaper) for (const ns of targets) out.push(...reaperManifests(options, ns))
  return out
}
