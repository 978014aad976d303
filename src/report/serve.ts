/**
 * `chaos report serve`: a report root over HTTP, read-only. The files are served by serve-static
 * (content types, ETag/Last-Modified, Range, HEAD, `..` refused); around it: only GET and HEAD,
 * dotfiles (the index cache) hidden, no symbolic link leading out of the root, no directory
 * listings, and headers that keep a browser from second-guessing content types or framing pages.
 */
import {realpath} from 'node:fs/promises'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'
import {resolve, sep} from 'node:path'

import serveStatic from 'serve-static'

import {INDEX_FILE} from './write.js'

/** Where and how to serve. */
export interface ServeOptions {
  /** Default 127.0.0.1: loopback only. */
  host?: string
  /** 0 picks a free port. */
  port?: number
}

/** A running report server. */
export interface ReportServer {
  /** `http://host:port/`. */
  url: string
  port: number
  close: () => Promise<void>
}

/** Hosts that only this machine reaches. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

const HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Reports and the index are rewritten after every run: a browser revalidates (ETag) instead of showing a stale one.
  'cache-control': 'no-cache',
}

const EMPTY_ROOT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="default-src 'none'"><title>Faultline runs</title></head>
<body><h1>No runs yet</h1><p>This report root has no ${INDEX_FILE} yet: it is written when the first run ends.</p></body></html>
`

function answer(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {...HEADERS, 'content-type': 'text/plain; charset=utf-8', ...extra})
  res.end(`${text}\n`)
}

/** Whether `file` is `root` or inside it. */
function within(root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith(sep) ? root : root + sep)
}

/** The request handler over `root` (a real path). */
export function reportHandler(root: string): (req: IncomingMessage, res: ServerResponse) => void {
  const files = serveStatic(root, {
    index: [INDEX_FILE],
    dotfiles: 'ignore',
    redirect: true,
    fallthrough: true,
    setHeaders: res => {
      for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v)
    },
  })
  return (req, res) => {
    void (async () => {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return answer(res, 405, 'read-only: only GET and HEAD', {allow: 'GET, HEAD'})
      let path: string
      try {
        path = decodeURIComponent(new URL(req.url ?? '/', 'http://reports').pathname)
      } catch {
        return answer(res, 400, 'bad path')
      }
      if (path.includes('\0')) return answer(res, 400, 'bad path')
      const file = resolve(root, `.${path}`)
      if (!within(root, file)) return answer(res, 403, 'forbidden')
      // A symbolic link inside the root must not lead out of it.
      const real = await realpath(file).catch(() => undefined)
      if (real !== undefined && !within(root, real)) return answer(res, 404, 'not found')
      files(req, res, err => {
        if (err !== undefined && err !== null)
          return answer(
            res,
            (err as {status?: number}).status ?? 500,
            (err as {status?: number}).status === 403 ? 'forbidden' : 'error',
          )
        if (path === '/') {
          res.writeHead(200, {...HEADERS, 'content-type': 'text/html; charset=utf-8'})
          return void res.end(req.method === 'HEAD' ? undefined : EMPTY_ROOT)
        }
        answer(res, 404, 'not found')
      })
    })().catch(() => answer(res, 500, 'error'))
  }
}

/** Starts serving `dir`; resolves once listening. */
export async function serveReports(dir: string, options: ServeOptions = {}): Promise<ReportServer> {
  const root = await realpath(resolve(dir)).catch(() => resolve(dir))
  const host = options.host ?? '127.0.0.1'
  const server: Server = createServer(reportHandler(root))
  server.keepAliveTimeout = 5000
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', fail)
      ok()
    })
  })
  const {port} = server.address() as AddressInfo
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>(done => {
        server.close(() => done())
        server.closeAllConnections()
      }),
  }
}
