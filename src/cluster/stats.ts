/**
 * Envoy admin `/stats` text (what `pilot-agent request GET stats` prints) and stat-name patterns.
 * Istio ≥1.23 names clusters `cluster.<name>;.<stat>`, older proxies `cluster.<name>.<stat>`; we
 * normalise both to the `;.` form so a pattern written either way matches either proxy.
 */

/** Counter and gauge values by full stat name (normalised to the `;.` form). Text readouts and histograms are skipped. */
export type EnvoyStats = Map<string, number>

const ISTIO_CLUSTER = /^cluster\.(?:inbound|outbound)\|/

const STAT_SUFFIXES = ['upstream_', 'circuit_breakers.', 'outlier_detection.', 'membership_', 'lb_', 'max_host_weight', 'update_', 'version', 'assignment_', 'bind_errors', 'default.', 'internal.', 'external.', 'original_dst_', 'retry_or_shadow_abandoned', 'health_check.', 'http1.', 'http2.', 'client_ssl_socket_factory.', 'ssl.', 'init_fetch_timeout', 'warming_state']

/** Rewrites a cluster stat name to Istio ≥1.23's `cluster.<name>;.<stat>` form; other names are unchanged. */
export function normaliseStatName(name: string): string {
  if (!ISTIO_CLUSTER.test(name) || name.includes(';.')) return name
  // Without the delimiter the cluster name is ambiguous (it contains dots): cut at the first known stat family.
  const rest = name.slice('cluster.'.length)
  for (const suffix of STAT_SUFFIXES) {
    const i = rest.indexOf('.' + suffix)
    if (i > 0 && rest.slice(0, i).includes('|')) return `cluster.${rest.slice(0, i)};.${rest.slice(i + 1)}`
  }
  return name
}

/** Parses Envoy admin text format; lines that are not `name: <number>` (readouts, histograms, blanks) are skipped. */
export function parseEnvoyStats(text: string): EnvoyStats {
  const stats: EnvoyStats = new Map()
  for (const line of text.split('\n')) {
    const sep = line.lastIndexOf(': ')
    if (sep <= 0) continue
    const raw = line.slice(sep + 2).trim()
    if (!/^-?[0-9]+(\.[0-9]+)?$/.test(raw)) continue
    const name = normaliseStatName(line.slice(0, sep).trim())
    stats.set(name, (stats.get(name) ?? 0) + Number(raw))
  }
  return stats
}

/** Compiles a stat pattern where `*` matches any run of characters (both cluster-name forms accepted). */
export function statMatcher(pattern: string): (name: string) => boolean {
  const normalised = normaliseStatName(pattern.replaceAll('*', '\u0000')).replaceAll('\u0000', '*')
  const source = '^' + normalised.split('*').map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$'
  const re = new RegExp(source)
  return name => re.test(name)
}

/** Sum of every stat matching the pattern, and how many matched (0 matches means the stat is absent). */
export function sumMatching(stats: EnvoyStats, pattern: string): {value: number; matched: number} {
  const matches = statMatcher(pattern)
  let value = 0
  let matched = 0
  for (const [name, v] of stats) {
    if (!matches(name)) continue
    value += v
    matched++
  }
  return {value, matched}
}
