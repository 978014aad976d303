/**
 * One sidecar's Envoy stats store and its three renderings, as Envoy's admin handler produces them:
 * `/stats` text (`name: value`, sorted), `/stats?format=json` and `/stats/prometheus` (test/reference/SEMANTICS.md (e)).
 */
import {re2} from '../../istio/routing.js'

/** Counter or gauge: Prometheus needs the type, the text format does not. */
export type StatKind = 'counter' | 'gauge'

/** A mutable stat cell; hot paths keep a reference instead of looking the name up per request. */
export interface Stat {
  readonly name: string
  readonly kind: StatKind
  value: number
}

/** Istio ≥ 1.23 cluster stat prefix: `cluster.<cluster name>;.` (alt_stat_name + `;` delimiter). */
export function clusterStatPrefix(clusterName: string): string {
  return `cluster.${clusterName};.`
}

/** The HTTP connection manager stat prefix Istio gives an outbound listener, e.g. `outbound_0.0.0.0_9080`. */
export function outboundHttpStatPrefix(port: number): string {
  return `outbound_0.0.0.0_${port}`
}

/** The stats of one Envoy instance, by full stat name. */
export class StatStore {
  private readonly stats = new Map<string, Stat>()

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
    const all = [...this.stats.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    if (filter === undefined || filter === '') return all
    const re = re2(filter)
    return all.filter(s => re.matcher(s.name).find())
  }

  /** Envoy admin `/stats` text: one `name: value` line per stat, sorted. */
  text(filter?: string): string {
    return this.list(filter).map(s => `${s.name}: ${s.value}\n`).join('')
  }

  /** Envoy admin `/stats?format=json`. */
  json(filter?: string): string {
    return JSON.stringify({stats: this.list(filter).map(s => ({name: s.name, value: s.value}))}, null, 1)
  }

  /** Envoy `/stats/prometheus` for these stats, with Istio's `cluster_name` tag extraction. */
  prometheus(): string {
    const families = new Map<string, {kind: StatKind; samples: string[]}>()
    for (const s of this.list()) {
      const {metric, labels} = prometheusName(s.name)
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

const CLUSTER_TAG = /^cluster\.(.+);\.(.*)$/

/**
 * Envoy's Prometheus name for a stat: Istio's tag `{"tag_name":"cluster_name","regex":"^cluster(\\.(.+);)"}`
 * removes `.<name>;` and makes it the `cluster_name` label; then every char outside [a-zA-Z0-9_] becomes `_`.
 */
export function prometheusName(statName: string): {metric: string; labels: string} {
  const m = CLUSTER_TAG.exec(statName)
  if (m !== null) {
    const rest = m[2] as string
    return {metric: sanitize(`envoy_cluster_${rest}`), labels: `{cluster_name="${escapeLabel(m[1] as string)}"}`}
  }
  return {metric: sanitize(`envoy_${statName}`), labels: ''}
}

function sanitize(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_')
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}
