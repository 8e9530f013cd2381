import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'

export interface DemoAgencyOptions {
  logger: Logger
}

/**
 * A stand-in for an agency's existing backend, which the gateway fronts. It is written as
 * an agency would write it: it depends on nothing of Satu Pintu's code.
 */
export async function buildDemoAgency(opts: DemoAgencyOptions): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: opts.logger.child({ service: 'demo-agency' }) as FastifyBaseLogger })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async () => ({ status: 'ready' }))
  app.get('/', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('Demo agency backend'))
  return app
}
