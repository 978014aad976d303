import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import net from 'node:net'

import {ExecUnsupported, type Mesh} from '../../src/mesh/index.js'
import {prometheusName, TAGS_1_22} from '../../src/mesh/stats.js'
import {ISTIO_BYTES_BUCKETS, ISTIO_DURATION_BUCKETS} from '../../src/mesh/telemetry.js'
import type {Pod} from '../../src/types.js'
import {destinationRule, FakeConfig, FakeTopology, parseStats, send, startMesh, virtualService} from './harness.js'

const REFERENCE = new URL('../../../../test/reference/envoy-stats/', import.meta.url)
const RATINGS = 'http://ratings:9080/ratings/0'
const CLIENT = 'productpage-v1-5d9b6f7c8d-abcde'
const V1 = 'outbound|9080|v1|ratings.default.svc.cluster.local'

/** Cluster + stat from either stat name form (Istio ≥ 1.23 `<cluster>;.<stat>` or older `<cluster>.<stat>`). */
function splitClusterStat(name: string): {cluster: string; stat: string} | undefined {
  const m = /^cluster\.(outbound\|\d+\|[^|]*\|[^;]+?\.svc\.cluster\.local);?\.(.+)$/.exec(name)
  return m === null ? undefined : {cluster: m[1] as string, stat: m[2] as string}
}

