/** HTTP probes: one request at the end of a phase, its status and body checked. */
import {type Dispatcher, ProxyAgent, request} from 'undici'

import {parseDurationMs} from '@faultline/core/duration.js'
import type {HttpProbe} from '../experiment/model.js'
import {proxyFor} from '../load/env-proxy.js'
import {errorReason, type ErrorLike} from '../load/reasons.js'

/** An HTTP probe's verdict. */
export interface HttpVerdict {
  status: 'held' | 'missed' | 'errored'
  actual: string
  expected: string
  value?: number
  message?: string
}

/**
 * Sends the probe's request (through `explicitProxy` when given, e.g. the sandbox's, else through
 * the proxy HTTP_PROXY/NO_PROXY name for its URL, as the load does) and checks the answer.
 */
export async function evaluateHttp(
  probe: HttpProbe['http'],
  explicitProxy?: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<HttpVerdict> {
  const proxy = proxyFor(probe.url, explicitProxy, env)
  const timeout = probe.timeout === undefined ? 10_000 : (parseDurationMs(probe.timeout) ?? 10_000)
  const expected =
    [
      probe.expect.status === undefined ? undefined : `status ${probe.expect.status}`,
      probe.expect.bodyContains === undefined
        ? undefined
        : `body contains ${JSON.stringify(probe.expect.bodyContains)}`,
    ]
      .filter(Boolean)
      .join(', ') || 'status 2xx'
  const dispatcher: Dispatcher | undefined =
    proxy === undefined ? undefined : new ProxyAgent({uri: proxy, proxyTunnel: false})
  const started = Date.now()
  try {
    const res = await request(probe.url, {
      method: (probe.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: probe.headers ?? {},
      headersTimeout: timeout,
      bodyTimeout: timeout,
      ...(dispatcher === undefined ? {} : {dispatcher}),
    })
    const body = await res.body.text()
    const ms = Date.now() - started
    const statusOk =
      probe.expect.status === undefined
        ? res.statusCode >= 200 && res.statusCode < 300
        : res.statusCode === probe.expect.status
    const bodyOk = probe.expect.bodyContains === undefined || body.includes(probe.expect.bodyContains)
    return {
      status: statusOk && bodyOk ? 'held' : 'missed',
      actual: `status ${res.statusCode} in ${ms}ms${bodyOk ? '' : ', body lacks the text'}`,
      expected,
      value: res.statusCode,
    }
  } catch (err) {
    // The load's words for it (ENOTFOUND productpage, proxy ECONNREFUSED …), else undici's message.
    const reason = errorReason(
      err as ErrorLike,
      proxy === undefined ? {host: new URL(probe.url).hostname} : {viaProxy: true},
    )
    return {
      status: 'errored',
      actual: '-',
      expected,
      message: `${probe.url} did not answer: ${reason === 'error' ? ((err as Error).message ?? String(err)) : reason}`,
    }
  } finally {
    await dispatcher?.close().catch(() => undefined)
  }
}
