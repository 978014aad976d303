/**
 * Will it fire? Before anything real is injected, the ignition check writes each fault's route with
 * a 1 ms delay for the targeted match only, sends a few targeted requests the way the load will,
 * and requires the calling sidecars' fault counters to move. A header the apps do not propagate
 * (real bookinfo forwards no `x-chaos-*` header: productpage.py `getForwardHeaders`, reviews'
 * `LibertyRestEndpoint.java` `headers_to_propagate`) never reaches the faulted service's callers,
 * and a run on it would test nothing; this catches it in about a second, and reverts like any fault.
 */
import {type Dispatcher, ProxyAgent, request} from 'undici'

import type {Cluster} from '../cluster/cluster.js'
import {ClusterUnavailable} from '@faultline/core/errors.js'
import type {Experiment} from '../experiment/model.js'
import {proxyFor} from '../load/env-proxy.js'
import {targetedClasses} from '../experiment/traffic.js'
import type {VirtualService} from '@faultline/core/istio/types.js'
import {planExperiment} from '../faults/experiment-plan.js'
import {applyPlan} from './apply.js'
import {
  BOOKINFO_FORWARDED,
  type FaultCounters,
  gatewayNamespaces,
  injectedBetween,
  readFaultCounters,
} from './evidence.js'
import type {PreflightCheck} from './preflight-check.js'
import type {Reverter} from './revert.js'

/** Targeted requests sent per class in one round; the check reads the counters after each round. */
export const IGNITION_REQUESTS = 10
/** Rounds before the check gives up: enough that a caller behind round-robin over 3 versions is reached. */
export const IGNITION_ROUNDS = 3

/** The experiment with every fault made a 1 ms delay on the same match: harmless, and counted by the fault filter. */
export function ignitionExperiment(experiment: Experiment): Experiment {
  const faults = experiment.spec.faults.map(({abort: _abort, delay: _delay, ...f}) => ({
    ...f,
    delay: {fixedDelay: '1ms', percentage: 100},
  }))
  return {...experiment, spec: {...experiment.spec, faults}}
}

/** What the ignition check works with. */
export interface IgnitionContext {
  experiment: Experiment
  cluster: Cluster
  namespace: string
  /** The load's way into the mesh (a forward proxy), when it has one. */
  proxy?: string
  owner?: string
  runId: string
  existing: VirtualService[]
  reverter: Reverter
  revertTimeoutMs: number
}

/** Sends one round of targeted requests, each class with its own headers, through the load's way in. */
async function sendTargeted(
  experiment: Experiment,
  classes: ReadonlySet<string>,
  proxy: string | undefined,
): Promise<string[]> {
  const {load} = experiment.spec
  const way = proxyFor(load.url, proxy)
  const dispatcher: Dispatcher | undefined =
    way === undefined ? undefined : new ProxyAgent({uri: way, proxyTunnel: false})
  const errors: string[] = []
  try {
    await Promise.all(
      load.traffic
        .filter(t => classes.has(t.name))
        .flatMap(t =>
          Array.from({length: IGNITION_REQUESTS}, async () => {
            try {
              const res = await request(load.url, {
                method: (load.method ?? 'GET') as Dispatcher.HttpMethod,
                headers: t.headers ?? {},
                ...(load.body === undefined ? {} : {body: load.body}),
                headersTimeout: 15_000,
                bodyTimeout: 15_000,
                ...(dispatcher === undefined ? {} : {dispatcher}),
              })
              await res.body.dump()
            } catch (err) {
              errors.push(`${t.name}: ${(err as {code?: string}).code ?? (err as Error).message}`)
            }
          }),
        ),
    )
  } finally {
    await dispatcher?.close().catch(() => undefined)
  }
  return errors
}

/** The namespaces whose proxies can apply the faults: the target's, and with a gateway entry the gateway's (`gatewayNamespaces`). */
export function ignitionNamespaces(experiment: Experiment, namespace: string): string[] {
  return [namespace, ...gatewayNamespaces(experiment, namespace)]
}

