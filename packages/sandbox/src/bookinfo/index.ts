/**
 * Bookinfo in one Node process: one loopback HTTP server per pod (productpage v1, details v1,
 * reviews v1/v2/v3, ratings v1) plus the `chaos-client` pod's, each with an outbound client that
 * calls other services through that pod's sidecar once `useSidecar` names its port.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {CLIENT_APP, STATS_LESS_APP, type Workload} from '../topology.js'
import {detailsHandler} from './details.js'
import {type AppServer, listenOnLoopback, OutboundClient, pathOf, type Propagation, sendJson} from './http.js'
import {productpageHandler} from './productpage.js'
import {RatingsApp} from './ratings.js'
import {reviewsHandler, type ReviewsVersion} from './reviews.js'

/** One running application container. */
export interface BookinfoPod {
  readonly workload: Workload
  readonly podName: string
  /** The port the application listens on (the pod's `appPort`). */
  readonly appPort: number
  /** The application's outbound client; point it at the sidecar with `outbound.useSidecar(port)`. */
  readonly outbound: OutboundClient
}

/** The running bookinfo applications. */
export interface Bookinfo {
  readonly pods: readonly BookinfoPod[]
  close(): Promise<void>
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** The client pod's own app: nothing but a health check (it only originates traffic). */
function clientHandler(req: IncomingMessage, res: ServerResponse): void {
  if (pathOf(req) === '/health') return sendJson(res, 200, {status: 'chaos-client is healthy'})
  sendJson(res, 404, {error: 'chaos-client serves no traffic; it is where the forward proxy sends requests from'})
}

/** The application a workload runs. */
export function handlerFor(
  workload: Workload,
  podName: string,
  outbound: OutboundClient,
  propagate: readonly Propagation[] = [],
): Handler {
  switch (workload.app) {
    case 'productpage':
      return productpageHandler(outbound, propagate)
    case 'details':
      return detailsHandler
    case 'reviews':
      return reviewsHandler({version: workload.version as ReviewsVersion, podName, outbound, propagate})
    case 'ratings':
      return new RatingsApp().handle
    case CLIENT_APP:
    case STATS_LESS_APP:
      return clientHandler
    default:
      throw new Error(`bookinfo has no app named ${workload.app}`)
  }
}

/**
 * Starts one application per named workload; on failure, closes what had started. `propagate`
 * models OpenTelemetry-instrumented apps (`--propagate baggage`); by default each app forwards
 * exactly what the real one does.
 */
export async function startBookinfo(
  plan: readonly {workload: Workload; podName: string}[],
  propagate: readonly Propagation[] = [],
): Promise<Bookinfo> {
  const started: {pod: BookinfoPod; server: AppServer}[] = []
  const close = async (): Promise<void> => {
    for (const {pod} of started) pod.outbound.close()
    await Promise.all(started.map(s => s.server.close()))
  }
  try {
    for (const {workload, podName} of plan) {
      const outbound = new OutboundClient()
      const server = await listenOnLoopback(handlerFor(workload, podName, outbound, propagate))
      started.push({pod: {workload, podName, appPort: server.port, outbound}, server})
    }
  } catch (err) {
    await close()
    throw err
  }
  return {pods: started.map(s => s.pod), close}
}
