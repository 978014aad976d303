/**
 * The sandbox's lifecycle: wires the object store, a sidecar per pod, bookinfo, the ingress gateway
 * with Istio's bookinfo-gateway.yaml, the API server, the forward proxy and Prometheus together on 127.0.0.1, records where they listen, and takes it
 * all down again. Every part started registers its stop before the next starts, so a failure
 * part-way (or `stop()`) closes exactly what is running.
 */
import {randomBytes} from 'node:crypto'
import {chmod} from 'node:fs/promises'

import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import type {PeerAuthentication} from '@faultline/core/istio/peer-authentication.js'
import {type ApiServer, startApiServer} from './apiserver.js'
import {K6OperatorSandbox} from './k6-operator.js'
import {ApiFaultInjector, type ApiFaultSpec, formatApiFaults, NO_API_FAULTS} from './apiserver/faults.js'
import type {Propagation} from './bookinfo/http.js'
import {ambientServices, createAmbientNamespace, startAmbientWorkloads} from './ambient.js'
import {startBookinfo} from './bookinfo/index.js'
import {withBookinfoGateway} from './gateway-sample.js'
import {type SandboxExtension, writeKubeconfig} from './kubeconfig.js'
import {startInboundListeners} from './mesh/inbound.js'
import {Mesh} from './mesh/index.js'
import {DEFAULT_PROFILE, ISTIO_PROFILES, type IstioProfile, type IstioVersion} from './mesh/profile.js'
import {findPrometheus, type MetricsEndpoint, startMetricsEndpoint, startPrometheus} from './prometheus.js'
import {type ForwardProxy, startForwardProxy} from './proxy.js'
import {type Reaper, reaperIntervalFromEnv, type RevertExpired, startReaper} from './reaper.js'
import {
  acquireStartLock,
  ensureStateDir,
  type RecordedPod,
  removeSandboxState,
  type SandboxState,
  STATE_VERSION,
  statePaths,
  writeSandboxState,
} from './state.js'
import {ObjectStore} from './store.js'
import {
  BOOKINFO_PORT,
  bookinfoServices,
  CLIENT_APP,
  gatewayPod,
  gatewayService,
  makePod,
  podName,
  SANDBOX_NAMESPACE,
  SANDBOX_WORKLOADS,
  StaticTopology,
} from './topology.js'
import type {Sidecar, Topology} from './types.js'

/** How to start a sandbox. */
export interface SandboxOptions {
  /** Where `sandbox.json`, the kubeconfig and Prometheus's files go. */
  stateDir: string
  /** Start Prometheus when a binary is found (default true). */
  prometheus?: boolean
  /** Progress lines ("starting Prometheus…") and the reaper's reverts. */
  log?: (line: string) => void
  /**
   * How often the reaper reverts faults past their expiry (what `chaos revert --expired` does);
   * 0 turns it off. Default: `$CHAOS_SANDBOX_REAPER_INTERVAL`, else 5 s.
   */
  reaperIntervalMs?: number
  /**
   * What the reaper does in a namespace, given the sandbox's kubeconfig: `chaos revert --expired`,
   * which the CLI passes (the sandbox does not know the runner). Without it there is no reaper.
   */
  revertExpired?: (kubeconfig: string) => RevertExpired
  /** The API server's fault mode at start (`--api-faults`); change it later through `apiFaults`. */
  apiFaults?: ApiFaultSpec
  /** Extra header propagation the apps model (`--propagate baggage`); default: exactly what real bookinfo forwards. */
  propagate?: readonly Propagation[]
  /** The Istio release the mesh behaves like (`--istio`, packages/sandbox/src/mesh/profile.ts); default 1.30. */
  istio?: IstioVersion
  /** Seconds between Prometheus scrapes (`--scrape-interval`); default 5. */
  scrapeIntervalS?: number
}

/** A running sandbox. */
export interface RunningSandbox {
  /** What was written to `sandbox.json`. */
  readonly state: SandboxState
  readonly store: ObjectStore
  readonly topology: StaticTopology
  readonly mesh: Mesh
  /** Why Prometheus is not running, when it is not. */
  readonly prometheusSkipped: string | undefined
  /** The expired-fault reaper, unless turned off. */
  readonly reaper: Reaper | undefined
  /** The API server's fault mode, switchable while it runs (also at `/faultline/v1/api-faults`). */
  readonly apiFaults: ApiFaultInjector
  /** Stops everything and removes the state record; safe to call twice. */
  stop(): Promise<void>
}

