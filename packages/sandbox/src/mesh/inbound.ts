/**
 * A pod's inbound sidecar as a client without a sidecar meets it. `inboundPort` on 127.0.0.1 stands
 * for `<pod IP>:<container port>`, which Istio's iptables send to the sidecar's inbound listener: the
 * API server's pods/proxy and services/proxy dial it, and so does anything outside the mesh that is
 * given a pod's address. Sidecar-to-sidecar traffic (mTLS in Istio) never comes here: the calling
 * sidecar delivers to the application's port, as the mTLS filter chain would after the handshake.
 * `kubectl port-forward` does not come here either: it connects to localhost inside the pod, which
 * Istio does not capture.
 *
 * The mode is the workload's, resolved per connection from the PeerAuthentications in force
 * (`packages/core/src/istio/peer-authentication.ts`) for the container port. Under STRICT the inbound listener has
 * only TLS filter chains (istio 1.30.3 `pilot/pkg/networking/core/filterchain_options.go`
 * getFilterChainMatchOptions: inboundStrict*FilterChainMatchOptions carry `transport_protocol: tls`
 * only), so a plaintext connection matches none once its first bytes are inspected and is reset;
 * Istio's own reachability test expects plaintext (`naked`) clients to fail under "global mtls
 * strict" (`tests/integration/security/reachability_test.go`) and checks such failures with
 * `read: connection reset by peer` (`pkg/test/framework/components/echo/check/checkers.go`
 * ConnectionResetByPeer). PERMISSIVE and DISABLE accept plaintext: the bytes go to the application.
 */
import net, {type AddressInfo, type Socket} from 'node:net'

import {
  modeForPort,
  type MtlsMode,
  type PeerAuthentication,
  workloadMtls,
} from '@faultline/core/istio/peer-authentication.js'
import type {Pod} from '../types.js'

/** What an inbound listener needs to know about its pod. */
export interface InboundOptions {
  /** The workload PeerAuthentication selectors match. */
  workload: {namespace: string; labels: Record<string, string>}
  /** The loopback port the application listens on. */
  appPort: number
  /** The port the application listens on in Kubernetes (portLevelMtls is keyed by it). */
  containerPort: number
  /** The PeerAuthentications in force, all namespaces (read on every connection). */
  policies: () => readonly PeerAuthentication[]
}

/** Counts of what the listener did, for tests and the README's claims. */
export interface InboundCounts {
  /** Plaintext connections reset under STRICT. */
  reset: number
  /** Plaintext connections handed to the application. */
  accepted: number
}

/** The pod's inbound listener for clients without a sidecar. */
export class InboundListener {
  readonly counts: InboundCounts = {reset: 0, accepted: 0}
  private readonly server: net.Server
  private readonly sockets = new Set<Socket>()
  private listening = 0

  constructor(private readonly opts: InboundOptions) {
    this.server = net.createServer(socket => this.accept(socket))
  }

  /** The mode the sidecar enforces on the container port now. */
  mode(): MtlsMode {
    return modeForPort(workloadMtls(this.opts.policies(), this.opts.workload), this.opts.containerPort).mode
  }

  /** Starts listening on an ephemeral loopback port. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject)
        resolve()
      })
    })
    this.listening = (this.server.address() as AddressInfo).port
  }

  /** The port standing for `<pod IP>:<container port>`. */
  get port(): number {
    return this.listening
  }

  private accept(client: Socket): void {
    this.sockets.add(client)
    client.on('close', () => this.sockets.delete(client))
    client.on('error', () => client.destroy())
    // Envoy picks the filter chain once the TLS inspector has seen the first bytes.
    client.once('data', first => {
      if (this.mode() === 'STRICT') {
        this.counts.reset++
        client.resetAndDestroy()
        return
      }
      this.counts.accepted++
      client.pause()
      const app = net.connect(this.opts.appPort, '127.0.0.1', () => {
        app.write(first)
        client.pipe(app)
        app.pipe(client)
        client.resume()
      })
      this.sockets.add(app)
      app.on('close', () => {
        this.sockets.delete(app)
        client.destroy()
      })
      app.on('error', () => client.destroy())
      client.on('close', () => app.destroy())
    })
  }

  /** Stops listening and closes every connection. */
  close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    return new Promise(resolve => this.server.close(() => resolve()))
  }
}

/**
 * An inbound listener for each pod with an injected sidecar (`istio-proxy` beside an application:
 * not a gateway, whose proxy is the workload), each pod's `inboundPort` set to it. Returns the stop.
 */
export async function startInboundListeners(
  pods: readonly Pod[],
  policies: () => readonly PeerAuthentication[],
  defaultContainerPort: number,
): Promise<() => Promise<void>> {
  const listeners: InboundListener[] = []
  const close = async () => {
    await Promise.all(listeners.map(l => l.close()))
  }
  try {
    for (const pod of pods) {
      if (!pod.containers.includes('istio-proxy') || pod.containers.length < 2) continue
      const listener = new InboundListener({
        workload: pod,
        appPort: pod.appPort,
        containerPort: pod.containerPort ?? defaultContainerPort,
        policies,
      })
      await listener.listen()
      listeners.push(listener)
      pod.inboundPort = listener.port
    }
  } catch (err) {
    await close()
    throw err
  }
  return close
}
