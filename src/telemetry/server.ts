/**
 * `--metrics-port N`: serves a registry at `/metrics` for Prometheus to scrape while a long run
 * (`chaos gameday`) goes on. Loopback by default: run metrics name services and probes, which is
 * nobody else's business unless the operator binds elsewhere on purpose.
 */
import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Registry} from 'prom-client'

import {UsageError} from '@faultline/core/errors.js'

/** Where to listen. */
export interface MetricsServerOptions {
  /** 0 picks a free port. */
  port: number
  /** Default 127.0.0.1. */
  host?: string
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** `http://host:port/metrics`. */
  readonly url: string
  readonly port: number
  /** Stops listening and drops open keep-alive connections; safe to call twice. */
  close(): Promise<void>
}

/** Starts serving `registry` at `/metrics`; rejects with `UsageError` (exit 2) when the address cannot be bound. */
export async function startMetricsServer(registry: Registry, options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1'
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://metrics').pathname
    if (path !== '/metrics') {
      res.writeHead(404, {'content-type': 'text/plain'}).end('not found: metrics are at /metrics\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, {allow: 'GET, HEAD', 'content-type': 'text/plain'}).end('method not allowed\n')
      return
    }
    registry.metrics().then(
      body => res.writeHead(200, {'content-type': registry.contentType}).end(req.method === 'HEAD' ? undefined : body),
      (err: Error) =>
        res.writeHead(500, {'content-type': 'text/plain'}).end(`collecting metrics failed: ${err.message}\n`),
    )
  })
  try {
    await listen(server, options.port, host)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    const why =
      e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.message
    throw new UsageError(`--metrics-port ${options.port} on ${host}: ${why} (${e.code ?? 'error'})`, {
      cause: err,
      hint: 'Pick a free port, or 0 for any.',
    })
  }
  const {port} = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    port,
    close: () =>
      (closing ??= new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })),
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}