/** Runs stops in reverse order of starts, every one even if an earlier one fails. */
class Teardown {
  private readonly steps: {name: string; stop: () => Promise<void> | void}[] = []

  add(name: string, stop: () => Promise<void> | void): void {
    this.steps.push({name, stop})
  }

  async run(): Promise<void> {
    const failures: string[] = []
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step.stop()
      } catch (err) {
        failures.push(`${step.name}: ${(err as Error).message}`)
      }
    }
    if (failures.length > 0)
      throw new FaultlineError(
        `the sandbox did not stop cleanly: ${failures.join('; ')}`,
        ExitCode.CouldNotRun,
        'SANDBOX_STOP_FAILED',
        {hint: 'check for leftover processes with: chaos sandbox status'},
      )
  }
}

/**
 * Starts bookinfo and a sidecar for each of its pods, and the ingress gateway in istio-system;
 * returns the topology, the client pod's sidecar and the gateway.
 */
async function startWorkloads(
  mesh: (topology: StaticTopology) => Mesh,
  teardown: Teardown,
  propagate: readonly Propagation[],
  profile: IstioProfile,
  policies: () => readonly PeerAuthentication[],
) {
  const plan = SANDBOX_WORKLOADS.map(workload => ({workload, podName: podName(workload)}))
  const bookinfo = await startBookinfo(plan, propagate)
  teardown.add('bookinfo', () => bookinfo.close())
  const pods = bookinfo.pods.map(p => makePod(p.workload, p.podName, p.appPort, profile))
  const ambient = await startAmbientWorkloads(propagate)
  teardown.add('ambient workloads', () => ambient.close())
  teardown.add('inbound sidecars', await startInboundListeners(pods, policies, BOOKINFO_PORT))
  const ingress = {pod: gatewayPod(undefined, profile), service: gatewayService()}
  const topology = new StaticTopology(
    [...bookinfoServices(), ...ambientServices(), ingress.service],
    [...pods, ...ambient.pods, ingress.pod],
  )
  const theMesh = mesh(topology)
  teardown.add('mesh', () => theMesh.close())
  const sidecars: Sidecar[] = []
  for (const [i, pod] of pods.entries()) {
    const sidecar = await theMesh.addSidecar(pod)
    bookinfo.pods[i]?.outbound.useSidecar(sidecar.outboundPort)
    sidecars.push(sidecar)
  }
  const client = sidecars.find(s => s.pod.labels.app === CLIENT_APP)
  if (client === undefined) throw new Error('the chaos-client pod has no sidecar')
  const gateway = await theMesh.addGateway(ingress.pod)
  // The gateway pod's "IP:port" and its Service's node port are its listener's, known once it listens.
  ingress.pod.appPort = gateway.outboundPort
  ingress.service.nodePort = gateway.outboundPort
  theMesh.push()
  return {topology, mesh: theMesh, sidecars, client, gateway}
}

function recordPods(sidecars: readonly Sidecar[]): RecordedPod[] {
  return sidecars.map(({pod, outboundPort}) => ({
    name: pod.name,
    app: pod.labels.app ?? '',
    version: pod.labels.version ?? '',
    serviceAccount: pod.serviceAccount,
    appPort: pod.appPort,
    outboundPort,
    ...(pod.inboundPort === undefined ? {} : {inboundPort: pod.inboundPort}),
  }))
}

/**
 * The reaper, as a client of the sandbox's own API server (through the kubeconfig just written),
 * so its reverts take the path `chaos revert` takes: admission, preconditions, watch events.
 */
function startSandboxReaper(
  opts: SandboxOptions,
  kubeconfig: string,
  store: ObjectStore,
  log: (line: string) => void,
): Reaper | undefined {
  const intervalMs = opts.reaperIntervalMs ?? reaperIntervalFromEnv()
  if (intervalMs === 0 || opts.revertExpired === undefined) return undefined
  return startReaper({
    revertExpired: opts.revertExpired(kubeconfig),
    intervalMs,
    log,
    namespaces: () => store.list('Namespace').map(n => n.metadata.name),
  })
}

