/**
 * `chaos plan` against a live cluster: what a run would write there, and everything preflight
 * would say, without writing anything (stale faults are reported, not reverted). Also a game day's
 * shared preflight, once per experiment.
 */
import type {Experiment} from '../experiment/model.js'
import {planExperiment} from '../faults/experiment-plan.js'
import {throughGatewayEntry} from '../faults/entry-gateways.js'
import {newRunId} from '../faults/names.js'
import type {FaultPlan} from '../faults/plan.js'
import {PrometheusClient} from '../probes/prometheus.js'
import type {PreflightCheck} from './preflight-check.js'
import {lockChecks, preflight} from './preflight.js'
import {reachabilityChecks} from './reachability.js'
import type {Target} from './target.js'

/** The live plan: preflight findings and the objects a run would write now. */
export interface LivePlan {
  checks: PreflightCheck[]
  plan: FaultPlan
  /** False when a run would stop before injecting anything. */
  ready: boolean
}

/** The forward proxy the load goes through: spec.load.entry's, else the target's (the sandbox's) when it has no entry; none through a gateway or a port-forward. */
function entryProxy(experiment: Experiment, targetProxy: string | undefined): string | undefined {
  const entry = experiment.spec.load.entry
  if (entry === undefined) return targetProxy
  return 'proxy' in entry ? entry.proxy : undefined
}

/**
 * Reads the cluster, compiles and runs preflight; read-only. `experiment` is as a run sends it:
 * through its way in already opened (`openWayIn`), so the reachability requests take the same path.
 */
export async function planAgainstCluster(
  target: Target,
  experiment: Experiment,
  options: {runId?: string; owner?: string; prometheusUrl?: string; now?: Date} = {},
): Promise<LivePlan> {
  const now = options.now ?? new Date()
  const existing = await target.cluster.listVirtualServices(target.namespace)
  const locks = lockChecks(existing, experiment.spec.faults, target.namespace, now)
  // A stale fault would be reverted first by a run: plan against the objects as they will be then.
  const staleNames = new Set(locks.stale.map(v => v.metadata.name))
  const current = existing.filter(v => !staleNames.has(v.metadata.name))
  const plan = planExperiment({
    experiment,
    existing: current,
    runId: options.runId ?? newRunId(now),
    now,
    namespace: target.namespace,
    ...(options.owner === undefined ? {} : {owner: options.owner}),
  })
  const prometheusUrl = options.prometheusUrl ?? experiment.spec.prometheus?.url ?? target.prometheusUrl
  const proxy = entryProxy(experiment, target.proxy)
  const checks = [
    ...locks.checks,
    ...(await preflight({
      experiment,
      cluster: target.cluster,
      namespace: target.namespace,
      plan,
      now,
      prometheus: prometheusUrl === undefined ? undefined : new PrometheusClient(prometheusUrl),
      loadThroughMesh: proxy !== undefined || throughGatewayEntry(experiment),
    })),
    // A run stops at once on a class that gets no HTTP answer: "ready" must not be said of it.
    ...(await reachabilityChecks({load: experiment.spec.load, ...(proxy === undefined ? {} : {proxy})})),
  ]
  return {checks, plan, ready: checks.every(c => c.status !== 'failed')}
}
