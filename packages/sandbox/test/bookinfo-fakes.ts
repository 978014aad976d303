/**
 * A stand-in for the mesh in bookinfo's unit tests: one HTTP proxy that routes absolute-form
 * requests for `<service>:9080` round-robin to the apps of that service, with a hook that may
 * answer (a fault) or hold (a delay) a call first. It records every call it sees.
 */
import http, {type IncomingHttpHeaders, type IncomingMessage, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import type {Propagation} from '../src/bookinfo/http.js'
import {type Bookinfo, startBookinfo} from '../src/bookinfo/index.js'
import {SANDBOX_WORKLOADS, podName, type Workload} from '../src/topology.js'

/** One call through the fake mesh. */
export interface SeenCall {
  service: string
  path: string
  headers: IncomingHttpHeaders
  /** The version of the app that answered. */
  version?: string
}

/** Decides a call's fate: answer it here, delay it, or let it through. */
export type FaultHook = (call: SeenCall) => {abort?: number; delayMs?: number} | undefined

/** A running fake mesh with bookinfo behind it. */
export interface FakeMesh {
  bookinfo: Bookinfo
  calls: SeenCall[]
  /** Restricts a service's endpoints to some versions (like a VirtualService with a subset). */
  only: Map<string, string[]>
  fault: FaultHook | undefined
  /** Sends a request "from" the productpage pod's position in the graph, i.e. straight to the app. */
  get(app: string, path: string, headers?: Record<string, string>): Promise<{status: number; body: string; ms: number}>
  close(): Promise<void>
}

/** Starts bookinfo (all workloads) behind one fake proxy that every app uses as its sidecar. */
export async function startFakeMesh(
  workloads: readonly Workload[] = SANDBOX_WORKLOADS,
  propagate: readonly Propagation[] = [],
): Promise<FakeMesh> {
  const bookinfo = await startBookinfo(
    workloads.map(workload => ({workload, podName: podName(workload)})),
    propagate,
  )
  const next = new Map<string, number>()
  const mesh: FakeMesh = {
    bookinfo,
    calls: [],
    only: new Map(),
    fault: undefined,
    get: undefined as never,
    close: undefined as never,
  }
  const server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/')
    const service = url.hostname
    const allowed = mesh.only.get(service)
    const endpoints = bookinfo.pods.filter(
      p => p.workload.app === service && (allowed === undefined || allowed.includes(p.workload.version)),
    )
    const i = next.get(service) ?? 0
    next.set(service, i + 1)
    const target = endpoints[i % Math.max(1, endpoints.length)]
    const call: SeenCall = {
      service,
      path: url.pathname,
      headers: req.headers,
      ...(target ? {version: target.workload.version} : {}),
    }
    mesh.calls.push(call)
    const fate = mesh.fault?.(call)
    if (target === undefined) return void res.writeHead(503).end('no healthy upstream')
    const forward = (): void => {
      if (fate?.abort !== undefined) return void res.writeHead(fate.abort).end('fault filter abort')
      const up = http.request(
        {host: '127.0.0.1', port: target.appPort, path: url.pathname + url.search, headers: req.headers},
        upRes => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers)
          upRes.pipe(res)
        },
      )
      up.on('error', () => res.destroy())
      req.pipe(up)
    }
    if (fate?.delayMs !== undefined) {
      const timer = setTimeout(forward, fate.delayMs)
      res.on('close', () => clearTimeout(timer))
    } else forward()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  for (const pod of bookinfo.pods) pod.outbound.useSidecar(port)
  mesh.get = async (app, path, headers = {}) => {
    const pod = bookinfo.pods.find(p => p.workload.app === app)
    if (pod === undefined) throw new Error(`no ${app} pod`)
    const started = performance.now()
    const res = await fetch(`http://127.0.0.1:${pod.appPort}${path}`, {headers})
    const body = await res.text()
    return {status: res.status, body, ms: performance.now() - started}
  }
  mesh.close = async () => {
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => resolve()))
    await bookinfo.close()
  }
  return mesh
}
