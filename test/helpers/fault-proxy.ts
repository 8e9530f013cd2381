/**
 * A TCP proxy in front of PostgreSQL that can fail the way networks and servers fail
 * (issue 12 part 1): cut every connection (RST), refuse new ones (nothing listens), or
 * black-hole them (connections open, packets vanish: a partition). Tests point a
 * service's DATABASE_URL at it and turn faults on and off.
 */
import net from 'node:net'
import type { Test } from 'tap'

export type FaultMode = 'pass' | 'blackhole'

export interface FaultProxy {
  readonly port: number
  /** `url` (a postgres:// URL) with its host and port replaced by the proxy's. */
  via(url: string): string
  /** Connections currently open through the proxy. */
  readonly open: number
  /** Resets every open connection, both sides (a server crash, a failed link). */
  cut(): void
  /** Stops listening: new connections are refused until restore(). Open ones stay. */
  refuse(): Promise<void>
  /** Open connections stay open and new ones are accepted, but nothing gets through. */
  blackhole(): void
  /** Back to normal. Connections that lost data in a black hole are reset (they are out of step). */
  restore(): Promise<void>
  close(): Promise<void>
}

interface Pair {
  client: net.Socket
  server: net.Socket
  dropped: boolean
}

export async function startFaultProxy(t: Test, target: { host: string; port: number }): Promise<FaultProxy> {
  const pairs = new Set<Pair>()
  let mode: FaultMode = 'pass'
  let listening = false

  const onConnection = (client: net.Socket) => {
    const upstream = net.connect(target.port, target.host)
    const pair: Pair = { client, server: upstream, dropped: false }
    pairs.add(pair)
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (mode === 'blackhole') {
          pair.dropped = true
          return
        }
        if (!to.destroyed) to.write(chunk)
      })
    }
    forward(client, upstream)
    forward(upstream, client)
    const end = () => {
      pairs.delete(pair)
      if (!client.destroyed) client.destroy()
      if (!upstream.destroyed) upstream.destroy()
    }
    for (const s of [client, upstream]) {
      s.on('error', end)
      s.on('close', end)
    }
  }

  // A new server each time it listens again: a closed one waits for its connections.
  let server: net.Server | undefined
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = net.createServer(onConnection)
      s.once('error', reject)
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject)
        server = s
        listening = true
        const addr = s.address()
        resolve(typeof addr === 'object' && addr !== null ? addr.port : port)
      })
    })
  const stopListening = async () => {
    if (!listening || server === undefined) return
    listening = false
    // Refused from now on; the connections it accepted are not waited for.
    server.close()
    server = undefined
  }

  const port = await listen(0)
  const resetAll = (only?: (p: Pair) => boolean) => {
    for (const p of [...pairs]) {
      if (only !== undefined && !only(p)) continue
      pairs.delete(p)
      p.client.resetAndDestroy()
      p.server.resetAndDestroy()
    }
  }

  const proxy: FaultProxy = {
    port,
    via(url: string) {
      const u = new URL(url)
      u.hostname = '127.0.0.1'
      u.port = String(port)
      return u.toString()
    },
    get open() {
      return pairs.size
    },
    cut() {
      resetAll()
    },
    async refuse() {
      await stopListening()
    },
    blackhole() {
      mode = 'blackhole'
    },
    async restore() {
      mode = 'pass'
      resetAll((p) => p.dropped)
      if (!listening) await listen(port)
    },
    async close() {
      resetAll()
      await stopListening()
    },
  }
  t.teardown(() => proxy.close())
  return proxy
}
