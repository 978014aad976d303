/**
 * `--entry portForward`: a local port forwarded to the ready pods of a Service through the API
 * server (pods/portforward), kept by chaos itself for the whole run. kubectl port-forward svc/NAME
 * picks one pod once and dies with it; here each local connection is its own stream, to a ready
 * pod of the Service at the Service port's targetPort (a number, or a container port's name), and a
 * stream that cannot be opened, or that ends before the pod answered the client's latest bytes,
 * is tried again on another ready pod with those bytes replayed, after a short back-off. A connection that
 * finds no pod within `connectMs` is answered `502` with `x-faultline-port-forward: <why>`, which
 * the load drivers count as the reason `port-forward lost: <why>`; when no stream has opened for
 * `lostAfterMs` the forward is lost and `onLost` says so (the run aborts, exit 3, and reverts). A
 * stream that breaks while the pod is answering can only close the client's connection: the
 * forwarder notes which one first (`cutMidAnswer`), so the builtin driver counts that request as
 * `port-forward lost: cut mid-answer` rather than as the target's reset.
 */
import {createServer, type AddressInfo, type Server, type Socket} from 'node:net'

import type {PodStream, PodSummary, ServiceSummary} from '../cluster/cluster.js'
import {ClusterUnavailable} from '@faultline/core/errors.js'
import type {ConnectionPorts} from '../load/driver.js'

/** What the forwarder asks of the cluster (KubeCluster has all of it; `readService` is optional). */
export interface ForwardingCluster {
  listPods(namespace: string, labelSelector: string): Promise<PodSummary[]>
  listServices(namespace: string): Promise<ServiceSummary[]>
  readService?(namespace: string, name: string): Promise<ServiceSummary | undefined>
  openPortForward?(namespace: string, pod: string, port: number): Promise<PodStream>
}

/** The Service a port-forward entry reaches. */
export interface ForwardTarget {
  service: string
  namespace: string
  port: number
}

/** Why a connection got no pod: the header value of the 502 and the reason the drivers count. */
export const LOST_WHY = ['no ready pod', 'stream failed'] as const
export type LostWhy = (typeof LOST_WHY)[number]

/** The header the forwarder's own 502 carries. */
export const PORT_FORWARD_HEADER = 'x-faultline-port-forward'

export interface ForwarderOptions {
  /** Called once, when no stream has opened for `lostAfterMs`. */
  onLost: (reason: string) => void
  /** Called when streams start failing (once per bout of failures), with what failed. */
  onTrouble?: (detail: string) => void
  /** How long one local connection looks for a pod before its 502 (default 5 s). */
  connectMs?: number
  /** How long without any stream opening before the forward is lost (default 15 s). */
  lostAfterMs?: number
  /** The first back-off between tries; doubled up to 1 s (default 100 ms). */
  backoffMs?: number
}

/** What the forwarder counted, for the console at the end. */
export interface ForwardCounts {
  connections: number
  /** Streams tried again on another (or the same, refreshed) pod. */
  retries: number
  /** Local connections answered 502: no pod could be reached in time. */
  refused: number
  /** Streams that broke (ended with an error) while the pod was answering: the client saw its connection close mid-answer. */
  dropped: number
}

/** How many cut connections are remembered for the load driver to ask about, and for how long (it asks within milliseconds). */
const CUTS_KEPT = 1024
const CUT_KEPT_MS = 10_000

/** A pod of the Service and the port on it the Service port targets. */
interface Endpoint {
  pod: string
  port: number
}

const selectorOf = (labels: Record<string, string>) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')

