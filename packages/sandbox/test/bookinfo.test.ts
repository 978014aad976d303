import assert from 'node:assert/strict'
import http from 'node:http'

import {forwardHeaders} from '../src/bookinfo/http.js'
import {ratingsTimeoutMs} from '../src/bookinfo/reviews.js'
import {openSession, signSession} from '../src/bookinfo/session.js'
import {type FakeMesh, startFakeMesh} from './bookinfo-fakes.js'

describe('bookinfo apps', () => {
  let mesh: FakeMesh
  beforeEach(async () => {
    mesh = await startFakeMesh()
  })
  afterEach(async () => {
    await mesh.close()
  })

  it('details answers the book as JSON and rejects a non-numeric id', async () => {
    const ok = await mesh.get('details', '/details/0')
    assert.equal(ok.status, 200)
    assert.deepEqual(JSON.parse(ok.body), {
      id: 0,
      author: 'William Shakespeare',
      year: 1595,
      type: 'paperback',
      pages: 200,
      publisher: 'PublisherA',
      language: 'English',
      'ISBN-10': '1234567890',
      'ISBN-13': '123-1234567890',
    })
    assert.equal((await mesh.get('details', '/details/abc')).status, 400)
    assert.equal((await mesh.get('details', '/health')).status, 200)
  })

  it("ratings answers the two reviewers' stars", async () => {
    const ok = await mesh.get('ratings', '/ratings/0')
    assert.equal(ok.status, 200)
    assert.deepEqual(JSON.parse(ok.body), {id: 0, ratings: {Reviewer1: 5, Reviewer2: 4}})
    assert.equal((await mesh.get('ratings', '/ratings/x')).status, 400)
    assert.deepEqual(JSON.parse((await mesh.get('ratings', '/health')).body), {status: 'Ratings is healthy'})
  })

  it('reviews v1 has no ratings; v2 black and v3 red stars come from ratings', async () => {
    mesh.only.set('reviews', ['v1'])
    const v1 = JSON.parse((await mesh.get('productpage', '/api/v1/products/0/reviews')).body)
    assert.equal(v1.reviews.length, 2)
    assert.equal(v1.reviews[0].rating, undefined)
    assert.match(v1.podname, /^reviews-v1-[a-z0-9]{9,10}-[a-z0-9]{5}$/)
    for (const [version, color] of [
      ['v2', 'black'],
      ['v3', 'red'],
    ]) {
      mesh.only.set('reviews', [version!])
      const body = JSON.parse((await mesh.get('productpage', '/api/v1/products/0/reviews')).body)
      assert.deepEqual(
        body.reviews.map((r: {rating: unknown}) => r.rating),
        [
          {stars: 5, color},
          {stars: 4, color},
        ],
      )
    }
    assert.deepEqual(
      mesh.calls.filter(c => c.service === 'ratings').map(c => c.path),
      ['/ratings/0', '/ratings/0'],
    )
  })

  it('productpage renders details and reviews, round-robin over the reviews versions', async () => {
    const seen = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const page = await mesh.get('productpage', '/productpage')
      assert.equal(page.status, 200)
      assert.match(page.body, /The Comedy of Errors/)
      assert.match(page.body, /Book Details[\s\S]*William Shakespeare/)
      assert.match(page.body, /Book Reviews[\s\S]*Reviewer1/)
      seen.add(/Reviews served by: (reviews-v\d)/.exec(page.body)?.[1] ?? '')
    }
    assert.deepEqual([...seen].sort(), ['reviews-v1', 'reviews-v2', 'reviews-v3'])
  })

  // istio/istio 1.30.3 samples/bookinfo/src/productpage/productpage.py getForwardHeaders and
  // reviews-application/.../LibertyRestEndpoint.java headers_to_propagate: exactly these, nothing else.
  it('forwards exactly what productpage.py and reviews forward: user-agent end to end, no end-user header, no x-chaos-*', async () => {
    mesh.only.set('reviews', ['v2'])
    const sent = {
      'x-request-id': 'req-1',
      traceparent: '00-1-2-01',
      tracestate: 'a=b',
      sw8: 's',
      'user-agent': 'faultline-chaos-test',
      authorization: 'Bearer t',
      jwt: 'j',
      'x-datadog-trace-id': '1',
      'x-ot-span-context': 'o',
      'x-cloud-trace-context': 'c',
      'grpc-trace-bin': 'g',
      'end-user': 'jason',
      'x-chaos-test': 'true',
      'x-unrelated': 'no',
      baggage: 'k=v',
      'x-b3-parentspanid': '0000000000000001',
      'x-b3-flags': '1',
    }
    await mesh.get('productpage', '/productpage', sent)
    const dropped = new Set(['end-user', 'x-chaos-test', 'x-unrelated', 'baggage', 'x-b3-parentspanid', 'x-b3-flags'])
    for (const service of ['details', 'reviews', 'ratings']) {
      const call = mesh.calls.find(c => c.service === service)
      assert.ok(call, service)
      for (const [k, v] of Object.entries(sent))
        assert.equal(call.headers[k], dropped.has(k) ? undefined : v, `${service}: ${k}`)
    }
  })

  it('productpage re-injects B3 through its OpenTelemetry B3MultiFormat propagator (32-hex trace id, no parent/flags), reviews copies x-b3-*', async () => {
    mesh.only.set('reviews', ['v3'])
    await mesh.get('productpage', '/productpage', {b3: '80f198ee56343ba8-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90'})
    const b3 = {
      'x-b3-traceid': '000000000000000080f198ee56343ba8',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-sampled': '1',
    }
    for (const service of ['reviews', 'ratings']) {
      const call = mesh.calls.find(c => c.service === service)!
      for (const [k, v] of Object.entries(b3)) assert.equal(call.headers[k], v, `${service}: ${k}`)
      assert.equal(call.headers.b3, undefined)
      assert.equal(call.headers['x-b3-parentspanid'], undefined)
    }
    mesh.calls.length = 0
    await mesh.get('productpage', '/productpage', {'x-b3-traceid': 'not-hex', 'x-b3-spanid': 'e457b5a2e4d86bd1'})
    assert.equal(mesh.calls.find(c => c.service === 'reviews')?.headers['x-b3-traceid'], undefined)
  })

  it("productpage calls with python-requests' own User-Agent when the client sent none, and reviews passes it on", async () => {
    mesh.only.set('reviews', ['v2'])
    const pod = mesh.bookinfo.pods.find(p => p.workload.app === 'productpage')!
    // node:http sends no User-Agent of its own (fetch would send `node`).
    await new Promise<void>((resolve, reject) =>
      http
        .get({host: '127.0.0.1', port: pod.appPort, path: '/productpage'}, res => res.resume().on('end', resolve))
        .on('error', reject),
    )
    assert.equal(mesh.calls.find(c => c.service === 'details')?.headers['user-agent'], 'python-requests/2.32.3')
    assert.equal(mesh.calls.find(c => c.service === 'ratings')?.headers['user-agent'], 'python-requests/2.32.3')
  })

  it('takes end-user from the Flask session cookie POST /login sets, never from an end-user header; /logout clears it', async () => {
    const pod = mesh.bookinfo.pods.find(p => p.workload.app === 'productpage')!
    const base = `http://127.0.0.1:${pod.appPort}`
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      body: 'username=jason',
      headers: {'content-type': 'application/x-www-form-urlencoded', referer: 'http://productpage:9080/productpage'},
      redirect: 'manual',
    })
    assert.equal(login.status, 302)
    assert.equal(login.headers.get('location'), 'http://productpage:9080/productpage')
    const setCookie = login.headers.get('set-cookie')!
    assert.match(setCookie, /^session=[\w-]+\.[\w-]+\.[\w-]+; HttpOnly; Path=\/$/)
    const cookie = setCookie.split(';')[0]!
    mesh.only.set('reviews', ['v3'])
    const page = await mesh.get('productpage', '/productpage', {cookie})
    assert.match(page.body, /signed in as <b>jason<\/b>/)
    assert.equal(mesh.calls.find(c => c.service === 'ratings')?.headers['end-user'], 'jason')
    mesh.calls.length = 0
    const forged = await mesh.get('productpage', '/productpage', {
      'end-user': 'jason',
      cookie: 'session=eyJ1c2VyIjoiamFzb24ifQ.aVW5AA.forged',
    })
    assert.doesNotMatch(forged.body, /signed in as/)
    assert.equal(mesh.calls.find(c => c.service === 'reviews')?.headers['end-user'], undefined)
    const logout = await fetch(`${base}/logout`, {headers: {cookie}, redirect: 'manual'})
    assert.equal(logout.status, 302)
    assert.equal(logout.headers.get('location'), 'None') // werkzeug redirect(None): no Referer
    assert.match(logout.headers.get('set-cookie')!, /^session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0/)
  })

  it("sends Flask 3.1's Vary: Cookie where productpage.py touches the session: every page, login, logout with a user, the API with one", async () => {
    const pod = mesh.bookinfo.pods.find(p => p.workload.app === 'productpage')!
    const base = `http://127.0.0.1:${pod.appPort}`
    const vary = async (path: string, init: RequestInit = {}) =>
      (await fetch(`${base}${path}`, {redirect: 'manual', ...init})).headers.get('vary')
    assert.equal(await vary('/productpage'), 'Cookie', "front: session.get('user', '') reads it for everyone")
    const login = await fetch(`${base}/login`, {
      method: 'POST',
      body: 'username=jason',
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      redirect: 'manual',
    })
    assert.equal(login.headers.get('vary'), 'Cookie')
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!
    assert.equal(await vary('/api/v1/products/0'), null, "'user' in session does not mark it accessed")
    assert.equal(
      await vary('/api/v1/products/0', {headers: {cookie}}),
      'Cookie',
      "getForwardHeaders reads session['user']",
    )
    assert.equal(await vary('/api/v1/products'), null)
    assert.equal(await vary('/health', {headers: {cookie}}), null)
    assert.equal(await vary('/logout'), null, 'popping a missing key is no change')
    assert.equal(await vary('/logout', {headers: {cookie}}), 'Cookie')
  })

  it('with --propagate baggage every app also forwards W3C baggage (OpenTelemetry-instrumented apps)', async () => {
    await mesh.close()
    mesh = await startFakeMesh(undefined, ['baggage'])
    mesh.only.set('reviews', ['v2'])
    await mesh.get('productpage', '/productpage', {baggage: 'faultline=test'})
    assert.equal(mesh.calls.find(c => c.service === 'ratings')?.headers.baggage, 'faultline=test')
  })

  it('productpage retries reviews once, then apologises but still answers 200', async () => {
    mesh.fault = call => (call.service === 'reviews' ? {abort: 503} : undefined)
    const page = await mesh.get('productpage', '/productpage')
    assert.equal(page.status, 200)
    assert.match(page.body, /Sorry, product reviews are currently unavailable for this book\./)
    assert.match(page.body, /William Shakespeare/)
    assert.equal(mesh.calls.filter(c => c.service === 'reviews').length, 2)
    const api = await mesh.get('productpage', '/api/v1/products/0/reviews')
    assert.equal(api.status, 503)
  })

  it('productpage does not retry details and says so in the page', async () => {
    mesh.fault = call => (call.service === 'details' ? {abort: 555} : undefined)
    const page = await mesh.get('productpage', '/productpage')
    assert.equal(page.status, 200)
    assert.match(page.body, /Sorry, product details are currently unavailable for this book\./)
    assert.match(page.body, /Reviewer1/)
    assert.equal(mesh.calls.filter(c => c.service === 'details').length, 1)
    assert.equal((await mesh.get('productpage', '/api/v1/products/0')).status, 555)
  })

  it('reviews v3 gives up on a slow ratings after 2.5s and shows the ratings error', async function () {
    this.timeout(8000)
    assert.equal(ratingsTimeoutMs('v2'), 10_000)
    assert.equal(ratingsTimeoutMs('v3'), 2_500)
    mesh.only.set('reviews', ['v3'])
    mesh.fault = call => (call.service === 'ratings' ? {delayMs: 4000} : undefined)
    const res = await mesh.get('productpage', '/api/v1/products/0/reviews')
    assert.equal(res.status, 200)
    assert.ok(res.ms >= 2400 && res.ms < 3500, `took ${res.ms}ms`)
    assert.deepEqual(JSON.parse(res.body).reviews[0].rating, {error: 'Ratings service is currently unavailable'})
  })

  it('productpage gives up on reviews after 3s twice when ratings behind reviews v2 is 7s late', async function () {
    this.timeout(12_000)
    mesh.only.set('reviews', ['v2'])
    mesh.fault = call =>
      call.service === 'ratings' && call.headers['user-agent'] === 'faultline-chaos-test' ? {delayMs: 7000} : undefined
    const page = await mesh.get('productpage', '/productpage', {'user-agent': 'faultline-chaos-test'})
    assert.equal(page.status, 200)
    assert.ok(page.ms >= 5900 && page.ms < 7000, `took ${page.ms}ms`)
    assert.match(page.body, /Sorry, product reviews are currently unavailable for this book\./)
    assert.equal(mesh.calls.filter(c => c.service === 'reviews').length, 2)
    const fast = await mesh.get('productpage', '/productpage')
    assert.ok(fast.ms < 1000)
    assert.match(fast.body, /data-stars="5"/)
  })
})

