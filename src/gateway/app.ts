import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.ts'
import type { DatabaseHandle } from '../db/create.ts'
import { createBaseApp } from '../http/app.ts'
import { healthRoutes } from '../http/health.ts'
import { registerPages } from '../http/pages.ts'

export interface GatewayDeps {
  config: Config
  database: DatabaseHandle
  logger: Logger
}

/** The gateway as a Fastify app. It never imports src/idp: it talks to the idp over OIDC. */
export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  const app = createBaseApp({ config: deps.config, logger: deps.logger.child({ service: 'gateway' }) })
  await registerPages(app, { config: deps.config, templateDirs: [] })
  await app.register(healthRoutes, { ping: (ms) => deps.database.ping(ms) })
  app.get('/', async (_req, reply) => reply.type('text/plain; charset=utf-8').send('Satu Pintu gateway'))
  return app
}
