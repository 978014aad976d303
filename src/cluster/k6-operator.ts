/**
 * The k6-operator's objects over client-node: ConfigMaps, TestRuns (`k6.io/v1alpha1`) and the
 * runner pods the operator creates. The k6-operator load driver (src/load/k6-operator.ts) sees
 * only the `K6OperatorApi` interface; this module is its one implementation on a real API server
 * (or the sandbox's, which serves the same paths).
 */
import {ApiException, ApisApi, CoreV1Api, CustomObjectsApi} from './client-node.js'

import {K6_GROUP, K6_VERSION, type KubeObject, TESTRUN_PLURAL} from '../load/k6-operator-plan.js'
import {ApiError, type Cluster} from './cluster.js'
import {KubeCluster} from './kube.js'

/** A TestRun as read back: its stage and conditions. */
export interface TestRunState {
  name: string
  stage?: string
  conditions?: {type: string; status: string; reason?: string; message?: string}[]
  labels: Record<string, string>
  annotations: Record<string, string>
}

/** A runner (or initializer, starter) pod as the driver follows it. */
export interface OperatorPod {
  name: string
  phase: string
  /** Why it is not running: a container's waiting or terminated reason and message. */
  problem?: string
  labels: Record<string, string>
}

/** The operations the k6-operator driver needs. */
export interface K6OperatorApi {
  /** Whether the API server serves k6.io/v1alpha1 testruns (the operator's CRD is installed). */
  testRunsServed(): Promise<boolean>
  createConfigMap(obj: KubeObject): Promise<void>
  createTestRun(obj: KubeObject): Promise<void>
  getTestRun(namespace: string, name: string): Promise<TestRunState | undefined>
  listTestRuns(namespace: string, labelSelector: string): Promise<TestRunState[]>
  listConfigMaps(
    namespace: string,
    labelSelector: string,
  ): Promise<{name: string; annotations: Record<string, string>}[]>
  /** Deletes; absent is no error. */
  deleteTestRun(namespace: string, name: string): Promise<void>
  deleteConfigMap(namespace: string, name: string): Promise<void>
  listPods(namespace: string, labelSelector: string): Promise<OperatorPod[]>
}

/** The k6-operator API of a cluster, or undefined when the cluster is not reached through client-node. */
export function k6OperatorApi(cluster: Cluster): K6OperatorApi | undefined {
  return cluster instanceof KubeCluster ? new KubeK6Operator(cluster) : undefined
}

function translate(err: unknown, what: string): ApiError {
  if (err instanceof ApiException) {
    const body =
      typeof err.body === 'string' ? safeJson(err.body) : (err.body as {message?: string; reason?: string} | undefined)
    return new ApiError(`${what}: ${body?.message ?? err.message}`, err.code, body?.reason, {cause: err})
  }
  const cause = err as {message?: string; code?: string}
  return new ApiError(`${what}: ${cause.code ?? cause.message ?? String(err)}`, 0, undefined, {cause: err})
}

function safeJson(text: string): {message?: string; reason?: string} | undefined {
  try {
    return JSON.parse(text) as {message?: string; reason?: string}
  } catch {
    return undefined
  }
}

async function absentOk(work: () => Promise<unknown>, what: string): Promise<void> {
  try {
    await work()
  } catch (err) {
    const e = translate(err, what)
    if (e.status === 404) return
    throw e
  }
}

function testRunState(o: {
  metadata?: {name?: string; labels?: Record<string, string>; annotations?: Record<string, string>}
  status?: {stage?: string; conditions?: TestRunState['conditions']}
}): TestRunState {
  return {
    name: o.metadata?.name ?? '',
    labels: o.metadata?.labels ?? {},
    annotations: o.metadata?.annotations ?? {},
    ...(o.status?.stage === undefined ? {} : {stage: o.status.stage}),
    ...(o.status?.conditions === undefined ? {} : {conditions: o.status.conditions}),
  }
}

class KubeK6Operator implements K6OperatorApi {
  private readonly custom: CustomObjectsApi
  private readonly core: CoreV1Api
  private readonly apis: ApisApi

  constructor(cluster: KubeCluster) {
    this.custom = cluster.kubeConfig.makeApiClient(CustomObjectsApi)
    this.core = cluster.kubeConfig.makeApiClient(CoreV1Api)
    this.apis = cluster.kubeConfig.makeApiClient(ApisApi)
  }

