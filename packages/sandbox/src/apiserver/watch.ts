/**
 * Watch streams: a chunked response of newline-delimited `{"type","object"}` events, as kube-apiserver
 * sends them. Objects are served in the requested version and filtered by selectors the way the
 * watch cache filters them (comparing the object before and after each write): an object that stops
 * matching is reported DELETED, one that starts matching ADDED. Ends after `timeoutSeconds` or when the client goes away.
 */
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {ObjectStore, WatchEvent, WatchFilter} from '../store.js'
import type {StoredObject} from '../types.js'
import {ApiError} from './status.js'

/** How a watch serves and selects objects. */
export interface WatchSpec {
  filter: WatchFilter
  /** Rewrites an object for the wire (its apiVersion, or a one-row Table). */
  serve: (obj: StoredObject) => unknown
  selects: (obj: StoredObject) => boolean
  resourceVersion: string | undefined
  timeoutSeconds: number | undefined
}

/** A real server closes an idle watch after a random 30–60 min; the sandbox stays within an hour too. */
const DEFAULT_TIMEOUT_S = 1800

/** Streams a watch until timeout or disconnect. */
export function streamWatch(req: IncomingMessage, res: ServerResponse, store: ObjectStore, spec: WatchSpec): void {
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Transfer-Encoding': 'chunked',
    'Cache-Control': 'no-cache, private',
  })
  res.flushHeaders()
  const write = (type: string, object: unknown) => {
    if (!res.writableEnded) res.write(`${JSON.stringify({type, object})}\n`)
  }
  const deliver = ({event, previous}: WatchEvent) => {
    const now = event.type !== 'DELETED' && spec.selects(event.object)
    const was =
      event.type === 'DELETED'
        ? spec.selects(previous ?? event.object)
        : previous !== undefined && spec.selects(previous)
    if (event.type === 'ADDED' && now) write('ADDED', spec.serve(event.object))
    else if (event.type === 'DELETED' && was) write('DELETED', spec.serve(event.object))
    else if (event.type === 'MODIFIED' && (now || was))
      write(now && was ? 'MODIFIED' : now ? 'ADDED' : 'DELETED', spec.serve(event.object))
  }
  let watch: ReturnType<ObjectStore['watch']>
  try {
    watch = store.watch(spec.filter, spec.resourceVersion, deliver)
  } catch (err) {
    if (!(err instanceof ApiError)) throw err
    write('ERROR', err.status)
    res.end()
    return
  }
  for (const e of watch.initial) deliver(e)
  const finish = () => {
    clearTimeout(timer)
    watch.stop()
    if (!res.writableEnded) res.end()
  }
  const timer = setTimeout(finish, (spec.timeoutSeconds ?? DEFAULT_TIMEOUT_S) * 1000)
  req.on('close', finish)
  res.on('close', finish)
}
