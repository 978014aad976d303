/**
 * The proxy environment, as curl and Go read it: `http_proxy`/`HTTP_PROXY` for http URLs,
 * `https_proxy`/`HTTPS_PROXY` for https URLs (falling back to the http one), and
 * `no_proxy`/`NO_PROXY` — comma- or space-separated hosts, each matching itself and its subdomains
 * (a leading `.` or `*.` is dropped), `host:port` matching only that port, and `*` alone turning
 * the proxy off. Lower case wins over upper case, as in undici.
 *
 * The decision mirrors undici's EnvHttpProxyAgent (undici 7.30.2,
 * lib/dispatcher/env-http-proxy-agent.js, #getProxyAgentForUrl and #shouldProxy); the unit test
 * checks it against that agent itself, request by request. It is a function rather than the agent
 * because the builtin driver opens its own pools to wherever the requests go, and k6 is handed the
 * decided proxy explicitly, so both drivers, the reachability preflight, ignition and HTTP probes
 * send every request the same way.
 *
 * One addition, Go's (net/http ProxyFromEnvironment, which k6 uses): `localhost` and loopback
 * addresses are never proxied by the environment — a proxy elsewhere cannot reach this machine's
 * 127.0.0.1, and k6 could not be made to send them through it. A proxy named explicitly
 * (`--entry proxy=URL`, `spec.load.entry.proxy`, the sandbox's) is used for every URL.
 */
import {isIP} from 'node:net'

const DEFAULT_PORTS: Record<string, number> = {'http:': 80, 'https:': 443}

/** Whether `host` (a URL hostname, IPv6 with or without brackets) is this machine's loopback. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return /^(0{0,4}:)*:?0{0,3}1$/.test(h) || /^::ffff:127\./.test(h)
  return false
}

/** The `no_proxy` entries, parsed as undici parses them. */
function noProxyEntries(value: string): {hostname: string; port: number}[] {
  const entries: {hostname: string; port: number}[] = []
  for (const entry of value.split(/[,\s]/)) {
    if (entry === '') continue
    const parsed = /^(.+):(\d+)$/.exec(entry)
    entries.push({
      hostname: (parsed ? parsed[1]! : entry).replace(/^\*?\./, '').toLowerCase(),
      port: parsed ? Number.parseInt(parsed[2]!, 10) : 0,
    })
  }
  return entries
}

/** Whether `no_proxy` lets a request to hostname:port use the proxy (undici's #shouldProxy). */
function shouldProxy(noProxy: string, hostname: string, port: number): boolean {
  const entries = noProxyEntries(noProxy)
  if (entries.length === 0) return true
  if (noProxy === '*') return false
  for (const entry of entries) {
    if (entry.port !== 0 && entry.port !== port) continue
    if (hostname === entry.hostname) return false
    if (hostname.slice(-(entry.hostname.length + 1)) === `.${entry.hostname}`) return false
  }
  return true
}

/** The environment's proxy variables that apply, for messages (`HTTP_PROXY=…`). */
export function proxyVariable(url: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const https = new URL(url).protocol === 'https:'
  const names = https ? ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] : ['http_proxy', 'HTTP_PROXY']
  return names.find(n => (env[n] ?? '') !== '')
}

/**
 * The proxy the environment names for `url`, or undefined when the request goes direct (no proxy
 * variable, `no_proxy` excludes it, or a loopback host).
 */
export function envProxyFor(url: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return undefined
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined
  const httpProxy = env['http_proxy'] ?? env['HTTP_PROXY']
  const proxy = parsed.protocol === 'https:' ? (env['https_proxy'] ?? env['HTTPS_PROXY'] ?? '') || httpProxy : httpProxy
  if (proxy === undefined || proxy === '') return undefined
  // Brackets kept around IPv6 hosts, as undici strips the port from url.host.
  const hostname = parsed.host.replace(/:\d*$/, '').toLowerCase()
  const port = Number.parseInt(parsed.port, 10) || DEFAULT_PORTS[parsed.protocol] || 0
  if (isLoopback(parsed.hostname)) return undefined
  if (!shouldProxy(env['no_proxy'] ?? env['NO_PROXY'] ?? '', hostname, port)) return undefined
  return proxy
}

/** The way a request for `url` goes: the explicit proxy when there is one, else the environment's for that URL. */
export function proxyFor(
  url: string,
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  return explicit ?? envProxyFor(url, env)
}