/** The Service by name (`get services/NAME` where the cluster can, else from the namespace's list). */
async function findService(cluster: ForwardingCluster, target: ForwardTarget): Promise<ServiceSummary> {
  const {service, namespace, port} = target
  const svc =
    cluster.readService !== undefined
      ? await cluster.readService(namespace, service)
      : (await cluster.listServices(namespace)).find(s => s.name === service)
  const hint = `Name a Service of ${namespace} that has ready pods (spec.load.entry.portForward or --entry portForward=SERVICE[.NAMESPACE]:PORT). Nothing was injected.`
  if (svc === undefined)
    throw new ClusterUnavailable(`--entry portForward: there is no Service ${namespace}/${service}`, {hint})
  if (!svc.ports.includes(port))
    throw new ClusterUnavailable(
      `--entry portForward: Service ${namespace}/${service} has no port ${port} (its ports: ${svc.ports.join(', ') || 'none'})`,
      {
        hint: `Use one of its ports, e.g. --entry portForward=${service}.${namespace}:${svc.ports[0] ?? 80}. Nothing was injected.`,
      },
    )
  if (svc.selector === undefined || Object.keys(svc.selector).length === 0)
    throw new ClusterUnavailable(
      `--entry portForward: Service ${namespace}/${service} has no selector, so it has no pods to forward to`,
      {hint},
    )
  return svc
}

/** The ready pods of the Service, each with the port its targetPort names (pods without that named port are left out). */
export async function serviceEndpoints(
  cluster: ForwardingCluster,
  svc: ServiceSummary,
  port: number,
): Promise<Endpoint[]> {
  const target = svc.targetPorts?.[port] ?? port
  const pods = await cluster.listPods(svc.namespace, selectorOf(svc.selector ?? {}))
  return pods
    .filter(p => p.ready)
    .flatMap(p => {
      const on = typeof target === 'number' ? target : p.ports?.[target]
      return on === undefined ? [] : [{pod: p.name, port: on}]
    })
}

function noPodsMessage(svc: ServiceSummary, port: number, pods: readonly PodSummary[]): string {
  const target = svc.targetPorts?.[port] ?? port
  const what = `--entry portForward: Service ${svc.namespace}/${svc.name} has no ready pod to forward to`
  if (pods.length === 0) return `${what} (its selector ${selectorOf(svc.selector ?? {})} matches no pod)`
  if (pods.every(p => !p.ready))
    return `${what} (${pods.length} pod(s) match its selector, none is ready: ${pods
      .slice(0, 3)
      .map(p => p.name)
      .join(', ')})`
  return `${what} (no ready pod has a container port named ${JSON.stringify(target)}, which its port ${port} targets)`
}

const wait = (ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms))

/** The local end: a listener on 127.0.0.1, one stream per connection, pods picked and refreshed. */
export class ServiceForwarder {
  readonly counts: ForwardCounts = {connections: 0, retries: 0, refused: 0, dropped: 0}
  private endpoints: Endpoint[] = []
  private next = 0
  /** Pods whose stream failed, not tried again before the time given. */
  private readonly resting = new Map<string, number>()
  private refreshing: Promise<void> | undefined
  private refreshedAt = 0
  /** Since when no stream has opened (undefined while they do). */
  private failingSince: number | undefined
  private lastError = ''
  private lost = false
  private closed = false
  private readonly sockets = new Set<Socket>()
  /** The client ports (on 127.0.0.1) of connections closed because their stream broke mid-answer, with when; oldest first. */
  private readonly cuts = new Map<number, number>()
  private readonly watch: NodeJS.Timeout

  private constructor(
    private readonly cluster: ForwardingCluster & Required<Pick<ForwardingCluster, 'openPortForward'>>,
    private svc: ServiceSummary,
    private readonly target: ForwardTarget,
    private readonly server: Server,
    private readonly options: Required<ForwarderOptions>,
  ) {
    this.watch = setInterval(() => this.checkLost(), 500)
    this.watch.unref()
  }

