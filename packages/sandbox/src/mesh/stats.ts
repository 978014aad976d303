/**
 * One sidecar's Envoy stats store and its three renderings, as Envoy's admin handler produces them:
 * `/stats` text (`name: value`, sorted), `/stats?format=json` and `/stats/prometheus` (test/reference/SEMANTICS.md (e)).
 */
import {re2} from '@faultline/core/istio/routing.js'

/** Counter or gauge: Prometheus needs the type, the text format does not. */
export type StatKind = 'counter' | 'gauge'

/** A mutable stat cell; hot paths keep a reference instead of looking the name up per request. */
export interface Stat {
  readonly name: string
  readonly kind: StatKind
  value: number
}

/**
 * A cluster's stat prefix: `cluster.<name>;.` on Istio ≥ 1.23 (alt_stat_name = name + `;`, istio
 * 1.30.3 `pilot/pkg/networking/core/cluster_builder.go` → `util.DelimitedStatsPrefix`), `cluster.<name>.`
 * on 1.22 (`--istio 1.22`).
 */
export function clusterStatPrefix(clusterName: string, delimited = true): string {
  return `cluster.${clusterName}${delimited ? ';' : ''}.`
}

/** The HTTP connection manager stat prefix Istio gives an outbound listener, e.g. `outbound_0.0.0.0_9080`. */
export function outboundHttpStatPrefix(port: number): string {
  return `outbound_0.0.0.0_${port}`
}

/**
 * The fault filter's stat prefix on an outbound listener: `http.outbound_0.0.0.0_9080;.fault.` on
 * Istio ≥ 1.23 (istio 1.30.3 `pilot/pkg/networking/core/listener.go`: statPrefix =
 * `util.DelimitedStatsPrefix(direction + "_" + listener name)`), without the `;` on 1.22.
 */
export function faultStatPrefix(port: number, delimited = true): string {
  return `http.${outboundHttpStatPrefix(port)}${delimited ? ';' : ''}.fault.`
}

/** The stats of one Envoy instance, by full stat name. */
export class StatStore {
  private readonly stats = new Map<string, Stat>()

  /**
   * `include`: the bootstrap's stats_matcher (./inclusion.ts). A stat it rejects still counts here
   * (the data plane holds references), but like Envoy's null stats it is in no admin output.
   * `tags`: Istio's stats_tags for the Prometheus rendering (`TAGS_1_30` or `TAGS_1_22`).
   */
  constructor(
    private readonly include: (name: string) => boolean = () => true,
    private readonly tags: readonly TagSpecifier[] = TAGS_1_30,
  ) {}

  /** The stat with this name, created at 0 if it does not exist yet. */
  stat(name: string, kind: StatKind): Stat {
    let s = this.stats.get(name)
    if (s === undefined) {
      s = {name, kind, value: 0}
      this.stats.set(name, s)
    }
    return s
  }

  /** Shorthand for a counter. */
  counter(name: string): Stat {
    return this.stat(name, 'counter')
  }

  /** Shorthand for a gauge. */
  gauge(name: string): Stat {
    return this.stat(name, 'gauge')
  }

  /** Removes every stat whose name starts with the prefix (a cluster Envoy no longer has). */
  removePrefix(prefix: string): void {
    for (const name of this.stats.keys()) if (name.startsWith(prefix)) this.stats.delete(name)
  }

  /** Stats sorted by name, optionally filtered by an RE2 regex searched anywhere in the name (Envoy's `?filter=`). */
  list(filter?: string): Stat[] {
    const all = [...this.stats.values()]
      .filter(s => this.include(s.name))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    if (filter === undefined || filter === '') return all
    const re = re2(filter)
    return all.filter(s => re.matcher(s.name).find())
  }

  /** Envoy admin `/stats` text: one `name: value` line per stat, sorted. */
  text(filter?: string): string {
    return this.list(filter)
      .map(s => `${s.name}: ${s.value}\n`)
      .join('')
  }

  /** Envoy admin `/stats?format=json`. */
  json(filter?: string): string {
    return JSON.stringify({stats: this.list(filter).map(s => ({name: s.name, value: s.value}))}, null, 1)
  }

