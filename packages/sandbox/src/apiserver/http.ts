/**
 * The HTTP plumbing of the sandbox API server: reading bounded JSON bodies and writing JSON and
 * `Status` answers the way kube-apiserver frames them.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import {ApiError, badRequest, type KubeStatus} from './status.js'

/** kube-apiserver's request body limit (3 MiB). */
const MAX_BODY_BYTES = 3 * 1024 * 1024

/** Reads the whole request body; 413 when it is larger than a real server accepts. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES)
      throw new ApiError(413, 'RequestEntityTooLarge', `the request body is larger than ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** Parses a JSON body; 400 BadRequest when it is not JSON (as the server's decoder reports). */
export function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8')
  if (text.trim() === '') throw badRequest('the request body is empty')
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw badRequest(`error decoding the request body: ${(err as Error).message}`)
  }
}

/** The media type of a Content-Type header, lower-cased and without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/** Writes a JSON answer. */
export function sendJson(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    ...headers,
  })
  res.end(text)
}

/** Writes a Status answer with its own code. */
export function sendStatus(res: ServerResponse, status: KubeStatus): void {
  sendJson(res, status.code, status)
}

/** Whether a boolean query flag is on (`watch=1`, `watch=true`). */
export function flag(query: URLSearchParams, name: string): boolean {
  const v = query.get(name)
  return v === '1' || v === 'true' || v === 'True'
}

/** Kubernetes `Warning` header values (`299 - "unknown field \"spec.x\""`), as admission and decoding emit. */
export function warningHeaders(warnings: string[]): Record<string, string[]> {
  return warnings.length === 0 ? {} : {Warning: warnings.map(w => `299 - ${JSON.stringify(w)}`)}
}

/** The `timeoutSeconds` of a watch: a non-negative integer, or undefined when absent. */
export function timeoutSecondsOf(query: URLSearchParams): number | undefined {
  const v = query.get('timeoutSeconds')
  if (v === null || v === '') return undefined
  if (!/^[0-9]+$/.test(v))
    throw badRequest(`timeoutSeconds: Invalid value: ${JSON.stringify(v)}: must be a non-negative integer`)
  return Number(v)
}
