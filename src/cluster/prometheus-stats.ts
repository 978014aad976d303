/**
 * A sidecar's `/stats/prometheus` (Prometheus text v0.0.4, what `pods/NAME:15090/proxy/stats/prometheus`
 * answers) read back into Envoy stat names, so stat patterns written in Envoy's text form
 * (`cluster.outbound|9080||ratings.default.svc.cluster.local.upstream_rq_pending_overflow`,
 * `http.outbound_0.0.0.0_9080;.fault.delays_injected`) work on it unchanged.
 *
 * Envoy renders a stat as `envoy_` + its tag-extracted name with every character outside
 * `[a-zA-Z0-9_]` made `_`, the extracted tags as labels (envoy `source/server/admin/
 * prometheus_stats.cc`, the stats_config tag extraction of `api/envoy/config/metrics/v3/stats.proto`:
 * each TagSpecifier's first capture group is cut from the name, its second is the value). Istio's
 * bootstrap (istio 1.30.3 `tools/packaging/common/envoy_bootstrap.json`, `use_all_default_tags:
 * false`) extracts, among others, `cluster_name` (`^cluster(\.(.+);)`), `http_conn_manager_prefix`
 * (`^http\.(((?:[_.[:digit:]\w]*|…));\.)`), `listener_address`, `http_conn_manager_listener_prefix`,
 * `tcp_prefix`, `thread_name`, `response_code` (`_rq(_(\d{3}))$`) and `response_code_class`. So
 * `cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_pending_overflow` is served as
 * `envoy_cluster_upstream_rq_pending_overflow{cluster_name="outbound|9080||ratings.default.svc.cluster.local"}`
 * and `http.outbound_0.0.0.0_9080;.fault.delays_injected` as
 * `envoy_http_fault_delays_injected{http_conn_manager_prefix="outbound_0.0.0.0_9080"}`; Istio ≤ 1.22's
 * `http_conn_manager_prefix` regex has no `\w` and never matches `outbound_0.0.0.0_9080`, so there the
 * prefix stays in the name: `envoy_http_outbound_0_0_0_0_9080_fault_delays_injected`.
 *
 * Here each tag goes back where its regex took it from (`cluster.<cluster_name>;.…`,
 * `http.<prefix>;.…`, `…_rq_<code>`); the rest keeps its `_`, which may have been a `.` or any other
 * sanitised character: such names are marked `prometheus` and patterns match them loosely
 * (src/cluster/stats.ts `statMatcher`). Histograms and summaries are skipped, as in the text form.
 * Istio's own metrics (`istio_requests_total{…}`, a custom stat namespace, no `envoy_` prefix) come
 * back as Envoy names them, `reporter=.=source;.;…;.;istio_requests_total` (the bootstrap's
 * extraStatTags `<tag>=\.=(.*?);\.;`), labels in the order served.
 */
import type {EnvoyStats} from './stats.js'

/** One sample of a text exposition. */
export interface PromSample {
  metric: string
  labels: [string, string][]
  value: number
}

/** Reads `{a="x",b="y"}` at `i` (the `{`): the labels in order and the index after `}`. */
function readLabels(line: string, i: number): {labels: [string, string][]; end: number} | undefined {
  const labels: [string, string][] = []
  let j = i + 1
  while (j < line.length) {
    while (line[j] === ' ' || line[j] === ',') j++
    if (line[j] === '}') return {labels, end: j + 1}
    const eq = line.indexOf('=', j)
    if (eq < 0 || line[eq + 1] !== '"') return undefined
    let value = ''
    let k = eq + 2
    for (; k < line.length && line[k] !== '"'; k++) {
      if (line[k] !== '\\') value += line[k]
      else value += line[++k] === 'n' ? '\n' : (line[k] ?? '')
    }
    if (k >= line.length) return undefined
    labels.push([line.slice(j, eq).trim(), value])
    j = k + 1
  }
  return undefined
}

/**
 * One sample line (`name{labels} value [timestamp]`), or undefined when it is not one or `wanted`
 * refuses its metric (read before its labels, so a reader of a few families skips the rest cheaply).
 * The value may be NaN (`Nan`, a bad number): the caller decides. The one reader of sample lines,
 * for the stats here and the diagnosis's map (src/diagnosis/prom-text.ts).
 */
