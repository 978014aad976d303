/**
 * Reachability: before the baseline, a few requests per traffic class to the load's URL, the way
 * the load will send them (its method, body and each class's headers, through the same forward
 * proxy). A class whose requests all fail without an HTTP answer — the URL's host does not resolve
 * from here (`ENOTFOUND productpage`), nothing listens, the proxy refuses — cannot be tested: the
 * run stops with exit 4 before anything is injected, naming the reason and the ways into the mesh,
 * instead of a baseline of 100 % errors.
 */
import {type Dispatcher, ProxyAgent, request} from 'undici'

import type {Experiment} from '../experiment/model.js'
import {type AnswerPeek, errorReason, PEEK_BYTES, reasonsText, statusReason} from '../load/reasons.js'
import {proxyFor, proxyVariable} from '../load/env-proxy.js'
import type {PreflightCheck} from './preflight-check.js'

/** What the check sends. */
export interface ReachabilityInput {
  load: Experiment['spec']['load']
  /** The forward proxy the load goes through (the sandbox's, or --entry proxy=URL), if any; else HTTP_PROXY/NO_PROXY decide. */
  proxy?: string
  /** For tests: the environment's proxy variables (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Requests per class (default 3). */
  requests?: number
  /** Per-request timeout (default 5 s): a URL that cannot answer within it is not worth a baseline. */
  timeoutMs?: number
}

/** How the load gets into the mesh, for a class that cannot reach its URL (README, "Running against a real cluster"). */
export function waysIn(url: string, proxy: string | undefined, entry?: Experiment['spec']['load']['entry']): string {
  if (entry !== undefined && 'portForward' in entry) {
    const {service, namespace, port} = entry.portForward
    const svc = namespace === undefined ? service : `${service}.${namespace}`
    return (
      `The load goes through chaos's port-forward ${url.replace(/^(https?:\/\/[^/]+).*$/, '$1')} to Service ${svc} port ${port}, and its pods did not answer through it (the reason above; the console's 'entry:' lines say which pod and why). ` +
      `Check that ${service}'s pods are ready and listen on the port its Service targets (kubectl get pods,endpoints -l … ; kubectl port-forward svc/${service} ${port} then curl it), or enter another way: --entry gateway, or --entry proxy=URL. See README, "Running against a real cluster". Nothing was injected.`
    )
  }
  const host = hostOf(url)
  const from =
    proxy === undefined
      ? 'The load is sent from this machine, so the URL must resolve and answer here.'
      : `The load goes through the forward proxy ${proxy}.`
  return (
    `${from} Ways into the mesh: a Service's gateway (spec.load.url = the Istio ingress gateway's address, with the Host its Gateway and VirtualService route; faults then apply in the gateway's sidecar); ` +
    `a port-forward chaos keeps itself (--entry portForward=${host}:<port>, or spec.load.entry.portForward: a local port to ${host}'s ready pods through the API server, as kubectl port-forward svc/${host} <port> does; the load then reaches ${host}'s application past every sidecar, so a fault on ${host} itself cannot fire, faults on the services it calls do); ` +
    `on the sandbox, --sandbox or the sandbox's kubeconfig (--kubeconfig <state-dir>/kubeconfig), whose faultline.dev/sandbox extension names its proxy. See README, "Running against a real cluster". Nothing was injected.`
  )
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname
  } catch {
    return url
  }
}

/** One request's outcome: answered (with its status and, for ≥ 400, its reason) or not (with why). */
interface Outcome {
  answered: boolean
  status: number
  reason?: string
}

