/** What the reaper tests share: faults left as a SIGKILLed run leaves them, and bounded polling. */
import type {Cluster} from '../../src/cluster/cluster.js'
import {compileFaults} from '../../src/faults/compile.js'

/** Leaves run `runId`'s faults as a SIGKILLed run would: applied with their expiry, never reverted. */
export async function abandon(
  cluster: Cluster,
  namespace: string,
  runId: string,
  expiresAt: Date,
  services: string[],
): Promise<void> {
  const plan = compileFaults({
    namespace,
    existing: await cluster.listVirtualServices(namespace),
    runId,
    expiresAt,
    faults: services.map(service => ({
      service,
      match: {headers: {'x-chaos-test': {exact: 'true'}}},
      abort: {httpStatus: 503, percentage: 100},
    })),
  })
  for (const o of plan.objects)
    await (o.action === 'create' ? cluster.createVirtualService(o.desired) : cluster.replaceVirtualService(o.desired))
}

/** Polls `check` every 25 ms until it holds or `timeoutMs` passes; returns the milliseconds it took. */
export async function within(timeoutMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now()
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs}ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  return Date.now() - t0
}