export function readSampleLine(line: string, wanted?: (metric: string) => boolean): PromSample | undefined {
  const brace = line.indexOf('{')
  const space = line.indexOf(' ')
  const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space
  if (nameEnd <= 0) return undefined
  const metric = line.slice(0, nameEnd)
  if (wanted !== undefined && !wanted(metric)) return undefined
  let labels: [string, string][] = []
  let rest = nameEnd
  if (line[nameEnd] === '{') {
    const read = readLabels(line, nameEnd)
    if (read === undefined) return undefined
    labels = read.labels
    rest = read.end
  }
  return {metric, labels, value: Number(line.slice(rest).trim().split(/\s+/)[0])}
}

/** One sample line with a finite value, or undefined. */
function sampleOf(line: string): PromSample | undefined {
  const sample = readSampleLine(line)
  return sample !== undefined && Number.isFinite(sample.value) ? sample : undefined
}

/** The counter, gauge and untyped samples of a text exposition (histograms and summaries left out). */
export function parseExposition(text: string): PromSample[] {
  const skipped = new Set<string>()
  const samples: PromSample[] = []
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (histogram|summary)\s*$/.exec(line)
    if (type !== null) skipped.add(type[1] as string)
    if (line === '' || line.startsWith('#')) continue
    const sample = sampleOf(line)
    if (sample === undefined) continue
    const family = sample.metric.replace(/_(bucket|sum|count)$/, '')
    if (skipped.has(sample.metric) || skipped.has(family)) continue
    samples.push(sample)
  }
  return samples
}

/**
 * Where each of Istio's tags goes back into a name: after which leading word (and with which
 * delimiter after the value), or at the end (`_<value>`). Ordered as the name reads.
 */
const LEADING_TAGS: {tag: string; word: string; after: string}[] = [
  {tag: 'cluster_name', word: 'cluster', after: ';.'},
  {tag: 'listener_address', word: 'listener', after: '.'},
  {tag: 'http_conn_manager_prefix', word: 'http', after: ';.'},
  {tag: 'tcp_prefix', word: 'tcp', after: '.'},
  {tag: 'thread_name', word: 'server', after: '.'},
]
const TRAILING_TAGS = ['response_code', 'response_code_class']

/** The Envoy name of one `envoy_` sample (see the module comment). */
function envoyName(metric: string, labels: ReadonlyMap<string, string>): string {
  let rest = metric.slice('envoy_'.length)
  let name = ''
  for (const {tag, word, after} of LEADING_TAGS) {
    const value = labels.get(tag)
    if (value === undefined || !rest.startsWith(`${word}_`)) continue
    name += `${word}.${value}${after}`
    rest = rest.slice(word.length + 1)
    // listener.<address>.http.<prefix>.…: the listener's HTTP connection manager, without Istio's `;`.
    const prefix = labels.get('http_conn_manager_listener_prefix')
    if (word === 'listener' && prefix !== undefined && rest.startsWith('http_')) {
      name += `http.${prefix}.`
      rest = rest.slice('http_'.length)
    }
  }
  name += rest
  for (const tag of TRAILING_TAGS) {
    const value = labels.get(tag)
    if (value !== undefined) name += `_${value}`
  }
  return name
}

/** The Envoy name of any sample: `envoy_` ones rebuilt, Istio's with their tags as Envoy writes them. */
export function envoyStatName(sample: PromSample): string {
  if (sample.metric.startsWith('envoy_')) return envoyName(sample.metric, new Map(sample.labels))
  return sample.labels.map(([k, v]) => `${k}=.=${v};.;`).join('') + sample.metric
}

/** A sidecar's `/stats/prometheus` as Envoy stats by (rebuilt) name; samples that rebuild to one name are summed. */
export function parsePrometheusStats(text: string): EnvoyStats {
  const stats = Object.assign(new Map<string, number>(), {prometheus: true as const})
  for (const sample of parseExposition(text)) {
    const name = envoyStatName(sample)
    stats.set(name, (stats.get(name) ?? 0) + sample.value)
  }
  return stats
}
