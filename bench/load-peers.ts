/**
 * The load generators the builtin driver is measured against (`bench/load-driver.ts`): wrk, hey,
 * and k6 when it is on PATH or in $K6_BINARY. Each runs once with a given connection count and
 * duration, pinned to CPU 0 (`taskset`) under GNU `time` for its CPU seconds; a run that sent
 * nothing or got anything but 2xx throws, so a broken peer never reads as a slow one.
 */
import {spawnSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {findK6} from '../src/load/k6-binary.js'
import {k6Env} from '../src/load/k6.js'

/** One generator run: requests/s over the run, requests completed, and CPU seconds (user+sys) it used. */
export interface Sample {
  rps: number
  requests: number
  /** Requests that failed but did not fail the run (the peers here throw on any non-2xx instead). */
  failed: number
  cpuS: number
}

/** Runs a command on CPU 0 under GNU time; its output and CPU seconds. */
function timed(
  command: string[],
  seconds: number,
  env?: NodeJS.ProcessEnv,
): {stdout: string; stderr: string; status: number | null; cpuS: number} {
  const r = spawnSync('/usr/bin/time', ['-f', 'CPUTIME %U %S', 'taskset', '-c', '0', ...command], {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
    ...(env === undefined ? {} : {env}),
  })
  if (r.error !== undefined) throw new Error(`${command[0]} could not run: ${r.error.message}`)
  const cpu = /CPUTIME ([\d.]+) ([\d.]+)/.exec(r.stderr)
  // GNU time's own lines (the CPU time, and "Command exited with non-zero status" on failure) are not the command's output.
  const stderr = r.stderr
    .split('\n')
    .filter(l => !/^(CPUTIME |Command exited with non-zero status)/.test(l))
    .join('\n')
  return {stdout: r.stdout, stderr, status: r.status, cpuS: cpu === null ? NaN : Number(cpu[1]) + Number(cpu[2])}
}

/** `wrk -t1 -c<c> -d<s>s URL`. */
export function wrk(url: string, c: number, s: number): Sample {
  const r = timed(['wrk', '-t1', `-c${c}`, `-d${s}s`, url], s)
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)
  const requests = /(\d+) requests in/.exec(r.stdout)
  if (rps === null || requests === null || Number(requests[1]) === 0)
    throw new Error(`wrk sent nothing (exit ${r.status}): ${r.stdout}${r.stderr}`)
  if (/Non-2xx/.test(r.stdout)) throw new Error(`wrk got non-2xx responses from ${url}:\n${r.stdout}`)
  return {rps: Number(rps[1]), requests: Number(requests[1]), failed: 0, cpuS: r.cpuS}
}

/** `hey -z <s>s -c <c> -cpus 1 URL`. */
export function hey(url: string, c: number, s: number): Sample {
  const r = timed(['hey', '-z', `${s}s`, '-c', String(c), '-cpus', '1', url], s)
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)
  const statuses = [...r.stdout.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)].map(m => ({
    status: Number(m[1]),
    n: Number(m[2]),
  }))
  const requests = statuses.reduce((n, x) => n + x.n, 0)
  if (rps === null || requests === 0) throw new Error(`hey sent nothing (exit ${r.status}): ${r.stdout}${r.stderr}`)
  const bad = statuses.filter(x => x.status < 200 || x.status > 299)
  if (bad.length > 0)
    throw new Error(`hey got non-2xx responses from ${url}: ${bad.map(x => `${x.n} × ${x.status}`).join(', ')}`)
  return {rps: Number(rps[1]), requests, failed: 0, cpuS: r.cpuS}
}

/** The k6 to measure against ($K6_BINARY, else `k6` on PATH, as the k6 driver finds it), or undefined. */
export function k6Binary(): Promise<string | undefined> {
  return findK6(process.env).catch(() => undefined)
}

/** A closed-model k6 script: `vus` VUs, each sending GET url in a loop for `s` seconds (options on one line, JSON). */
export function k6Script(url: string, vus: number, s: number): string {
  const options = {
    scenarios: {
      load: {executor: 'constant-vus', vus, duration: `${Math.round(s * 1000)}ms`, gracefulStop: '5s', exec: 'load'},
    },
    discardResponseBodies: true,
  }
  return [
    `import http from 'k6/http'`,
    `export const options = ${JSON.stringify(options)}`,
    `const URL = ${JSON.stringify(url)}`,
    `export function load() {`,
    `  http.get(URL)`,
    `}`,
    '',
  ].join('\n')
}

/** The legacy `--summary-export` JSON: just what is read from it. */
interface K6Summary {
  metrics?: {
    http_reqs?: {count?: number; rate?: number}
    /** `passes` counts failed requests (k6's legacy format). */
    http_req_failed?: {passes?: number}
  }
}

/** `k6 run --no-usage-report --quiet --summary-export=…` of `k6Script`; requests/s and count from the summary. */
export function k6(binary: string, url: string, c: number, s: number): Sample {
  const dir = mkdtempSync(join(tmpdir(), 'faultline-bench-k6-'))
  try {
    const script = join(dir, 'load.js')
    const summary = join(dir, 'summary.json')
    writeFileSync(script, k6Script(url, c, s))
    const r = timed(
      [binary, 'run', '--no-usage-report', '--quiet', `--summary-export=${summary}`, script],
      s,
      k6Env(process.env, undefined),
    )
    const tail = `${r.stderr}${r.stdout}`.trim().split('\n').slice(-8).join('\n')
    if (r.status !== 0) throw new Error(`${binary} run exited with ${r.status}: ${tail}`)
    let parsed: K6Summary
    try {
      parsed = JSON.parse(readFileSync(summary, 'utf8')) as K6Summary
    } catch (err) {
      throw new Error(`${binary} run wrote no readable --summary-export (${(err as Error).message}): ${tail}`)
    }
    const reqs = parsed.metrics?.http_reqs
    if (reqs?.count === undefined || reqs.rate === undefined || reqs.count === 0)
      throw new Error(`${binary} run: no http_reqs count and rate in its summary: ${tail}`)
    const failed = parsed.metrics?.http_req_failed?.passes ?? 0
    if (failed > 0) throw new Error(`k6 saw ${failed} of ${reqs.count} requests to ${url} fail`)
    return {rps: reqs.rate, requests: reqs.count, failed: 0, cpuS: r.cpuS}
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
