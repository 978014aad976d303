/**
 * Envoy admin `/stats` text (what `pilot-agent request GET stats` prints) and stat-name patterns.
 *
 * Istio ≥ 1.23 ends the stat prefixes it generates with `;` (istio/istio 1.30.3
 * `pilot/pkg/networking/util/util.go` DelimitedStatsPrefix, `pkg/config/constants/constants.go`
 * StatPrefixDelimiter; introduced in 1.23.0 by #51861 for clusters and #52269 for HTTP connection
 * managers — docs/real-cluster.md): every cluster's alt_stat_name is `<cluster name>;`, so
 * `cluster.<name>;.<stat>`, and every HTTP connection manager's stat_prefix is `<prefix>;`, so
 * `http.outbound_0.0.0.0_9080;.fault.delays_injected`. Older proxies (and 1.23–1.25 with
 * ENABLE_DELIMITED_STATS_TAG_REGEX=false) name them without the `;`. We normalise names we can
 * recognise to the `;.` form, and patterns match both forms whatever form they are written in.
 */

/**
 * Counter and gauge values by full stat name (normalised to the `;.` form). Text readouts and
 * histograms are skipped. `prometheus`: the names were rebuilt from Envoy's Prometheus rendering
 * (src/cluster/prometheus-stats.ts), whose `_` may stand for any character Envoy sanitised (a `.`,
 * a `|`), so patterns match them loosely.
 */
export type EnvoyStats = Map<string, number> & {readonly prometheus?: boolean}

/** Istio's delimiter after a generated stat prefix. */
export const STAT_PREFIX_DELIMITER = ';'

const ISTIO_CLUSTER = /^cluster\.(?:inbound|outbound)\|/

const STAT_SUFFIXES = [
  'upstream_',
  'circuit_breakers.',
  'outlier_detection.',
  'membership_',
  'lb_',
  'max_host_weight',
  'update_',
  'version',
  'assignment_',
  'bind_errors',
  'default.',
  'internal.',
  'external.',
  'original_dst_',
  'retry_or_shadow_abandoned',
  'health_check.',
  'http1.',
  'http2.',
  'client_ssl_socket_factory.',
  'ssl.',
  'init_fetch_timeout',
  'warming_state',
]

/**
 * The HTTP connection manager stat prefixes Istio generates: `<direction>_<listener name>` with a
 * listener name `<address>_<port>` (istio 1.30.3 `pilot/pkg/networking/core/listener.go`,
 * `gateway.go`, `listener_inbound.go` StatPrefix), e.g. `outbound_0.0.0.0_9080`,
 * `inbound_10.0.0.1_9080`, `outbound_[::]_9080`; and the inbound passthrough chain's cluster name.
 * Lazy up to the first `_<port>.`: an address has no `_`.
 */
const ISTIO_HCM = /^http\.((?:inbound|outbound)_.+?_[0-9]+|InboundPassthroughCluster[A-Za-z0-9]*)\./

/**
 * Rewrites a cluster or HTTP connection manager stat name to Istio ≥ 1.23's delimited form
 * (`cluster.<name>;.<stat>`, `http.<prefix>;.<stat>`); names already delimited, and names whose
 * prefix we cannot tell apart from the stat, are unchanged.
 */
export function normaliseStatName(name: string): string {
  if (name.includes(';.')) return name
  const hcm = ISTIO_HCM.exec(name)
  if (hcm !== null) return `http.${hcm[1]};.${name.slice(hcm[0].length)}`
  if (!ISTIO_CLUSTER.test(name)) return name
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

const escape = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&')

/**
 * One literal run of a pattern. Strict: every character is itself, with `;` optional before a `.`.
 * Loose (names rebuilt from Prometheus): every character outside `[a-zA-Z0-9_]` may also be a `_`,
 * as Envoy's Prometheus rendering writes it (`prometheus_stats_formatter.cc` sanitizeName).
 */
function literal(part: string, loose: boolean): string {
  if (!loose) return part.split('.').map(escape).join(';?\\.')
  return [...part].map(c => (c === '.' ? ';?[._]' : /[a-zA-Z0-9_]/.test(c) ? c : `[${escape(c)}_]`)).join('')
}

/**
 * Compiles a stat pattern where `*` matches any run of characters and every other character is
 * literal. Both naming forms match whichever the pattern is written in: a `;` is optional before
 * every `.` (and one written there is dropped), so names we cannot normalise (custom cluster stat
 * names, `cluster.BlackHoleCluster;.…`, a `*` right after a cluster name) match either way too.
 * `loose`: for names rebuilt from Prometheus (`EnvoyStats.prometheus`), see `literal`.
 */
export function statMatcher(pattern: string, options: {loose?: boolean} = {}): (name: string) => boolean {
  const loose = options.loose === true
  const re = new RegExp(
    '^' +
      pattern
        .replaceAll(STAT_PREFIX_DELIMITER + '.', '.')
        .split('*')
        .map(p => literal(p, loose))
        .join('.*') +
      '$',
  )
  return name => re.test(name)
}

/** Sum of every stat matching the pattern, and how many matched (0 matches means the stat is absent). */
export function sumMatching(stats: EnvoyStats, pattern: string): {value: number; matched: number} {
  const matches = statMatcher(pattern, {loose: stats.prometheus === true})
  let value = 0
  let matched = 0
  for (const [name, v] of stats) {
    if (!matches(name)) continue
    value += v
    matched++
  }
  return {value, matched}
}
