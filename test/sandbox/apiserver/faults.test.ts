import assert from 'node:assert/strict'

import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {Agent, request} from 'undici'

import {ApiError, type Cluster} from '../../../src/cluster/cluster.js'
import {connect} from '../../../src/cluster/connect.js'
import {writeKubeconfig} from '@faultline/sandbox/kubeconfig.js'

import {ExitCode, UsageError} from '@faultline/core/errors.js'
import {startApiServer} from '@faultline/sandbox/apiserver.js'
import {
  API_FAULTS_PATH,
  API_FAULTS_SYNTAX,
  ApiFaultInjector,
  formatApiFaults,
  NO_API_FAULTS,
  parseApiFaults,
} from '@faultline/sandbox/apiserver/faults.js'
import {ObjectStore} from '@faultline/sandbox/store.js'
import {type Answer, fakeExec, fakeTopology, ratingsVs, vsPath} from '../../../packages/sandbox/test/apiserver/fakes.js'

describe('sandbox API fault mode', () => {
  describe('parseApiFaults', () => {
    it('parses every knob and prints it back canonically', () => {
      const spec = parseApiFaults(
        ' write-error=20%, conflict=10%,lost-response=2.5%,read-error=5%,latency=300ms±100ms,seed=7 ',
      )
      assert.deepEqual(spec, {
        writeError: 20,
        conflict: 10,
        lostResponse: 2.5,
        readError: 5,
        latencyMs: 300,
        jitterMs: 100,
        seed: 7,
      })
      assert.equal(
        formatApiFaults(spec),
        'write-error=20%,conflict=10%,lost-response=2.5%,read-error=5%,latency=300ms±100ms,seed=7',
      )
      assert.deepEqual(parseApiFaults(formatApiFaults(spec)), spec)
      assert.deepEqual(parseApiFaults('latency=1s+-0.5s'), {...NO_API_FAULTS, latencyMs: 1000, jitterMs: 500})
    })

    it('reads "none" and the empty string as no faults', () => {
      for (const text of ['', 'none', '  ']) assert.deepEqual(parseApiFaults(text), NO_API_FAULTS)
      assert.equal(formatApiFaults(NO_API_FAULTS), 'none')
      assert.equal(formatApiFaults({...NO_API_FAULTS, seed: 3}), 'none')
    })

    it('refuses bad tokens with exit 2, naming the token and the accepted syntax', () => {
      const cases: [string, RegExp][] = [
        ['write-error=20', /"write-error=20" is not a percentage/],
        ['write-error=120%', /"write-error=120%" is not a percentage between 0% and 100%/],
        ['conflict=-1%', /"conflict=-1%" is not a percentage/],
        ['latency=fast', /"latency=fast" is not a duration/],
        ['latency=100ms±200ms', /has a jitter larger than its latency/],
        ['latency=1s±1ms±1ms', /more than one ±/],
        ['latency=2m', /between 0 and 60s/],
        ['seed=x', /"seed=x" is not a seed/],
        ['chaos=1%', /unknown key "chaos"/],
        ['write-error', /"write-error" is not key=value/],
        ['write-error=1%,write-error=2%', /repeats write-error/],
        ['write-error=60%,conflict=30%,lost-response=20%', /more than 100% of writes/],
      ]
      for (const [text, message] of cases) {
        assert.throws(
          () => parseApiFaults(text),
          (err: unknown) => {
            assert.ok(err instanceof UsageError, text)
            assert.equal(err.exitCode, ExitCode.Invalid)
            assert.match(err.message, message)
            assert.equal(err.hint, `accepted: ${API_FAULTS_SYNTAX}`)
            return true
          },
        )
      }
    })
  })

  describe('against the API server over HTTPS', function () {
    this.timeout(60_000)
    const token = 'faults-token-0123456789'
    let store: ObjectStore
    let faults: ApiFaultInjector
    let close: () => Promise<void>
    let kubeconfigAt: () => Promise<Cluster>
    let call: (
      method: string,
      path: string,
      body?: unknown,
      contentType?: string,
      authorization?: string,
    ) => Promise<{status: number; body: Answer; headers: Record<string, unknown>; ms: number}>

    beforeEach(async () => {
      store = new ObjectStore()
      faults = new ApiFaultInjector()
      const server = await startApiServer({store, topology: fakeTopology, exec: fakeExec(), token, port: 0, faults})
      const dispatcher = new Agent({connect: {ca: server.certificateAuthority}})
      call = async (method, path, body, contentType = 'application/json', authorization = `Bearer ${token}`) => {
        const t0 = performance.now()
        const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
        const res = await request(`${server.url}${path}`, {
          method: method as 'GET',
          headers: {authorization, ...(text === undefined ? {} : {'content-type': contentType})},
          ...(text === undefined ? {} : {body: text}),
          dispatcher,
        })
        const raw = await res.body.text()
        let parsed: unknown = raw
        try {
          parsed = JSON.parse(raw)
        } catch {
          /* not JSON */
        }
        return {status: res.statusCode, body: parsed as Answer, headers: res.headers, ms: performance.now() - t0}
      }
      const dir = mkdtempSync(join(tmpdir(), 'faultline-api-faults-'))
      kubeconfigAt = async () => {
        const file = join(dir, 'kubeconfig')
        await writeKubeconfig(file, {
          server: server.url,
          token,
          namespace: 'default',
          certificateAuthority: server.certificateAuthority,
        })
        const cluster = connect({kubeconfig: file})
        assert.ok(cluster !== undefined)
        return cluster
      }
      close = async () => {
        await server.close()
        await dispatcher.close()
        rmSync(dir, {recursive: true, force: true})
      }
    })
    afterEach(() => close())

    const createRatings = async () => {
      const r = await call('POST', vsPath(), ratingsVs())
      assert.equal(r.status, 201, JSON.stringify(r.body))
      return r.body as Answer
    }

    it('write-error refuses writes with 429, 500 and 503 Status bodies (Retry-After where due) and writes nothing', async () => {
      faults.set(parseApiFaults('write-error=100%,seed=1'))
      const codes = new Map<number, number>()
      for (let i = 0; i < 30; i++) {
        const r = await call('POST', vsPath(), ratingsVs())
        codes.set(r.status, (codes.get(r.status) ?? 0) + 1)
        assert.equal(r.body.kind, 'Status')
        assert.equal(r.body.status, 'Failure')
        assert.equal(r.body.code, r.status)
        const expected: Record<number, string> = {
          429: 'TooManyRequests',
          500: 'InternalError',
          503: 'ServiceUnavailable',
        }
        assert.equal(r.body.reason, expected[r.status], JSON.stringify(r.body))
        if (r.status !== 500) {
          assert.equal(r.headers['retry-after'], '1')
          assert.equal(r.body.details.retryAfterSeconds, 1)
        }
      }
      assert.deepEqual([...codes.keys()].sort(), [429, 500, 503], 'a loaded server answers all three')
      assert.equal(store.list('VirtualService').length, 0)
      assert.equal(faults.counts.writeErrors, 30)
      // Reads are not writes.
      assert.equal((await call('GET', vsPath())).status, 200)
    })

    it('the same seed gives the same faults for the same requests; a fraction fails about as often as asked', async () => {
      const outcomes = async () => {
        faults.set(parseApiFaults('write-error=30%,seed=42'))
        const seen: number[] = []
        for (let i = 0; i < 40; i++) seen.push((await call('DELETE', vsPath('v1', 'default', 'absent'))).status)
        return seen
      }
      const first = await outcomes()
      assert.deepEqual(await outcomes(), first)
      const failed = first.filter(s => s !== 404).length
      // 40 draws at 30%: 3..22 covers far beyond 99.9% of the binomial.
      assert.ok(failed >= 3 && failed <= 22, `failed ${failed} of 40`)
    })

    it('conflict answers 409 after a concurrent write moved the resourceVersion; the spec is untouched and a re-read retry succeeds', async () => {
      const created = await createRatings()
      faults.set(parseApiFaults('conflict=100%'))
      const changed = {
        ...created,
        spec: {...created.spec, http: [{route: [{destination: {host: 'ratings', subset: 'v2'}}]}]},
      }
      const r = await call('PUT', vsPath('v1', 'default', 'ratings'), changed)
      assert.equal(r.status, 409)
      assert.equal(r.body.reason, 'Conflict')
      assert.match(
        r.body.message,
        /Operation cannot be fulfilled on virtualservices.networking.istio.io "ratings": the object has been modified/,
      )
      const now = (await call('GET', vsPath('v1', 'default', 'ratings'))).body
      assert.notEqual(now.metadata.resourceVersion, created.metadata.resourceVersion)
      assert.deepEqual(now.spec, created.spec)
      assert.deepEqual(now.metadata.labels, created.metadata.labels)
      assert.equal(now.metadata.managedFields.at(-1).manager, 'sandbox-concurrent-writer')
      // Back to normal: the stale write still fails on its own (optimistic concurrency), the re-read one lands.
      faults.set(NO_API_FAULTS)
      assert.equal((await call('PUT', vsPath('v1', 'default', 'ratings'), changed)).status, 409)
      const retried = await call('PUT', vsPath('v1', 'default', 'ratings'), {
        ...changed,
        metadata: {...changed.metadata, resourceVersion: now.metadata.resourceVersion},
      })
      assert.equal(retried.status, 200)
      assert.equal(retried.body.spec.http[0].route[0].destination.subset, 'v2')
    })

    it('conflict leaves creates alone (there is nothing to race) and bumps the object before every conflicting delete', async () => {
      faults.set(parseApiFaults('conflict=100%'))
      const created = await createRatings()
      const del = await call('DELETE', vsPath('v1', 'default', 'ratings'), {
        preconditions: {resourceVersion: created.metadata.resourceVersion},
      })
      assert.equal(del.status, 409)
      assert.ok(store.get('VirtualService', 'default', 'ratings') !== undefined)
      assert.equal(faults.counts.conflicts, 1)
    })

    it('lost-response applies the write but answers 504 Timeout', async () => {
      faults.set(parseApiFaults('lost-response=100%'))
      const post = await call('POST', vsPath(), ratingsVs())
      assert.equal(post.status, 504)
      assert.equal(post.body.reason, 'Timeout')
      assert.match(post.body.message, /request did not complete within requested timeout/)
      const stored = store.get('VirtualService', 'default', 'ratings')
      assert.ok(stored !== undefined, 'the create landed')
      const patch = await call(
        'PATCH',
        vsPath('v1', 'default', 'ratings'),
        {metadata: {labels: {team: 'payments'}}},
        'application/merge-patch+json',
      )
      assert.equal(patch.status, 504)
      assert.equal(store.get('VirtualService', 'default', 'ratings')?.metadata.labels?.team, 'payments')
      // A write the server refuses keeps its own answer: only a landed write can lose one.
      const stale = await call('PUT', vsPath('v1', 'default', 'ratings'), {
        ...ratingsVs(),
        metadata: {name: 'ratings', resourceVersion: '1'},
      })
      assert.equal(stale.status, 409)
      assert.equal(stale.body.reason, 'Conflict')
      assert.equal((await call('DELETE', vsPath('v1', 'default', 'ratings'))).status, 504)
      assert.equal(store.get('VirtualService', 'default', 'ratings'), undefined)
      assert.equal(faults.counts.lostResponses, 3)
    })

    it('read-error refuses GETs and LISTs of Istio objects, not writes or other resources', async () => {
      await createRatings()
      faults.set(parseApiFaults('read-error=100%'))
      for (const path of [
        vsPath(),
        vsPath('v1', 'default', 'ratings'),
        '/apis/networking.istio.io/v1/destinationrules',
      ]) {
        const r = await call('GET', path)
        assert.ok([429, 500, 503].includes(r.status), `${path}: ${r.status}`)
      }
      assert.equal((await call('GET', '/api/v1/namespaces/default/pods')).status, 200)
      assert.equal((await call('DELETE', vsPath('v1', 'default', 'ratings'))).status, 200)
    })

    it('latency delays every API request (jitter within bounds) but not health checks', async () => {
      faults.set(parseApiFaults('latency=200ms±50ms'))
      for (let i = 0; i < 3; i++) {
        const r = await call('GET', '/version')
        assert.ok(r.ms >= 145, `${r.ms} ms`)
      }
      const health = await call('GET', '/readyz')
      assert.ok(health.ms < 145, `${health.ms} ms`)
      assert.equal(faults.counts.delayed, 3)
    })

    it('the admin endpoint shows and switches the fault mode, refuses a bad spec with 400, and needs the token', async () => {
      assert.deepEqual((await call('GET', API_FAULTS_PATH)).body, {
        spec: 'none',
        counts: {writeErrors: 0, conflicts: 0, lostResponses: 0, readErrors: 0, delayed: 0},
      })
      const put = await call('PUT', API_FAULTS_PATH, 'write-error=100%, seed=3', 'text/plain')
      assert.equal(put.status, 200)
      assert.equal(put.body.spec, 'write-error=100%,seed=3')
      assert.ok([429, 500, 503].includes((await call('POST', vsPath(), ratingsVs())).status))
      const bad = await call('PUT', API_FAULTS_PATH, 'write-error=lots', 'text/plain')
      assert.equal(bad.status, 400)
      assert.match(bad.body.message, /"write-error=lots" is not a percentage/)
      assert.equal(faults.spec.writeError, 100, 'a refused spec changes nothing')
      assert.equal((await call('DELETE', API_FAULTS_PATH)).status, 405)
      assert.equal((await call('PUT', API_FAULTS_PATH, 'none', 'text/plain', 'Bearer wrong')).status, 401)
      assert.equal(faults.spec.writeError, 100)
    })

    describe("what the runner's client does with it (KubeCluster)", () => {
      it('retries a read on any server error, at most 4 times', async () => {
        const cluster = await kubeconfigAt()
        await cluster.istioVersion()
        faults.set(parseApiFaults('read-error=100%,seed=5'))
        await assert.rejects(
          cluster.getVirtualService('default', 'ratings'),
          (err: unknown) => err instanceof ApiError && err.transient,
        )
        assert.equal(faults.counts.readErrors, 5)
        faults.set(parseApiFaults('read-error=50%,seed=5'))
        for (let i = 0; i < 5; i++) assert.deepEqual(await cluster.listVirtualServices('default'), [])
      })

      it('retries a write only where the server asked (429/503 with Retry-After), never after a 500', async () => {
        const cluster = await kubeconfigAt()
        await cluster.istioVersion()
        const vs = ratingsVs() as unknown as Parameters<Cluster['createVirtualService']>[0]
        let retried = 0
        for (const seed of [1, 2, 3, 4]) {
          faults.set(parseApiFaults(`write-error=100%,seed=${seed}`))
          const err = await cluster.createVirtualService(vs).then(
            () => undefined,
            (e: unknown) => e,
          )
          assert.ok(err instanceof ApiError, String(err))
          const attempts = faults.counts.writeErrors
          // It stops at the first answer without Retry-After (500), or after 1 + 4 retries.
          assert.ok(
            err.status === 500 ? attempts <= 5 : attempts === 5,
            `seed ${seed}: ${err.status} after ${attempts} attempt(s)`,
          )
          if (attempts > 1) retried++
        }
        assert.ok(retried > 0, 'some 429/503 was retried')
        faults.set(parseApiFaults('lost-response=100%'))
        await assert.rejects(
          cluster.createVirtualService(vs),
          (err: unknown) => err instanceof ApiError && err.status === 504,
        )
        assert.equal(faults.counts.lostResponses, 1, 'a write that may have landed is not repeated blindly')
        assert.ok(store.get('VirtualService', 'default', 'ratings') !== undefined)
      })
    })
  })
})
