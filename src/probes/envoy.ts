/**
 * Envoy probes: a stat pattern read from the sidecars of the selected pods at a phase's start and
 * end, summed over the pods, compared as `increase`, `delta` or `value`.
 */
import {type Cluster, hasProxy, labelSelector} from '../cluster/cluster.js'
import {sidecarStats} from '../cluster/sidecar-stats.js'
import {type EnvoyStats, sumMatching} from '../cluster/stats.js'
import {evaluateExpectation, parseEnvoyExpectation} from './expect.js'
import {formatNumber} from './prometheus.js'

/** Stats of every selected pod at one moment. */
export interface EnvoySnapshot {
  pods: Map<string, EnvoyStats>
  /** Pods whose sidecar could not be read, with the reason. */
  errors: Map<string, string>
}

/** Reads the stats of every pod matching the selector (through the pod proxy, else by exec: src/cluster/sidecar-stats.ts). */
export async function snapshotEnvoy(
  cluster: Cluster,
  namespace: string,
  pods: Record<string, string>,
): Promise<EnvoySnapshot> {
  const selector = labelSelector(pods)
  const list = await cluster.listPods(namespace, selector)
  const snapshot: EnvoySnapshot = {pods: new Map(), errors: new Map()}
  await Promise.all(
    list.map(async p => {
      if (!hasProxy(p)) {
        snapshot.errors.set(p.name, 'no istio-proxy container or native sidecar (is the pod in the mesh?)')
        return
      }
      try {
        snapshot.pods.set(p.name, await sidecarStats(cluster).envoy(namespace, p.name))
      } catch (err) {
        snapshot.errors.set(p.name, (err as Error).message)
      }
    }),
  )
  return snapshot
}

/** The advice for a stat that no sidecar reports (Istio does not collect cluster stats by default). */
export function statsInclusionHint(stat: string): string {
  const family =
    /[;.]((?:upstream|circuit_breakers|outlier_detection|membership)[^.]*)/.exec(stat)?.[1] ??
    stat.split('.').pop() ??
    stat
  return (
    `Istio collects cluster stats only when proxyStatsMatcher includes them: add the pod annotation ` +
    `proxy.istio.io/config: '{"proxyStatsMatcher":{"inclusionRegexps":[".*${family}.*"]}}' (or mesh-wide in meshConfig.defaultConfig) and restart the pods.`
  )
}

/** An Envoy probe's verdict over a phase. */
export interface EnvoyVerdict {
  status: 'held' | 'missed' | 'errored'
  actual: string
  value?: number
  message?: string
}

function total(snapshot: EnvoySnapshot, stat: string): {value: number; matched: number} {
  let value = 0
  let matched = 0
  for (const stats of snapshot.pods.values()) {
    const s = sumMatching(stats, stat)
    value += s.value
    matched += s.matched
  }
  return {value, matched}
}

/** Evaluates `expect` for `stat` between two snapshots (start may be undefined for `value`). */
export function evaluateEnvoy(
  stat: string,
  expect: string,
  start: EnvoySnapshot | undefined,
  end: EnvoySnapshot,
): EnvoyVerdict {
  const parsed = parseEnvoyExpectation(expect)
  if (!parsed.ok) return {status: 'errored', actual: '-', message: parsed.message}
  if (end.pods.size === 0) {
    const why =
      end.errors.size === 0 ? 'no pod matches the selector' : [...end.errors].map(([p, e]) => `${p}: ${e}`).join('; ')
    return {status: 'errored', actual: '-', message: `no sidecar could be read (${why})`}
  }
  const e = total(end, stat)
  if (e.matched === 0)
    return {status: 'errored', actual: '-', message: `no sidecar reports ${stat}. ${statsInclusionHint(stat)}`}
  // Pods that appeared mid-phase count from zero; pods that vanished are not subtracted.
  const startValue =
    start === undefined
      ? undefined
      : [...end.pods.keys()].reduce(
          (n, pod) => n + (start.pods.has(pod) ? sumMatching(start.pods.get(pod) as EnvoyStats, stat).value : 0),
          0,
        )
  const result = evaluateExpectation(parsed.expectation, {
    end: e.value,
    ...(startValue === undefined ? {} : {start: startValue}),
  })
  if (result.status === 'no-data' || result.actual === undefined)
    return {
      status: 'errored',
      actual: '-',
      message: `${parsed.expectation.subject} needs a reading at the start of the phase`,
    }
  const partial =
    end.errors.size > 0 ? ` (${end.errors.size} pod(s) unreadable: ${[...end.errors.keys()].join(', ')})` : ''
  return {
    status: result.status === 'passed' ? 'held' : 'missed',
    actual: `${parsed.expectation.subject}=${formatNumber(result.actual)}`,
    value: result.actual,
    message: `summed over ${end.pods.size} pod(s), ${e.matched} stat(s)${startValue === undefined ? '' : `; ${formatNumber(startValue)} → ${formatNumber(e.value)}`}${partial}`,
  }
}
