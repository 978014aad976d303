/**
 * productpage's login session as the real app keeps it: Flask's default signed cookie `session`
 * (istio/istio 1.30.3 `samples/bookinfo/src/productpage/productpage.py`: `session['user'] = user`,
 * `app.secret_key`; its requirements.txt pins flask 3.1.0, itsdangerous 2.2.0, werkzeug 3.1.3).
 *
 * Flask 3.1.0 `src/flask/sessions.py` SecureCookieSessionInterface: an itsdangerous
 * URLSafeTimedSerializer with salt `cookie-session`, SHA-1, key derivation `hmac`, compact JSON,
 * cookie `session` (HttpOnly, Path=/), read back with `max_age` = PERMANENT_SESSION_LIFETIME (31
 * days); a cookie that does not verify is an empty session. itsdangerous 2.2.0 `signer.py`
 * (derive_key `hmac`: HMAC(secret, salt); signature HMAC(derived, value), base64url without `=`),
 * `timed.py` (value.timestamp.signature, timestamp = big-endian bytes without leading zeros;
 * age > max_age or < 0 → expired), `url_safe.py` (payload zlib-compressed and `.`-prefixed when
 * that is shorter). So a client that only sends `end-user: jason` is NOT jason to productpage; a
 * `session` cookie from POST /login (or one signed with the sample's public key) is.
 */
import {createHmac, timingSafeEqual} from 'node:crypto'
import {deflateSync, inflateSync} from 'node:zlib'

/** productpage.py's `app.secret_key = b'_5#y2L"F4Q8z\n\xec]/'`. */
const SECRET_KEY = Buffer.concat([
  Buffer.from('_5#y2L"F4Q8z\n', 'latin1'),
  Buffer.from([0xec]),
  Buffer.from(']/', 'latin1'),
])

/** Flask's session cookie name (SESSION_COOKIE_NAME). */
export const SESSION_COOKIE = 'session'

/** PERMANENT_SESSION_LIFETIME, 31 days, in seconds. */
const MAX_AGE_S = 31 * 24 * 3600

const DERIVED_KEY = createHmac('sha1', SECRET_KEY).update('cookie-session').digest()

const b64 = (buf: Buffer): string => buf.toString('base64url')

function signature(value: string): string {
  return b64(createHmac('sha1', DERIVED_KEY).update(value).digest())
}

function intToBytes(n: number): Buffer {
  const out: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v % 256)
  return Buffer.from(out)
}

/** The cookie value Flask sets for `session = data`, signed at `nowS` (seconds). */
export function signSession(data: Record<string, unknown>, nowS = Math.floor(Date.now() / 1000)): string {
  const json = Buffer.from(JSON.stringify(data))
  const compressed = deflateSync(json)
  const payload = compressed.length < json.length - 1 ? '.' + b64(compressed) : b64(json)
  const value = `${payload}.${b64(intToBytes(nowS))}`
  return `${value}.${signature(value)}`
}

/** The session a cookie value carries, or `{}` when it does not verify or has expired (Flask's open_session). */
export function openSession(cookie: string | undefined, nowS = Math.floor(Date.now() / 1000)): Record<string, unknown> {
  if (cookie === undefined || cookie === '') return {}
  const sigAt = cookie.lastIndexOf('.')
  if (sigAt <= 0) return {}
  const value = cookie.slice(0, sigAt)
  const given = Buffer.from(cookie.slice(sigAt + 1), 'base64url')
  const expected = Buffer.from(signature(value), 'base64url')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return {}
  const tsAt = value.lastIndexOf('.')
  if (tsAt <= 0) return {}
  const ts = Buffer.from(value.slice(tsAt + 1), 'base64url').reduce((acc, b) => acc * 256 + b, 0)
  const age = nowS - ts
  if (age > MAX_AGE_S || age < 0) return {}
  let payload = value.slice(0, tsAt)
  try {
    const compressed = payload.startsWith('.')
    if (compressed) payload = payload.slice(1)
    const raw = Buffer.from(payload, 'base64url')
    const data = JSON.parse((compressed ? inflateSync(raw) : raw).toString('utf8')) as unknown
    return data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** The value of one cookie in a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
