/**
 * bookinfo's productpage (Python/Flask in the original): calls details, then reviews, and renders
 * what it got. Its clients time out after 3s; reviews gets a second try (the original's
 * "bug introduced explicitly for illustration in fault injection task"), so a 7s delay on ratings
 * behind reviews v2 makes the page take ~6s and show no reviews. It degrades, never fails.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {BOOKINFO_PORT} from '../topology.js'
import {forwardHeaders, type OutboundClient, parseJson, pathOf, PRODUCTPAGE_HEADERS, sendJson, sendText} from './http.js'
import {type PageModel, PRODUCTS, renderIndexPage, renderProductPage} from './page.js'

/** productpage's per-call client timeout (python-requests `timeout=3.0`). */
export const PRODUCTPAGE_TIMEOUT_MS = 3000

/** Attempts productpage makes at reviews (one retry). */
export const REVIEWS_ATTEMPTS = 2

type Upstream = 'details' | 'reviews' | 'ratings'

const APOLOGY: Record<Upstream, string> = {
  details: 'Sorry, product details are currently unavailable for this book.',
  reviews: 'Sorry, product reviews are currently unavailable for this book.',
  ratings: 'Sorry, product ratings are currently unavailable for this book.',
}

/** An upstream's status and JSON body as productpage uses them. */
export interface UpstreamResult {
  status: number
  body: Record<string, unknown>
}

/** The user the session names: the `user` cookie `/login` sets (the original keeps it in Flask's session). */
export function sessionUser(req: IncomingMessage): string {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=')
    if (k === 'user') return decodeURIComponent(v.join('='))
  }
  return ''
}

/** The headers productpage sends upstream: the propagated ones, and `end-user` from the session. */
export function upstreamHeaders(req: IncomingMessage): Record<string, string> {
  const user = sessionUser(req)
  return {...(user === '' ? {} : {'end-user': user}), ...forwardHeaders(req.headers, PRODUCTPAGE_HEADERS)}
}

/** Calls one upstream `attempts` times at most, the way productpage.py's `getProduct*` functions do. */
export async function callUpstream(outbound: OutboundClient, upstream: Upstream, id: string, headers: Record<string, string>, attempts = 1): Promise<UpstreamResult> {
  let last: {status: number; body: string} | undefined
  for (let i = 0; i < attempts; i++) {
    last = await outbound.get(`http://${upstream}:${BOOKINFO_PORT}/${upstream}/${id}`, headers, PRODUCTPAGE_TIMEOUT_MS)
    if (last !== undefined && last.status === 200) {
      const body = parseJson(last.body)
      if (body !== null && typeof body === 'object' && !Array.isArray(body)) return {status: 200, body: body as Record<string, unknown>}
    }
  }
  const status = last !== undefined && last.status >= 400 ? last.status : 500
  return {status, body: {error: APOLOGY[upstream]}}
}

/** Reads an urlencoded form body (`/login`). */
function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise(resolve => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))))
  })
}

function redirect(res: ServerResponse, location: string, cookie: string): void {
  res.writeHead(302, {location, 'set-cookie': cookie, 'content-length': 0})
  res.end()
}

async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const user = (await readForm(req)).get('username') ?? ''
  redirect(res, req.headers.referer ?? '/productpage', `user=${encodeURIComponent(user)}; Path=/; HttpOnly`)
}

async function productPage(outbound: OutboundClient, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = upstreamHeaders(req)
  const details = await callUpstream(outbound, 'details', '0', headers)
  const reviews = await callUpstream(outbound, 'reviews', '0', headers, REVIEWS_ATTEMPTS)
  const model: PageModel = {user: sessionUser(req), details, reviews}
  sendText(res, 200, renderProductPage(model), 'text/html; charset=utf-8')
}

async function api(outbound: OutboundClient, req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  if (path === '/api/v1/products') {
    sendJson(res, 200, PRODUCTS)
    return true
  }
  const m = /^\/api\/v1\/products\/([^/]+)(?:\/(reviews|ratings))?$/.exec(path)
  if (m === null) return false
  const [, id = '', sub] = m
  const upstream: Upstream = sub === 'reviews' ? 'reviews' : sub === 'ratings' ? 'ratings' : 'details'
  const result = await callUpstream(outbound, upstream, encodeURIComponent(id), upstreamHeaders(req), upstream === 'reviews' ? REVIEWS_ATTEMPTS : 1)
  sendJson(res, result.status, result.body)
  return true
}

/** productpage v1's request handler. */
export function productpageHandler(outbound: OutboundClient): (req: IncomingMessage, res: ServerResponse) => void {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = pathOf(req)
    if (path === '/health') return sendText(res, 200, 'Product page is healthy')
    if (path === '/' || path === '/index.html') return sendText(res, 200, renderIndexPage(), 'text/html; charset=utf-8')
    if (path === '/productpage') return productPage(outbound, req, res)
    if (path === '/login' && req.method === 'POST') return login(req, res)
    if (path === '/logout') return redirect(res, req.headers.referer ?? '/productpage', 'user=; Path=/; Max-Age=0')
    if (await api(outbound, req, res, path)) return
    sendText(res, 404, `404 Not Found: ${path}\n`)
  }
  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, `productpage failed: ${String(err)}\n`)
      else res.destroy()
    })
  }
}
