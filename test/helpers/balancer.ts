/**
 * A round-robin TCP load balancer for multi-instance tests: each new client connection
 * goes to the next backend, as a layer-4 balancer (HAProxy `mode tcp`, a cloud network
 * load balancer) would send it. A backend that refuses the connection is skipped for
 * that connection, the way a balancer's health check would take it out; nothing of HTTP
 * is read or changed.
 */
import net from 'node:net'
import { listenOnAnyPort } from './process.ts'

export interface Balancer {
  readonly port: number
  /** Connections handed to each backend so far, by index. */
  readonly connections: number[]
  close(): Promise<void>
}

export async function startBalancer(backends: readonly number[]): Promise<Balancer> {
  let next = 0
  const connections = backends.map(() => 0)
  const open = new Set<net.Socket>()
  const server = net.createServer((client) => {
    open.add(client)
    client.on('close', () => open.delete(client))
    client.on('error', () => client.destroy())
    client.pause()
    // The next backend in turn for this connection, then the ones after it.
    const first = next++
    const tryBackend = (attempt: number): void => {
      if (attempt >= backends.length) {
        client.destroy()
        return
      }
      const index = (first + attempt) % backends.length
      const upstream = net.connect(backends[index] as number, '127.0.0.1')
      let connected = false
      upstream.once('connect', () => {
        connected = true
        connections[index] = (connections[index] ?? 0) + 1
        open.add(upstream)
        upstream.on('close', () => {
          open.delete(upstream)
          client.destroy()
        })
        upstream.on('error', () => upstream.destroy())
        client.on('close', () => upstream.destroy())
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
      upstream.once('error', (err: NodeJS.ErrnoException) => {
        if (!connected && err.code === 'ECONNREFUSED') tryBackend(attempt + 1)
        else client.destroy()
      })
    }
    tryBackend(0)
  })
  const port = await listenOnAnyPort(server)
  return {
    port,
    connections,
    async close() {
      for (const s of open) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