/** Label names of every sample of a metric family in a Prometheus exposition. */
function labelSets(text: string, metric: string): Map<string, string>[] {
  const out: Map<string, string>[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue
    const body = line.slice(metric.length + 1, line.lastIndexOf('}'))
    out.push(new Map([...body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(m => [m[1] as string, m[2] as string])))
  }
  return out
}

describe('sandbox mesh: stats, Istio metrics, pilot-agent exec, config pushes', () => {
  let topology: FakeTopology
  let config: FakeConfig
  let mesh: Mesh
  let port: number
  let client: Pod

  beforeEach(async () => {
    topology = new FakeTopology()
    config = new FakeConfig()
    topology.service('ratings')
    await topology.pod('ratings-v1-6b7c9d8f5c-aaaaa', {app: 'ratings', version: 'v1'})
    config.apply(destinationRule('ratings', {host: 'ratings', subsets: [{name: 'v1', labels: {version: 'v1'}}]}))
    ;({mesh, port, client} = await startMesh(topology, config))
  })

  afterEach(async () => {
    await mesh.close()
    await topology.close()
  })

  const exec = (cmd: string[]) => mesh.exec(client, 'istio-proxy', cmd)

  it('stats text is Envoy admin format with Istio ≥ 1.23 cluster names, and parses back with both name forms', async () => {
    await send(port, RATINGS)
    const {stdout, exitCode} = await exec(['pilot-agent', 'request', 'GET', 'stats'])
    assert.equal(exitCode, 0)
    const lines = stdout.trimEnd().split('\n')
    assert.deepEqual(lines, [...lines].sort(), 'sorted by name')
    for (const line of lines) assert.match(line, /^[^:\s]+: \d+$/, line)
    const stats = parseStats(stdout)
    assert.equal(
      stats.get(`cluster.${V1};.upstream_rq_pending_overflow`),
      0,
      'subset clusters exist before traffic, at 0',
    )
    assert.equal(stats.get(`cluster.${V1};.circuit_breakers.default.rq_pending_open`), 0)
    assert.equal(stats.get('cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_total'), 1)
    assert.equal(stats.get('cluster.outbound|9080||ratings.default.svc.cluster.local;.upstream_rq_2xx'), 1)
    assert.equal(stats.get('cluster.outbound|9080||ratings.default.svc.cluster.local;.membership_healthy'), 1)
    for (const name of stats.keys()) {
      if (!name.startsWith('cluster.outbound')) continue
      assert.ok(splitClusterStat(name), `parses ${name}`)
    }
    // The same parser reads the istio.io samples in both forms.
    const samples = readFileSync(new URL('pilot-agent-stats-circuit-breaking-samples.txt', REFERENCE), 'utf8')
    const parsed = [...parseStats(samples).keys()].filter(n => n.startsWith('cluster.outbound')).map(splitClusterStat)
    assert.ok(parsed.length >= 14 && parsed.every(p => p?.cluster.endsWith('.svc.cluster.local')))
    assert.deepEqual(new Set(parsed.map(p => p?.stat)).has('upstream_rq_pending_overflow'), true)
  })

  it('stats?filter= is an RE2 partial match; format=json and stats/prometheus are served', async () => {
    const filtered = (await exec(['pilot-agent', 'request', 'GET', 'stats?filter=pending_overflow'])).stdout
    assert.ok(
      filtered
        .split('\n')
        .filter(Boolean)
        .every(l => l.includes('pending_overflow')),
    )
    assert.match(
      filtered,
      /cluster\.outbound\|9080\|v1\|ratings\.default\.svc\.cluster\.local;\.upstream_rq_pending_overflow: 0/,
    )
    const json = JSON.parse(
      (await exec(['pilot-agent', 'request', 'GET', 'stats?format=json&filter=rq_total'])).stdout,
    ) as {stats: {name: string; value: number}[]}
    assert.ok(json.stats.length > 0 && json.stats.every(s => s.name.includes('rq_total')))
    const prom = (await exec(['pilot-agent', 'request', 'GET', 'stats/prometheus'])).stdout
    assert.match(
      prom,
      new RegExp(`envoy_cluster_upstream_rq_pending_overflow\\{cluster_name="${V1.replace(/[|.]/g, '\\$&')}"\\} 0`),
    )
    assert.match(prom, /# TYPE envoy_cluster_circuit_breakers_default_rq_pending_open gauge/)
  })

  // istio 1.30.3 / 1.22.8 tools/packaging/common/envoy_bootstrap.json stats_tags.
  it("Prometheus names follow Istio's stats_tags: cluster_name, http_conn_manager_prefix, response_code(_class); 1.22's regexes", () => {
    assert.deepEqual(prometheusName(`cluster.${V1};.upstream_rq_pending_overflow`), {
      metric: 'envoy_cluster_upstream_rq_pending_overflow',
      labels: `{cluster_name="${V1}"}`,
    })
    assert.deepEqual(
      prometheusName(`cluster.${V1};.circuit_breakers.default.rq_pending_open`).metric,
      'envoy_cluster_circuit_breakers_default_rq_pending_open',
    )
    assert.deepEqual(prometheusName('http.outbound_0.0.0.0_9080;.fault.aborts_injected'), {
      metric: 'envoy_http_fault_aborts_injected',
      labels: '{http_conn_manager_prefix="outbound_0.0.0.0_9080"}',
    })
    assert.deepEqual(prometheusName(`cluster.${V1};.upstream_rq_503`), {
      metric: 'envoy_cluster_upstream_rq',
      labels: `{cluster_name="${V1}",response_code="503"}`,
    })
    assert.deepEqual(prometheusName(`cluster.${V1};.upstream_rq_5xx`), {
      metric: 'envoy_cluster_upstream_rq',
      labels: `{cluster_name="${V1}",response_code_class="5xx"}`,
    })
    assert.deepEqual(prometheusName(`cluster.${V1}.upstream_rq_pending_overflow`, TAGS_1_22), {
      metric: 'envoy_cluster_upstream_rq_pending_overflow',
      labels: `{cluster_name="${V1}"}`,
    })
    assert.deepEqual(prometheusName('http.outbound_0.0.0.0_9080.fault.aborts_injected', TAGS_1_22), {
      metric: 'envoy_http_outbound_0_0_0_0_9080_fault_aborts_injected',
      labels: '',
    })
  })

  it("istio_requests_total has exactly the label set of Istio's testdata, for source and destination reporters", async () => {
    await send(port, RATINGS)
    const expected = [
      ...readFileSync(new URL('istio-proxy-testdata-client_request_total.yaml.tmpl', REFERENCE), 'utf8').matchAll(
        /- name: (\w+)/g,
      ),
    ].map(m => m[1])
    const source = labelSets((await mesh.sidecar(CLIENT)?.metricsText()) ?? '', 'istio_requests_total')
    assert.equal(source.length, 1)
    assert.deepEqual([...(source[0] as Map<string, string>).keys()].sort(), [...expected].sort())
    assert.equal(source[0]?.get('reporter'), 'source')
    assert.equal(source[0]?.get('response_flags'), '-')
    assert.equal(source[0]?.get('destination_service'), 'ratings.default.svc.cluster.local')
    assert.equal(source[0]?.get('destination_workload'), 'ratings-v1')
    assert.equal(source[0]?.get('source_workload'), 'productpage-v1')
    const dest = labelSets(
      (await mesh.sidecar('ratings-v1-6b7c9d8f5c-aaaaa')?.metricsText()) ?? '',
      'istio_requests_total',
    )
    assert.equal(dest.length, 1)
    assert.equal(dest[0]?.get('reporter'), 'destination')
    assert.deepEqual([...(dest[0] as Map<string, string>).keys()].sort(), [...expected].sort())
  })

  it("istio_request_duration_milliseconds uses Istio's default buckets", async () => {
    await send(port, RATINGS)
    const text = (await mesh.sidecar(CLIENT)?.metricsText()) ?? ''
    const les = labelSets(text, 'istio_request_duration_milliseconds_bucket').map(l => l.get('le'))
    assert.deepEqual(les, [...ISTIO_DURATION_BUCKETS.map(String), '+Inf'])
  })

  // istio/proxy istio_stats.cc IstioStatsFilter::log, transcribed in istio-stats-http-metrics.csv (see SOURCE.md).
  it("istio_request_bytes and istio_response_bytes are what istio/proxy's stats filter defines: histograms, Envoy's default buckets, the labels of istio_requests_total", async () => {
    await send(port, RATINGS)
    const rows = readFileSync(new URL('istio-stats-http-metrics.csv', REFERENCE), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map(l => l.split(','))
    const defaults = (rows.find(r => r[0] === 'envoy default buckets')?.[3] ?? '').split(' ').map(Number)
    assert.equal(defaults.length, 19)
    assert.deepEqual(ISTIO_BYTES_BUCKETS, defaults)
    const sizes = rows.filter(r => r[0]?.endsWith('_bytes'))
    assert.deepEqual(
      sizes.map(r => [r[0], r[1], r[2], r[4], r[5]]),
      [
        ['istio_request_bytes', 'histogram', 'Bytes', 'same as istio_requests_total', 'envoy default'],
        ['istio_response_bytes', 'histogram', 'Bytes', 'same as istio_requests_total', 'envoy default'],
      ],
    )
    const expected = [
      ...readFileSync(new URL('istio-proxy-testdata-client_request_total.yaml.tmpl', REFERENCE), 'utf8').matchAll(
        /- name: (\w+)/g,
      ),
    ]
      .map(m => m[1] as string)
      .sort()
    for (const pod of [CLIENT, 'ratings-v1-6b7c9d8f5c-aaaaa']) {
      const text = (await mesh.sidecar(pod)?.metricsText()) ?? ''
      const requests = labelSets(text, 'istio_requests_total')
      assert.equal(requests.length, 1)
      for (const [name] of sizes) {
        assert.match(text, new RegExp(`^# TYPE ${name as string} histogram$`, 'm'))
        const buckets = labelSets(text, `${name as string}_bucket`)
        assert.deepEqual(
          buckets.map(l => l.get('le')),
          [...defaults.map(String), '+Inf'],
          `${name as string} buckets in ${pod}`,
        )
        for (const suffix of ['_bucket', '_sum', '_count']) {
          for (const l of labelSets(text, `${name as string}${suffix}`)) {
            l.delete('le')
            assert.deepEqual([...l.keys()].sort(), expected, `${name as string}${suffix} labels`)
            assert.deepEqual(l, requests[0], 'the same series as istio_requests_total')
          }
        }
        assert.match(text, new RegExp(`^${name as string}_count\\{[^}]*\\} 1$`, 'm'), 'one observation per request')
      }
    }
  })

  it('istio_request_bytes / istio_response_bytes observe the downstream wire bytes of each request, headers included', async () => {
    const ratings = topology.podList.find(p => p.name.startsWith('ratings-')) as NonNullable<
      (typeof topology.podList)[number]
    >
    const appBytes: {read: number; written: number}[] = []
    const seen = new Map<net.Socket, {read: number; written: number}>()
    ratings.handler = (req, res) => {
      const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'))
      req.resume()
      req.on('end', () => {
        const socket = req.socket
        res.on('finish', () => {
          const before = seen.get(socket) ?? {read: 0, written: 0}
          const now = {read: socket.bytesRead, written: socket.bytesWritten}
          appBytes.push({read: now.read - before.read, written: now.written - before.written})
          seen.set(socket, now)
        })
        res.writeHead(200, {'content-type': 'text/plain', 'content-length': size})
        res.end('x'.repeat(size))
      })
    }
    // Two requests on one connection, written and read byte for byte.
    const socket = net.connect(port, '127.0.0.1')
    await new Promise<void>(resolve => socket.once('connect', () => resolve()))
    let received = Buffer.alloc(0)
    socket.on('data', (c: Buffer) => {
      received = Buffer.concat([received, c])
    })
    const exchange = async (size: number): Promise<{sent: number; got: number}> => {
      const request = `GET http://ratings:9080/ratings/0?size=${size} HTTP/1.1\r\nhost: ratings:9080\r\nx-pad: ${'p'.repeat(size % 7)}\r\n\r\n`
      received = Buffer.alloc(0)
      socket.write(request)
      for (;;) {
        const text = received.toString('latin1')
        const head = text.indexOf('\r\n\r\n')
        const length = /content-length: (\d+)/i.exec(text)?.[1]
        if (head >= 0 && length !== undefined && received.length >= head + 4 + Number(length))
          return {sent: Buffer.byteLength(request), got: received.length}
        await new Promise(resolve => setTimeout(resolve, 5))
      }
    }
    const first = await exchange(100)
    const second = await exchange(3000)
    socket.destroy()
    const series = (text: string, metric: string) =>
      Number(new RegExp(`^${metric}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1])
    const source = (await mesh.sidecar(CLIENT)?.metricsText()) ?? ''
    assert.equal(series(source, 'istio_request_bytes_sum'), first.sent + second.sent)
    assert.equal(series(source, 'istio_response_bytes_sum'), first.got + second.got)
    assert.ok(second.got - first.got >= 2900, 'the bigger body is seen in the response size')
    const les = labelSets(source, 'istio_response_bytes_bucket')
    const cumulative = source
      .split('\n')
      .filter(l => l.startsWith('istio_response_bytes_bucket{'))
      .map(l => Number(l.slice(l.lastIndexOf(' ') + 1)))
    const at = (le: string) => cumulative[les.findIndex(l => l.get('le') === le)]
    assert.equal(at('250'), 0)
    assert.equal(at('500'), 1, `${first.got} bytes`)
    assert.equal(at('2500'), 1)
    assert.equal(at('5000'), 2, `${second.got} bytes`)
    // reporter="destination": the attempt's bytes as the app exchanged them (its sidecar's downstream, which the sandbox has not).
    const dest = (await mesh.sidecar(ratings.name)?.metricsText()) ?? ''
    assert.equal(appBytes.length, 2)
    assert.equal(series(dest, 'istio_response_bytes_sum'), (appBytes[0]?.written ?? 0) + (appBytes[1]?.written ?? 0))
    assert.equal(series(dest, 'istio_request_bytes_sum'), (appBytes[0]?.read ?? 0) + (appBytes[1]?.read ?? 0))
  })

  it('exec: other binaries exit 127 like a shell; other containers are refused', async () => {
    const r = await exec(['curl', 'localhost:15000/stats'])
    assert.equal(r.exitCode, 127)
    assert.equal(r.stderr, 'exec: "curl": executable file not found in $PATH\n')
    await assert.rejects(mesh.exec(client, 'productpage', ['ls']), ExecUnsupported)
    await assert.rejects(mesh.exec(client, 'nope', ['ls']), /container not found \("nope"\)/)
    const dump = JSON.parse((await exec(['pilot-agent', 'request', 'GET', 'config_dump'])).stdout)
    assert.ok(JSON.stringify(dump).includes(V1))
  })

  it('config change takes effect within 100 ms (write → first request that sees it)', async () => {
    const before = mesh.configVersion()
    const written = performance.now()
    config.apply(
      virtualService('ratings', {
        hosts: ['ratings'],
        http: [
          {fault: {abort: {httpStatus: 418, percentage: {value: 100}}}, route: [{destination: {host: 'ratings'}}]},
        ],
      }),
    )
    let seen = await send(port, RATINGS)
    while (seen.status !== 418 && performance.now() - written < 1000) seen = await send(port, RATINGS)
    const elapsed = performance.now() - written
    assert.equal(seen.status, 418)
    assert.ok(mesh.configVersion() > before)
    assert.ok(elapsed < 100, `took ${elapsed.toFixed(1)} ms`)
    console.log(`      write → first request that saw the change: ${elapsed.toFixed(2)} ms`)
  })
})
