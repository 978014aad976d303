/**
 * Offline validation of generated Kubernetes objects, as close to the API server's as we can get
 * without one (no Kubernetes OpenAPI document ships with our dependencies, and kubectl's
 * --validate needs a server).
 *
 * Structural, from @kubernetes/client-node's models (generated from the Kubernetes OpenAPI spec
 * of 1.34): every field must exist in the model (kubectl --validate=strict's "unknown field"),
 * have its type (string, integer for int32/int64, boolean, array, map, int-or-string) and every
 * field the model declares required must be present. Then the checks kube-apiserver's validation
 * makes on the fields we set that the schema cannot express: enum values, names, label syntax,
 * quantities, ConfigMap keys, volume references.
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

import * as k8s from '@kubernetes/client-node'

interface Attribute {
  name: string
  baseName: string
  type: string
  format: string
}
type Model = {attributeTypeMap: Attribute[]}

const models = k8s as unknown as Record<string, Model | undefined>
const modelsDir = join(dirname(createRequire(import.meta.url).resolve('@kubernetes/client-node')), 'gen', 'models')
const requiredCache = new Map<string, Set<string>>()

/** The properties a model declares without `?` in its generated .d.ts: the OpenAPI `required` list. */
function requiredOf(model: string): Set<string> {
  let required = requiredCache.get(model)
  if (required === undefined) {
    const text = readFileSync(join(modelsDir, `${model}.d.ts`), 'utf8')
    required = new Set([...text.matchAll(/^ {4}'([A-Za-z0-9_$]+)': /gm)].map(m => m[1] as string))
    requiredCache.set(model, required)
  }
  return required
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Problems of `value` against client-node type `type`, each prefixed with its field path. */
export function structuralProblems(value: unknown, type: string, path: string, format = ''): string[] {
  const array = /^Array<(.+)>$/.exec(type)
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type)
  if (array !== null)
    return Array.isArray(value)
      ? value.flatMap((v, i) => structuralProblems(v, array[1] as string, `${path}[${i}]`))
      : [`${path}: expected an array`]
  if (map !== null)
    return isObject(value)
      ? Object.entries(value).flatMap(([k, v]) => structuralProblems(v, map[1] as string, `${path}.${k}`))
      : [`${path}: expected a map`]
  switch (type) {
    case 'string':
      return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`]
    case 'boolean':
      return typeof value === 'boolean' ? [] : [`${path}: expected a boolean`]
    case 'number':
      return typeof value !== 'number'
        ? [`${path}: expected a number`]
        : /^int/.test(format) && !Number.isInteger(value)
          ? [`${path}: expected an integer (${format})`]
          : []
    case 'IntOrString':
      return typeof value === 'string' || Number.isInteger(value) ? [] : [`${path}: expected an int or a string`]
    case 'Date':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? [] : [`${path}: expected an RFC 3339 time`]
    case 'any':
      return []
  }
  const model = models[type]
  if (model?.attributeTypeMap === undefined) return [`${path}: no client-node model ${type}`]
  if (!isObject(value)) return [`${path}: expected an object (${type})`]
  const byBase = new Map(model.attributeTypeMap.map(a => [a.baseName, a]))
  const problems: string[] = []
  for (const key of Object.keys(value))
    if (!byBase.has(key)) problems.push(`${path}.${key}: unknown field (not in ${type})`)
  for (const name of requiredOf(type)) {
    const base = model.attributeTypeMap.find(a => a.name === name)?.baseName ?? name
    if (value[base] === undefined) problems.push(`${path}.${base}: required by ${type}`)
  }
  for (const [key, v] of Object.entries(value)) {
    const a = byBase.get(key)
    if (a !== undefined && v !== undefined) problems.push(...structuralProblems(v, a.type, `${path}.${key}`, a.format))
  }
  return problems
}

/** The client-node model of each kind we generate, and the apiVersion it must carry. */
export const MODELS: Record<string, {apiVersion: string; model: string}> = {
  ServiceAccount: {apiVersion: 'v1', model: 'V1ServiceAccount'},
  ConfigMap: {apiVersion: 'v1', model: 'V1ConfigMap'},
  Role: {apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1Role'},
  RoleBinding: {apiVersion: 'rbac.authorization.k8s.io/v1', model: 'V1RoleBinding'},
  CronJob: {apiVersion: 'batch/v1', model: 'V1CronJob'},
  PersistentVolumeClaim: {apiVersion: 'v1', model: 'V1PersistentVolumeClaim'},
  Deployment: {apiVersion: 'apps/v1', model: 'V1Deployment'},
  Service: {apiVersion: 'v1', model: 'V1Service'},
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const QUANTITY = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/
const CONFIGMAP_KEY = /^[-._a-zA-Z0-9]+$/

function oneOf(value: unknown, allowed: string[], path: string): string[] {
  return typeof value === 'string' && allowed.includes(value)
    ? []
    : [`${path}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`]
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function metadataProblems(o: Record<string, any>): string[] {
  const p: string[] = []
  const name = o.metadata?.name as string
  const nameRule =
    o.kind === 'Role' || o.kind === 'RoleBinding'
      ? /^[^/%]+$/
      : o.kind === 'CronJob'
        ? DNS1123_LABEL
        : o.kind === 'Service'
          ? /^[a-z]([-a-z0-9]*[a-z0-9])?$/
          : DNS1123_SUBDOMAIN
  if (!nameRule.test(name) || name.length > 253) p.push(`metadata.name: "${name}" is not a valid ${o.kind} name`)
  if (o.kind === 'CronJob' && name.length > 52)
    p.push(`metadata.name: a CronJob name must be no more than 52 characters`)
  if (!DNS1123_LABEL.test(o.metadata?.namespace ?? '')) p.push('metadata.namespace: not a DNS-1123 label')
  for (const [k, v] of Object.entries((o.metadata?.labels ?? {}) as Record<string, string>)) {
    if (!LABEL_KEY.test(k)) p.push(`metadata.labels: invalid key ${k}`)
    if (!LABEL_VALUE.test(v) || v.length > 63) p.push(`metadata.labels.${k}: invalid value "${v}"`)
  }
  return p
}

/* eslint-disable @typescript-eslint/no-explicit-any -- walking arbitrary generated objects */
function podProblems(pod: any, path: string, restartPolicies = ['Never', 'OnFailure']): string[] {
  const p: string[] = []
  // A Deployment's pods may only be Always (the default when unset); a Job's never.
  if (pod.restartPolicy !== undefined || !restartPolicies.includes('Always'))
    p.push(...oneOf(pod.restartPolicy, restartPolicies, `${path}.restartPolicy`))
  p.push(
    ...oneOf(
      pod.securityContext?.seccompProfile?.type,
      ['RuntimeDefault', 'Localhost', 'Unconfined'],
      `${path}.securityContext.seccompProfile.type`,
    ),
  )
  const volumes = new Set((pod.volumes ?? []).map((v: any) => v.name))
  for (const v of pod.volumes ?? []) {
    if (!DNS1123_LABEL.test(v.name)) p.push(`${path}.volumes: invalid name ${v.name}`)
    const sources = Object.keys(v).filter(k => k !== 'name')
    if (sources.length !== 1) p.push(`${path}.volumes.${v.name}: exactly one volume source, got ${sources.join(', ')}`)
    if (v.emptyDir?.sizeLimit !== undefined && !QUANTITY.test(v.emptyDir.sizeLimit))
      p.push(`${path}.volumes.${v.name}.emptyDir.sizeLimit: not a quantity`)
    if (v.configMap !== undefined && (v.configMap.defaultMode < 0 || v.configMap.defaultMode > 0o777))
      p.push(`${path}.volumes.${v.name}.configMap.defaultMode: out of range`)
    if (v.persistentVolumeClaim !== undefined && !DNS1123_SUBDOMAIN.test(v.persistentVolumeClaim.claimName ?? ''))
      p.push(`${path}.volumes.${v.name}.persistentVolumeClaim.claimName: not a valid name`)
  }
  for (const [i, c] of (pod.containers ?? []).entries()) {
    const at = `${path}.containers[${i}]`
    if (!DNS1123_LABEL.test(c.name)) p.push(`${at}.name: not a DNS-1123 label`)
    p.push(...oneOf(c.imagePullPolicy, ['Always', 'IfNotPresent', 'Never'], `${at}.imagePullPolicy`))
    for (const m of c.volumeMounts ?? [])
      if (!volumes.has(m.name)) p.push(`${at}.volumeMounts: ${m.name} is not a volume of the pod`)
    for (const [kind, list] of Object.entries(c.resources ?? {})) {
      for (const [res, q] of Object.entries(list as Record<string, string>))
        if (!QUANTITY.test(q)) p.push(`${at}.resources.${kind}.${res}: "${q}" is not a quantity`)
    }
    for (const e of c.env ?? []) {
      if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(e.name)) p.push(`${at}.env: invalid name ${e.name}`)
      if ((e.value !== undefined) === (e.valueFrom !== undefined))
        p.push(`${at}.env.${e.name}: exactly one of value and valueFrom`)
      const ref = e.valueFrom?.secretKeyRef
      if (ref !== undefined && (!DNS1123_SUBDOMAIN.test(ref.name ?? '') || !CONFIGMAP_KEY.test(ref.key ?? '')))
        p.push(`${at}.env.${e.name}.valueFrom.secretKeyRef: invalid name or key`)
    }
    const names = new Set<string>()
    for (const port of c.ports ?? []) {
      if (!(port.containerPort > 0 && port.containerPort < 65_536)) p.push(`${at}.ports: containerPort out of range`)
      if (
        port.name !== undefined &&
        (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(port.name) || port.name.length > 15 || names.has(port.name))
      )
        p.push(`${at}.ports: invalid or repeated name ${port.name}`)
      names.add(port.name)
    }
    for (const probe of [c.readinessProbe, c.livenessProbe].filter(x => x !== undefined)) {
      const port = probe.httpGet?.port
      if (typeof port === 'string' && !names.has(port))
        p.push(`${at}: a probe names port ${port}, which the container does not declare`)
    }
  }
  return p
}

/** The API server's own checks on the fields we set, beyond the schema. */
export function semanticProblems(o: any): string[] {
  const p = metadataProblems(o)
  if (o.kind === 'ConfigMap') {
    for (const key of Object.keys(o.data ?? {}))
      if (!CONFIGMAP_KEY.test(key) || key.length > 253 || key === '.' || key === '..')
        p.push(`data: invalid key ${key}`)
  }
  if (o.kind === 'RoleBinding') {
    p.push(...oneOf(o.roleRef?.kind, ['Role', 'ClusterRole'], 'roleRef.kind'))
    if (o.roleRef?.apiGroup !== 'rbac.authorization.k8s.io')
      p.push('roleRef.apiGroup: must be rbac.authorization.k8s.io')
    for (const s of o.subjects ?? []) p.push(...oneOf(s.kind, ['ServiceAccount', 'User', 'Group'], 'subjects[].kind'))
  }
  if (o.kind === 'Role') {
    for (const r of o.rules ?? []) if ((r.verbs ?? []).length === 0) p.push('rules[]: a rule needs at least one verb')
  }
  if (o.kind === 'CronJob') {
    p.push(...oneOf(o.spec?.concurrencyPolicy, ['Allow', 'Forbid', 'Replace'], 'spec.concurrencyPolicy'))
    for (const f of ['startingDeadlineSeconds', 'successfulJobsHistoryLimit', 'failedJobsHistoryLimit'])
      if (o.spec?.[f] < 0) p.push(`spec.${f}: must be >= 0`)
    const job = o.spec?.jobTemplate?.spec
    if (!(job?.activeDeadlineSeconds > 0)) p.push('spec.jobTemplate.spec.activeDeadlineSeconds: must be > 0')
    if (job?.backoffLimit < 0) p.push('spec.jobTemplate.spec.backoffLimit: must be >= 0')
    p.push(...podProblems(job?.template?.spec, 'spec.jobTemplate.spec.template.spec'))
  }
  if (o.kind === 'PersistentVolumeClaim') {
    for (const mode of o.spec?.accessModes ?? [])
      p.push(
        ...oneOf(mode, ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'], 'spec.accessModes[]'),
      )
    if ((o.spec?.accessModes ?? []).length === 0) p.push('spec.accessModes: at least one')
    const storage = o.spec?.resources?.requests?.storage
    if (typeof storage !== 'string' || !QUANTITY.test(storage))
      p.push('spec.resources.requests.storage: required, a quantity')
    if (o.spec?.storageClassName !== undefined && !DNS1123_SUBDOMAIN.test(o.spec.storageClassName))
      p.push('spec.storageClassName: not a valid name')
  }
  if (o.kind === 'Deployment') {
    const selector = o.spec?.selector?.matchLabels ?? {}
    const labels = o.spec?.template?.metadata?.labels ?? {}
    if (Object.keys(selector).length === 0) p.push('spec.selector: empty')
    for (const [k, v] of Object.entries(selector))
      if (labels[k] !== v) p.push(`spec.selector.matchLabels.${k}: does not match the template's labels`)
    p.push(...oneOf(o.spec?.strategy?.type ?? 'RollingUpdate', ['Recreate', 'RollingUpdate'], 'spec.strategy.type'))
    p.push(...podProblems(o.spec?.template?.spec, 'spec.template.spec', ['Always']))
  }
  if (o.kind === 'Service') {
    if (Object.keys(o.spec?.selector ?? {}).length === 0)
      p.push('spec.selector: empty (the Service would select nothing)')
    for (const port of o.spec?.ports ?? [])
      if (!(port.port > 0 && port.port < 65_536)) p.push('spec.ports[].port: out of range')
  }
  return p
}
/* eslint-enable @typescript-eslint/no-explicit-any */

/** Every problem of one generated object: apiVersion for its kind, then structure, then semantics. */
export function objectProblems(o: {apiVersion?: unknown; kind?: unknown; [field: string]: unknown}): string[] {
  const known = MODELS[String(o.kind)]
  if (known === undefined) return [`kind ${String(o.kind)}: not a kind chaos schedule generates`]
  if (o.apiVersion !== known.apiVersion) return [`apiVersion: ${String(o.apiVersion)} is not ${known.apiVersion}`]
  // As the API server: a document that does not decode into its type is not validated further.
  const structural = structuralProblems(o, known.model, String(o.kind))
  return structural.length > 0 ? structural : semanticProblems(o)
}
