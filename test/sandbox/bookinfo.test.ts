import assert from 'node:assert/strict'

import {forwardHeaders} from '../../src/sandbox/bookinfo/http.js'
import {ratingsTimeoutMs} from '../../src/sandbox/bookinfo/reviews.js'
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
      id: 0, author: 'William Shakespeare', year: 1595, type: 'paperback', pages: 200, publisher: 'PublisherA',
      language: 'English', 'ISBN-10': '1234567890', 'ISBN-13': '123-1234567890',
    })
    assert.equal((await mesh.get('details', '/details/abc')).status, 400)
    assert.equal((await mesh.get('details', '/health')).status, 200)
  })

  it('ratings answers the two reviewers\' stars', async () => {
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
    for (const [version, color] of [['v2', 'black'], ['v3', 'red']]) {
      mesh.only.set('reviews', [version!])
      const body = JSON.parse((await mesh.get('productpage', '/api/v1/products/0/reviews')).body)
      assert.deepEqual(body.reviews.map((r: {rating: unknown}) => r.rating), [{stars: 5, color}, {stars: 4, color}])
    }
    assert.deepEqual(mesh.calls.filter(c => c.service === 'ratings').map(c => c.path), ['/ratings/0', '/ratings/0'])
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

  it('propagates tracing, end-user, user-agent and x-chaos-* headers productpage → reviews → ratings', async () => {
    mesh.only.set('reviews', ['v2'])
    const sent = {'x-request-id': 'req-1', 'x-b3-traceid': 'abc', traceparent: '00-1-2-01', 'end-user': 'jason', 'user-agent': 'k6/2', 'x-chaos-test': 'true', 'x-unrelated': 'no'}
    await mesh.get('productpage', '/productpage', sent)
    const ratingsCall = mesh.calls.find(c => c.service === 'ratings')
    assert.ok(ratingsCall)
    for (const [k, v] of Object.entries(sent)) assert.equal(ratingsCall.headers[k], k === 'x-unrelated' ? undefined : v, k)
    const detailsCall = mesh.calls.find(c => c.service === 'details')
    assert.equal(detailsCall?.headers['x-chaos-test'], 'true')
  })

  it('takes end-user from the session cookie /login sets, as the real productpage does', async () => {
    const pod = mesh.bookinfo.pods.find(p => p.workload.app === 'productpage')!
    const login = await fetch(`http://127.0.0.1:${pod.appPort}/login`, {method: 'POST', body: 'username=jason', headers: {'content-type': 'application/x-www-form-urlencoded'}, redirect: 'manual'})
    assert.equal(login.status, 302)
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!
    mesh.only.set('reviews', ['v3'])
    const page = await mesh.get('productpage', '/productpage', {cookie})
    assert.match(page.body, /signed in as <b>jason<\/b>/)
    assert.equal(mesh.calls.find(c => c.service === 'ratings')?.headers['end-user'], 'jason')
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
    mesh.fault = call => (call.service === 'ratings' && call.headers['end-user'] === 'jason' ? {delayMs: 7000} : undefined)
    const page = await mesh.get('productpage', '/productpage', {'end-user': 'jason'})
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
  it('copies only the named headers and every x-chaos-* header, joining repeated ones', () => {
    const out = forwardHeaders({'x-request-id': 'a', 'x-chaos-run': 'r1', cookie: 'c', 'x-other': 'o', 'x-b3-sampled': ['1', '0']}, ['x-request-id', 'x-b3-sampled', 'b3'])
    assert.deepEqual(out, {'x-request-id': 'a', 'x-b3-sampled': '1, 0', 'x-chaos-run': 'r1'})
  })
})
