/** Finding k6, and what k6 cannot do for a plan: both known before anything is injected. */
import {constants} from 'node:fs'
import {access, stat} from 'node:fs/promises'
import {isIP} from 'node:net'
import {delimiter, join} from 'node:path'

import {ExitCode, FaultlineError, type FaultlineErrorOptions} from '@faultline/core/errors.js'

/** How to get a k6 the driver can use. */
export const INSTALL_HINT =
  'Install k6 (https://grafana.com/docs/k6/latest/set-up/install-k6/) so that `k6` is on PATH, or set K6_BINARY to a k6 binary (any xk6 build); or run with --driver builtin.'

/** k6 was asked for but cannot be found or run (exit 4: nothing was injected). */
export class K6Unavailable extends FaultlineError {
  constructor(message: string, options: FaultlineErrorOptions = {}) {
    super(message, ExitCode.CouldNotRun, 'K6_UNAVAILABLE', options)
  }
}

/** What to do about a K6_BINARY that is not a usable k6: point it at k6, unset it, or use the builtin driver. */
export function k6BinaryHint(path: string, problem?: K6BinaryProblem): string {
  const point = `${problem === 'a directory' ? 'point K6_BINARY at the k6 binary itself, not a directory' : 'point K6_BINARY at the k6 binary'} (e.g. K6_BINARY=$(command -v k6))`
  const fix =
    problem === 'not executable'
      ? `Make it executable (chmod +x ${path}), or ${point}`
      : point.charAt(0).toUpperCase() + point.slice(1)
  return `${fix}, or unset K6_BINARY to use the k6 on PATH, or run with --driver builtin. Install k6: https://grafana.com/docs/k6/latest/set-up/install-k6/`
}

/** Why a file cannot be run as k6. */
export type K6BinaryProblem = 'missing' | 'a directory' | 'not a file' | 'not executable' | 'unreadable'

/** Why `file` cannot be run as k6, with what stat/access said, or undefined when it can. */
export async function k6BinaryProblem(file: string): Promise<{problem: K6BinaryProblem; detail: string} | undefined> {
  let info
  try {
    info = await stat(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return {problem: 'missing', detail: 'does not exist'}
    return {problem: 'unreadable', detail: `cannot be examined (${code ?? (err as Error).message})`}
  }
  if (info.isDirectory()) return {problem: 'a directory', detail: 'is a directory, not the k6 binary'}
  if (!info.isFile()) return {problem: 'not a file', detail: 'is not a regular file'}
  if (!(await executable(file))) return {problem: 'not executable', detail: 'is not executable'}
  return undefined
}

/**
 * The k6 to run: K6_BINARY when set (it must be an executable file: a directory, a missing path
 * or a file without the execute bit is refused with what is wrong and how to fix it), else the
 * first executable `k6` file on PATH.
 */
export async function findK6(env: NodeJS.ProcessEnv): Promise<string> {
  const explicit = env.K6_BINARY
  if (explicit !== undefined && explicit !== '') {
    const why = await k6BinaryProblem(explicit)
    if (why === undefined) return explicit
    throw new K6Unavailable(`K6_BINARY is ${JSON.stringify(explicit)}, which ${why.detail}`, {
      hint: k6BinaryHint(explicit, why.problem),
    })
  }
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, 'k6')
    if ((await k6BinaryProblem(candidate)) === undefined) return candidate
  }
  throw new K6Unavailable(
    'k6 was asked for (--driver k6 or spec.load.driver: k6) but it is not on PATH and K6_BINARY is not set',
    {hint: INSTALL_HINT},
  )
}

/** Why a k6 that passed findK6 still could not be started (spawn's error code), in words. */
export function spawnProblem(binary: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EACCES':
      return `${binary} is not executable (or is a directory)`
    case 'ENOENT':
      return `${binary} (or the interpreter its first line names) does not exist`
    case 'ENOEXEC':
      return `${binary} is not a program this machine can run`
    default:
      return err.message
  }
}

async function executable(file: string): Promise<boolean> {
  return access(file, constants.X_OK).then(
    () => true,
    () => false,
  )
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
  const loopback =
    host === 'localhost' ||
    (isIP(host) === 4 && host.startsWith('127.')) ||
    (isIP(host) === 6 && /^(0*:)*:?0*1$/.test(host))
  if (!loopback) return undefined
  return `the load URL ${url} is a loopback address, and k6 (Go) never sends requests for loopback addresses through a proxy, so its load would bypass ${proxy}`
}
