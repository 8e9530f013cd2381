import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'

/** Servers whose process is shutting down: their /readyz answers 503 from now on. */
const draining = new WeakSet<object>()

/**
 * Shutdown, step one: readiness turns 503 while everything else is still served, so a
 * load balancer stops sending before anything is refused (src/server.ts waits
 * http.drainDelayMs, then closes). Keyed by the HTTP server, which every plugin scope of
 * one app shares.
 */
export function beginDraining(server: Server | object): void {
  draining.add(server)
}

export interface HealthOptions {
  /** Resolves when the database answers; rejects (or times out) when it does not. */
  ping: (timeoutMs: number) => Promise<void>
  /** Further readiness checks a service adds (e.g. the idp's signing keys are loaded). */
  checks?: Record<string, () => boolean>
}

const statusSchema = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    checks: { type: 'object', additionalProperties: { type: 'string' } },
  },
  required: ['status'],
} as const

/**
 * `GET /healthz` (liveness: the process answers; no dependency is checked, so a database
 * outage never makes an orchestrator restart healthy processes) and `GET /readyz`
 * (readiness: the database answers now; 503 otherwise, and while shutting down).
 */
export async function healthRoutes(app: FastifyInstance, opts: HealthOptions): Promise<void> {
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers (no dependency is checked)',
        response: { 200: { ...statusSchema, description: '`{"status":"ok"}`' } },
      },
      logLevel: 'warn',
    },
    async () => ({ status: 'ok' }),
  )

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Readiness: the database answers and the service is not shutting down',
        response: {
          200: { ...statusSchema, description: '`status` is `ready`; `checks` names each check (`database`: `up`).' },
          503: {
            ...statusSchema,
            description: '`status` is `unavailable`; `checks` says which is `down` (or `shutdown`: `in progress`).',
          },
        },
      },
      logLevel: 'warn',
    },
    async (_req, reply) => {
      const checks: Record<string, string> = {}
      const stopping = closing || draining.has(app.server)
      let ok = !stopping
      if (stopping) checks.shutdown = 'in progress'
      try {
        await opts.ping(1000)
        checks.database = 'up'
      } catch {
        checks.database = 'down'
        ok = false
      }
      for (const [name, check] of Object.entries(opts.checks ?? {})) {
        const pass = check()
        checks[name] = pass ? 'up' : 'down'
        ok &&= pass
      }
      reply.header('cache-control', 'no-store')
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'unavailable', checks })
    },
  )
}
