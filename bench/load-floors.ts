/**
 * The two floors the builtin driver runs beside in `bench/load-driver.ts` (in its `--child` mode,
 * on the same core): `undiciFloor`, a bare loop of undici `Client.dispatch` calls that records
 * nothing and allocates nothing of its own per request (what any undici-based driver can reach),
 * and `socketFloor`, one prebuilt request written per status line read on raw sockets with no HTTP
 * parsing (what Node's socket layer alone can reach; not a usable client). Each returns the
 * responses it saw over the duration.
 */
import net from 'node:net'

import {Client, type Dispatcher} from 'undici'

/** A VU of the undici floor: its own Client, one handler object reused for every request it sends. */
class FloorVu {
  completed = 0
  private readonly client: Client
  private readonly end: number

  constructor(
    origin: string,
    end: number,
    private readonly request: Dispatcher.DispatchOptions,
    private readonly done: () => void,
  ) {
    this.client = new Client(origin)
    this.end = end
  }

  send(): void {
    if (performance.now() >= this.end) return this.done()
    this.client.dispatch(this.request, this)
  }

  onConnect(): void {}
  onHeaders(): boolean {
    return true
  }
  onData(): boolean {
    return true
  }
  onComplete(): void {
    this.completed++
    this.send()
  }
  onError(): void {
    setImmediate(() => this.send())
  }

  close(): Promise<void> {
    return this.client.destroy()
  }
}

/** undici with nothing on top: one Client per connection, each sending again when a response ends. */
export async function undiciFloor(url: string, connections: number, durationMs: number): Promise<number> {
  const origin = new URL(url).origin
  const end = performance.now() + durationMs
  const request: Dispatcher.DispatchOptions = {origin, path: '/', method: 'GET'}
  let vus: FloorVu[] = []
  await new Promise<void>(resolve => {
    let looping = connections
    const done = () => void (--looping === 0 && resolve())
    vus = Array.from({length: connections}, () => new FloorVu(origin, end, request, done))
    for (const vu of vus) vu.send()
  })
  await Promise.all(vus.map(vu => vu.close()))
  return vus.reduce((n, vu) => n + vu.completed, 0)
}

/** Node's socket layer with no HTTP at all: a prebuilt request written for every status line read. */
export async function socketFloor(url: string, connections: number, durationMs: number): Promise<number> {
  const {hostname, port, host} = new URL(url)
  const request = Buffer.from(`GET / HTTP/1.1\r\nhost: ${host}\r\n\r\n`)
  const end = performance.now() + durationMs
  let completed = 0
  await new Promise<void>(resolve => {
    let open = connections
    for (let i = 0; i < connections; i++) {
      const socket = net.connect(Number(port), hostname, () => socket.write(request)).setNoDelay(true)
      socket.on('data', chunk => {
        for (let at = chunk.indexOf('HTTP/1.1 '); at >= 0; at = chunk.indexOf('HTTP/1.1 ', at + 1)) completed++
        if (performance.now() < end) socket.write(request)
        else socket.destroy()
      })
      socket.on('close', () => --open === 0 && resolve())
    }
  })
  return completed
}
