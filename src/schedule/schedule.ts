/** `chaos schedule` end to end: load and validate the file, resolve names and namespaces, build and render the objects. */
import {stringify} from 'yaml'

import {version as runnerVersion} from '../version.js'
import {loadBundle, type ScheduleBundle} from './bundle.js'
import {checkCron, checkTimeZone} from './cron.js'
import {IMAGE_REPOSITORY, type Manifest, scheduleManifests, targetNamespaces} from './manifests.js'
import {scheduleName} from './names.js'
import {type ReportsRequest, reportsOptions} from './reports.js'

/** The command line of `chaos schedule`. */
export interface ScheduleRequest {
  file: string
  cron: string
  image?: string
  namespace?: string
  name?: string
  timeZone?: string
  prometheusUrl?: string
  /** `--driver`: the run's load driver for every experiment (k6-operator adds its Role rules). */
  driver?: string
  reaper: boolean
  /** For tests: the version labels and the default image tag carry. */
  version?: string
}

/** The whole request: the run's, and where its reports go and who hears about them. */
export type FullScheduleRequest = ScheduleRequest & ReportsRequest

/** What was generated, and what the caller may want to warn about. */
export interface Schedule {
  bundle: ScheduleBundle
  manifests: Manifest[]
  namespaces: string[]
  warnings: string[]
}

/** The default image: the release matching this runner's version. */
export function defaultImage(version: string = runnerVersion): string {
  return `${IMAGE_REPOSITORY}:${version}`
}

/** Builds every object for a request; throws `InvalidExperiment` (exit 2) or `UsageError` (exit 2) before printing anything. */
export async function buildSchedule(request: FullScheduleRequest): Promise<Schedule> {
  const cron = checkCron(request.cron)
  const timeZone = request.timeZone === undefined ? undefined : checkTimeZone(request.timeZone)
  const bundle = await loadBundle(request.file)
  const name = scheduleName(request.name, bundle.name, request.reaper)
  const reports = reportsOptions(request, name)
  const namespaces = targetNamespaces(bundle, request.namespace)
  const version = request.version ?? runnerVersion
  const image = request.image ?? defaultImage(version)
  const manifests = scheduleManifests(
    bundle,
    {
      name,
      namespace: namespaces[0] as string,
      namespaceFlag: request.namespace !== undefined,
      cron,
      image,
      version,
      reaper: request.reaper,
      ...(timeZone === undefined ? {} : {timeZone}),
      ...(request.prometheusUrl === undefined ? {} : {prometheusUrl: request.prometheusUrl}),
      ...(request.driver === undefined ? {} : {driver: request.driver}),
      ...reports,
    },
    namespaces,
  )
  return {bundle, manifests, namespaces, warnings: warningsFor(bundle, request)}
}

function warningsFor(bundle: ScheduleBundle, request: ScheduleRequest): string[] {
  const warnings: string[] = []
  const names = (pick: (e: ScheduleBundle['experiments'][number]) => boolean) =>
    bundle.experiments.filter(pick).map(e => e.experiment.metadata.name)
  const k6 = names(e => e.experiment.spec.load.driver === 'k6')
  if (k6.length > 0 && request.image === undefined)
    warnings.push(
      `${k6.join(', ')} use the k6 load driver, which the default image does not include: the run would exit 4. Build an image with k6 on its PATH and pass --image.`,
    )
  const promql = names(
    e =>
      [...e.experiment.spec.steadyState, ...(e.experiment.spec.guardrails?.abortWhen ?? [])].some(
        p => 'prometheus' in p && p.prometheus.url === undefined,
      ) && e.experiment.spec.prometheus === undefined,
  )
  if (promql.length > 0 && request.prometheusUrl === undefined)
    warnings.push(
      `${promql.join(', ')} have PromQL probes without a Prometheus URL: pass --prometheus-url (e.g. http://prometheus.istio-system:9090), or preflight stops the run.`,
    )
  return warnings
}

/**
 * Multi-document YAML, each document under a comment saying what it is and why. Written as YAML 1.1
 * because kubectl reads it so (sigs.k8s.io/yaml): a name such as `on` or `y` is quoted, not a boolean.
 */
export function renderManifests(manifests: Manifest[]): string {
  return manifests
    .map(
      m =>
        `${m.comment.map(line => `# ${line}`).join('\n')}\n${stringify(m.object, {version: '1.1', aliasDuplicateObjects: false, lineWidth: 0})}`,
    )
    .join('---\n')
}
