/**
 * Where a scheduled run's reports go and who hears about them: `--reports-pvc` (a claim the
 * schedule creates) or `--reports-pvc-existing` instead of the pod's emptyDir, `--keep`,
 * `--report-server`, and `--notify-secret` (the webhook URL from a Secret, never in the ConfigMap).
 * Every value is checked here, before anything is printed: Kubernetes would refuse it only at
 * apply time, or worse, the run would fail a week later.
 */
import {UsageError} from '@faultline/core/errors.js'
import {NOTIFY_FORMATS} from '../notify/formats.js'
import {checkKeep} from '../report/prune.js'
import type {ReportsVolume, ScheduleOptions} from './manifests.js'
import {OBJECT_NAME_MAX} from './names.js'

/** What `chaos schedule` takes about reports and notifications. */
export interface ReportsRequest {
  /** Create a claim of this name and keep the reports on it. */
  reportsPvc?: string
  /** Keep the reports on this existing claim. */
  reportsPvcExisting?: string
  /** The created claim's size (default 1Gi). */
  reportsSize?: string
  storageClass?: string
  /** ReadWriteOnce (default), ReadWriteMany or ReadWriteOncePod. */
  reportsAccessMode?: string
  keep?: number
  reportServer?: boolean
  /** `NAME/KEY` of the Secret holding the webhook URL. */
  notifySecret?: string
  notifyFormat?: string
  reportUrl?: string
}

/** The access modes a report claim may have. */
export const ACCESS_MODES = ['ReadWriteOnce', 'ReadWriteMany', 'ReadWriteOncePod'] as const

