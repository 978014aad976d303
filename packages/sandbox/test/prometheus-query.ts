/** PromQL helpers shared by the sandbox's Prometheus tests. */
import assert from 'node:assert/strict'

/** the README's mesh-view 5xx ratio for productpage. */
export const PRODUCTPAGE_5XX_RATIO =
  'sum(rate(istio_requests_total{destination_service=~"productpage.*",response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{destination_service=~"productpage.*"}[1m]))'

/** Runs an instant query until it yields one sample that `accept`s (rate() needs two scrapes). */
export async function pollQuery(
  url: string,
  query: string,
  timeoutMs: number,
  accept: (v: number) => boolean = () => true,
): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`)
    const body = (await res.json()) as {status: string; data: {result: {value: [number, string]}[]}}
    assert.equal(body.status, 'success')
    const value = body.data.result[0]?.value[1]
    if (value !== undefined && value !== 'NaN' && accept(Number(value))) return Number(value)
    if (Date.now() > deadline) throw new Error(`no value for ${query} within ${timeoutMs}ms`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}
