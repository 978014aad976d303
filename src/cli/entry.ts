/**
 * The way into the mesh (README, "Running against a real cluster"): `--entry` over
 * `spec.load.entry`. `proxy=URL`: through that HTTP forward proxy. `gateway`: through the ingress
 * gateway (the experiment's gateway entry, else Service istio-system/istio-ingressgateway port 80),
 * `gateway=URL`: through a gateway at that address. `portForward=SERVICE[.NAMESPACE]:PORT`: through
 * a port-forward chaos keeps to that Service's ready pods (src/cli/port-forward.ts).
 */
import type {Cluster} from '../cluster/cluster.js'
import {ClusterUnavailable, UsageError} from '@faultline/core/errors.js'
import type {Experiment, LoadEntry} from '../experiment/model.js'
import {DEFAULT_GATEWAY} from '../faults/entry-gateways.js'

/** Istio's default ingress gateway Service (its home is the fault compiler's module, which the runner reads too). */
export {DEFAULT_GATEWAY}

function httpUrl(value: string, arg: string | undefined, what: string): string {
  let url: URL | undefined
  try {
    url = arg === undefined ? undefined : new URL(arg)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new UsageError(`--entry ${value}: ${what}= needs an http:// or https:// URL`, {
      hint: `e.g. --entry ${what}=http://127.0.0.1:3128`,
    })
  return arg!
}

const DNS_LABEL = '[a-z0-9](?:[-a-z0-9]*[a-z0-9])?'
const PORT_FORWARD_ARG = new RegExp(`^(${DNS_LABEL})(?:\\.(${DNS_LABEL}))?:(\\d{1,5})$`)
const PORT_FORWARD_HINT =
  'e.g. --entry portForward=productpage:9080 (Service productpage, port 9080, in the target namespace) or --entry portForward=productpage.bookinfo:9080'

/**
 * `portForward=SERVICE[.NAMESPACE]:PORT`; bare `portForward`: the experiment's own portForward
 * entry, else the Service and port the load URL names (`http://productpage:9080/…`,
 * `http://productpage.bookinfo.svc.cluster.local/…`).
 */
function parsePortForward(
  value: string,
  arg: string | undefined,
  spec: LoadEntry | undefined,
  loadUrl: string | undefined,
): LoadEntry {
  if (arg === undefined) {
    if (spec !== undefined && 'portForward' in spec) return spec
    const fromUrl = loadUrl === undefined ? undefined : serviceOfUrl(loadUrl)
    if (fromUrl === undefined)
      throw new UsageError(`--entry ${value}: which Service? The load URL ${loadUrl ?? ''} names none`, {
        hint: PORT_FORWARD_HINT,
      })
    return {portForward: fromUrl}
  }
  const m = PORT_FORWARD_ARG.exec(arg)
  const port = Number(m?.[3])
  if (m === null || !(port >= 1 && port <= 65535))
    throw new UsageError(`--entry ${value}: portForward= needs SERVICE[.NAMESPACE]:PORT`, {hint: PORT_FORWARD_HINT})
  return {portForward: {service: m[1] as string, ...(m[2] === undefined ? {} : {namespace: m[2]}), port}}
}

/** The Service, namespace and port a cluster-internal URL names, else undefined (an IP, an outside name). */
export function serviceOfUrl(url: string): {service: string; namespace?: string; port: number} | undefined {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return undefined
  }
  const labels = u.hostname.replace(/\.svc\.cluster\.local$|\.svc$/, '').split('.')
  if (
    labels.length > 2 ||
    !labels.every(l => new RegExp(`^${DNS_LABEL}$`).test(l)) ||
    /^\d+$/.test(labels.at(-1) ?? '')
  )
    return undefined
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port)
  return {service: labels[0] as string, ...(labels[1] === undefined ? {} : {namespace: labels[1]}), port}
}

/** Parses `--entry` (with the experiment's own entry and load URL); a malformed value is a usage error (exit 2) before anything starts. */
export function parseEntryFlag(value: string, spec?: LoadEntry, loadUrl?: string): LoadEntry {
  const eq = value.indexOf('=')
  const kind = eq < 0 ? value : value.slice(0, eq)
  const arg = eq < 0 ? undefined : value.slice(eq + 1)
  if (kind === 'proxy') return {proxy: httpUrl(value, arg, 'proxy')}
  if (kind === 'gateway') {
    const keep =
      spec !== undefined && ('gateway' in spec || 'url' in spec)
        ? {
            ...(spec.host === undefined ? {} : {host: spec.host}),
            ...(spec.gateways === undefined ? {} : {gateways: spec.gateways}),
          }
        : {}
    if (arg !== undefined) return {url: httpUrl(value, arg, 'gateway'), ...keep}
    return spec !== undefined && 'gateway' in spec ? spec : {gateway: {...DEFAULT_GATEWAY}, ...keep}
  }
  if (kind === 'portForward') return parsePortForward(value, arg, spec, loadUrl)
  throw new UsageError(`--entry ${value}: unknown way in ${JSON.stringify(kind)}`, {
    hint: 'Use --entry proxy=URL, --entry gateway, --entry gateway=URL or --entry portForward=SERVICE[.NAMESPACE]:PORT. See README, "Running against a real cluster".',
  })
}

/** The run's entry: --entry, else spec.load.entry. */
export function chosenEntry(
  flag: string | undefined,
  spec: LoadEntry | undefined,
  loadUrl?: string,
): LoadEntry | undefined {
  return flag === undefined ? spec : parseEntryFlag(flag, spec, loadUrl)
}

