/** Finding k6, and what k6 cannot do for a plan: both known before anything is injected. */
import {constants} from 'node:fs'
import {access} from 'node:fs/promises'
import {isIP} from 'node:net'
import {delimiter, join} from 'node:path'

import {ExitCode, FaultlineError, type FaultlineErrorOptions} from '../errors.js'

/** How to get a k6 the driver can use. */
export const INSTALL_HINT = 'Install k6 (https://grafana.com/docs/k6/latest/set-up/install-k6/) so that `k6` is on PATH, or set K6_BINARY to a k6 binary (any xk6 build); or run with --driver builtin.'

/** k6 was asked for but cannot be found or run (exit 4: nothing was injected). */
export class K6Unavailable extends FaultlineError {
  constructor(message: string, options: FaultlineErrorOptions = {}) {
    super(message, ExitCode.CouldNotRun, 'K6_UNAVAILABLE', options)
  }
}

/** The k6 to run: K6_BINARY when set (it must be executable), else the first `k6` on PATH. */
export async function findK6(env: NodeJS.ProcessEnv): Promise<string> {
  const explicit = env.K6_BINARY
  if (explicit !== undefined && explicit !== '') {
    if (await executable(explicit)) return explicit
    throw new K6Unavailable(`K6_BINARY is ${JSON.stringify(explicit)}, which is not an executable file`, {hint: INSTALL_HINT})
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'k6')
    if (await executable(candidate)) return candidate
  }
  throw new K6Unavailable('k6 was asked for (--driver k6 or spec.load.driver: k6) but it is not on PATH and K6_BINARY is not set', {hint: INSTALL_HINT})
}

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(() => true, () => false)
}

/**
 * Why k6 cannot send this plan's load through its proxy, or undefined. k6's HTTP client is Go's,
 * which never proxies a request for `localhost` or a loopback address (net/http
 * ProxyFromEnvironment; NO_PROXY cannot turn that off), so such a load would silently bypass the
 * sandbox's mesh.
 */
export function k6ProxyProblem(url: string, proxy: string | undefined): string | undefined {
  if (proxy === undefined) return undefined
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const loopback = host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && /^(0*:)*:?0*1$/.test(host))
  if (!loopback) return undefined
  return `the load URL ${url} is a loopback address, and k6 (Go) never sends requests for loopback addresses through a proxy, so its load would bypass ${proxy}`
}
