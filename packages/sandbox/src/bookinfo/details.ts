/** bookinfo's details service (Ruby in the original): the book's bibliographic facts as JSON. */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {pathOf, sendJson} from './http.js'

/** The details of a book, as details v1 answers without the external book service. */
export function bookDetails(id: number): Record<string, unknown> {
  return {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
  }
}

/** details v1's request handler: `GET /health`, `GET /details/<id>`. */
export function detailsHandler(req: IncomingMessage, res: ServerResponse): void {
  const path = pathOf(req)
  if (path === '/health') return sendJson(res, 200, {status: 'Details is healthy'})
  if (path === '/details' || path.startsWith('/details/')) {
    const id = /^\/details\/(-?\d+)$/.exec(path)?.[1]
    if (id === undefined) return sendJson(res, 400, {error: 'please provide numeric product id'})
    return sendJson(res, 200, bookDetails(Number(id)))
  }
  sendJson(res, 404, {error: `no route for ${req.method ?? 'GET'} ${path}`})
}