async function probeOnce(
  url: string,
  options: {
    method: string
    body?: string
    headers: Record<string, string>
    timeoutMs: number
    dispatcher?: Dispatcher
    viaProxy: boolean
  },
): Promise<Outcome> {
  try {
    const res = await request(url, {
      method: options.method as Dispatcher.HttpMethod,
      headers: options.headers,
      ...(options.body === undefined ? {} : {body: options.body}),
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      ...(options.dispatcher === undefined ? {} : {dispatcher: options.dispatcher}),
    })
    const text = await res.body.text()
    if (res.statusCode < 400) return {answered: true, status: res.statusCode}
    const h = res.headers
    const one = (name: string) => (Array.isArray(h[name]) ? h[name][0] : h[name])
    const server = one('server')
    const peek: AnswerPeek = {
      ...(server === undefined ? {} : {server: server.toLowerCase()}),
      upstreamServiceTime: h['x-envoy-upstream-service-time'] !== undefined,
      overloaded: h['x-envoy-overloaded'] !== undefined,
      proxyRefused: h['x-faultline-proxy'] !== undefined,
      body: text.slice(0, PEEK_BYTES),
      ...(typeof h['x-faultline-port-forward'] === 'string' ? {portForward: h['x-faultline-port-forward']} : {}),
    }
    // A forward proxy that wants credentials (407) refused the request itself: the URL was never asked.
    if (options.viaProxy && res.statusCode === 407)
      return {answered: false, status: 407, reason: 'proxy 407 (Proxy Authentication Required)'}
    return {
      answered: !peek.proxyRefused && peek.portForward === undefined,
      status: res.statusCode,
      reason: statusReason(res.statusCode, peek),
    }
  } catch (err) {
    // Through a proxy, a connection error is the proxy's; without one, it is the URL host's.
    return {
      answered: false,
      status: 0,
      reason: errorReason(err as Error, options.viaProxy ? {viaProxy: true} : {host: hostOf(url)}),
    }
  }
}

/** The reachability findings: one per class that cannot reach (failed) or gets only failures back (warning), else one ok. */
export async function reachabilityChecks(input: ReachabilityInput): Promise<PreflightCheck[]> {
  const {load} = input
  const env = input.env ?? process.env
  // The way the load will go: the explicit proxy, else the environment's for this URL (as the drivers decide).
  const proxy = proxyFor(load.url, input.proxy, env)
  const variable = input.proxy === undefined && proxy !== undefined ? proxyVariable(load.url, env) : undefined
  const n = input.requests ?? 3
  const timeoutMs = input.timeoutMs ?? 5000
  const dispatcher = proxy === undefined ? undefined : new ProxyAgent({uri: proxy, proxyTunnel: false})
  const via =
    proxy === undefined ? '' : ` through the proxy ${proxy}${variable === undefined ? '' : ` (from ${variable})`}`
  try {
    const results = await Promise.all(
      load.traffic.map(async t => {
        const outcomes = await Promise.all(
          Array.from({length: n}, () =>
            probeOnce(load.url, {
              method: load.method ?? 'GET',
              ...(load.body === undefined ? {} : {body: load.body}),
              headers: t.headers ?? {},
              timeoutMs,
              ...(dispatcher === undefined ? {} : {dispatcher}),
              viaProxy: proxy !== undefined,
            }),
          ),
        )
        return {name: t.name, outcomes}
      }),
    )
    const checks: PreflightCheck[] = []
    for (const {name, outcomes} of results) {
      const reasons: Record<string, number> = {}
      for (const o of outcomes) if (o.reason !== undefined) reasons[o.reason] = (reasons[o.reason] ?? 0) + 1
      const failed = outcomes.filter(o => o.reason !== undefined).length
      if (outcomes.every(o => !o.answered)) {
        checks.push({
          check: 'reachability',
          status: 'failed',
          message: `traffic class ${name} cannot reach ${load.url}${via}: ${reasonsText(reasons)} (${failed} of ${n} requests)`,
          hint: waysIn(load.url, proxy, load.entry),
        })
      } else if (failed > 0) {
        checks.push({
          check: 'reachability',
          status: 'warning',
          message: `traffic class ${name} reaches ${load.url}${via}, but ${failed} of ${n} requests failed: ${reasonsText(reasons)}`,
          hint: 'The baseline will show whether this is steady; the reasons are counted per second in the journal.',
        })
      }
    }
    if (checks.length === 0)
      checks.push({
        check: 'reachability',
        status: 'ok',
        message: `every traffic class reaches ${load.url}${via} (${n} requests each)`,
      })
    return checks
  } finally {
    await dispatcher?.close().catch(() => undefined)
  }
}
