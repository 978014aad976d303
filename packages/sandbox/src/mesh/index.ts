/**
 * The sandbox's data plane: a sidecar per pod with Envoy's behaviour for what Istio compiles from
 * VirtualServices and DestinationRules, and istiod's part — recompiling every sidecar's routing table
 * whenever an Istio object changes (the push happens in the same turn of the event loop as the write).
 */
import {ExitCode, FaultlineError} from '@faultline/core/errors.js'
import type {ConfigSource, ExecHandler, ExecResult, Pod, Sidecar, Topology} from '../types.js'
import {execInProxy} from './admin.js'
import {compileRoutingTable} from './config.js'
import {MeshGateway} from './gateway.js'
import {compileGatewayTable} from './gateway-config.js'
import {DEFAULT_PROFILE, type IstioProfile} from './profile.js'
import type {OutboundTrafficPolicy} from './router.js'
import {MeshSidecar} from './sidecar.js'

export {MeshSidecar} from './sidecar.js'
export {MeshGateway} from './gateway.js'

/** `kubectl exec` into a container the sandbox cannot run commands in. */
export class ExecUnsupported extends FaultlineError {
  constructor(message: string, hint: string) {
    super(message, ExitCode.Invalid, 'EXEC_UNSUPPORTED', {hint})
  }
}

/** Options of the data plane. */
export interface MeshOptions {
  config: ConfigSource
  topology: Topology
  /** Clock for outlier detection (ms); defaults to `Date.now`. */
  now?: () => number
  /** Random source in [0, 1) for faults, weights, load balancing and back-off; defaults to `Math.random`. */
  random?: () => number
  /** The Istio release the sidecars behave like (`--istio`); default 1.30. */
  profile?: IstioProfile
  /** meshConfig outboundTrafficPolicy.mode for hosts outside the registry; default ALLOW_ANY, as Istio's. */
  outboundTrafficPolicy?: OutboundTrafficPolicy
}

/** All sidecars of the sandbox and the config pushes that program them. */
export class Mesh {
  private readonly config: ConfigSource
  private readonly topology: Topology
  private readonly now: () => number
  private readonly random: () => number
  readonly profile: IstioProfile
  private readonly outboundTrafficPolicy: OutboundTrafficPolicy | undefined
  private readonly sidecars = new Map<string, MeshSidecar>()
  private readonly unsubscribe: () => void
  private version = 0
  private pushQueued = false

  constructor(opts: MeshOptions) {
    this.config = opts.config
    this.topology = opts.topology
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? Math.random
    this.profile = opts.profile ?? DEFAULT_PROFILE
    this.outboundTrafficPolicy = opts.outboundTrafficPolicy
    this.unsubscribe = this.config.subscribe(() => this.schedulePush())
  }

  /** Starts a sidecar for a pod (its outbound listener on 127.0.0.1) and pushes config to it. */
  async addSidecar(pod: Pod): Promise<Sidecar> {
    const existing = this.sidecars.get(pod.name)
    if (existing !== undefined) return existing
    const sidecar = new MeshSidecar(pod, this.random, this.now, name => this.sidecars.get(name), this.profile)
    if (this.outboundTrafficPolicy !== undefined) sidecar.outboundTrafficPolicy = this.outboundTrafficPolicy
    await sidecar.listen()
    this.sidecars.set(pod.name, sidecar)
    // A new pod can be a new endpoint for every other sidecar's clusters (EDS).
    this.push()
    return sidecar
  }

  /**
   * Starts an ingress gateway pod's Envoy (`gateway.ts`: its listener on a loopback port in the
   * NodePort range) and pushes config to it: clusters as for a sidecar, routes from the Gateways
   * that select the pod and the VirtualServices bound to them.
   */
  async addGateway(pod: Pod): Promise<MeshGateway> {
    const existing = this.sidecars.get(pod.name)
    if (existing instanceof MeshGateway) return existing
    if (existing !== undefined) throw new Error(`pod ${pod.name} already has a sidecar`)
    const gateway = new MeshGateway(pod, this.random, this.now, name => this.sidecars.get(name), this.profile)
    await gateway.listen()
    this.sidecars.set(pod.name, gateway)
    this.push()
    return gateway
  }

  /** A pod's sidecar, if it has one. */
  sidecar(podName: string): Sidecar | undefined {
    return this.sidecars.get(podName)
  }

  /** Runs `pilot-agent request GET …` in a pod's istio-proxy container (for the API server's pods/exec). */
  readonly exec: ExecHandler = async (pod: Pod, container: string, command: string[]): Promise<ExecResult> => {
    if (!pod.containers.includes(container)) {
      throw new ExecUnsupported(
        `container not found ("${container}")`,
        `pod ${pod.name} has containers: ${pod.containers.join(', ')}`,
      )
    }
    if (container !== 'istio-proxy') {
      throw new ExecUnsupported(
        `exec in container "${container}" is not supported by the sandbox`,
        'use -c istio-proxy with pilot-agent request GET stats',
      )
    }
    const sidecar = this.sidecars.get(pod.name)
    if (sidecar === undefined)
      throw new ExecUnsupported(`pod ${pod.name} has no running sidecar`, 'wait until the sandbox has started the pod')
    return execInProxy(sidecar, command)
  }

  /** How many config pushes have happened (bumps on every push). */
  configVersion(): number {
    return this.version
  }

  /** Recompiles every sidecar's routing table now (e.g. after the topology changed). */
  push(): void {
    this.pushQueued = false
    this.version++
    const virtualServices = this.config.virtualServices()
    const destinationRules = this.config.destinationRules()
    const gateways = this.config.gateways?.() ?? []
    for (const sidecar of this.sidecars.values()) {
      const table = compileRoutingTable(sidecar.pod, virtualServices, destinationRules, this.topology)
      if (sidecar instanceof MeshGateway)
        sidecar.applyGatewayConfig(
          table,
          compileGatewayTable(sidecar.pod, gateways, virtualServices),
          this.servicePortsOf(sidecar.pod),
          this.version,
        )
      else sidecar.applyRoutingTable(table, this.version)
    }
  }

  /** The ports of the Services selecting a pod → their targetPorts (a gateway's listeners). */
  private servicePortsOf(pod: Pod): Map<number, number> {
    const ports = new Map<number, number>()
    for (const s of this.topology.services()) {
      if (this.topology.endpoints(s).some(p => p.name === pod.name && p.namespace === pod.namespace))
        ports.set(s.port, s.targetPort ?? s.port)
    }
    return ports
  }

  /** Coalesces a burst of store events into one push, still before any request is handled. */
  private schedulePush(): void {
    if (this.pushQueued) return
    this.pushQueued = true
    queueMicrotask(() => {
      if (this.pushQueued) this.push()
    })
  }

  /** Stops every sidecar and the config subscription. */
  async close(): Promise<void> {
    this.unsubscribe()
    await Promise.all([...this.sidecars.values()].map(s => s.close()))
    this.sidecars.clear()
  }
}