  /**
   * Resolves the Service and its ready pods, opens one stream to check that forwarding works (the
   * permission, the pod's port), and listens. Any of these failing is exit 4, nothing injected.
   */
  static async start(
    cluster: ForwardingCluster,
    target: ForwardTarget,
    options: ForwarderOptions,
  ): Promise<ServiceForwarder> {
    const where = `${target.namespace}/${target.service}:${target.port}`
    if (cluster.openPortForward === undefined)
      throw new ClusterUnavailable(`--entry portForward: this cluster connection cannot port-forward (to ${where})`, {
        hint: 'Use --entry gateway or --entry proxy=URL. Nothing was injected.',
      })
    const svc = await findService(cluster, target)
    const endpoints = await serviceEndpoints(cluster, svc, target.port)
    if (endpoints.length === 0)
      throw new ClusterUnavailable(
        noPodsMessage(svc, target.port, await cluster.listPods(svc.namespace, selectorOf(svc.selector ?? {}))),
        {
          hint: `Wait for ${target.service}'s pods to be ready (kubectl get pods -n ${target.namespace} -l ${selectorOf(svc.selector ?? {})}), or forward to another Service. Nothing was injected.`,
        },
      )
    const first = endpoints[0] as Endpoint
    const check = await checkStream(cluster.openPortForward.bind(cluster), target.namespace, first)
    if (check !== undefined)
      throw new ClusterUnavailable(
        `--entry portForward: the port-forward to ${target.namespace}/${first.pod}:${first.port} (Service ${where}) failed: ${check}`,
        {
          hint:
            'chaos needs create pods/portforward in that namespace (kubectl auth can-i create pods --subresource=portforward -n ' +
            target.namespace +
            '), and the pod must listen on that port. Nothing was injected.',
        },
      )
    const server = createServer()
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const forwarder = new ServiceForwarder(
      cluster as ForwardingCluster & Required<Pick<ForwardingCluster, 'openPortForward'>>,
      svc,
      target,
      server,
      {connectMs: 5000, lostAfterMs: 15_000, backoffMs: 100, onTrouble: () => undefined, ...options},
    )
    forwarder.endpoints = endpoints
    forwarder.refreshedAt = Date.now()
    server.on('connection', socket => void forwarder.serve(socket))
    return forwarder
  }

  /** `http://127.0.0.1:<port>`. */
  get origin(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  /** What it forwards to, for the console. */
  get description(): string {
    return `Service ${this.target.namespace}/${this.target.service} port ${this.target.port} (${this.endpoints.length} ready pod(s), e.g. ${this.endpoints[0]?.pod ?? '-'}:${this.endpoints[0]?.port ?? '-'})`
  }

  /**
   * Whether this forwarder closed the load's connection with these ports (the client's view: its
   * local port, and the forwarder's as remote) because the stream broke while the pod was answering.
   * Each cut is told once: a reused port is a new connection.
   */
  cutMidAnswer(ports: ConnectionPorts): boolean {
    if (ports.localPort === undefined || ports.remotePort !== (this.server.address() as AddressInfo | null)?.port)
      return false
    const at = this.cuts.get(ports.localPort)
    this.cuts.delete(ports.localPort)
    return at !== undefined && Date.now() - at <= CUT_KEPT_MS
  }

  /** Stops listening and ends every connection. */
  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.watch)
    for (const s of this.sockets) s.destroy()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  /**
   * One local connection: a stream to a pod, tried again elsewhere until one answers or time is up;
   * when a stream that had answered ends with the client's next bytes unanswered, those go to a new
   * stream the same way (with a fresh deadline).
   */
  private async serve(socket: Socket): Promise<void> {
    this.counts.connections++
    this.sockets.add(socket)
    const client = new ClientBytes(socket)
    socket.on('close', () => this.sockets.delete(socket))
    let deadline = Date.now() + this.options.connectMs
    for (let attempt = 0; !this.closed && !client.gone; attempt++) {
      const outcome = await this.tryOnce(client)
      if (outcome === 'served') return
      if (outcome === 'carry on') {
        deadline = Date.now() + this.options.connectMs
        attempt = -1
        continue
      }
      if (Date.now() + this.backoff(attempt) >= deadline || this.lost) {
        this.refuse(socket, outcome)
        return
      }
      this.counts.retries++
      await wait(this.backoff(attempt))
    }
  }

