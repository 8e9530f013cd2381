import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.ts'

/** A request id a client or an upstream proxy may hand us: short, printable, no spaces. */
const acceptableRequestId = /^[A-Za-z0-9._:-]{8,128}$/

export function requestIdFrom(req: IncomingMessage): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && acceptableRequestId.test(given) ? given : randomUUID()
}

export interface BaseAppOptions {
  config: Config
  logger: Logger
  /** Largest body for this app's own routes; defaults to http.bodyLimitBytes. */
  bodyLimit?: number
}

/**
 * A Fastify instance with the project's common settings: one request id end to end
 * (taken from X-Request-Id when well-formed, echoed on every response), the shared
 * logger, body and header limits, trusted proxies from configuration only.
 */
export function createBaseApp(opts: BaseAppOptions): FastifyInstance {
  const { config } = opts
  const app = Fastify({
    // pino's Logger is Fastify's logger; the cast only widens the generic parameter.
    loggerInstance: opts.logger as FastifyBaseLogger,
    genReqId: requestIdFrom,
    // X-Forwarded-* is believed only from configured proxies (SECURITY.md line 17).
    trustProxy: config.http.trustProxy.length > 0 ? [...config.http.trustProxy] : false,
    bodyLimit: opts.bodyLimit ?? config.http.bodyLimitBytes,
    // 64 KB headers get 431 from Node before any of our code runs (SECURITY.md line 20).
    http: { maxHeaderSize: config.http.maxHeaderBytes },
    requestTimeout: config.http.requestTimeoutMs,
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    // During shutdown, new requests on kept-alive sockets get 503 while in-flight ones finish.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 500, ignoreTrailingSlash: false },
  })
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id)
  })
  return app
}
