import assert from 'node:assert/strict'
import {type AddressInfo, connect, type Server, type Socket} from 'node:net'
import {createServer as createHttpServer} from 'node:http'
import {PassThrough} from 'node:stream'

import {request} from 'undici'

import type {PodStream, PodSummary, ServiceSummary} from '../../src/cluster/cluster.js'
import {type ForwardingCluster, PORT_FORWARD_HEADER, ServiceForwarder} from '../../src/cli/port-forward.js'
import {openWayIn} from '../../src/cli/way-in.js'
import type {Experiment} from '../../src/experiment/model.js'
import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import {BuiltinDriver} from '../../src/load/builtin.js'
import {Recorder} from '../../src/load/recorder.js'
import {statusReason, sumReasons} from '../../src/load/reasons.js'
import type {Target} from '../../src/runner/target.js'

/** A pod: an HTTP server on 127.0.0.1 that says its name, and the sockets it holds. */
interface FakePod {
  summary: PodSummary
  server: Server
  port: number
  sockets: Set<Socket>
}

/** Every fake pod started, so each test stops them all, also those a test took out of the cluster's list. */
const started = new Set<FakePod>()

async function stopPod(p: FakePod): Promise<void> {
  started.delete(p)
  for (const s of p.sockets) s.destroy()
  if (p.server.listening) await new Promise(resolve => p.server.close(resolve))
}

async function startPod(
  name: string,
  options: {ready?: boolean; portName?: string; onHang?: () => void} = {},
): Promise<FakePod> {
  const sockets = new Set<Socket>()
  const server = createHttpServer((req, res) => {
    // GET /hang: taken, never answered (the pod dies with it, in the test that asks).
    if (req.url === '/hang' && options.onHang !== undefined) return options.onHang()
    // GET /half: the headers and the first bytes of a 100-byte body, then nothing (the stream breaks, where a test asks).
    // GET /close: the same, then the application closes its connection itself.
    if (req.url === '/half' || req.url === '/close') {
      res.writeHead(200, {'content-length': '100'})
      return void res.write('partial', () => (req.url === '/close' ? res.socket?.end() : undefined))
    }
    res.end(`${name} ${req.headers.host ?? ''} ${req.url ?? ''}`.trimEnd().replace(/ \/productpage$/, ''))
  })
  server.on('connection', s => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as AddressInfo).port
  const pod: FakePod = {
    server,
    port,
    sockets,
    summary: {
      name,
      namespace: 'default',
      labels: {app: 'productpage'},
      containers: ['productpage', 'istio-proxy'],
      ready: options.ready ?? true,
      ...(options.portName === undefined ? {} : {ports: {[options.portName]: 9080}}),
    },
  }
  started.add(pod)
  return pod
}

/**
 * The API server's side: pods/portforward to a fake pod is a TCP connection to its server. Port
 * 9080 inside a pod is its server's port here; a pod that is gone is a 404 on the upgrade, a port
 * nothing listens on is kubelet's error-channel text.
 */
class FakeForwarding implements ForwardingCluster {
  readonly pods = new Map<string, FakePod>()
  readonly opened: string[] = []
  /** Pods whose streams break (kubelet's error text) once the pod has sent its first bytes. */
  readonly breakMidAnswer = new Set<string>()
  service: ServiceSummary = {
    name: 'productpage',
    namespace: 'default',
    type: 'ClusterIP',
    ports: [9080],
    selector: {app: 'productpage'},
    targetPorts: {9080: 9080},
  }

  async listServices(namespace: string): Promise<ServiceSummary[]> {
    return namespace === this.service.namespace ? [this.service] : []
  }

  async listPods(_namespace: string, selector: string): Promise<PodSummary[]> {
    const wanted = selector.split(',').map(kv => kv.split('='))
    return [...this.pods.values()].map(p => p.summary).filter(p => wanted.every(([k, v]) => p.labels[k ?? ''] === v))
  }

  async openPortForward(namespace: string, pod: string, port: number): Promise<PodStream> {
    const p = this.pods.get(pod)
    if (p === undefined) throw new Error(`pods "${pod}" not found`)
    this.opened.push(`${namespace}/${pod}:${port}`)
    const data = new PassThrough()
    const input = new PassThrough()
    let errorText: string | undefined
    const socket = connect({host: '127.0.0.1', port: port === 9080 ? p.port : 1})
    socket.on('error', err => {
      errorText = `error forwarding port ${port} to pod ${pod}: ${err.message}`
    })
    socket.pipe(data)
    input.pipe(socket)
    // Registered before the forwarder's own listener, so the break comes after it relayed those bytes.
    if (this.breakMidAnswer.has(pod))
      data.once('data', () =>
        setImmediate(() => {
          errorText = `error forwarding port ${port} to pod ${pod}: stream cut`
          socket.destroy()
        }),
      )
    const ended = new Promise<string | undefined>(resolve => socket.on('close', () => resolve(errorText)))
    return {data, input, ended, close: () => socket.destroy()}
  }

