import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import proxyAddr from 'proxy-addr'
import type { Config } from '../config/schema.ts'
import { errorCodes } from '../errors/codes.ts'
import { useLazyRequestLoggers } from './request-loggers.ts'

/**
 * A request id a trusted proxy may hand us: short, printable, no spaces. Kept only as a
 * separate log field (`callerRequestId`), never as our own id.
 */
const acceptableCallerRequestId = /^[A-Za-z0-9._:-]{8,128}$/

/**
 * Our own request id: always generated. A client-chosen X-Request-Id would otherwise name
 * the request in our logs, in the citizen's audit trail and in what the gateway forwards
 * to agencies, so a caller could make two requests share an id or forge one that points
 * at another citizen's trail (OWASP Logging cheat sheet: never trust client data in logs).
 */
export function newRequestId(): string {
  return randomUUID()
}

/**
 * The X-Request-Id a trusted proxy (http.trustProxy) sent, for correlating our logs with
 * its own; undefined from anyone else, or when it is not a short printable token.
 */
export function callerRequestIdFrom(
  req: IncomingMessage,
  trusted: ((addr: string, i: number) => boolean) | undefined,
): string | undefined {
  if (trusted === undefined || !trusted(req.socket?.remoteAddress ?? '', 0)) return undefined
  const given = req.headers['x-request-id']
  return typeof given === 'string' && acceptableCallerRequestId.test(given) ? given : undefined
}

export interface BaseAppOptions {
  config: Config
  logger: Logger
  /** Largest body for this app's own routes; defaults to http.bodyLimitBytes. */
  bodyLimit?: number
  /**
   * Total time a route marked `config: { longBody: true }` (a document upload from a phone
   * on a poor connection) may take to receive its body. Such a body must keep moving:
   * a pause longer than http.requestTimeoutMs between chunks ends it. Every other route
   * keeps http.requestTimeoutMs for its whole body.
   */
  longBodyMs?: number
  /**
   * Maps a request's URL before routing (Fastify's rewriteUrl): the gateway routes each
   * agency's own host into that agency's routes (src/gateway/sites.ts).
   */
  rewriteUrl?: (req: IncomingMessage) => string
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body may take up to BaseAppOptions.longBodyMs, as long as it keeps moving. */
    longBody?: boolean
  }
}

/**
 * A Fastify instance with the project's common settings: one request id end to end
 * (always generated here, echoed on every response; a trusted proxy's X-Request-Id is
 * only logged beside it as `callerRequestId`), the shared
 * logger, body and header limits, trusted proxies from configuration only.
 */
export function createBaseApp(opts: BaseAppOptions): FastifyInstance {
  const { config } = opts
  const trusted = config.http.trustProxy.length > 0 ? proxyAddr.compile([...config.http.trustProxy]) : undefined
  const app = Fastify({
    // pino's Logger is Fastify's logger; the cast only widens the generic parameter.
    loggerInstance: opts.logger as FastifyBaseLogger,
    genReqId: newRequestId,
    // X-Forwarded-* is believed only from configured proxies (docs/security.md line 17).
    trustProxy: config.http.trustProxy.length > 0 ? [...config.http.trustProxy] : false,
    bodyLimit: opts.bodyLimit ?? config.http.bodyLimitBytes,
    // 64 KB headers get 431 from Node before any of our code runs (docs/security.md line 20).
    // Headers that trickle in (slowloris) are cut at headersTimeout: Node checks its
    // timeouts every connectionsCheckingInterval (30 s by default, which let 20 such
    // connections live for 38 s and more); once a second bounds them closely.
    http: {
      maxHeaderSize: config.http.maxHeaderBytes,
      headersTimeout: Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs),
      connectionsCheckingInterval: Math.min(1000, config.http.headersTimeoutMs, config.http.requestTimeoutMs),
    },
    // Node's own bound, for every request: the longest any route allows (below, the hook
    // holds every other route to http.requestTimeoutMs).
    requestTimeout: Math.max(config.http.requestTimeoutMs, opts.longBodyMs ?? 0),
    keepAliveTimeout: config.http.keepAliveTimeoutMs,
    // During shutdown, new requests on kept-alive sockets get 503 while in-flight ones finish.
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 500, ignoreTrailingSlash: false },
    ...(opts.rewriteUrl !== undefined ? { rewriteUrl: opts.rewriteUrl } : {}),
  })
  // Before any route: each route takes the factory in force when it is registered.
  useLazyRequestLoggers(app, (raw) => {
    const caller = callerRequestIdFrom(raw, trusted)
    return caller === undefined ? undefined : { callerRequestId: caller }
  })
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id)
  })
  if (opts.longBodyMs !== undefined && opts.longBodyMs > config.http.requestTimeoutMs) {
    app.addHook('onRequest', bodyDeadline(config.http.requestTimeoutMs, opts.longBodyMs))
  }
  return app
}

/**
 * What Node's requestTimeout does, per route: a body not received within `limitMs` gets
 * 408 and the connection is closed. A `longBody` route has `longMs` in all, and `limitMs`
 * for each pause. (Node's own check, raised to `longMs`, runs only every 30 s.)
 */
function bodyDeadline(limitMs: number, longMs: number) {
  return (req: FastifyRequest, reply: FastifyReply, done: () => void): void => {
    const raw = req.raw
    if (raw.complete) {
      done()
      return
    }
    const perPause = req.routeOptions.config.longBody === true
    const expire = () => {
      if (raw.complete) return
      req.log.info({ route: req.routeOptions.url, perPause }, 'request body too slow: 408')
      // Nothing more is read from this client (Node does the same on its own timeout). The
      // request stream ends in an error, so whatever reads it (a document upload) unwinds
      // and removes what it had written.
      const abort = () => {
        if (!raw.destroyed)
          raw.destroy(Object.assign(new Error('request body too slow'), { code: 'ERR_REQUEST_TIMEOUT' }))
      }
      if (reply.raw.headersSent) return abort()
      const body = JSON.stringify({
        error: 'request_timeout',
        message: errorCodes.request_timeout.message,
        request_id: req.id,
      })
      reply.raw.writeHead(408, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-request-id': req.id,
        connection: 'close',
      })
      reply.raw.end(body, abort)
    }
    let timer = setTimeout(expire, limitMs)
    const total = perPause ? setTimeout(expire, longMs) : undefined
    const clear = () => {
      clearTimeout(timer)
      clearTimeout(total)
    }
    if (perPause) {
      raw.on('data', () => {
        clearTimeout(timer)
        timer = setTimeout(expire, limitMs)
      })
    }
    raw.once('end', clear)
    raw.once('close', clear)
    reply.raw.once('close', clear)
    done()
  }
}
