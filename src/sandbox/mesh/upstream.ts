/**
 * The wire to an upstream pod: HTTP/1.1 over a keep-alive pool per sidecar (node's http.Agent,
 * measured against undici in bench/sidecar-hop.ts), with connect failures told apart from resets as
 * Envoy's retry conditions need.
 */
import http, {type IncomingMessage, type OutgoingHttpHeaders} from 'node:http'

/** How an upstream attempt failed before response headers. */
export type UpstreamFailure = 'connect-failure' | 'reset'

/** A keep-alive pool for one sidecar's upstream connections (the circuit breakers are enforced above it). */
export function newUpstreamAgent(): http.Agent {
  return new http.Agent({keepAlive: true, keepAliveMsecs: 60_000, maxSockets: Infinity, maxFreeSockets: 1024, scheduling: 'lifo'})
}

/** Sends one attempt to `127.0.0.1:<port>`; exactly one of the callbacks fires. */
export function callUpstream(
  agent: http.Agent, port: number, method: string, path: string, headers: OutgoingHttpHeaders, body: Buffer | undefined,
  onResponse: (res: IncomingMessage) => void, onFailure: (failure: UpstreamFailure) => void,
): http.ClientRequest {
  let settled = false
  const req = http.request({host: '127.0.0.1', port, method, path, headers, agent, setHost: false})
  req.on('response', res => {
    if (settled) {
      res.resume()
      return
    }
    settled = true
    onResponse(res)
  })
  req.on('error', (err: NodeJS.ErrnoException) => {
    if (settled) return
    settled = true
    onFailure(err.code === 'ECONNREFUSED' ? 'connect-failure' : 'reset')
  })
  req.end(body)
  return req
}