describe('forwardHeaders', () => {
  it('copies exactly the named headers, joining repeated ones', () => {
    const out = forwardHeaders(
      {'x-request-id': 'a', 'x-chaos-run': 'r1', cookie: 'c', 'x-other': 'o', 'x-b3-sampled': ['1', '0']},
      ['x-request-id', 'x-b3-sampled', 'b3'],
    )
    assert.deepEqual(out, {'x-request-id': 'a', 'x-b3-sampled': '1, 0'})
  })
})

describe('productpage session cookie', () => {
  // Generated with Flask's SecureCookieSessionInterface and itsdangerous 2.2.0, app.secret_key from
  // productpage.py, TimestampSigner.get_timestamp pinned to 1767225600: byte-identical to what we sign.
  const FLASK_JASON = 'eyJ1c2VyIjoiamFzb24ifQ.aVW5AA._tCZmrJudnYEEu7u9S4spJ2oF6c'
  const FLASK_COMPRESSED = '.eJyrViotTi1SslKqGCZAqRYA3UZhOg.aVW5AA.tX1_eHfo6M6D-Tiw9fKokbEruZ0'
  it("signs and reads Flask's format, refuses a bad signature and a cookie older than 31 days", () => {
    assert.equal(signSession({user: 'jason'}, 1767225600), FLASK_JASON)
    assert.equal(signSession({user: 'x'.repeat(200)}, 1767225600), FLASK_COMPRESSED)
    assert.deepEqual(openSession(FLASK_COMPRESSED, 1767225600 + 60), {user: 'x'.repeat(200)})
    assert.deepEqual(openSession(FLASK_JASON.slice(0, -1) + 'A', 1767225600), {})
    assert.deepEqual(openSession(FLASK_JASON, 1767225600 + 31 * 86400), {user: 'jason'})
    assert.deepEqual(openSession(FLASK_JASON, 1767225600 + 31 * 86400 + 1), {})
  })
})