/** The explicit proxy of a run: the entry's, else the target's (the sandbox's); none through a gateway. */
export function entryProxy(entry: LoadEntry | undefined, targetProxy: string | undefined): string | undefined {
  if (entry === undefined) return targetProxy
  return 'proxy' in entry ? entry.proxy : undefined
}

/** Where the gateway answers, and what to stop at the end (a port-forward). */
export interface GatewayAddress {
  origin: string
  /** How it was found, for the console. */
  via: string
  close?: () => Promise<void>
}

/** A cluster that can forward a local port to a pod's (KubeCluster.portForward). */
type Forwarding = {
  portForward(namespace: string, pod: string, port: number): Promise<{port: number; close: () => Promise<void>}>
}

/**
 * The gateway's address: the entry's URL, else on the sandbox its kubeconfig's gateway, else the
 * Service's load-balancer address, else a port-forward to one of its ready pods (as kubectl
 * port-forward svc/… does: the Service port's targetPort on a pod its selector picks). Where none
 * of these works, exit 4 saying why.
 */
export async function gatewayAddress(
  entry: LoadEntry,
  cluster: Cluster,
  sandboxGateway: string | undefined,
): Promise<GatewayAddress> {
  if ('url' in entry) return {origin: new URL(entry.url).origin, via: 'spec.load.entry.url / --entry gateway=URL'}
  if (!('gateway' in entry)) throw new Error('not a gateway entry')
  const {service, namespace = DEFAULT_GATEWAY.namespace, port = DEFAULT_GATEWAY.port} = entry.gateway
  if (sandboxGateway !== undefined)
    return {origin: new URL(sandboxGateway).origin, via: "the sandbox's ingress gateway"}
  const svc = (await cluster.listServices(namespace)).find(s => s.name === service)
  if (svc === undefined)
    throw new ClusterUnavailable(`--entry gateway: no Service ${namespace}/${service}`, {
      hint: "Name the ingress gateway's Service in spec.load.entry.gateway, or pass --entry gateway=URL with its address. Nothing was injected.",
    })
  const address = svc.loadBalancer?.[0]
  if (address !== undefined)
    return {
      origin: `http://${address.includes(':') ? `[${address}]` : address}${port === 80 ? '' : `:${port}`}`,
      via: `Service ${namespace}/${service}'s load-balancer address`,
    }
  const none = `--entry gateway: Service ${namespace}/${service} (${svc.type}) has no load-balancer address in its status`
  const byHand = `Reach it another way and pass --entry gateway=URL (e.g. kubectl port-forward -n ${namespace} svc/${service} 8080:${port}, then --entry gateway=http://127.0.0.1:8080). Nothing was injected.`
  const forwarding = cluster as Partial<Forwarding>
  if (typeof forwarding.portForward !== 'function')
    throw new ClusterUnavailable(`${none}, and this cluster connection cannot port-forward`, {hint: byHand})
  const target = svc.targetPorts?.[port] ?? port
  if (typeof target !== 'number')
    throw new ClusterUnavailable(
      `${none}, and its port ${port} targets the named port ${JSON.stringify(target)}, which chaos does not resolve`,
      {hint: byHand},
    )
  if (svc.selector === undefined || Object.keys(svc.selector).length === 0)
    throw new ClusterUnavailable(`${none}, and it has no selector to port-forward to`, {hint: byHand})
  const pods = await cluster.listPods(
    namespace,
    Object.entries(svc.selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  )
  const pod = pods.find(p => p.ready) ?? pods[0]
  if (pod === undefined) throw new ClusterUnavailable(`${none}, and no pod matches its selector`, {hint: byHand})
  try {
    const forward = await forwarding.portForward.call(cluster, namespace, pod.name, target)
    return {
      origin: `http://127.0.0.1:${forward.port}`,
      via: `a port-forward to ${namespace}/${pod.name}:${target} (Service ${namespace}/${service} has no load-balancer address)`,
      close: forward.close,
    }
  } catch (err) {
    throw new ClusterUnavailable(
      `${none}, and the port-forward to ${namespace}/${pod.name}:${target} failed: ${(err as Error).message}`,
      {cause: err, hint: byHand},
    )
  }
}

/**
 * The experiment as sent through a gateway at `origin`: the load's URL and every HTTP probe URL on
 * the load's origin keep their path and query and go to the gateway, with the Host header the
 * gateway routes (the entry's host, else the load URL's).
 */
export function throughGateway(experiment: Experiment, origin: string, entry: LoadEntry): Experiment {
  const load = new URL(experiment.spec.load.url)
  const host = ('host' in entry ? entry.host : undefined) ?? load.host
  const move = (url: string) => {
    const u = new URL(url)
    return u.origin === load.origin ? `${origin}${u.pathname}${u.search}` : undefined
  }
  const withHost = (headers: Record<string, string> | undefined) => ({
    ...Object.fromEntries(Object.entries(headers ?? {}).filter(([k]) => k.toLowerCase() !== 'host')),
    host,
  })
  return {
    ...experiment,
    spec: {
      ...experiment.spec,
      load: {
        ...experiment.spec.load,
        url: move(experiment.spec.load.url)!,
        traffic: experiment.spec.load.traffic.map(t => ({...t, headers: withHost(t.headers)})),
      },
      steadyState: experiment.spec.steadyState.map(p => {
        if (!('http' in p)) return p
        const url = move(p.http.url)
        return url === undefined ? p : {...p, http: {...p.http, url, headers: withHost(p.http.headers)}}
      }),
    },
  }
}
