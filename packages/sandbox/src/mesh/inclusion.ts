/**
 * Which Envoy stats a sidecar exposes: the stats_matcher inclusion list istio-agent writes into the
 * bootstrap (istio/istio 1.30.3 `pkg/bootstrap/config.go` getStatsOptions,
 * `tools/packaging/common/envoy_bootstrap.json` "stats_matcher"). Envoy only creates stats the list
 * includes; the rest are null stats, in no admin output (test/reference/SEMANTICS.md (e)).
 *
 * - prefixes: `reporter=`, then the pod's own, then `cluster_manager, listener_manager, server,
 *   cluster.xds-grpc, wasm`, then `component`, `istio`;
 * - suffixes: the pod's own, then `rbac.allowed, rbac.denied, shadow_allowed, shadow_denied`
 *   (`downstream_cx_active` only with EXIT_ON_ZERO_ACTIVE_CONNECTIONS, off for sidecars);
 * - regexes (`safe_regex`, matched against the whole name): the pod's own, then `vhost\..*\.route\..*`.
 *
 * "The pod's own" is, per list, the annotation `sidecar.istio.io/statsInclusionPrefixes` (resp.
 * `…Suffixes`, `…Regexps`, comma-separated) when set, else ProxyConfig `proxyStatsMatcher`'s
 * `inclusionPrefixes` (`…Suffixes`, `…Regexps`) from the pod's `proxy.istio.io/config` annotation
 * (YAML or JSON; the sandbox has no meshConfig.defaultConfig): "only consider proxy config if
 * annotation is not set instead of merging". `{pod_ip}` substitution is not modelled.
 */
import {parse as parseYaml} from 'yaml'

import {re2} from '@faultline/core/istio/routing.js'

/** The annotation that carries a pod's ProxyConfig. */
export const PROXY_CONFIG_ANNOTATION = 'proxy.istio.io/config'

const REQUIRED_PREFIXES = ['cluster_manager', 'listener_manager', 'server', 'cluster.xds-grpc', 'wasm']
const REQUIRED_SUFFIXES = ['rbac.allowed', 'rbac.denied', 'shadow_allowed', 'shadow_denied']
const REQUIRED_REGEXPS = ['vhost\\..*\\.route\\..*']

/** A pod's effective inclusion list. */
export interface StatsInclusion {
  prefixes: string[]
  suffixes: string[]
  regexps: string[]
}

function stringList(value: unknown): string[] | undefined {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined
}

/** The inclusion list a pod with these annotations gets (getStatsOptions' parseOption, per list). */
export function statsInclusion(annotations: Readonly<Record<string, string>> = {}): StatsInclusion {
  let matcher: Record<string, unknown> = {}
  const raw = annotations[PROXY_CONFIG_ANNOTATION]
  if (raw !== undefined) {
    try {
      const config = parseYaml(raw) as {proxyStatsMatcher?: unknown} | null
      if (
        config !== null &&
        typeof config === 'object' &&
        config.proxyStatsMatcher !== null &&
        typeof config.proxyStatsMatcher === 'object'
      )
        matcher = config.proxyStatsMatcher as Record<string, unknown>
    } catch {
      // istiod's injector refuses an unparsable proxy.istio.io/config; the sandbox ignores it.
    }
  }
  const own = (annotation: string, field: string): string[] => {
    const value = annotations[annotation]
    if (value !== undefined && value.length > 0) return value.split(',')
    return stringList(matcher[field]) ?? []
  }
  return {
    prefixes: [
      'reporter=',
      ...own('sidecar.istio.io/statsInclusionPrefixes', 'inclusionPrefixes'),
      ...REQUIRED_PREFIXES,
      'component',
      'istio',
    ],
    suffixes: [...own('sidecar.istio.io/statsInclusionSuffixes', 'inclusionSuffixes'), ...REQUIRED_SUFFIXES],
    regexps: [...own('sidecar.istio.io/statsInclusionRegexps', 'inclusionRegexps'), ...REQUIRED_REGEXPS],
  }
}

/** Envoy's stats_matcher for an inclusion list: prefix, suffix, or an RE2 regex matching the whole name. */
export function inclusionMatcher(list: StatsInclusion): (name: string) => boolean {
  const regexps = list.regexps.flatMap(r => {
    try {
      return [re2(r)]
    } catch {
      return [] // Envoy would refuse the bootstrap; the sandbox drops the pattern.
    }
  })
  const cache = new Map<string, boolean>()
  return name => {
    let hit = cache.get(name)
    if (hit === undefined) {
      hit =
        list.prefixes.some(p => name.startsWith(p)) ||
        list.suffixes.some(s => name.endsWith(s)) ||
        regexps.some(r => r.matcher(name).matches())
      cache.set(name, hit)
    }
    return hit
  }
}
