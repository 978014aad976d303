/**
 * bookinfo's productpage (Python/Flask in the original): calls details, then reviews, and renders
 * what it got. Its clients time out after 3s; reviews gets a second try (the original's
 * "bug introduced explicitly for illustration in fault injection task"), so a 7s delay on ratings
 * behind reviews v2 makes the page take ~6s and show no reviews. It degrades, never fails.
 */
import type {IncomingHttpHeaders, IncomingMessage, ServerResponse} from 'node:http'

import {BOOKINFO_PORT} from '../topology.js'
import {
  forwardHeaders,
  type OutboundClient,
  parseJson,
  pathOf,
  PRODUCTPAGE_HEADERS,
  type Propagation,
  sendJson,
  sendText,
  withPropagation,
} from './http.js'
import {type PageModel, PRODUCTS, renderIndexPage, renderProductPage} from './page.js'
import {cookieValue, openSession, SESSION_COOKIE, signSession} from './session.js'

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

/**
 * The user productpage's session names: `session['user']` from Flask's signed `session` cookie
 * (./session.ts), `''` when there is none or it does not verify. An `end-user` request header is
 * never read (productpage.py `front`: `user = session.get('user', '')`).
 */
export function sessionUser(req: IncomingMessage): string {
  const user = openSession(cookieValue(req.headers.cookie, SESSION_COOKIE))['user']
  return typeof user === 'string' ? user : ''
}

/** python-requests' default `User-Agent` (psf/requests v2.32.3 `utils.default_user_agent`; productpage pins requests 2.32.3). */
export const REQUESTS_USER_AGENT = 'python-requests/2.32.3'

const B3_TRACE_ID = /^(?:[\da-fA-F]{16}|[\da-fA-F]{32})$/
const B3_SPAN_ID = /^[\da-fA-F]{16}$/
const B3_SAMPLED = new Set(['1', 'True', 'true', 'd'])

/**
 * productpage's B3 handling: `B3MultiFormat().extract` of the incoming headers, then `inject`
 * (open-telemetry/opentelemetry-python v1.32.1 `propagator/opentelemetry-propagator-b3`; productpage
 * pins opentelemetry-propagator-b3 1.32.1). The single `b3` header wins over `x-b3-*`; the ids must
 * be 16 or 32 hex (trace) and 16 hex (span), else nothing is injected; what goes out is
 * `x-b3-traceid` (32 hex, lower case), `x-b3-spanid` and `x-b3-sampled` (`1`/`0`) — never
 * `x-b3-parentspanid`, `x-b3-flags` or `b3`.
 */
export function b3Headers(incoming: IncomingHttpHeaders): Record<string, string> {
  const first = (name: string): string | undefined => {
    const v = incoming[name]
    return Array.isArray(v) ? v.join(', ') : v
  }
  let traceId: string | undefined
  let spanId: string | undefined
  let sampled = '0'
  let flags: string | undefined
  const single = first('b3')
  if (single !== undefined && single !== '') {
    sampled = '1'
    // Python's `single_header.split("-", 4)` and its unpacking of 1 to 4 fields (5 fields: no context).
    const parts = single.split('-')
    const fields = parts.length > 5 ? [...parts.slice(0, 4), parts.slice(4).join('-')] : parts
    if (fields.length === 1) sampled = fields[0] as string
    else if (fields.length <= 4) {
      ;[traceId, spanId] = fields
      if (fields.length >= 3) sampled = fields[2] as string
    }
  } else {
    traceId = first('x-b3-traceid') || undefined
    spanId = first('x-b3-spanid') || undefined
    sampled = first('x-b3-sampled') || sampled
    flags = first('x-b3-flags') || undefined
  }
  if (traceId === undefined || spanId === undefined || !B3_TRACE_ID.test(traceId) || !B3_SPAN_ID.test(spanId)) return {}
  return {
    'x-b3-traceid': traceId.toLowerCase().padStart(32, '0'),
    'x-b3-spanid': spanId.toLowerCase(),
    'x-b3-sampled': B3_SAMPLED.has(sampled) || flags === '1' ? '1' : '0',
  }
}

/**
 * The headers productpage sends upstream, as `getForwardHeaders` builds them: B3 re-injected,
 * `end-user` from the session, then the `incoming_headers` list (an incoming `end-user` is dropped);
 * python-requests adds its own `User-Agent` when none was forwarded. `propagate` adds what
 * OpenTelemetry-instrumented apps would forward (`--propagate baggage`).
 */
export function upstreamHeaders(req: IncomingMessage, propagate: readonly Propagation[] = []): Record<string, string> {
  const user = sessionUser(req)
  return {
    'user-agent': REQUESTS_USER_AGENT,
    ...b3Headers(req.headers),
    ...(user === '' ? {} : {'end-user': user}),
    ...forwardHeaders(req.headers, withPropagation(PRODUCTPAGE_HEADERS, propagate)),
  }
}