  /** The pod dies: its server stops and its connections drop; it leaves the list. */
  async kill(name: string): Promise<void> {
    const p = this.pods.get(name)
    if (p === undefined) return
    this.pods.delete(name)
    await stopPod(p)
  }
}

async function get(origin: string, path = '/productpage'): Promise<{status: number; body: string; header?: string}> {
  const res = await request(`${origin}${path}`, {headers: {host: 'productpage:9080'}})
  const body = await res.body.text()
  const header = res.headers[PORT_FORWARD_HEADER]
  return {status: res.statusCode, body, ...(typeof header === 'string' ? {header} : {})}
}

describe('--entry portForward: the local forwarder', () => {
  let cluster: FakeForwarding
  let forwarder: ServiceForwarder | undefined
  const lost: string[] = []

  beforeEach(() => {
    cluster = new FakeForwarding()
    lost.length = 0
    trouble.length = 0
  })
  afterEach(async () => {
    await forwarder?.close()
    forwarder = undefined
    for (const name of [...cluster.pods.keys()]) await cluster.kill(name)
    for (const p of [...started]) await stopPod(p)
  })

  const trouble: string[] = []
  const start = (options: {lostAfterMs?: number; connectMs?: number} = {}) =>
    ServiceForwarder.start(
      cluster,
      {service: 'productpage', namespace: 'default', port: 9080},
      {onLost: r => lost.push(r), onTrouble: d => trouble.push(d), backoffMs: 20, ...options},
    )

  it('forwards each connection to a ready pod of the Service, keeping the Host', async () => {
    cluster.pods.set('productpage-a', await startPod('productpage-a'))
    cluster.pods.set('productpage-b', await startPod('productpage-b', {ready: false}))
    forwarder = await start()
    assert.match(forwarder.origin, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.match(
      forwarder.description,
      /Service default\/productpage port 9080 \(1 ready pod\(s\), e\.g\. productpage-a:9080\)/,
    )
    const r = await get(forwarder.origin)
    assert.equal(r.status, 200)
    assert.equal(r.body, 'productpage-a productpage:9080')
    assert.ok(
      cluster.opened.every(o => o === 'default/productpage-a:9080'),
      'never the pod that is not ready',
    )
  })

  it('a Service port that targets a named container port reaches the port that name has on each pod', async () => {
    cluster.service = {...cluster.service, targetPorts: {9080: 'http'}}
    cluster.pods.set('productpage-a', await startPod('productpage-a', {portName: 'http'}))
    cluster.pods.set('productpage-old', await startPod('productpage-old'))
    forwarder = await start()
    assert.equal((await get(forwarder.origin)).body, 'productpage-a productpage:9080')
    assert.ok(!cluster.opened.some(o => o.includes('productpage-old')), 'a pod without the named port is left out')
  })

  it('a pod that goes away mid-run: the next connections go to another ready pod, replaying what the client sent', async () => {
    cluster.pods.set('productpage-a', await startPod('productpage-a'))
    cluster.pods.set('productpage-b', await startPod('productpage-b'))
    forwarder = await start()
    const before = new Set<string>()
    for (let i = 0; i < 4; i++) before.add((await get(forwarder.origin)).body.split(' ')[0] ?? '')
    assert.deepEqual([...before].sort(), ['productpage-a', 'productpage-b'], 'connections spread over the ready pods')
    // The pod dies but is still listed (the API server has not seen it go yet): its streams fail and are tried again.
    const a = cluster.pods.get('productpage-a') as FakePod
    await cluster.kill('productpage-a')
    cluster.pods.set('productpage-a', {...a, summary: {...a.summary}})
    // The client's idle keep-alive connections to pod a were closed with it; let it see that (a request
    // sent on one at that very moment fails as 'reset (connection closed)', as with any upstream).
    await new Promise(resolve => setTimeout(resolve, 50))
    for (let i = 0; i < 6; i++) {
      const r = await get(forwarder.origin)
      assert.equal(r.status, 200, r.body)
      assert.equal(r.body, 'productpage-b productpage:9080')
    }
    assert.ok(forwarder.counts.retries >= 1, JSON.stringify(forwarder.counts))
    assert.equal(forwarder.counts.refused, 0)
    assert.deepEqual(lost, [])
  })

  it('a pod that dies with a request unanswered on a kept-alive connection: the request goes to another ready pod', async () => {
    cluster.pods.set(
      'productpage-a',
      await startPod('productpage-a', {onHang: () => void cluster.kill('productpage-a')}),
    )
    forwarder = await start()
    // One client connection, two requests one after the other, as HTTP/1.1 keep-alive sends them.
    const socket = connect({host: '127.0.0.1', port: Number(new URL(forwarder.origin).port)})
    let received = ''
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString()
    })
    const until = async (text: string) => {
      for (let i = 0; i < 100 && !received.includes(text); i++) await new Promise(resolve => setTimeout(resolve, 20))
      assert.ok(received.includes(text), received)
    }
    socket.write('GET /productpage HTTP/1.1\r\nHost: productpage:9080\r\n\r\n')
    await until('productpage-a productpage:9080')
    cluster.pods.set('productpage-b', await startPod('productpage-b'))
    socket.write('GET /hang HTTP/1.1\r\nHost: productpage:9080\r\n\r\n')
    await until('productpage-b productpage:9080 /hang')
    socket.destroy()
    assert.equal(forwarder.counts.connections, 1)
    assert.equal(forwarder.counts.refused, 0)
    assert.ok(forwarder.counts.retries >= 1, JSON.stringify(forwarder.counts))
  })

  it('no pod left: each connection is answered 502 with the reason the drivers count, and after lostAfterMs the forward is lost', async () => {
    cluster.pods.set('productpage-a', await startPod('productpage-a'))
    forwarder = await start({lostAfterMs: 400, connectMs: 150})
    assert.equal((await get(forwarder.origin)).status, 200)
    await cluster.kill('productpage-a')
    const r = await get(forwarder.origin)
    assert.equal(r.status, 502)
    assert.equal(r.header, 'no ready pod')
    assert.match(
      r.body,
      /^port-forward lost: no ready pod \(Service default\/productpage; no ready pod of default\/productpage\)/,
    )
    assert.equal(statusReason(r.status, {portForward: r.header}), 'port-forward lost: no ready pod')
    assert.equal(forwarder.counts.refused, 1)
    // The console hears of it once per bout of failures, with the first: the pod still listed, its stream refused.
    assert.deepEqual(trouble, ['productpage-a:9080: pods "productpage-a" not found'])
    await new Promise(resolve => setTimeout(resolve, 700))
    assert.equal(lost.length, 1, 'said once')
    assert.match(
      lost[0] ?? '',
      /^port-forward lost: no stream to a ready pod of Service default\/productpage could be opened for \d+ s \(last: no ready pod of default\/productpage\)/,
    )
  })

  it('a pod that comes back before lostAfterMs: nothing is lost', async () => {
    cluster.pods.set('productpage-a', await startPod('productpage-a'))
    forwarder = await start({lostAfterMs: 1500, connectMs: 100})
    await cluster.kill('productpage-a')
    assert.equal((await get(forwarder.origin)).status, 502)
    cluster.pods.set('productpage-c', await startPod('productpage-c'))
    await new Promise(resolve => setTimeout(resolve, 600)) // the pod list is read again at most every 500 ms
    assert.equal((await get(forwarder.origin)).body, 'productpage-c productpage:9080')
    await new Promise(resolve => setTimeout(resolve, 1600))
    assert.deepEqual(lost, [])
  })

  it('the Service is read again with the pods: a selector changed mid-run is followed', async () => {
    cluster.pods.set('productpage-a', await startPod('productpage-a'))
    forwarder = await start({connectMs: 100})
    const canary = await startPod('productpage-canary')
    canary.summary = {...canary.summary, labels: {app: 'productpage-canary'}}
    cluster.pods.set('productpage-canary', canary)
    cluster.service = {...cluster.service, selector: {app: 'productpage-canary'}}
    await cluster.kill('productpage-a')
    await new Promise(resolve => setTimeout(resolve, 600))
    assert.equal((await get(forwarder.origin)).body, 'productpage-canary productpage:9080')
  })

  it('at the start, exit 4 naming what is wrong: no Service, no port, no ready pod, a failing stream', async () => {
    const couldNotRun = (re: RegExp) => (e: unknown) =>
      e instanceof FaultlineError &&
      e.exitCode === ExitCode.CouldNotRun &&
      re.test(e.message) &&
      /Nothing was injected/.test(e.hint ?? '')
    await assert.rejects(
      start(),
      couldNotRun(
        /Service default\/productpage has no ready pod to forward to \(its selector app=productpage matches no pod\)/,
      ),
    )
    cluster.pods.set('productpage-a', await startPod('productpage-a', {ready: false}))
    await assert.rejects(
      start(),
      couldNotRun(/has no ready pod to forward to \(1 pod\(s\) match its selector, none is ready: productpage-a\)/),
    )
    await assert.rejects(
      ServiceForwarder.start(
        cluster,
        {service: 'reviews', namespace: 'default', port: 9080},
        {onLost: () => undefined},
      ),
      couldNotRun(/there is no Service default\/reviews/),
    )
    await assert.rejects(
      ServiceForwarder.start(
        cluster,
        {service: 'productpage', namespace: 'default', port: 80},
        {onLost: () => undefined},
      ),
      couldNotRun(/Service default\/productpage has no port 80 \(its ports: 9080\)/),
    )
    cluster.pods.set('productpage-a', await startPod('productpage-a'))
    cluster.service = {...cluster.service, targetPorts: {9080: 9999}}
    await assert.rejects(
      start(),
      couldNotRun(
        /the port-forward to default\/productpage-a:9999 \(Service default\/productpage:9080\) failed: error forwarding port 9999/,
      ),
    )
  })
})

