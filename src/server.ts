import type { FastifyInstance } from 'fastify'
import { beginDraining } from './http/health.ts'

export interface Listening {
  readonly name: string
  readonly url: string
  /** Shutdown, step one: /readyz answers 503 while everything else is still served. */
  drain(): void
  /** Stops accepting, lets in-flight requests finish (at most `timeoutMs`), then closes. */
  close(timeoutMs: number): Promise<void>
}

/**
 * Adds the listener to an app built by a factory. Nothing else about the app is decided
 * here (fastify/demo's split between app.ts and server.ts).
 */
export async function listen(name: string, app: FastifyInstance, host: string, port: number): Promise<Listening> {
  await app.listen({ host, port, listenTextResolver: () => '' })
  const addr = app.server.address()
  const actualPort = typeof addr === 'object' && addr !== null ? addr.port : port
  const shownHost = host === '0.0.0.0' || host === '::' || host === '127.0.0.1' ? 'localhost' : host
  return {
    name,
    url: `http://${shownHost}:${actualPort}`,
    drain() {
      beginDraining(app.server)
    },
    async close(timeoutMs: number) {
      let timer: NodeJS.Timeout | undefined
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          // In-flight requests had their time: cut what is left so the process can exit.
          app.server.closeAllConnections()
          resolve()
        }, timeoutMs)
        timer.unref()
      })
      try {
        await Promise.race([app.close(), deadline])
      } finally {
        clearTimeout(timer)
      }
    },
  }
}
