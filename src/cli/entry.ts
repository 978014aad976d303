/**
 * `--entry`: how the load and HTTP probes enter the mesh, overriding `spec.load.entry`
 * (README, "Running against a real cluster"). `proxy=URL`: through that HTTP forward proxy.
 */
import {UsageError} from '../errors.js'
import type {LoadEntry} from '../experiment/model.js'

/** Parses `--entry`; a malformed value is a usage error (exit 2) before anything starts. */
export function parseEntryFlag(value: string): LoadEntry {
  const eq = value.indexOf('=')
  const kind = eq < 0 ? value : value.slice(0, eq)
  const arg = eq < 0 ? undefined : value.slice(eq + 1)
  if (kind === 'proxy') {
    let url: URL | undefined
    try {
      url = arg === undefined ? undefined : new URL(arg)
    } catch {
      url = undefined
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new UsageError(`--entry ${value}: proxy= needs an http:// or https:// URL`, {hint: 'e.g. --entry proxy=http://127.0.0.1:3128'})
    return {proxy: arg!}
  }
  throw new UsageError(`--entry ${value}: unknown way in ${JSON.stringify(kind)}`, {hint: 'Use --entry proxy=URL (an HTTP forward proxy into the mesh). See README, "Running against a real cluster".'})
}

/** The explicit proxy of a run: --entry, else spec.load.entry, else the target's (the sandbox's). */
export function entryProxy(flag: string | undefined, spec: LoadEntry | undefined, targetProxy: string | undefined): string | undefined {
  const entry = flag === undefined ? spec : parseEntryFlag(flag)
  return entry?.proxy ?? targetProxy
}
