/** The part of spdy-transport 3.0.0 (no published types) that `portforward.ts` uses. */
declare module 'spdy-transport' {
  import type {Duplex} from 'node:stream'

  export interface SpdyStream extends Duplex {
    id: number
    headers: Record<string, string>
    respond(status: number, headers: Record<string, string>, callback?: (err?: Error) => void): void
    abort(code?: string, callback?: () => void): void
  }

  export interface SpdyConnection {
    start(version: number): void
    on(event: 'stream', listener: (stream: SpdyStream) => void): this
    on(event: 'error' | 'close', listener: (err?: Error) => void): this
    end(callback?: () => void): void
    destroyStreams(err?: Error): void
    _spdyState: {
      parser: {
        parseKVs: (body: unknown, callback: (err: Error | null, headers?: Record<string, string>) => void) => void
      }
    }
  }

  export const connection: {
    create(
      socket: Duplex,
      options: {protocol: 'spdy' | 'http2'; isServer: boolean; windowSize?: number},
    ): SpdyConnection
  }
}
