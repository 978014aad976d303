/**
 * How load and HTTP probes enter the mesh for one experiment, as `chaos run` and `chaos gameday`
 * both open it: --entry over spec.load.entry. Through a gateway they go to its address with its
 * Host; through a port-forward to the forwarder's local address with the same Host (and a lost
 * forward aborts the run through `lost`); else through a proxy when there is one.
 */
import type {Experiment, LoadEntry} from '../experiment/model.js'
import {portForwardService} from '../faults/entry-gateways.js'
import {proxyFor} from '../load/env-proxy.js'
import type {LoadDriver} from '../load/driver.js'
import {K6Unavailable, k6ProxyProblem} from '../load/k6.js'
import type {Target} from '../runner/target.js'
import {chosenEntry, entryProxy, gatewayAddress, throughGateway} from './entry.js'
import {type ForwardingCluster, type ForwardTarget, ServiceForwarder} from './port-forward.js'

/** An experiment made ready to send, and what to stop when it ends. */
export interface WayIn {
  experiment: Experiment
  proxy?: string
  /** Stops a port-forward (to a gateway or a Service). */
  close?: () => Promise<void>
  /** Aborted, with the reason as a string, when a port-forward entry is lost for good. */
  lost?: AbortSignal
}

/**
 * Opens the way in for `experiment` (its ${namespace} already resolved to `namespace`). Only the
 * driver's name is read (k6 cannot send every URL through a proxy), so `chaos plan --live` passes
 * the name it would run with; a port-forward also hands the driver its `watchPortForward`, when it has one.
 */
export async function openWayIn(
  experiment: Experiment,
  flag: string | undefined,
  target: Target,
  namespace: string,
  driver: Pick<LoadDriver, 'name' | 'watchPortForward'>,
  say: (line: string) => void,
): Promise<WayIn> {
  const entry = chosenEntry(flag, experiment.spec.load.entry, experiment.spec.load.url)
  let way: Omit<WayIn, 'proxy'> = {
    experiment:
      entry === undefined
        ? experiment
        : {...experiment, spec: {...experiment.spec, load: {...experiment.spec.load, entry}}},
  }
  const forward = portForwardService(way.experiment, namespace)
  if (forward !== undefined && entry !== undefined) {
    way = await throughPortForward(way.experiment, entry, forward, target, driver, say)
  } else if (entry !== undefined && !('proxy' in entry)) {
    way = await throughGatewayEntry(way.experiment, entry, target, say)
  }
  const sent = way.experiment
  const {close, lost} = way
  const proxy = entryProxy(entry, target.proxy)
  const problem =
    driver.name === 'k6' ? k6ProxyProblem(sent.spec.load.url, proxyFor(sent.spec.load.url, proxy)) : undefined
  if (problem !== undefined) {
    await close?.().catch(() => undefined)
    throw new K6Unavailable(problem, {
      hint: 'Address the target by a name the proxy routes (e.g. http://productpage:9080/…), or run with --driver builtin.',
    })
  }
  return {
    experiment: sent,
    ...(proxy === undefined ? {} : {proxy}),
    ...(close === undefined ? {} : {close}),
    ...(lost === undefined ? {} : {lost}),
  }
}

/** A port-forward entry: chaos's forwarder to the Service's ready pods, its counts said when it closes, `lost` when it gives up. */
async function throughPortForward(
  experiment: Experiment,
  entry: LoadEntry,
  forward: ForwardTarget,
  target: Target,
  driver: Pick<LoadDriver, 'watchPortForward'>,
  say: (line: string) => void,
): Promise<Omit<WayIn, 'proxy'>> {
  const stop = new AbortController()
  const forwarder = await ServiceForwarder.start(target.cluster as ForwardingCluster, forward, {
    onLost: reason => {
      say(`\n${reason}`)
      stop.abort(reason)
    },
    onTrouble: detail => say(`entry: the port-forward failed (${detail}); trying the Service's ready pods again`),
  })
  // A connection the forward closed mid-answer is the forward's failure: the builtin driver asks (k6 cannot tell).
  const unwatch = driver.watchPortForward?.(ports => forwarder.cutMidAnswer(ports))
  const close = async () => {
    unwatch?.()
    await forwarder.close()
    const c = forwarder.counts
    say(
      `entry: the port-forward served ${c.connections} connection(s); ${c.retries} retried on another try, ${c.refused} answered 502 (no pod), ${c.dropped} dropped mid-answer`,
    )
  }
  const sent = throughGateway(experiment, forwarder.origin, entry)
  say(
    `entry: through chaos's port-forward at ${forwarder.origin} to ${forwarder.description} (Host ${sent.spec.load.traffic[0]?.headers?.['host'] ?? ''})`,
  )
  return {experiment: sent, close, lost: stop.signal}
}

/** A gateway entry: the gateway's address (a port-forward to one of its pods when it has none), with the entry's Host. */
async function throughGatewayEntry(
  experiment: Experiment,
  entry: LoadEntry,
  target: Target,
  say: (line: string) => void,
): Promise<Omit<WayIn, 'proxy'>> {
  const gateway = await gatewayAddress(entry, target.cluster, target.gateway)
  const sent = throughGateway(experiment, gateway.origin, entry)
  say(
    `entry: through the gateway at ${gateway.origin}, ${gateway.via} (Host ${sent.spec.load.traffic[0]?.headers?.['host'] ?? ''})`,
  )
  return {experiment: sent, ...(gateway.close === undefined ? {} : {close: gateway.close})}
}

/** The run's stop signal: Ctrl-C (or the game day's), and a lost port-forward with its reason. */
export function runSignal(signal: AbortSignal, way: Pick<WayIn, 'lost'>): AbortSignal {
  return way.lost === undefined ? signal : AbortSignal.any([signal, way.lost])
}