/** Prometheus, when enabled and a binary is found; otherwise why not. */
async function startSandboxPrometheus(
  opts: SandboxOptions,
  dir: string,
  metrics: MetricsEndpoint,
  sidecars: readonly Sidecar[],
  teardown: Teardown,
  log: (line: string) => void,
) {
  const binary = opts.prometheus === false ? undefined : findPrometheus()
  const prometheusSkipped =
    opts.prometheus === false
      ? 'disabled (--no-prometheus)'
      : binary === undefined
        ? 'no prometheus binary on PATH'
        : undefined
  let prometheus: {url: string; pid: number} | undefined
  if (binary !== undefined) {
    log(`starting Prometheus (${binary})…`)
    const running = await startPrometheus({
      binary,
      dir,
      metrics,
      sidecars,
      ...(opts.scrapeIntervalS === undefined ? {} : {scrapeIntervalS: opts.scrapeIntervalS}),
    })
    teardown.add('Prometheus', () => running.stop())
    prometheus = running
  }
  return {prometheus, prometheusSkipped}
}

/** What `sandbox.json` records about a started sandbox. */
function sandboxState(
  opts: SandboxOptions,
  parts: {
    apiServer: string
    kubeconfig: string
    proxy: string
    gateway: string
    metrics: string
    prometheus: {url: string; pid: number} | undefined
    sidecars: readonly Sidecar[]
    reaper: Reaper | undefined
    apiFaults: ApiFaultInjector
    profile: IstioProfile
  },
): SandboxState {
  const {prometheus, reaper, apiFaults} = parts
  return {
    version: STATE_VERSION,
    pid: process.pid,
    apiServer: parts.apiServer,
    kubeconfig: parts.kubeconfig,
    proxy: parts.proxy,
    gateway: parts.gateway,
    metrics: parts.metrics,
    ...(prometheus === undefined ? {} : {prometheus: prometheus.url, prometheusPid: prometheus.pid}),
    namespace: SANDBOX_NAMESPACE,
    startedAt: new Date().toISOString(),
    pods: recordPods(parts.sidecars),
    ...(reaper === undefined ? {} : {reaperIntervalMs: reaper.intervalMs}),
    ...(formatApiFaults(apiFaults.spec) === 'none' ? {} : {apiFaults: formatApiFaults(apiFaults.spec)}),
    ...((opts.propagate ?? []).length === 0 ? {} : {propagate: [...(opts.propagate ?? [])]}),
    istio: parts.profile.version,
  }
}

/**
 * The API server with its injected API faults and the k6-operator's runners, and a first kubeconfig
 * (server and credentials; where the proxy, gateway and Prometheus listen is added once they do).
 */
async function startControlPlane(
  opts: SandboxOptions,
  parts: {store: ObjectStore; topology: Topology; mesh: Mesh},
  teardown: Teardown,
  kubeconfig: string,
) {
  const token = randomBytes(24).toString('base64url')
  const apiFaults = new ApiFaultInjector(opts.apiFaults ?? NO_API_FAULTS)
  // The k6-operator's part: TestRuns run as local k6 processes entering the mesh through the proxy.
  const k6Operator = new K6OperatorSandbox({log: opts.log ?? (() => {})})
  const api = await startApiServer({...parts, exec: parts.mesh.exec, token, faults: apiFaults, k6Operator})
  teardown.add('API server', () => api.close())
  teardown.add('k6-operator runners', () => k6Operator.close())
  await writeKubeconfig(kubeconfig, {
    server: api.url,
    token,
    namespace: SANDBOX_NAMESPACE,
    certificateAuthority: api.certificateAuthority,
  })
  await chmod(kubeconfig, 0o600)
  return {api, token, apiFaults, k6Operator}
}

/** The proxies' metrics endpoint, and the Prometheus that scrapes it unless the options leave it out. */
async function startTelemetry(opts: SandboxOptions, dir: string, proxies: Sidecar[], teardown: Teardown) {
  const metrics = await startMetricsEndpoint(proxies)
  teardown.add('metrics endpoint', () => metrics.close())
  const started = await startSandboxPrometheus(opts, dir, metrics, proxies, teardown, opts.log ?? (() => {}))
  return {metrics, ...started}
}

