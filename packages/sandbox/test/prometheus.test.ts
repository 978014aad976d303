import assert from 'node:assert/strict'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {
  findPrometheus,
  type MetricsEndpoint,
  metricsPath,
  prometheusConfig,
  type ScrapedSidecar,
  startMetricsEndpoint,
  startPrometheus,
} from '../src/prometheus.js'
import type {Pod} from '../src/types.js'
import {pollQuery, PRODUCTPAGE_5XX_RATIO} from './prometheus-query.js'

function pod(name: string, app: string, version: string): Pod {
  return {
    name,
    namespace: 'default',
    labels: {app, version},
    serviceAccount: `bookinfo-${app}`,
    containers: [app, 'istio-proxy'],
    appPort: 1,
  }
}

/** A sidecar whose istio_requests_total grows by `ok` 200s and `failed` 503s every time it is scraped. */
function countingSidecar(p: Pod, ok: number, failed: number): ScrapedSidecar {
  const count = {ok: 0, failed: 0}
  const line = (code: number, n: number): string =>
    `istio_requests_total{reporter="source",source_app="chaos-client",destination_service="productpage.default.svc.cluster.local",response_code="${code}",response_flags="-"} ${n}`
  return {
    pod: p,
    metricsText: async () => {
      count.ok += ok
      count.failed += failed
      return `# TYPE istio_requests_total counter\n${line(200, count.ok)}\n${line(503, count.failed)}\n`
    },
  }
}

describe('sandbox Prometheus', () => {
  const sidecars = [
    countingSidecar(pod('productpage-v1-abc-12345', 'productpage', 'v1'), 9, 1),
    countingSidecar(pod('chaos-client-xyz-67890', 'chaos-client', 'v1'), 0, 0),
  ]
  let metrics: MetricsEndpoint
  before(async () => {
    metrics = await startMetricsEndpoint(sidecars)
  })
  after(async () => {
    await metrics.close()
  })

  it('configures one target per pod with its path and Istio-style pod labels', () => {
    const config = JSON.parse(prometheusConfig(4321, sidecars))
    assert.equal(config.global.scrape_interval, '5s', 'the sandbox default')
    const real = JSON.parse(prometheusConfig(4321, sidecars, 15))
    assert.deepEqual(
      real.global,
      {scrape_interval: '15s', scrape_timeout: '10s', evaluation_interval: '15s'},
      "Istio's addon interval; the timeout stays within Prometheus's 10s default",
    )
    assert.deepEqual(config.scrape_configs[0].static_configs[0], {
      targets: ['127.0.0.1:4321'],
      labels: {
        __metrics_path__: '/stats/prometheus/default/productpage-v1-abc-12345',
        namespace: 'default',
        pod: 'productpage-v1-abc-12345',
        app: 'productpage',
        version: 'v1',
      },
    })
    assert.equal(config.scrape_configs[0].static_configs.length, 2)
  })

  it("serves every sidecar's metrics at its pod's path", async () => {
    const res = await fetch(metrics.url + metricsPath(sidecars[0]!.pod))
    assert.equal(res.status, 200)
    assert.match(await res.text(), /istio_requests_total\{.*response_code="503".*\} \d+/)
    const index = await (await fetch(metrics.url + '/')).text()
    assert.deepEqual(
      index.trim().split('\n'),
      sidecars.map(s => metricsPath(s.pod)),
    )
    assert.equal((await fetch(metrics.url + '/stats/prometheus/default/nosuch')).status, 404)
  })

  it("answers the README's productpage 5xx ratio after some scrapes", async function () {
    const binary = findPrometheus()
    if (binary === undefined) {
      console.log('      (skipped: no prometheus binary on PATH; .ci/run installs it)')
      return this.skip()
    }
    this.timeout(60_000)
    const dir = await mkdtemp(join(tmpdir(), 'faultline-prom-'))
    const prometheus = await startPrometheus({binary, dir: join(dir, 'prometheus'), metrics, sidecars})
    try {
      const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
        data: {activeTargets: {labels: Record<string, string>; health: string}[]}
      }
      assert.deepEqual(targets.data.activeTargets.map(t => [t.labels.pod, t.labels.app, t.health]).sort(), [
        ['chaos-client-xyz-67890', 'chaos-client', 'up'],
        ['productpage-v1-abc-12345', 'productpage', 'up'],
      ])
      const ratio = await pollQuery(prometheus.url, PRODUCTPAGE_5XX_RATIO, 20_000)
      assert.ok(Math.abs(ratio - 0.1) < 0.02, `ratio ${ratio}`)
    } finally {
      await prometheus.stop()
      await rm(dir, {recursive: true, force: true})
    }
    const after = await fetch(`${prometheus.url}/-/ready`).then(
      () => 'answered',
      () => 'refused',
    )
    assert.equal(after, 'refused')
  })
})