/** The default size of a created claim. */
export const DEFAULT_REPORTS_SIZE = '1Gi'

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/
/** A Kubernetes resource quantity, as a storage request is written (no negative, no exponent forms beyond the suffixes). */
const QUANTITY = /^([0-9]+(\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/

/** Refuses a claim name that is not a DNS-1123 label. */
export function checkClaimName(claim: string, flag: string): string {
  if (DNS1123_LABEL.test(claim) && claim.length <= OBJECT_NAME_MAX) return claim
  throw new UsageError(`${flag} ${JSON.stringify(claim)}: not a DNS-1123 label`, {
    hint: `A claim name is at most ${OBJECT_NAME_MAX} lowercase letters, digits and "-", starting and ending with a letter or digit, e.g. ${flag} chaos-reports.`,
  })
}

function checkQuantity(size: string): string {
  if (QUANTITY.test(size) && !/^0*(\.0*)?[A-Za-z]*$/.test(size)) return size
  throw new UsageError(`--reports-size ${JSON.stringify(size)}: not a storage quantity`, {
    hint: 'Write a size such as 1Gi, 500Mi or 10G.',
  })
}

function checkUrl(flag: string, value: string): string {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {
    url = undefined
  }
  if (url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:')) return value
  throw new UsageError(`${flag} ${value}: not an http(s) URL`, {
    hint: 'Pass where the report root is served, e.g. --report-url http://localhost:8080 (the report server through kubectl port-forward).',
  })
}

/** `NAME/KEY` → the Secret's name and key. */
export function parseSecretRef(ref: string): {name: string; key: string} {
  const [name, key, extra] = ref.split('/')
  if (
    name === undefined ||
    key === undefined ||
    extra !== undefined ||
    !DNS1123_SUBDOMAIN.test(name) ||
    name.length > 253 ||
    !SECRET_KEY.test(key) ||
    key.length > 253
  ) {
    throw new UsageError(
      `--notify-secret ${JSON.stringify(ref)}: expected NAME/KEY, a Secret's name and the key holding the webhook URL`,
      {
        hint: "Create the Secret in the CronJob's namespace first, e.g. kubectl create secret generic chaos-webhook --from-literal=url=https://hooks.slack.com/services/…, then pass --notify-secret chaos-webhook/url.",
      },
    )
  }
  return {name, key}
}

/** Where the request keeps the reports: a claim it creates, an existing claim, or the pod's emptyDir. */
function requestedReportsVolume(request: ReportsRequest): ReportsVolume {
  if (request.reportsPvc !== undefined && request.reportsPvcExisting !== undefined) {
    throw new UsageError('--reports-pvc and --reports-pvc-existing exclude each other', {
      hint: '--reports-pvc NAME creates the claim; --reports-pvc-existing NAME mounts one you made.',
    })
  }
  const creating = request.reportsPvc !== undefined
  for (const [flag, value] of [
    ['--reports-size', request.reportsSize],
    ['--storage-class', request.storageClass],
    ['--reports-access-mode', request.reportsAccessMode],
  ] as const) {
    if (value !== undefined && !creating)
      throw new UsageError(`${flag} applies to the claim --reports-pvc creates`, {
        hint: `Pass --reports-pvc NAME with ${flag}, or leave ${flag} out.`,
      })
  }
  if (request.reportsPvc !== undefined) {
    const accessMode = request.reportsAccessMode ?? 'ReadWriteOnce'
    if (!(ACCESS_MODES as readonly string[]).includes(accessMode))
      throw new UsageError(`--reports-access-mode ${accessMode}: not one of ${ACCESS_MODES.join(', ')}`)
    if (
      request.storageClass !== undefined &&
      (!DNS1123_SUBDOMAIN.test(request.storageClass) || request.storageClass.length > 253)
    ) {
      throw new UsageError(`--storage-class ${JSON.stringify(request.storageClass)}: not a valid StorageClass name`, {
        hint: 'kubectl get storageclass lists them.',
      })
    }
    return {
      kind: 'claim',
      claim: checkClaimName(request.reportsPvc, '--reports-pvc'),
      create: {
        size: checkQuantity(request.reportsSize ?? DEFAULT_REPORTS_SIZE),
        accessMode,
        ...(request.storageClass === undefined ? {} : {storageClass: request.storageClass}),
      },
    }
  }
  if (request.reportsPvcExisting !== undefined)
    return {kind: 'claim', claim: checkClaimName(request.reportsPvcExisting, '--reports-pvc-existing')}
  return {kind: 'emptyDir'}
}

/** `--report-server` serves a claim, through a Service whose name must start with a letter. */
function checkReportServer(reports: ReportsVolume, name: string): void {
  if (reports.kind !== 'claim')
    throw new UsageError(
      "--report-server needs the reports on a claim: an emptyDir lives and dies with each run's pod",
      {hint: 'Add --reports-pvc NAME (or --reports-pvc-existing NAME).'},
    )
  // A Service name is a DNS-1035 label: it must start with a letter.
  if (!/^[a-z]/.test(name))
    throw new UsageError(
      `--report-server: the Service "${name}-reports" would not start with a letter, which Kubernetes requires of Service names`,
      {hint: 'Pass a --name that starts with a letter.'},
    )
}

/** The schedule options of a request's report and notification flags (usage errors, exit 2, before anything is printed). */
export function reportsOptions(request: ReportsRequest, name: string): Partial<ScheduleOptions> {
  const reports = requestedReportsVolume(request)
  if (request.reportServer === true) checkReportServer(reports, name)
  if (request.notifyFormat !== undefined && !(NOTIFY_FORMATS as readonly string[]).includes(request.notifyFormat)) {
    throw new UsageError(`--notify-format ${request.notifyFormat}: not one of ${NOTIFY_FORMATS.join(', ')}`)
  }
  const keep = checkKeep(request.keep)
  return {
    reports,
    ...(keep === undefined ? {} : {keep}),
    ...(request.reportServer === true ? {reportServer: true} : {}),
    ...(request.notifySecret === undefined ? {} : {notifySecret: parseSecretRef(request.notifySecret)}),
    ...(request.notifyFormat === undefined ? {} : {notifyFormat: request.notifyFormat}),
    ...(request.reportUrl === undefined ? {} : {reportUrl: checkUrl('--report-url', request.reportUrl)}),
  }
}
