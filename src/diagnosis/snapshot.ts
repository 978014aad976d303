/**
 * Reads of the mesh's counters at a phase boundary: every meshed pod's `/stats/prometheus` through
 * the Cluster interface (`pilot-agent request GET stats/prometheus`, as the runner's other reads),
 * or the same series from Prometheus at that moment. A pod that cannot be read is named, never
 * counted as zero.
 */
import {request} from 'undici'

import {type Cluster, hasProxy} from '../cluster/cluster.js'
import {sidecarStats} from '../cluster/sidecar-stats.js'
import type {PhaseName} from '../experiment/model.js'
import {MAP_METRICS, parseMapMetrics, type Sample, seriesKey} from './prom-text.js'

/** One pod's series, by series key. */
export type PodSeries = Map<string, Sample>

/** One read at a phase boundary. */
export interface Snapshot {
  phase: PhaseName
  at: 'start' | 'end'
  /** Ms since the run started, when the read began. */
  t: number
  pods: Map<string, PodSeries>
  /** Pods that could not be read, with why. */
  failed: Map<string, string>
  /** Why nothing at all could be read (no pods listed, Prometheus down). */
  error?: string
}

function bySeries(samples: readonly Sample[]): PodSeries {
  return new Map(samples.map(s => [seriesKey(s.metric, s.labels), s]))
}

/** How long one read of every sidecar may take before the slow ones are named as unread. */
const READ_TIMEOUT_MS = 8000

/** Reads every meshed pod's `/stats/prometheus` in the namespace. */
export async function readSidecars(
  cluster: Cluster,
  namespace: string,
  phase: PhaseName,
  at: 'start' | 'end',
  t: number,
): Promise<Snapshot> {
  const snap: Snapshot = {phase, at, t, pods: new Map(), failed: new Map()}
  let pods
  try {
    pods = (await cluster.listPods(namespace, '')).filter(p => hasProxy(p))
  } catch (err) {
    snap.error = `the pods of ${namespace} could not be listed (${(err as Error).message})`
    return snap
  }
  if (pods.length === 0) snap.error = `no pod in ${namespace} has an istio-proxy sidecar`
  await Promise.all(
    pods.map(async p => {
      let timer: NodeJS.Timeout | undefined
      try {
        const text = await Promise.race([
          sidecarStats(cluster).prometheus(namespace, p.name),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${READ_TIMEOUT_MS / 1000} s`)), READ_TIMEOUT_MS)
          }),
        ])
        snap.pods.set(p.name, bySeries(parseMapMetrics(text)))
      } catch (err) {
        snap.failed.set(p.name, (err as Error).message.split('\n')[0] ?? 'unreadable')
      } finally {
        clearTimeout(timer)
      }
    }),
  )
  return snap
}

interface VectorAnswer {
  status?: string
  error?: string
  data?: {resultType?: string; result?: {metric: Record<string, string>; value: [number, string]}[]}
}

/**
 * The same series from Prometheus at `time`: one instant query per metric family, restricted to the
 * namespace, each series' pod (its `pod`, else `kubernetes_pod_name`, else `instance` label) standing for a sidecar.
 */
export async function readPrometheus(
  baseUrl: string,
  namespace: string,
  phase: PhaseName,
  at: 'start' | 'end',
  t: number,
  time: Date,
): Promise<Snapshot> {
  const snap: Snapshot = {phase, at, t, pods: new Map(), failed: new Map()}
  const base = baseUrl.endsWith('/') ? baseUrl : baseUrl + '/'
  for (const metric of Object.keys(MAP_METRICS)) {
    const selector = metric.startsWith('istio_')
      ? `{namespace="${namespace}"}`
      : `{namespace="${namespace}",cluster_name=~"outbound\\\\|.*"}`
    // Scrapes that carry no namespace label (a static config) are kept by asking again without it.
    for (const query of [`${metric}${selector}`, metric]) {
      const url = new URL('api/v1/query', base)
      url.searchParams.set('query', query)
      url.searchParams.set('time', String(time.getTime() / 1000))
      let body: VectorAnswer
      try {
        const res = await request(url, {headersTimeout: 10_000, bodyTimeout: 10_000})
        body = (await res.body.json()) as VectorAnswer
      } catch (err) {
        snap.error = `Prometheus at ${baseUrl} did not answer (${(err as Error).message})`
        return snap
      }
      if (body.status !== 'success') {
        snap.error = `Prometheus refused the query ${query}: ${body.error ?? 'no message'}`
        return snap
      }
      const result = body.data?.result ?? []
      if (result.length === 0) continue
      for (const s of result) {
        const pod = s.metric['pod'] ?? s.metric['kubernetes_pod_name'] ?? s.metric['instance'] ?? ''
        const kept: Record<string, string> = {}
        for (const k of MAP_METRICS[metric] ?? []) if (s.metric[k] !== undefined) kept[k] = s.metric[k]
        const sample: Sample = {metric, labels: kept, value: Number(s.value[1])}
        let series = snap.pods.get(pod)
        if (series === undefined) snap.pods.set(pod, (series = new Map()))
        const key = seriesKey(metric, kept)
        const existing = series.get(key)
        if (existing === undefined) series.set(key, sample)
        else existing.value += sample.value
      }
      break
    }
  }
  if (snap.pods.size === 0) snap.error = `Prometheus at ${baseUrl} has no istio_requests_total series for ${namespace}`
  return snap
}