/** The fault filters' counters of every proxy that can apply the faults (pods keyed `namespace/name`), or undefined when none could be read. */
async function counters(ctx: IgnitionContext): Promise<FaultCounters | undefined> {
  const namespaces = ignitionNamespaces(ctx.experiment, ctx.namespace)
  const reads = await Promise.all(namespaces.map(ns => readFaultCounters(ctx.cluster, ns).catch(() => undefined)))
  const all: FaultCounters = {delays: 0, aborts: 0, pods: 0, byPod: new Map()}
  for (const [i, read] of reads.entries()) {
    if (read === undefined) continue
    all.delays += read.delays
    all.aborts += read.aborts
    all.pods += read.pods
    for (const [pod, c] of read.byPod) all.byPod.set(`${namespaces[i] ?? ''}/${pod}`, c)
  }
  return all.pods === 0 ? undefined : all
}

/**
 * Runs the check; returns its finding: ok, failed (the fault cannot fire: preflight stops the run,
 * exit 4), or a warning when it cannot tell. Anything written is reverted before it returns; if
 * that revert fails it throws, and the reverter still holds the objects for the run's safety net.
 */
export async function ignite(ctx: IgnitionContext): Promise<PreflightCheck> {
  const {experiment} = ctx
  const classes = targetedClasses(ctx)
  if (classes.size === 0)
    return {
      check: 'ignition',
      status: 'warning',
      message: 'no traffic class carries a header the faults match: skipped (the run will show no targeted traffic)',
    }
  const before = await counters(ctx)
  if (before === undefined)
    return {
      check: 'ignition',
      status: 'warning',
      message:
        "the sidecars' fault counters could not be read: skipped (the run's own evidence will say whether the fault fired)",
    }
  const plan = planExperiment({
    experiment: ignitionExperiment(experiment),
    existing: ctx.existing,
    runId: ctx.runId,
    now: new Date(),
    namespace: ctx.namespace,
    ...(ctx.owner === undefined ? {} : {owner: ctx.owner}),
  })
  const hosts = [...new Set(experiment.spec.faults.map(f => f.service))].join(', ')
  const tried = {seen: 0, sent: 0, errors: [] as string[]}
  let thrown: unknown
  try {
    await applyPlan(ctx.cluster, plan, ctx.reverter)
    for (let round = 0; round < IGNITION_ROUNDS && tried.seen === 0; round++) {
      tried.errors = await sendTargeted(experiment, classes, ctx.proxy)
      tried.sent += IGNITION_REQUESTS * classes.size
      const after = await counters(ctx)
      if (after !== undefined) tried.seen = injectedBetween(before, after)
    }
  } catch (err) {
    thrown = err
  }
  const failed = (await ctx.reverter.revertAll({deadlineMs: ctx.revertTimeoutMs})).filter(o => !o.ok)
  if (failed.length > 0) {
    // Held again for the run's safety net, which tries once more and ends the run with exit 5 if it fails too.
    for (const p of plan.objects) ctx.reverter.register(p)
    throw new ClusterUnavailable(
      `the ignition check's 1 ms delay on ${hosts} could not be reverted: ${failed.map(o => `${o.namespace}/${o.name} (${o.message})`).join(', ')}`,
    )
  }
  if (thrown !== undefined) throw thrown
  return finding(tried, hosts)
}

/** What the check found: the counters moved, or the targeted header does not get there (exit 4 at preflight). */
function finding(tried: {seen: number; sent: number; errors: string[]}, hosts: string): PreflightCheck {
  if (tried.seen > 0)
    return {
      check: 'ignition',
      status: 'ok',
      message: `a 1 ms delay for the targeted match on ${hosts} was counted by the calling sidecars (${tried.seen} of ${tried.sent} targeted requests), and reverted`,
    }
  const failures =
    tried.errors.length === 0
      ? ''
      : ` (${tried.errors.length} targeted request(s) failed: ${[...new Set(tried.errors)].slice(0, 3).join('; ')})`
  return {
    check: 'ignition',
    status: 'failed',
    message: `the targeted header does not reach ${hosts}'s callers: a 1 ms delay for the targeted match was written (and reverted) and ${tried.sent} targeted requests sent, and no calling sidecar counted one${failures}`,
    hint: `Target with a header every service between the entry point and ${hosts} forwards. Real bookinfo forwards only ${BOOKINFO_FORWARDED}; your own apps must propagate the header (OpenTelemetry's W3C baggage does). Also check that the load enters the mesh through a sidecar or gateway. --no-ignition skips this check.`,
  }
}
