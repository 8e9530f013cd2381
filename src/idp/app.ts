import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.ts'
import type { DatabaseHandle } from '../db/create.ts'
import { createBaseApp } from '../http/app.ts'
import { healthRoutes } from '../http/health.ts'
import { registerPages } from '../http/pages.ts'

export interface IdpDeps {
  config: Config
  database: DatabaseHandle
  logger: Logger
}

/**
 * The identity provider as a Fastify app. Tests drive it with inject() or a real port;
 * src/server.ts only adds the listener.
 */
export async function buildIdp(deps: IdpDeps): Promise<FastifyInstance> {
  const app = createBaseApp({ config: deps.config, logger: deps.logger.child({ service: 'idp' }) })
  await registerPages(app, { config: deps.config, templateDirs: [] })
  await app.register(healthRoutes, { ping: (ms) => deps.database.ping(ms) })
  app.get('/', async (_req, reply) =>
    reply.type('text/plain; charset=utf-8').send('Satu Pintu identity provider'),
  )
  return app
}
