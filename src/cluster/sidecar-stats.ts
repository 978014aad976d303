/**
 * How the runner reads a sidecar's Envoy stats, decided once per `Cluster` (one run's connection) and
 * namespace:
 *
 * - **Through the API server's pod proxy**, `GET /api/v1/namespaces/NS/pods/NAME:15090/proxy/stats/prometheus`
 *   (RBAC: `get pods/proxy`). Port 15090 is the Envoy listener Istio's bootstrap opens for Prometheus
 *   on the pod's address (istio 1.30.3 `tools/packaging/common/envoy_bootstrap.json`: listener on
 *   `{{ .wildcard }}_{{ .envoy_prometheus_port }}`, one route, prefix `/stats/prometheus`, to the
 *   `prometheus_stats` cluster, i.e. the admin's own `/stats/prometheus`; `ENVOY_PROMETHEUS_PORT`
 *   defaults to 15090 in `pilot/cmd/pilot-agent/options/options.go`). Envoy's admin port 15000 is
 *   not reachable this way: the bootstrap binds it to `{{ .localhost }}` (127.0.0.1), and the API
 *   server dials the pod's IP. pilot-agent's status port 15020 (`pilot/cmd/pilot-agent/status/
 *   server.go` `handleStats`) serves the same Envoy stats merged with the app's and the agent's own
 *   metrics: more to parse for nothing we read, so 15090. A GET through the proxy is a plain HTTP
 *   request, cheaper than an exec's WebSocket stream.
 * - **By exec**, `pilot-agent request GET stats` in the `istio-proxy` container (RBAC: `get` and
 *   `create pods/exec`), the fallback: when `pods/proxy` is forbidden (403), or the port does not
 *   serve the stats (a 404 that is not the pod missing, a 503 when nothing listens on the pod's
 *   address: Istio's `METRICS_LOCALHOST_ACCESS_ONLY` binds 15090 to localhost, `pkg/bootstrap/option/
 *   instances.go` MetricsLocalhostAccessOnly; a managed control plane that cannot reach pod ports) and
 *   exec works.
 *
 * The first read in a namespace tries the pod proxy; what it finds holds for every later read of the
 * run there. Per namespace, because RBAC is granted per namespace: a gateway entry also reads the
 * proxies in the gateway's namespace (src/runner/evidence.ts `gatewayNamespaces`), whose Role may
 * allow exec where the target's allows the pod proxy. The run's first decision, the target
 * namespace's, is announced once (`onDecided`; preflight's `stats` line in the console and the journal).
 */
import {ApiError, type Cluster} from './cluster.js'
import {parsePrometheusStats} from './prometheus-stats.js'
import {type EnvoyStats, parseEnvoyStats} from './stats.js'

/** Istio's Envoy Prometheus port (`ENVOY_PROMETHEUS_PORT`). */
export const ENVOY_PROMETHEUS_PORT = 15090
/** The path it serves (the only route of its listener). */
export const PROMETHEUS_PATH = 'stats/prometheus'

/** How the stats are read: through the API server's pod proxy, or by exec into istio-proxy. */
export type StatsWay = 'pod-proxy' | 'exec'

/** The way chosen, and why (for exec: what the pod proxy answered). */
export interface StatsDecision {
  way: StatsWay
  reason: string
}

/** What the console and the journal say about a decision. */
export function describeDecision(d: StatsDecision): {message: string; hint?: string} {
  if (d.way === 'pod-proxy')
    return {
      message: `sidecar stats are read through the API server's pod proxy (GET pods/NAME:${ENVOY_PROMETHEUS_PORT}/proxy/${PROMETHEUS_PATH})`,
    }
  return {
    message: `sidecar stats are read by exec (pilot-agent request GET stats in istio-proxy): the pod proxy to port ${ENVOY_PROMETHEUS_PORT} answered ${d.reason}`,
    hint: `Granting get pods/proxy reads them with a plain GET instead (docs/real-cluster.md, RBAC).`,
  }
}

/** A 404 about the pod itself (a Kubernetes Status, reason NotFound): the pod is gone, not the port. */
function podGone(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.reason === 'NotFound'
}

function summary(err: unknown): string {
  const status = err instanceof ApiError && err.status > 0 ? `${err.status} ` : ''
  return `${status}${((err as Error).message ?? String(err)).split('\n')[0] ?? ''}`.trim()
}