  async testRunsServed(): Promise<boolean> {
    try {
      const groups = await this.apis.getAPIVersions()
      return groups.groups.some(g => g.name === K6_GROUP && g.versions.some(v => v.version === K6_VERSION))
    } catch (err) {
      throw translate(err, `discovering ${K6_GROUP}`)
    }
  }

  async createConfigMap(obj: KubeObject): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default'
    try {
      await this.core.createNamespacedConfigMap({namespace, body: obj as never, fieldManager: 'faultline'})
    } catch (err) {
      throw translate(err, `creating ConfigMap ${namespace}/${obj.metadata.name}`)
    }
  }

  async createTestRun(obj: KubeObject): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default'
    try {
      await this.custom.createNamespacedCustomObject({
        group: K6_GROUP,
        version: K6_VERSION,
        namespace,
        plural: TESTRUN_PLURAL,
        body: obj,
        fieldManager: 'faultline',
      })
    } catch (err) {
      throw translate(err, `creating TestRun ${namespace}/${obj.metadata.name}`)
    }
  }

  async getTestRun(namespace: string, name: string): Promise<TestRunState | undefined> {
    try {
      return testRunState(
        (await this.custom.getNamespacedCustomObject({
          group: K6_GROUP,
          version: K6_VERSION,
          namespace,
          plural: TESTRUN_PLURAL,
          name,
        })) as never,
      )
    } catch (err) {
      const e = translate(err, `reading TestRun ${namespace}/${name}`)
      if (e.status === 404) return undefined
      throw e
    }
  }

  async listTestRuns(namespace: string, labelSelector: string): Promise<TestRunState[]> {
    try {
      const list = (await this.custom.listNamespacedCustomObject({
        group: K6_GROUP,
        version: K6_VERSION,
        namespace,
        plural: TESTRUN_PLURAL,
        labelSelector,
      })) as {items: never[]}
      return list.items.map(testRunState)
    } catch (err) {
      const e = translate(err, `listing TestRuns in ${namespace}`)
      if (e.status === 404) return [] // the operator is not installed: there are none
      throw e
    }
  }

  async listConfigMaps(
    namespace: string,
    labelSelector: string,
  ): Promise<{name: string; annotations: Record<string, string>}[]> {
    try {
      const list = await this.core.listNamespacedConfigMap({namespace, labelSelector})
      return list.items.map(c => ({name: c.metadata?.name ?? '', annotations: c.metadata?.annotations ?? {}}))
    } catch (err) {
      throw translate(err, `listing ConfigMaps in ${namespace}`)
    }
  }

  deleteTestRun(namespace: string, name: string): Promise<void> {
    // Background propagation: the operator's Jobs and their pods go with it (owner references).
    return absentOk(
      () =>
        this.custom.deleteNamespacedCustomObject({
          group: K6_GROUP,
          version: K6_VERSION,
          namespace,
          plural: TESTRUN_PLURAL,
          name,
          propagationPolicy: 'Background',
        }),
      `deleting TestRun ${namespace}/${name}`,
    )
  }

  deleteConfigMap(namespace: string, name: string): Promise<void> {
    return absentOk(
      () => this.core.deleteNamespacedConfigMap({namespace, name}),
      `deleting ConfigMap ${namespace}/${name}`,
    )
  }

  async listPods(namespace: string, labelSelector: string): Promise<OperatorPod[]> {
    try {
      const list = await this.core.listNamespacedPod({namespace, labelSelector})
      return list.items.map(p => {
        const statuses = [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
        const bad = statuses
          .map(
            s =>
              s.state?.waiting ??
              (s.state?.terminated !== undefined && s.state.terminated.exitCode !== 0 ? s.state.terminated : undefined),
          )
          .find(s => s !== undefined && s.reason !== 'ContainerCreating' && s.reason !== 'PodInitializing')
        const problem =
          bad === undefined
            ? p.status?.message
            : `${bad.reason ?? ''}${bad.message === undefined ? '' : `: ${bad.message}`}`
        return {
          name: p.metadata?.name ?? '',
          phase: p.status?.phase ?? 'Unknown',
          labels: p.metadata?.labels ?? {},
          ...(problem === undefined || problem === '' ? {} : {problem}),
        }
      })
    } catch (err) {
      throw translate(err, `listing pods ${labelSelector} in ${namespace}`)
    }
  }
}
