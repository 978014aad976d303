/** bookinfo's ratings service (Node.js in the original): star ratings per reviewer, in memory. */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {parseJson, pathOf, sendJson} from './http.js'

/** ratings v1: the fixed ratings, plus any a client POSTed (as the original's in-memory version). */
export class RatingsApp {
  private readonly added = new Map<number, Record<string, unknown>>()

  /** The ratings of a product. */
  ratings(id: number): {id: number; ratings: Record<string, unknown>} {
    return {id, ratings: this.added.get(id) ?? {Reviewer1: 5, Reviewer2: 4}}
  }

  /** Request handler: `GET /health`, `GET /ratings/<id>`, `POST /ratings/<id>`. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = pathOf(req)
    if (path === '/health') return sendJson(res, 200, {status: 'Ratings is healthy'})
    const match = /^\/ratings\/(.*)$/.exec(path)
    if (match === null) return sendJson(res, 404, {error: `no route for ${req.method ?? 'GET'} ${path}`})
    const id = /^\d+$/.test(match[1] ?? '') ? Number(match[1]) : Number.NaN
    if (Number.isNaN(id)) return sendJson(res, 400, {error: 'please provide numeric product ID'})
    if (req.method === 'POST') return this.post(req, res, id)
    sendJson(res, 200, this.ratings(id))
  }

  private post(req: IncomingMessage, res: ServerResponse, id: number): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = parseJson(Buffer.concat(chunks).toString('utf8'))
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        return sendJson(res, 400, {error: 'please provide valid ratings JSON'})
      }
      this.added.set(id, body as Record<string, unknown>)
      sendJson(res, 200, this.ratings(id))
    })
  }
}