  private backoff(attempt: number): number {
    return Math.min(1000, this.options.backoffMs * 2 ** attempt)
  }

  /**
   * One try: a pod, a stream, the client's bytes. 'served' when the connection is done; 'carry on'
   * when the stream had answered and ended with the client's latest bytes unanswered (they go to
   * another stream); else why no pod took them.
   */
  private async tryOnce(client: ClientBytes): Promise<'served' | 'carry on' | LostWhy> {
    const endpoint = await this.pick()
    if (endpoint === undefined) {
      this.failed('no ready pod', `no ready pod of ${this.target.namespace}/${this.target.service}`)
      return 'no ready pod'
    }
    let stream: PodStream
    try {
      stream = await this.cluster.openPortForward(this.target.namespace, endpoint.pod, endpoint.port)
    } catch (err) {
      this.rest(endpoint, (err as Error).message)
      return 'stream failed'
    }
    // The pod's first byte proves the forward works.
    const result = await client.relay(stream, () => this.succeeded())
    if (client.gone || (!result.pending && (result.answered || result.error === undefined))) {
      // Done: the client left, or everything it asked was answered (or it asked nothing) — or the
      // stream broke mid-answer, which is noted before the client sees its connection close.
      if (result.error !== undefined && result.answered) this.cut(client)
      client.end()
      return 'served'
    }
    stream.close()
    if (result.error !== undefined || !result.answered)
      this.rest(endpoint, result.error ?? 'the stream closed before the pod answered')
    this.counts.retries++
    return result.answered ? 'carry on' : 'stream failed'
  }

  /** The next ready pod not resting, refreshing the list when none is left (or it is old). */
  private async pick(): Promise<Endpoint | undefined> {
    const now = Date.now()
    const usable = () => this.endpoints.filter(e => (this.resting.get(e.pod) ?? 0) <= Date.now())
    if (usable().length === 0 || now - this.refreshedAt > 10_000) await this.refresh()
    const list = usable()
    if (list.length === 0) return undefined
    return list[this.next++ % list.length]
  }

  /** Reads the ready pods again (one read at a time, at most every 500 ms). */
  private refresh(): Promise<void> {
    if (this.refreshing !== undefined) return this.refreshing
    if (Date.now() - this.refreshedAt < 500) return Promise.resolve()
    // The Service is read again too: a selector or targetPort changed mid-run is followed (a Service gone keeps the last one).
    this.refreshing = findService(this.cluster, this.target)
      .catch(() => this.svc)
      .then(svc => {
        this.svc = svc
        return serviceEndpoints(this.cluster, svc, this.target.port)
      })
      .then(list => {
        this.endpoints = list
        // A pod the list has again after its rest is tried again; one that left is forgotten.
        for (const pod of this.resting.keys()) if (!list.some(e => e.pod === pod)) this.resting.delete(pod)
      })
      .catch((err: Error) => {
        this.lastError = `listing the pods of ${this.target.namespace}/${this.target.service}: ${err.message}`
      })
      .finally(() => {
        this.refreshedAt = Date.now()
        this.refreshing = undefined
      })
    return this.refreshing
  }

  /** A stream broke while the pod was answering: the client's connection is closed, and the load driver may ask why. */
  private cut(client: ClientBytes): void {
    this.counts.dropped++
    if (client.gone || client.port === undefined) return
    this.cuts.delete(client.port)
    this.cuts.set(client.port, Date.now())
    if (this.cuts.size > CUTS_KEPT) this.cuts.delete(this.cuts.keys().next().value as number)
  }

  private rest(endpoint: Endpoint, why: string): void {
    this.resting.set(endpoint.pod, Date.now() + 2000)
    this.refreshedAt = 0 // the next pick reads the pods again
    this.failed('stream failed', `${endpoint.pod}:${endpoint.port}: ${why}`)
  }

