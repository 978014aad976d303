/**
 * Fakes and a client for testing the sandbox API server over real HTTPS: a small topology (two
 * ratings pods, one reviews pod, their services), an ExecHandler that records its calls, and
 * `call()` that trusts the server's self-signed certificate.
 */
import {Agent, request} from 'undici'

import {startApiServer, type ApiServer} from '../../src/apiserver.js'
import {ObjectStore} from '../../src/store.js'
import type {ExecHandler, Pod, Service, Topology} from '../../src/types.js'

/** The fake pods. */
export const PODS: Pod[] = [
  {
    name: 'ratings-v1-7d9c',
    namespace: 'default',
    labels: {app: 'ratings', version: 'v1'},
    serviceAccount: 'bookinfo-ratings',
    containers: ['ratings', 'istio-proxy'],
    appPort: 19080,
  },
  {
    name: 'reviews-v2-5f4b',
    namespace: 'default',
    labels: {app: 'reviews', version: 'v2'},
    serviceAccount: 'bookinfo-reviews',
    containers: ['reviews', 'istio-proxy'],
    appPort: 19081,
  },
  {
    name: 'ratings-v1-x1',
    namespace: 'staging',
    labels: {app: 'ratings', version: 'v1'},
    serviceAccount: 'bookinfo-ratings',
    containers: ['ratings', 'istio-proxy'],
    appPort: 19082,
  },
]

/** The fake services: bookinfo's ports and selectors, in two namespaces. */
export const SERVICES: Service[] = [
  {name: 'reviews', namespace: 'default', port: 9080, selector: {app: 'reviews'}},
  {name: 'ratings', namespace: 'default', port: 9080, selector: {app: 'ratings'}},
  {name: 'ratings', namespace: 'staging', port: 9080, selector: {app: 'ratings'}},
]

/** A Topology over SERVICES and PODS. */
export const fakeTopology: Topology = {
  services: () => SERVICES,
  pods: () => PODS,
  endpoints: s =>
    PODS.filter(p => p.namespace === s.namespace && Object.entries(s.selector).every(([k, v]) => p.labels[k] === v)),
}

/** What the fake `pilot-agent request GET stats` prints. */
export const STATS_TEXT =
  'cluster.outbound|9080|v1|ratings.default.svc.cluster.local.upstream_rq_total: 42\nhttp.inbound_0.0.0.0_9080.fault.delays_injected: 3\n'

/** An ExecHandler that answers pilot-agent stats, fails `false` with exit 1, and records calls. */
export function fakeExec(): ExecHandler & {calls: {pod: string; container: string; command: string[]}[]} {
  const calls: {pod: string; container: string; command: string[]}[] = []
  const handler = async (pod: Pod, container: string, command: string[]) => {
    calls.push({pod: pod.name, container, command})
    if (command.join(' ') === 'pilot-agent request GET stats') return {stdout: STATS_TEXT, stderr: '', exitCode: 0}
    if (command[0] === 'false') return {stdout: '', stderr: 'it failed\n', exitCode: 1}
    if (command[0] === 'explode') throw new Error('no such binary')
    return {stdout: `${command.join(' ')}\n`, stderr: '', exitCode: 0}
  }
  return Object.assign(handler, {calls})
}

/** A decoded answer: tests read arbitrary fields of Kubernetes objects, so it is loosely typed on purpose. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Answer = any

/** A running server plus what the tests poke at. */
export interface Fixture {
  server: ApiServer
  store: ObjectStore
  exec: ReturnType<typeof fakeExec>
  token: string
  dispatcher: Agent
  /** One HTTP request; JSON bodies are stringified; the answer's body is parsed when it is JSON. */
  call(
    method: string,
    path: string,
    options?: {body?: unknown; contentType?: string; token?: string | null; headers?: Record<string, string>},
  ): Promise<{status: number; body: Answer; headers: Record<string, string | string[] | undefined>}>
  close(): Promise<void>
}

/** Starts a server on an ephemeral port with a fresh store. */
export async function startFixture(): Promise<Fixture> {
  const store = new ObjectStore()
  const exec = fakeExec()
  const token = 'test-token-0123456789'
  const server = await startApiServer({store, topology: fakeTopology, exec, token, port: 0})
  const dispatcher = new Agent({connect: {ca: server.certificateAuthority}})
  return {
    server,
    store,
    exec,
    token,
    dispatcher,
    async call(method, path, options = {}) {
      const headers: Record<string, string> = {...options.headers}
      if (options.token !== null) headers['authorization'] = `Bearer ${options.token ?? token}`
      let body: string | undefined
      if (options.body !== undefined) {
        body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body)
        headers['content-type'] = options.contentType ?? 'application/json'
      }
      const res = await request(`${server.url}${path}`, {
        method: method as 'GET',
        headers,
        ...(body === undefined ? {} : {body}),
        dispatcher,
      })
      const text = await res.body.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {
        /* not JSON */
      }
      return {status: res.statusCode, body: parsed as Answer, headers: res.headers}
    },
    async close() {
      await server.close()
      await dispatcher.close()
    },
  }
}

/** A VirtualService body for `ratings` in the given version. */
export function ratingsVs(version = 'v1', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: `networking.istio.io/${version}`,
    kind: 'VirtualService',
    metadata: {name: 'ratings', labels: {app: 'ratings', team: 'reviews'}},
    spec: {hosts: ['ratings'], http: [{route: [{destination: {host: 'ratings', subset: 'v1'}}]}]},
    ...extra,
  }
}

/** The collection path of VirtualServices in a namespace. */
export function vsPath(version = 'v1', namespace = 'default', name?: string): string {
  return `/apis/networking.istio.io/${version}/namespaces/${namespace}/virtualservices${name === undefined ? '' : `/${name}`}`
}
