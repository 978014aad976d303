/**
 * bookinfo's reviews service (Java in the original). v1 shows no ratings; v2 (black stars) and v3
 * (red stars) call ratings. The original's ratings client timeout is 10s for black stars and 2.5s
 * for red ones — the 10s one is the "classic delay bug" the Istio fault-injection task finds.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {BOOKINFO_PORT} from '../topology.js'
import {
  forwardHeaders,
  type OutboundClient,
  parseJson,
  pathOf,
  type Propagation,
  REVIEWS_HEADERS,
  sendJson,
  withPropagation,
} from './http.js'

/** Which variant of reviews a pod runs. */
export type ReviewsVersion = 'v1' | 'v2' | 'v3'

/** What one reviews pod needs to know. */
export interface ReviewsOptions {
  version: ReviewsVersion
  podName: string
  outbound: OutboundClient
  /** Extra propagation modelled (`--propagate baggage`); the real app forwards `headers_to_propagate` only. */
  propagate?: readonly Propagation[]
}

/** Star colour per version (`STAR_COLOR`); v1 has ratings disabled. */
const STAR_COLOR: Record<ReviewsVersion, string | undefined> = {v1: undefined, v2: 'black', v3: 'red'}

/** The ratings call's timeout, as in the original: 10s for black stars, 2.5s otherwise. */
export function ratingsTimeoutMs(version: ReviewsVersion): number {
  return STAR_COLOR[version] === 'black' ? 10_000 : 2_500
}

const REVIEW_TEXT = {
  Reviewer1: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!',
  Reviewer2:
    'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.',
} as const

/** The stars each reviewer gave, or `undefined` when ratings did not answer usefully. */
async function fetchStars(
  opts: ReviewsOptions,
  id: number,
  req: IncomingMessage,
): Promise<Record<string, number> | undefined> {
  const headers = {
    ...forwardHeaders(req.headers, withPropagation(REVIEWS_HEADERS, opts.propagate ?? [])),
    accept: 'application/json',
  }
  const answer = await opts.outbound.get(
    `http://ratings:${BOOKINFO_PORT}/ratings/${id}`,
    headers,
    ratingsTimeoutMs(opts.version),
  )
  if (answer === undefined || answer.status !== 200) return undefined
  const body = parseJson(answer.body) as {ratings?: Record<string, unknown>} | undefined
  const stars: Record<string, number> = {}
  for (const [reviewer, value] of Object.entries(body?.ratings ?? {}))
    if (typeof value === 'number') stars[reviewer] = value
  return stars
}

/** The JSON reviews answers for a product. */
export function reviewsBody(
  opts: Pick<ReviewsOptions, 'version' | 'podName'>,
  id: number,
  stars: Record<string, number> | undefined,
): unknown {
  const color = STAR_COLOR[opts.version]
  const reviews = Object.entries(REVIEW_TEXT).map(([reviewer, text]) => {
    if (color === undefined) return {reviewer, text}
    const given = stars?.[reviewer]
    const rating = given === undefined ? {error: 'Ratings service is currently unavailable'} : {stars: given, color}
    return {reviewer, text, rating}
  })
  return {id: String(id), podname: opts.podName, reviews}
}

/** A reviews pod's request handler: `GET /health`, `GET /reviews/<id>`. */
export function reviewsHandler(opts: ReviewsOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = pathOf(req)
    if (path === '/health') return sendJson(res, 200, {status: 'Reviews is healthy'})
    const id = /^\/reviews\/(-?\d+)$/.exec(path)?.[1]
    if (id === undefined || req.method !== 'GET')
      return sendJson(res, 404, {error: `no route for ${req.method ?? 'GET'} ${path}`})
    const starsPromise =
      STAR_COLOR[opts.version] === undefined ? Promise.resolve(undefined) : fetchStars(opts, Number(id), req)
    void starsPromise.then(stars => sendJson(res, 200, reviewsBody(opts, Number(id), stars)))
  }
}
