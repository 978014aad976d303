/**
 * Names and labels of the objects `chaos schedule` generates. Kubernetes refuses a bad name only
 * at apply time; we refuse it before printing anything, with the limit that applies and why.
 */
import {UsageError} from '@faultline/core/errors.js'

/** DNS-1123 label: what namespaces and most names must be. */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/

/**
 * A CronJob's name is at most 52 characters: the controller names each Job `<name>-<minutes since
 * epoch>` (11 more), and a Job's name must still fit a 63-character label.
 */
export const CRONJOB_NAME_MAX = 52

/** Names of Roles, ServiceAccounts, ConfigMaps: DNS-1123 subdomains, but we keep to a label (63). */
export const OBJECT_NAME_MAX = 63

/** Suffix of the reaper's objects, beside the run's. */
export const REAPER_SUFFIX = '-reaper'

/** What `app.kubernetes.io/component` says about an object. */
export type Component = 'runner' | 'reaper' | 'reports'

/** The labels every generated object carries (the recommended `app.kubernetes.io/*` set). */
export function standardLabels(name: string, component: Component, version: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'faultline',
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/version': labelValue(version),
    'app.kubernetes.io/managed-by': 'chaos-schedule',
  }
}

/** A label value: at most 63 characters of [A-Za-z0-9._-], alphanumeric at both ends (semver's `+` is not allowed). */
export function labelValue(text: string): string {
  return text
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
}

/** Why `name` cannot name the generated objects, or undefined when it can. */
export function nameProblem(name: string, reaper: boolean): string | undefined {
  if (!DNS1123_LABEL.test(name))
    return `"${name}" is not a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)`
  if (name.length > CRONJOB_NAME_MAX)
    return `"${name}" is ${name.length} characters; a CronJob name may have at most ${CRONJOB_NAME_MAX} (the controller appends an 11-character suffix to each Job's name)`
  const reaperName = name + REAPER_SUFFIX
  if (reaper && reaperName.length > CRONJOB_NAME_MAX)
    return `the reaper's CronJob "${reaperName}" would be ${reaperName.length} characters; with --reaper the name may have at most ${CRONJOB_NAME_MAX - REAPER_SUFFIX.length}`
  return undefined
}

/** The name of the generated objects: `--name`, else the file's metadata.name; refused when Kubernetes would refuse it. */
export function scheduleName(flag: string | undefined, metadataName: string, reaper: boolean): string {
  const name = flag ?? metadataName
  const problem = nameProblem(name, reaper)
  if (problem === undefined) return name
  const fix =
    flag === undefined
      ? `metadata.name comes from the file; pass --name with a shorter DNS-1123 name (at most ${reaper ? CRONJOB_NAME_MAX - REAPER_SUFFIX.length : CRONJOB_NAME_MAX} characters), e.g. --name ${suggestName(name, reaper)}`
      : `pass a DNS-1123 name of at most ${reaper ? CRONJOB_NAME_MAX - REAPER_SUFFIX.length : CRONJOB_NAME_MAX} characters, e.g. --name ${suggestName(name, reaper)}`
  throw new UsageError(`${flag === undefined ? 'metadata.name' : '--name'}: ${problem}`, {hint: fix})
}

function suggestName(name: string, reaper: boolean): string {
  const max = reaper ? CRONJOB_NAME_MAX - REAPER_SUFFIX.length : CRONJOB_NAME_MAX
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, max)
    .replace(/^-+|-+$/g, '')
  return cleaned === '' ? 'gameday' : cleaned
}

/** Refuses a namespace Kubernetes would refuse. */
export function checkNamespace(namespace: string, from: string): string {
  if (DNS1123_LABEL.test(namespace) && namespace.length <= OBJECT_NAME_MAX) return namespace
  throw new UsageError(`${from}: "${namespace}" is not a valid namespace name`, {
    hint: 'A namespace is a DNS-1123 label: at most 63 lowercase letters, digits and "-", starting and ending with a letter or digit.',
  })
}