/** Calls one upstream `attempts` times at most, the way productpage.py's `getProduct*` functions do. */
export async function callUpstream(
  outbound: OutboundClient,
  upstream: Upstream,
  id: string,
  headers: Record<string, string>,
  attempts = 1,
): Promise<UpstreamResult> {
  let last: {status: number; body: string} | undefined
  for (let i = 0; i < attempts; i++) {
    last = await outbound.get(`http://${upstream}:${BOOKINFO_PORT}/${upstream}/${id}`, headers, PRODUCTPAGE_TIMEOUT_MS)
    if (last !== undefined && last.status === 200) {
      const body = parseJson(last.body)
      if (body !== null && typeof body === 'object' && !Array.isArray(body))
        return {status: 200, body: body as Record<string, unknown>}
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

/**
 * Flask's `redirect(request.referrer)` (werkzeug 3.1.3 `utils.redirect`): 302 to the Referer; with
 * none, werkzeug writes `Location: None` (the header value is `str(None)`), as the real app does.
 */
function redirect(req: IncomingMessage, res: ServerResponse, setCookie: string | undefined): void {
  const location = req.headers.referer ?? 'None'
  const body = `<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n<p>You should be redirected automatically to the target URL: <a href="${escapeHtml(location)}">${escapeHtml(location)}</a>. If not, click the link.\n`
  res.writeHead(302, {
    location,
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(setCookie === undefined ? {} : {'set-cookie': setCookie}),
  })
  res.end(body)
}

function escapeHtml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&#34;')
    .replace(/'/g, '&#39;')
}

/**
 * Flask 3.1.0 (bookinfo's requirements.txt) adds `Vary: Cookie` to every response whose request read
 * or wrote the session (`SecureCookieSessionInterface.save_session`: `if session.accessed`), so a
 * cache keys productpage's pages by the user. `session.get`, `session[...]` and a change mark it
 * accessed; `'user' in session` does not (SecureCookieSession overrides only `__getitem__`, `get`
 * and `setdefault`; werkzeug's `pop` counts as a change only when the key was there).
 */
function varyCookie(res: ServerResponse): void {
  res.setHeader('vary', 'Cookie')
}

/** POST /login: `session['user'] = request.values.get('username')`, then back to the Referer. */
async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
  varyCookie(res)
  const form = await readForm(req)
  const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '')
  const user = query.get('username') ?? form.get('username')
  redirect(req, res, `${SESSION_COOKIE}=${signSession({user})}; HttpOnly; Path=/`)
}

/** GET /logout: `session.pop('user')`; Flask deletes the cookie only when the session had a user. */
function logout(req: IncomingMessage, res: ServerResponse): void {
  const had = 'user' in openSession(cookieValue(req.headers.cookie, SESSION_COOKIE))
  if (had) varyCookie(res)
  redirect(
    req,
    res,
    had ? `${SESSION_COOKIE}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/` : undefined,
  )
}

async function productPage(
  outbound: OutboundClient,
  propagate: readonly Propagation[],
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const headers = upstreamHeaders(req, propagate)
  const details = await callUpstream(outbound, 'details', '0', headers)
  const reviews = await callUpstream(outbound, 'reviews', '0', headers, REVIEWS_ATTEMPTS)
  const model: PageModel = {user: sessionUser(req), details, reviews}
  // `front`: `user = session.get('user', '')` reads the session whoever asks.
  varyCookie(res)
  sendText(res, 200, renderProductPage(model), 'text/html; charset=utf-8')
}

async function api(
  outbound: OutboundClient,
  propagate: readonly Propagation[],
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  if (path === '/api/v1/products') {
    sendJson(res, 200, PRODUCTS)
    return true
  }
  const m = /^\/api\/v1\/products\/([^/]+)(?:\/(reviews|ratings))?$/.exec(path)
  if (m === null) return false
  const [, id = '', sub] = m
  const upstream: Upstream = sub === 'reviews' ? 'reviews' : sub === 'ratings' ? 'ratings' : 'details'
  const result = await callUpstream(
    outbound,
    upstream,
    encodeURIComponent(id),
    upstreamHeaders(req, propagate),
    upstream === 'reviews' ? REVIEWS_ATTEMPTS : 1,
  )
  // getForwardHeaders reads `session['user']` only when `'user' in session`.
  if ('user' in openSession(cookieValue(req.headers.cookie, SESSION_COOKIE))) varyCookie(res)
  sendJson(res, result.status, result.body)
  return true
}

/** productpage v1's request handler. */
export function productpageHandler(
  outbound: OutboundClient,
  propagate: readonly Propagation[] = [],
): (req: IncomingMessage, res: ServerResponse) => void {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = pathOf(req)
    if (path === '/health') return sendText(res, 200, 'Product page is healthy')
    if (path === '/' || path === '/index.html') return sendText(res, 200, renderIndexPage(), 'text/html; charset=utf-8')
    if (path === '/productpage') return productPage(outbound, propagate, req, res)
    if (path === '/login' && req.method === 'POST') return login(req, res)
    if (path === '/logout' && (req.method === 'GET' || req.method === 'HEAD')) return logout(req, res)
    if (await api(outbound, propagate, req, res, path)) return
    sendText(res, 404, `404 Not Found: ${path}\n`)
  }
  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendText(res, 500, `productpage failed: ${String(err)}\n`)
      else res.destroy()
    })
  }
}
