/**
 * `kubectl exec <pod> -c istio-proxy -- pilot-agent request GET <path>`: the Envoy admin endpoints
 * the runner and people use (`stats`, `stats?filter=`, `stats?format=json`, `stats/prometheus`,
 * `config_dump`), answered from the pod's sidecar. Anything else behaves like a missing binary.
 */
import type {ExecResult} from '../types.js'
import type {MeshSidecar} from './sidecar.js'

const ok = (stdout: string): ExecResult => ({stdout, stderr: '', exitCode: 0})

/** Runs a command in the istio-proxy container of a pod whose sidecar is `sidecar`. */
export async function execInProxy(sidecar: MeshSidecar, command: string[]): Promise<ExecResult> {
  const [bin, sub, method, rawPath] = command
  if (bin === undefined) return {stdout: '', stderr: 'exec: no command given\n', exitCode: 126}
  if (bin !== 'pilot-agent' && bin !== '/usr/local/bin/pilot-agent') {
    return {stdout: '', stderr: `exec: "${bin}": executable file not found in $PATH\n`, exitCode: 127}
  }
  if (sub !== 'request' || method === undefined || rawPath === undefined) {
    return {
      stdout: '',
      stderr: 'Error: the sandbox pilot-agent supports only: pilot-agent request GET <admin path>\n',
      exitCode: 1,
    }
  }
  if (method.toUpperCase() !== 'GET') {
    return {
      stdout: '',
      stderr: `Error: ${method.toUpperCase()} ${rawPath}: the sandbox Envoy admin serves GET only\n`,
      exitCode: 1,
    }
  }
  return adminGet(sidecar, rawPath)
}

/** Serves one GET on the Envoy admin interface. */
export async function adminGet(sidecar: MeshSidecar, rawPath: string): Promise<ExecResult> {
  const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath
  const q = path.indexOf('?')
  const resource = q < 0 ? path : path.slice(0, q)
  const params = new URLSearchParams(q < 0 ? '' : path.slice(q + 1))
  const filter = params.get('filter') ?? undefined
  switch (resource) {
    case 'stats': {
      const format = params.get('format')
      if (format === 'json') return ok(sidecar.statsJson(filter) + '\n')
      if (format === 'prometheus') return ok(await sidecar.metricsText())
      let text = sidecar.statsText(filter)
      if (params.has('usedonly'))
        text = text
          .split('\n')
          .filter(l => l !== '' && !l.endsWith(': 0'))
          .map(l => l + '\n')
          .join('')
      return ok(text)
    }
    case 'stats/prometheus':
      return ok(await sidecar.metricsText())
    case 'config_dump':
      return ok(JSON.stringify(configDump(sidecar), null, 2) + '\n')
    case 'ready':
      return ok('LIVE\n')
    default:
      return {
        stdout: '',
        stderr: `Error: GET /${path}: 404 Not Found (the sandbox Envoy admin serves stats, stats/prometheus, config_dump, ready)\n`,
        exitCode: 1,
      }
  }
}

/** A minimal `config_dump`: the outbound clusters with their thresholds and the routes per virtual host. */
function configDump(sidecar: MeshSidecar): unknown {
  const table = sidecar.table()
  const clusters = [...table.clusters.values()].map(c => ({
    cluster: {
      name: c.name,
      ...(sidecar.profile.delimitedStatPrefixes ? {alt_stat_name: `${c.name};`} : {}),
      connect_timeout: `${c.connectTimeoutMs / 1000}s`,
      lb_policy: c.lb,
      circuit_breakers: {
        thresholds: [
          {
            max_connections: c.limits.maxConnections,
            max_pending_requests: c.limits.maxPendingRequests,
            max_requests: c.limits.maxRequests,
            max_retries: c.limits.maxRetries,
          },
        ],
      },
      ...(c.outlier === undefined ? {} : {outlier_detection: c.outlier}),
      endpoints: c.endpoints.map(p => `127.0.0.1:${p.appPort} (${p.name})`),
    },
  }))
  const hosts = new Map<
    string,
    {name: string; domains: string[]; virtual_service: string | undefined; routes: unknown}
  >()
  for (const [domain, vh] of table.virtualHosts) {
    const name = `${vh.fqdn}:${vh.port}`
    const entry = hosts.get(name) ?? {
      name,
      domains: [],
      virtual_service: vh.virtualService,
      routes: vh.routes ?? 'default',
    }
    entry.domains.push(domain)
    hosts.set(name, entry)
  }
  return {
    configs: [
      {'@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamic_active_clusters: clusters},
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
        dynamic_route_configs: [{route_config: {virtual_hosts: [...hosts.values()]}}],
      },
    ],
  }
}