  /** Envoy `/stats/prometheus` for these stats, with Istio's `cluster_name` tag extraction. */
  prometheus(): string {
    const families = new Map<string, {kind: StatKind; samples: string[]}>()
    for (const s of this.list()) {
      const {metric, labels} = prometheusName(s.name, this.tags)
      let f = families.get(metric)
      if (f === undefined) {
        f = {kind: s.kind, samples: []}
        families.set(metric, f)
      }
      f.samples.push(`${metric}${labels} ${s.value}`)
    }
    let out = ''
    for (const [metric, f] of [...families].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out += `# TYPE ${metric} ${f.kind}\n${f.samples.join('\n')}\n`
    }
    return out
  }
}

/** One of Istio's bootstrap `stats_tags`: the first capture group is cut from the name, the second is the value. */
export interface TagSpecifier {
  tag: string
  regex: RegExp
}

const RESPONSE_TAGS: TagSpecifier[] = [
  {tag: 'response_code', regex: /_rq(_(\d{3}))$/d},
  {tag: 'response_code_class', regex: /_rq(_(\dxx))$/d},
]

/**
 * istio 1.30.3 `tools/packaging/common/envoy_bootstrap.json` stats_tags (use_all_default_tags: false)
 * that the sandbox's stats can match, POSIX classes spelt out for JS: `cluster_name`
 * `^cluster(\.(.+);)`, `http_conn_manager_prefix` `^http\.(((?:[_.[:digit:]\w]*|[_\[\]aAbBcCdDeEfF[:digit:]\w\:]*));\.)`.
 */
export const TAGS_1_30: readonly TagSpecifier[] = [
  {tag: 'cluster_name', regex: /^cluster(\.(.+);)/d},
  {tag: 'http_conn_manager_prefix', regex: /^http\.(((?:[_.0-9\w]*|[_[\]a-fA-F0-9\w:]*));\.)/d},
  ...RESPONSE_TAGS,
]

/**
 * istio 1.22.8's: `cluster_name` `^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)`; its
 * `http_conn_manager_prefix` `^http\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)` has no `\w`, so
 * it never matches `outbound_0.0.0.0_9080` and the fault counters keep the prefix in their name.
 */
export const TAGS_1_22: readonly TagSpecifier[] = [
  {tag: 'cluster_name', regex: /^cluster\.((.+?(\..+?\.svc\.cluster\.local)?)\.)/d},
  {tag: 'http_conn_manager_prefix', regex: /^http\.(((?:[_.0-9]*|[_[\]a-fA-F0-9]*))\.)/d},
  ...RESPONSE_TAGS,
]

/**
 * Envoy's Prometheus name for a stat (`prometheus_stats_formatter.cc`): every tag regex runs on the
 * full name, the first groups are cut out, the second groups become labels; then `envoy_` + the
 * rest with every char outside [a-zA-Z0-9_] as `_`. So `cluster.<name>;.upstream_rq_200` →
 * `envoy_cluster_upstream_rq{cluster_name="<name>",response_code="200"}` and
 * `http.outbound_0.0.0.0_9080;.fault.delays_injected` →
 * `envoy_http_fault_delays_injected{http_conn_manager_prefix="outbound_0.0.0.0_9080"}`.
 */
export function prometheusName(
  statName: string,
  tags: readonly TagSpecifier[] = TAGS_1_30,
): {metric: string; labels: string} {
  const cuts: [number, number][] = []
  const labels: string[] = []
  for (const {tag, regex} of tags) {
    const m = regex.exec(statName)
    const cut = m?.indices?.[1]
    if (m === null || cut === undefined) continue
    cuts.push(cut)
    labels.push(`${tag}="${escapeLabel(m[2] ?? m[1] ?? '')}"`)
  }
  let name = ''
  let at = 0
  for (const [from, to] of cuts.sort((x, y) => x[0] - y[0])) {
    if (from < at) continue
    name += statName.slice(at, from)
    at = to
  }
  name += statName.slice(at)
  return {metric: sanitize(`envoy_${name}`), labels: labels.length === 0 ? '' : `{${labels.join(',')}}`}
}
function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_')
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}