/** Reads sidecar stats for one `Cluster`, the way in each namespace decided by its first read there. */
export class SidecarStats {
  private readonly decisions = new Map<string, StatsDecision>()
  private readonly probing = new Map<string, Promise<void>>()
  private first: StatsDecision | undefined
  private readonly listeners = new Set<(d: StatsDecision) => void>()

  constructor(private readonly cluster: Cluster) {}

  /** The run's first decision (the one announced), if a read has made one. */
  get decided(): StatsDecision | undefined {
    return this.first
  }

  /** The way decided in a namespace, if a read there has decided it. */
  decidedIn(namespace: string): StatsDecision | undefined {
    return this.decisions.get(namespace)
  }

  /** Calls `listener` once the run's first way is decided (at once if it is); returns how to stop listening. */
  onDecided(listener: (d: StatsDecision) => void): () => void {
    if (this.first !== undefined) {
      listener(this.first)
      return () => undefined
    }
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The sidecar's Envoy stats by name (through the proxy rebuilt from Prometheus; by exec Envoy's text). */
  envoy(namespace: string, pod: string): Promise<EnvoyStats> {
    return this.read(
      namespace,
      async () =>
        parsePrometheusStats(await this.cluster.podProxyGet(namespace, pod, ENVOY_PROMETHEUS_PORT, PROMETHEUS_PATH)),
      async () => parseEnvoyStats(await this.cluster.proxyRequest(namespace, pod, 'stats')),
    )
  }

  /** The sidecar's `/stats/prometheus` text, either way. */
  prometheus(namespace: string, pod: string): Promise<string> {
    return this.read(
      namespace,
      () => this.cluster.podProxyGet(namespace, pod, ENVOY_PROMETHEUS_PORT, PROMETHEUS_PATH),
      () => this.cluster.proxyRequest(namespace, pod, PROMETHEUS_PATH),
    )
  }

  private decide(namespace: string, way: StatsWay, reason: string): void {
    if (this.decisions.has(namespace)) return
    const decision = {way, reason}
    this.decisions.set(namespace, decision)
    if (this.first !== undefined) return
    this.first = decision
    for (const l of this.listeners) l(decision)
    this.listeners.clear()
  }

  private async read<T>(namespace: string, byProxy: () => Promise<T>, byExec: () => Promise<T>): Promise<T> {
    // Reads started together wait for the first one to decide, rather than each trying both ways.
    while (!this.decisions.has(namespace) && this.probing.has(namespace)) await this.probing.get(namespace)
    const decision = this.decisions.get(namespace)
    if (decision?.way === 'exec') return byExec()
    if (decision?.way === 'pod-proxy') return byProxy()
    const attempt = this.undecided(namespace, byProxy, byExec)
    const probing: Promise<void> = attempt
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        if (this.probing.get(namespace) === probing) this.probing.delete(namespace)
      })
    this.probing.set(namespace, probing)
    return attempt
  }

  /** The undecided read: the pod proxy first, exec when the proxy cannot serve the stats and exec can. */
  private async undecided<T>(namespace: string, byProxy: () => Promise<T>, byExec: () => Promise<T>): Promise<T> {
    let proxied: unknown
    try {
      const value = await byProxy()
      this.decide(namespace, 'pod-proxy', '')
      return value
    } catch (err) {
      // A pod that went away says nothing about the way: the next read decides.
      if (podGone(err)) throw err
      proxied = err
    }
    const why = summary(proxied)
    // RBAC does not change during a run: a 403 settles it in this namespace whatever exec then does.
    if (proxied instanceof ApiError && proxied.status === 403) this.decide(namespace, 'exec', why)
    try {
      const value = await byExec()
      this.decide(namespace, 'exec', why)
      return value
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0
      throw new ApiError(
        `the sidecar's stats could not be read either way: through the pod proxy ${why}; by exec ${summary(err)}`,
        status,
        err instanceof ApiError ? err.reason : undefined,
        {cause: err},
      )
    }
  }
}

const readers = new WeakMap<Cluster, SidecarStats>()

/** The stats reader of a cluster connection (one per run: its way is decided once in each namespace). */
export function sidecarStats(cluster: Cluster): SidecarStats {
  let reader = readers.get(cluster)
  if (reader === undefined) {
    reader = new SidecarStats(cluster)
    readers.set(cluster, reader)
  }
  return reader
}