describe('--entry portForward: a stream cut mid-answer, as the builtin driver counts it', function () {
  this.timeout(20_000)
  let cluster: FakeForwarding
  afterEach(async () => {
    for (const name of [...cluster.pods.keys()]) await cluster.kill(name)
    for (const p of [...started]) await stopPod(p)
  })

  const experiment = (path: string): Experiment => ({
    apiVersion: 'faultline.dev/v1alpha1',
    kind: 'Experiment',
    metadata: {name: 'cut'},
    spec: {
      faults: [{service: 'ratings', abort: {httpStatus: 503, percentage: 100}}],
      phases: {baseline: '1s', fault: '1s', recovery: '1s'},
      load: {
        url: `http://productpage:9080${path}`,
        entry: {portForward: {service: 'productpage', port: 9080}},
        traffic: [{name: 'c', rate: '20/s'}],
      },
      steadyState: [],
    },
  })

  /** Opens the way in as `chaos run` does (the driver watching the forward), sends 4 requests to `url` (default: through the forward), returns the reasons and what the way in said. */
  async function load(path: string, url?: (forwarded: string) => string) {
    const driver = new BuiltinDriver()
    const said: string[] = []
    const target = {
      cluster: cluster as unknown as Target['cluster'],
      namespace: 'default',
      note: '',
      close: async () => {},
    }
    const way = await openWayIn(experiment(path), undefined, target, 'default', driver, line => said.push(line))
    const recorder = new Recorder(['c'])
    try {
      await driver.run(
        {
          url: url === undefined ? way.experiment.spec.load.url : url(way.experiment.spec.load.url),
          method: 'GET',
          durationMs: 200,
          requestTimeoutMs: 5000,
          traffic: [{name: 'c', ratePerSecond: 20, headers: {host: 'productpage:9080'}}],
        },
        recorder,
        {stop: new AbortController().signal, abort: new AbortController().signal},
      )
    } finally {
      await way.close?.()
    }
    return {reasons: sumReasons(recorder.seconds('c')), said: said.join('\n')}
  }

  it('a stream that breaks while the pod answers: the request reads "port-forward lost: cut mid-answer"', async () => {
    cluster = new FakeForwarding()
    cluster.pods.set('productpage-a', await startPod('productpage-a'))
    cluster.breakMidAnswer.add('productpage-a')
    const {reasons, said} = await load('/half')
    assert.deepEqual(reasons, {'port-forward lost: cut mid-answer': 4})
    assert.match(said, /, 4 dropped mid-answer$/)
  })

  it('the application closing mid-answer, through the forward or not, still reads "reset (connection closed)"', async () => {
    cluster = new FakeForwarding()
    const pod = await startPod('productpage-a')
    cluster.pods.set('productpage-a', pod)
    // Through the forward: the stream ends without an error, the pod's own doing.
    const forwarded = await load('/close')
    assert.deepEqual(forwarded.reasons, {'reset (connection closed)': 4})
    assert.match(forwarded.said, /, 0 dropped mid-answer$/)
    // Straight to the pod, while the driver watches the forward.
    const direct = await load('/close', () => `http://127.0.0.1:${pod.port}/close`)
    assert.deepEqual(direct.reasons, {'reset (connection closed)': 4})
  })
})