/** The forward proxy into the mesh through the chaos-client pod's sidecar; the k6-operator's runners send through it too. */
async function startClientProxy(
  client: Sidecar,
  topology: StaticTopology,
  k6Operator: K6OperatorSandbox,
  teardown: Teardown,
): Promise<ForwardProxy> {
  const proxy = await startForwardProxy({
    sidecar: client,
    resolve: host => topology.serviceForHost(host),
    knownServices: () => topology.services().map(s => s.name),
  })
  teardown.add('forward proxy', () => proxy.close())
  k6Operator.setProxy(proxy.url)
  return proxy
}

/**
 * Records where the started sandbox listens: first in the kubeconfig, so a run given only --kubeconfig
 * enters the mesh as --sandbox does, then in `sandbox.json`, which stopping removes.
 */
async function recordSandbox(
  stateDir: string,
  kubeconfig: {file: string; api: ApiServer; token: string},
  where: SandboxExtension,
  state: SandboxState,
  teardown: Teardown,
): Promise<void> {
  const {file, api, token} = kubeconfig
  await writeKubeconfig(file, {
    server: api.url,
    token,
    namespace: SANDBOX_NAMESPACE,
    certificateAuthority: api.certificateAuthority,
    sandbox: where,
  })
  teardown.add('state record', () => removeSandboxState(stateDir))
  await writeSandboxState(stateDir, state)
}

/** Starts a sandbox in `opts.stateDir`; resolves once every part answers and `sandbox.json` is written. */
export async function startSandbox(opts: SandboxOptions): Promise<RunningSandbox> {
  const log = opts.log ?? (() => {})
  const paths = statePaths(opts.stateDir)
  await ensureStateDir(opts.stateDir)
  const teardown = new Teardown()
  teardown.add('start lock', await acquireStartLock(opts.stateDir))
  try {
    const store = new ObjectStore()
    // Istio's bookinfo task applies bookinfo-gateway.yaml; the sandbox starts with it.
    const config = withBookinfoGateway(store, SANDBOX_NAMESPACE)
    const profile = ISTIO_PROFILES[opts.istio ?? DEFAULT_PROFILE.version]
    createAmbientNamespace(store)
    const {topology, mesh, sidecars, client, gateway} = await startWorkloads(
      t => new Mesh({config, topology: t, profile}),
      teardown,
      opts.propagate ?? [],
      profile,
      () => store.peerAuthentications(),
    )
    const {api, token, apiFaults, k6Operator} = await startControlPlane(
      opts,
      {store, topology, mesh},
      teardown,
      paths.kubeconfig,
    )
    const proxy = await startClientProxy(client, topology, k6Operator, teardown)
    const reaper = startSandboxReaper(opts, paths.kubeconfig, store, log)
    if (reaper !== undefined) teardown.add('reaper', () => reaper.stop())
    const {metrics, prometheus, prometheusSkipped} = await startTelemetry(
      opts,
      paths.prometheus,
      [...sidecars, gateway],
      teardown,
    )
    const gatewayUrl = `http://127.0.0.1:${gateway.outboundPort}`
    const state = sandboxState(opts, {
      apiServer: api.url,
      kubeconfig: paths.kubeconfig,
      proxy: proxy.url,
      gateway: gatewayUrl,
      metrics: metrics.url,
      prometheus,
      sidecars,
      reaper,
      apiFaults,
      profile,
    })
    const where = {
      proxy: proxy.url,
      gateway: gatewayUrl,
      ...(prometheus === undefined ? {} : {prometheus: prometheus.url}),
    }
    await recordSandbox(opts.stateDir, {file: paths.kubeconfig, api, token}, where, state, teardown)
    let stopping: Promise<void> | undefined
    const stop = (): Promise<void> => (stopping ??= teardown.run())
    return {state, store, topology, mesh, prometheusSkipped, reaper, apiFaults, stop}
  } catch (err) {
    await teardown.run().catch(() => {})
    throw err
  }
}