  private failed(_why: LostWhy, detail: string): void {
    if (this.failingSince === undefined) this.options.onTrouble(detail)
    this.failingSince ??= Date.now()
    this.lastError = detail
    this.checkLost()
  }

  private succeeded(): void {
    this.failingSince = undefined
  }

  private checkLost(): void {
    if (this.lost || this.closed || this.failingSince === undefined) return
    const ms = Date.now() - this.failingSince
    if (ms < this.options.lostAfterMs) return
    this.lost = true
    this.options.onLost(
      `port-forward lost: no stream to a ready pod of Service ${this.target.namespace}/${this.target.service} could be opened for ${Math.round(ms / 1000)} s (last: ${this.lastError})`,
    )
  }

  /** Answers a connection no pod could take: a 502 whose header says why (the drivers' reason). */
  private refuse(socket: Socket, why: LostWhy): void {
    this.counts.refused++
    const body = `port-forward lost: ${why} (Service ${this.target.namespace}/${this.target.service}; ${this.lastError})\n`
    socket.end(
      `HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain; charset=utf-8\r\n${PORT_FORWARD_HEADER}: ${why}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    )
  }
}

/** Opens a stream and closes it at once: undefined when forwarding works, else why not. */
async function checkStream(
  open: (namespace: string, pod: string, port: number) => Promise<PodStream>,
  namespace: string,
  endpoint: Endpoint,
): Promise<string | undefined> {
  try {
    const stream = await open(namespace, endpoint.pod, endpoint.port)
    // kubelet reports a port nothing listens on on the error channel, right after the upgrade.
    const early = await Promise.race([stream.ended, wait(300).then(() => 'open' as const)])
    stream.close()
    return early === 'open' ? undefined : early
  } catch (err) {
    return (err as Error).message
  }
}

/**
 * The local connection's bytes: what the client sent since the pod's last byte is kept, so a stream
 * that ends before answering it (the pod gone, the stream cut) can be replayed on another pod. The
 * load's HTTP/1.1 sends one request at a time on a connection and waits for its answer, so these are
 * the bytes of a request no pod has begun to answer; a stream cut mid-answer leaves nothing kept, and
 * the client sees the connection close.
 */
class ClientBytes {
  private readonly kept: Buffer[] = []
  private ended = false
  gone = false
  /** The client's port on 127.0.0.1 (its socket's remote port here), read while the socket is open. */
  readonly port: number | undefined
  private sink: ((chunk: Buffer) => void) | undefined
  private onEnd: (() => void) | undefined

  constructor(private readonly socket: Socket) {
    this.port = socket.remotePort
    socket.on('data', (chunk: Buffer) => {
      this.kept.push(chunk)
      this.sink?.(chunk)
    })
    socket.on('end', () => {
      this.ended = true
      this.onEnd?.()
    })
    socket.on('close', () => {
      this.gone = true
    })
    socket.on('error', () => socket.destroy())
  }

  end(): void {
    if (!this.gone) this.socket.end()
  }

  /**
   * Relays between the client and `stream` until the stream ends: `answered` when the pod sent a
   * byte, `pending` when the client's latest bytes got none, `error` the stream's error text.
   */
  relay(stream: PodStream, onAnswer: () => void): Promise<{answered: boolean; pending: boolean; error?: string}> {
    let answered = false
    for (const chunk of this.kept) stream.input.write(chunk)
    if (this.ended) stream.input.end()
    this.sink = chunk => stream.input.write(chunk)
    this.onEnd = () => stream.input.end()
    const closeStream = () => stream.close()
    this.socket.once('close', closeStream)
    stream.data.on('data', (chunk: Buffer) => {
      if (!answered) onAnswer()
      answered = true
      this.kept.length = 0
      if (!this.gone) this.socket.write(chunk)
    })
    return stream.ended.then(error => {
      this.sink = undefined
      this.onEnd = undefined
      this.socket.off('close', closeStream)
      return {answered, pending: this.kept.length > 0, ...(error === undefined ? {} : {error})}
    })
  }
}
