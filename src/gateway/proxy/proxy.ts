import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import replyFrom, { type FastifyReplyFromOptions } from '@fastify/reply-from'
import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify'
import type { Logger } from 'pino'
import { Pool, type Dispatcher } from 'undici'
import type { Config } from '../../config/schema.ts'
import { AppError } from '../../errors/app-error.ts'
import type { Agency, AgencyTable, Service } from '../agencies.ts'
import type { AssertionSigner, GatewayAuth, Requirement } from '../contracts.ts'
import {
  identityHeaderValues,
  noIdentity,
  rewriteResponseHeaders,
  upstreamRequestHeaders,
  type RedirectGuard,
  type ResponseRewrite,
} from './headers.ts'
import { acrLevel, asItStands, channelOf, identityRank, meets, type Channel, type Identity } from '../auth/identity.ts'
import { caseFolded, checkTarget, upstreamPathFor, type ProxyTarget } from './paths.ts'
import type { Sites } from '../sites.ts'

/**
 * The agency routes: `${prefix}` and `${prefix}/*` of every agency, forwarded to the
 * agency's fixed upstream with @fastify/reply-from on undici (issue 4, "What the agency
 * receives"; docs/security.md lines 14–22).
 *
 * Per request, in order (each a small named step):
 *  1. checkPath (onRequest): the request-target is checked (paths.ts) — refused paths are
 *     400 before anything else happens — and matched to the agency's service; a body
 *     announced larger than the service allows is 413 here, before it is read.
 *  2. streamBody (content-type parser): the body is passed on as a stream, counted, and
 *     cut at the service's limit (413); nothing is buffered whole.
 *  3. policy (handler): `public` forwards with empty identity headers; `signed_in` asks
 *     auth.identify and, when that is not enough, answers with auth.challenge.
 *  4. forward: the assertion is signed (cached), headers are rebuilt (headers.ts), and the
 *     request goes to the agency's own connection pool with the service's timeout.
 *  5. answer: status, headers (rewritten) and body are streamed back; a failure becomes
 *     502 / 504 as a page or JSON with the request id and no internal host names.
 *
 * Decisions:
 *  - Public services receive no identity (headers written empty) even from a signed-in
 *    citizen: a citizen's data goes to an agency only where its service needs sign-in
 *    (UU PDP purpose limitation), and a public page costs no session look-up.
 *  - Each agency is served on its own host (sites.ts), at the root of it: Fastify routes
 *    `https://<agency host>/x` into the agency's internal `${prefix}/x` routes, and every
 *    decision here is made on the URL the client sent (`originalUrl`). The host only
 *    chooses among configured agencies; the upstream stays the agency's fixed one.
 *  - One undici Pool per agency, so one agency's outage (all its connections stuck) never
 *    queues another agency's requests. A service's timeout covers waiting for a connection,
 *    sending the body (reset by progress) and waiting for the response headers; while the
 *    response body streams, it is the longest silence allowed between chunks.
 *  - Retries: never for a request with a body or a non-idempotent method; a GET, HEAD or
 *    OPTIONS is tried once more only when a kept-alive connection turned out to be closed
 *    (the upstream saw nothing). An upstream 503 is passed on, never retried.
 *  - Methods: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS. Not TRACE (it would echo the
 *    injected assertion back to the client), not CONNECT, not WebSocket upgrades.
 */

/** The portal's page for an upstream redirect to an internal address (refusedRedirectRoute). */
export const refusedRedirectPath = '/pengalihan-ditolak'

/**
 * The page a refused upstream redirect leads to (headers.ts RedirectGuard): the agency's
 * service is at fault, as with any bad answer from it (502), and the citizen is told so
 * on the portal, with the way home. The log line was written when the redirect was refused.
 */
export async function refusedRedirectRoute(app: FastifyInstance, deps: { table: AgencyTable }): Promise<void> {
  app.get(
    refusedRedirectPath,
    { schema: { querystring: { type: 'object', properties: { layanan: { type: 'string', maxLength: 100 } } } } },
    async (req) => {
      const id = (req.query as { layanan?: string }).layanan
      const agency = deps.table.agencies.find((a) => a.id === id)
      throw new AppError(
        'upstream_unavailable',
        'The agency service redirected to an internal address.',
        agency !== undefined ? { details: { agency: agency.id } } : {},
      )
    },
  )
}

export interface ProxyDeps {
  config: Config
  table: AgencyTable
  auth: GatewayAuth
  signer: AssertionSigner
  logger: Logger
  /** Extension point for the documents issue: extra assertion claims and `Link` values. */
  extras?: UpstreamExtras
  /** Which host a request is for: agencies are served on their own (sites.ts). */
  sites: Sites
}

/**
 * What the documents issue adds to a proxied request: extra assertion claims (e.g.
 * `documents`) and `Link` header values (short-lived document links). Called only for
 * signed-in requests, after the policy allowed them. Instead it may answer the request
 * itself (`answer`: a consent page, a refusal), and then nothing is forwarded.
 */
export interface UpstreamExtras {
  forRequest(input: {
    req: FastifyRequest
    identity: Identity
    agency: Agency
    service: Service
  }): Promise<UpstreamExtrasResult>
}

export type UpstreamExtrasResult =
  | { claims?: Record<string, unknown>; links?: readonly string[]; answer?: undefined }
  | { answer: (reply: FastifyReply) => FastifyReply | Promise<FastifyReply> }

export const proxiedMethods: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
const retryableMethods = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Request-targets whose resolution an agency's routes keep (then the memory starts afresh). */
const resolvedTargetsKept = 1000

/** Most concurrent connections the gateway opens to one agency. */
const connectionsPerAgency = 128

/** What checkPath learned about a request, for the later steps. */
interface RouteState {
  readonly agency: Agency
  readonly service: Service
  readonly need: Requirement
  readonly target: ProxyTarget
  readonly upstreamPath: string
  readonly rewrite: ResponseRewrite
}

/** A request body above the service's limit (413), raised while it streams. */
export class BodyTooLargeError extends Error {
  constructor() {
    super('request body above the service limit')
    this.name = 'BodyTooLargeError'
  }
}

/** The service's timeout passed without progress (504). */
export class UpstreamDeadlineError extends Error {
  constructor() {
    super('the upstream did not answer within the service timeout')
    this.name = 'UpstreamDeadlineError'
  }
}

/** The client went away before the upstream answered. */
class ClientGoneError extends Error {
  constructor() {
    super('the client closed the connection')
    this.name = 'ClientGoneError'
  }
}

/**
 * Counts a request body as it streams to the upstream: fails with BodyTooLargeError past
 * `limit`, and reports progress (which keeps the upload's deadline from expiring).
 */
export class BodyMeter extends Transform {
  bytes = 0
  onProgress: (() => void) | undefined
  readonly limit: number

  constructor(limit: number) {
    super()
    this.limit = limit
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.limit) {
      cb(new BodyTooLargeError())
      return
    }
    this.onProgress?.()
    cb(null, chunk)
  }
}

/**
 * Per-request settings for the dispatcher. @fastify/reply-from builds undici's request
 * options itself, copying the headers object with Object.assign — which also copies
 * symbol-keyed properties — so the settings travel in the headers under a symbol. undici
 * reads a headers object with Object.keys, which skips symbols, so the entry is left in
 * place (a `delete` would turn every request's headers object into a slow dictionary).
 */
const dispatchContext = Symbol('satupintu.dispatchContext')

interface DispatchContext {
  readonly timeoutMs: number
  readonly meter: BodyMeter | undefined
  readonly response: ServerResponse
}

type RequestCallback = (err: Error | null, data: Dispatcher.ResponseData<null>) => void

/**
 * The abort signal of one upstream request. undici's request() takes an EventEmitter as
 * well as an AbortSignal (its `signal` option): it listens once for 'abort' and reads
 * `reason`. An AbortController per request, with the EventTarget listeners undici and
 * Node attach to it, was ~10 µs per request in the profile; this is an emitter.
 */
class UpstreamSignal extends EventEmitter {
  reason: Error | undefined = undefined

  abort(reason: Error): void {
    if (this.reason !== undefined) return
    this.reason = reason
    this.emit('abort')
  }
}

/**
 * The agency's Pool with a deadline: aborts a request that has not received response
 * headers `timeoutMs` after it was dispatched (or after its body last made progress),
 * including time spent waiting for a free connection, which undici's own headersTimeout
 * does not count. Also aborts the upstream request when the client goes away first.
 */
function deadlineDispatcher(pool: Pool): { request: Dispatcher['request'] } {
  function request(options: Dispatcher.RequestOptions<null>, callback: RequestCallback): void {
    const headers = (options.headers ?? {}) as Record<string | symbol, unknown>
    const ctx = headers[dispatchContext] as DispatchContext | undefined
    if (ctx === undefined) {
      pool.request(options, callback)
      return
    }
    const abort = new UpstreamSignal()
    const timer = setTimeout(() => abort.abort(new UpstreamDeadlineError()), ctx.timeoutMs)
    if (ctx.meter !== undefined) ctx.meter.onProgress = () => timer.refresh()
    const onClose = () => {
      if (!ctx.response.writableFinished) abort.abort(new ClientGoneError())
    }
    ctx.response.once('close', onClose)
    // reply-from builds `options` afresh for each attempt: set the signal on it, no copy.
    options.signal = abort
    pool.request(options, (err, data) => {
      clearTimeout(timer)
      if (ctx.meter !== undefined) ctx.meter.onProgress = undefined
      // Once the response streams, Fastify's pipeline destroys it when the client goes away.
      ctx.response.off('close', onClose)
      callback(err, data)
    })
  }
  // Only the callback form is used by @fastify/reply-from; the cast states that much.
  return { request: request as unknown as Dispatcher['request'] }
}

function causes(err: unknown): unknown[] {
  const out: unknown[] = []
  let e: unknown = err
  for (let i = 0; i < 6 && e !== undefined && e !== null; i++) {
    out.push(e)
    e = (e as { cause?: unknown }).cause
  }
  return out
}

/** An upstream failure as the citizen sees it: 413, 504 or 502, never an internal host name. */
export function classifyUpstreamError(err: unknown): AppError {
  const chain = causes(err)
  if (chain.some((e) => e instanceof BodyTooLargeError))
    return new AppError('payload_too_large', undefined, { cause: err })
  const timeoutCodes = new Set([
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_CONNECT_TIMEOUT',
    'FST_REPLY_FROM_GATEWAY_TIMEOUT',
  ])
  const timedOut = chain.some(
    (e) =>
      e instanceof UpstreamDeadlineError ||
      timeoutCodes.has(String((e as { code?: unknown }).code)) ||
      (e as { name?: unknown }).name === 'TimeoutError',
  )
  return new AppError(timedOut ? 'upstream_timeout' : 'upstream_unavailable', undefined, { cause: err })
}

/** Requirements of a request: the service's, made stricter by the case-folded path's (paths.ts caseFolded). */
function mergeNeeds(a: Service, b: Service | undefined): { need: Requirement; signedIn: boolean } {
  const services = b === undefined || b === a ? [a] : [a, b]
  const signedIn = services.some((s) => s.access === 'signed_in')
  let acr: string | undefined
  let identity: string | undefined
  const scopes = new Set<string>()
  for (const s of services) {
    if (s.access !== 'signed_in') continue
    if (s.minAcr !== undefined && acrLevel(s.minAcr) > acrLevel(acr)) acr = s.minAcr
    if (s.minIdentity !== undefined && identityRank(s.minIdentity) > identityRank(identity)) identity = s.minIdentity
    for (const sc of s.scopes) scopes.add(sc)
  }
  return { need: { acr, scopes: [...scopes], ...(identity !== undefined ? { identity } : {}) }, signedIn }
}

/**
 * Why a bearer token may not act for a citizen at `agency`, or undefined when it may
 * (issue 10 §3; docs/security.md line 33). A token is accepted on an agency's routes only
 *  - when it is a citizen's (a client's own client-credentials token never is),
 *  - when its audience is this agency's origin (RFC 8707 §2: the resource it was issued
 *    for; a token for the gateway's own resource or another agency's origin is refused),
 *  - and when its client is one of this agency's `appClients`.
 * Sessions are bound to their host elsewhere (auth.ts); they pass here.
 */
export function tokenRefusal(
  req: FastifyRequest,
  identity: Identity | undefined,
  agency: Agency,
): AppError | undefined {
  if (identity === undefined || identity.via === 'session') return undefined
  const scheme = /^dpop\s/i.test(req.headers.authorization ?? '') ? 'DPoP' : 'Bearer'
  const refuse = (code: 'unauthorized' | 'forbidden', error: string, description: string) =>
    new AppError(code, description, {
      headers: { 'www-authenticate': `${scheme} error="${error}", error_description="${description}"` },
    })
  if (identity.via === 'client')
    return refuse('unauthorized', 'invalid_token', 'A client credentials token does not sign a citizen in')
  if (!identity.audience.includes(agency.origin))
    return refuse('unauthorized', 'invalid_token', 'The access token is not for this agency')
  if (identity.clientId === undefined || !agency.appClients.includes(identity.clientId)) {
    return refuse('forbidden', 'insufficient_scope', 'The client of this access token is not allowed at this agency')
  }
  return undefined
}

/**
 * Why `identity` may not use `service` through its channel (issue 16: an agency may keep a
 * service off the kiosks, `channels:` in agencies.yaml), or undefined when it may. A 403
 * that says so: signing in again would not help.
 */
export function channelRefusal(identity: Identity | undefined, service: Service): AppError | undefined {
  if (identity === undefined || identity.via === 'client') return undefined
  const channel = channelOf(identity)
  if (service.channels.includes(channel)) return undefined
  return new AppError('forbidden', channelRefusals[channel], {
    details: { reason: 'channel_not_allowed', channel, allowed: [...service.channels] },
  })
}

const channelRefusals: Readonly<Record<Channel, string>> = {
  kiosk:
    'This service is not offered at a self-service kiosk. Use it on your own phone or computer, or at the service counter.',
  app: 'This service is not offered to apps. Use it in the browser.',
  web: 'This service is not offered in the browser. Use the app or a self-service kiosk.',
}

/** Fastify's trusted client chain, client first (only hops within http.trustProxy). */
function clientChain(req: FastifyRequest): string[] {
  const ips = (req as { ips?: string[] }).ips
  if (Array.isArray(ips) && ips.length > 0) return [...ips].reverse()
  return [req.ip]
}

/** Whether an upstream failure was the client's going away (a reset, a broken or cut-off body). */
function clientWentAway(req: FastifyRequest, reply: FastifyReply, err: unknown): boolean {
  if (reply.raw.destroyed || req.raw.errored !== null) return true
  return causes(err).some((e) => e instanceof ClientGoneError)
}

/** When the body was not (fully) read, the connection cannot carry another request. */
function closeIfBodyUnread(req: FastifyRequest, reply: FastifyReply): void {
  if (!req.raw.complete) reply.header('connection', 'close')
}

export async function registerProxy(app: FastifyInstance, deps: ProxyDeps): Promise<void> {
  const { config, table, auth, signer, extras, sites } = deps
  const routes = new WeakMap<FastifyRequest, RouteState>()
  // For redirects an upstream may not send the citizen to (headers.ts RedirectGuard).
  const internalOrigins: ReadonlySet<string> = new Set(table.agencies.map((a) => a.upstream.origin))
  const publicOrigins: ReadonlySet<string> = new Set([
    new URL(config.gateway.publicUrl).origin,
    new URL(config.idp.issuer).origin,
    ...table.agencies.map((a) => a.origin),
  ])

  await app.register(async (scope) => {
    // Bodies pass through as streams: no JSON, form or text parsing on proxied routes.
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', function streamBody(req, payload: Readable, done) {
      const route = routes.get(req)
      const meter = new BodyMeter(route?.service.maxBodyBytes ?? 0)
      // Not pipeline(): on a 413 the client's socket must stay open for the answer.
      payload.on('error', (err) => meter.destroy(err))
      // The meter's own error path (issue 10 §1). When the handler answers without
      // forwarding (a challenge, a redirect, a consent page), nobody else reads the
      // meter, and an error re-emitted with no listener ends the process. A body that
      // dies mid-way (reset, bad chunked encoding, the phone went away) is the client's
      // business: noted at debug, then forgotten. When it is being forwarded, the
      // upstream request fails on it too and answers as usual (classifyUpstreamError).
      meter.on('error', (err) => {
        req.log.debug({ reason: err.message, code: (err as NodeJS.ErrnoException).code }, 'request body ended early')
      })
      payload.pipe(meter)
      done(null, meter)
    })

    for (const agency of table.agencies) {
      await scope.register(async (agencyScope) => registerAgency(agencyScope, agency))
    }
  })

  async function registerAgency(scope: FastifyInstance, agency: Agency): Promise<void> {
    const longest = Math.max(...agency.services.map((s) => s.timeoutMs))
    const pool = new Pool(agency.upstream.origin, {
      connections: connectionsPerAgency,
      pipelining: 1,
      connect: { timeout: Math.min(longest, 10_000) },
      headersTimeout: longest,
      bodyTimeout: longest,
      // Certificates are verified (undici's default); reply-from's own default would not.
    })
    scope.addHook('onClose', async () => {
      await pool.destroy()
    })
    await scope.register(replyFrom, {
      base: `${agency.upstream.origin}/`,
      // reply-from's types name its own (older) undici; the object only needs request().
      undici: deadlineDispatcher(pool) as unknown as NonNullable<FastifyReplyFromOptions['undici']>,
      disableRequestLogging: true,
      // Only consulted by reply-from's default retry rule, which retryDelay below replaces.
      retryMethods: ['GET', 'HEAD', 'OPTIONS'],
    })
    const agencyUrl = new URL(agency.origin)
    const redirectGuard: RedirectGuard = Object.freeze({
      internalOrigins,
      publicOrigins,
      refusedTarget: `${new URL(config.gateway.publicUrl).origin}${refusedRedirectPath}?layanan=${encodeURIComponent(agency.id)}`,
    })
    // What a request-target resolves to depends on the target alone (the route table is
    // fixed), so accepted ones are remembered: the checks (decoding, NFKC, two route
    // matches) were several µs per request. Bounded; refused targets are never kept.
    const resolved = new Map<string, RouteState>()

    function resolve(url: string): RouteState | AppError {
      const known = resolved.get(url)
      if (known !== undefined) return known
      const checked = checkTarget(url)
      if (!checked.ok)
        return new AppError('bad_request', 'The request path is not allowed.', { details: { reason: checked.reason } })
      const { target } = checked
      const match = table.match(target.decodedPath, agency.host)
      if (match === undefined || match.agency !== agency) return new AppError('not_found')
      const folded = table.match(caseFolded(target.decodedPath), agency.host)
      const { need, signedIn } = mergeNeeds(match.service, folded?.agency === agency ? folded.service : undefined)
      const service: Service =
        signedIn && match.service.access !== 'signed_in' ? { ...match.service, access: 'signed_in' } : match.service
      const upstreamPath = upstreamPathFor(agency.upstream.pathname, target, 0)
      const state: RouteState = Object.freeze({
        agency,
        service,
        need,
        target,
        upstreamPath,
        rewrite: Object.freeze({
          ownOrigin: agency.origin,
          upstream: agency.upstream,
          publicUrl: agencyUrl,
          prefix: '',
          upstreamPath,
          redirectGuard,
        }),
      })
      if (resolved.size >= resolvedTargetsKept) resolved.clear()
      resolved.set(url, state)
      return state
    }

    scope.addHook('onRequest', async function checkPath(req, reply) {
      // Only requests to the agency's own host reach its routes (the portal host's old
      // /layanan/<agency>/… addresses were redirected before routing, sites.ts).
      const site = sites.siteOf(req.raw)
      if (site.kind !== 'agency' || site.agency !== agency) {
        closeIfBodyUnread(req, reply)
        throw new AppError('not_found')
      }
      const state = resolve(req.originalUrl)
      if (state instanceof AppError) {
        closeIfBodyUnread(req, reply)
        throw state
      }
      const announced = Number(req.headers['content-length'] ?? 0)
      if (Number.isFinite(announced) && announced > state.service.maxBodyBytes) {
        closeIfBodyUnread(req, reply)
        throw new AppError('payload_too_large')
      }
      routes.set(req, state)
    })

    async function handler(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
      const route = routes.get(req)
      if (route === undefined) throw new AppError('not_found')
      const { service, need } = route

      let identity: Identity | undefined
      if (service.access === 'signed_in') {
        const id = await auth.identify(req)
        const refusal = tokenRefusal(req, id, agency) ?? channelRefusal(id, service)
        if (refusal !== undefined) {
          closeIfBodyUnread(req, reply)
          throw refusal
        }
        if (!meets(id, need, config.signInLevels)) {
          closeIfBodyUnread(req, reply)
          return auth.challenge(req, reply, need, id)
        }
        // Upstream hears the level as it stands now, not as the sign-in once was.
        identity = asItStands(id, config.signInLevels)
      }

      let extraClaims: Record<string, unknown> | undefined
      let links: readonly string[] | undefined
      if (identity !== undefined && extras !== undefined) {
        const more = await extras.forRequest({ req, identity, agency, service })
        if (more.answer !== undefined) {
          closeIfBodyUnread(req, reply)
          return more.answer(reply)
        }
        extraClaims = more.claims
        links = more.links
      }
      const assertion = identity === undefined ? '' : await signer.sign(identity, agency, extraClaims)
      const values = identity === undefined ? noIdentity : identityHeaderValues(identity, agency, assertion)
      const body = req.body
      const meter = body instanceof BodyMeter ? body : undefined
      const context: DispatchContext = { timeoutMs: service.timeoutMs, meter, response: reply.raw }

      return reply.from(route.upstreamPath, {
        timeout: service.timeoutMs,
        rewriteRequestHeaders: () => {
          const headers = upstreamRequestHeaders(req.headers, {
            upstreamHost: agency.upstream.host,
            hasBody: meter !== undefined,
            identity: values,
            forwarding: { requestId: req.id, chain: clientChain(req), publicUrl: agencyUrl, prefix: '' },
            ...(links !== undefined ? { links } : {}),
          })
          return Object.assign(headers, { [dispatchContext]: context })
        },
        rewriteHeaders: (headers) => {
          const out = rewriteResponseHeaders(headers, route.rewrite)
          if (out.location === redirectGuard.refusedTarget && headers.location !== redirectGuard.refusedTarget) {
            req.log.warn(
              { agency: agency.id, status: reply.statusCode },
              'upstream redirect to an internal address refused',
            )
          }
          return out
        },
        retryDelay: ({ err, attempt }) => {
          const code = String((err as { code?: unknown } | undefined)?.code ?? '')
          const reused = code === 'UND_ERR_SOCKET' || code === 'ECONNRESET'
          return attempt === 0 && reused && meter === undefined && retryableMethods.has(req.method) ? 1 : null
        },
        onError: (_reply, { error }) => {
          if (clientWentAway(req, reply, error)) {
            // Nobody is left to answer: not an agency outage, and not worth more than a
            // debug line (issue 10 §1). The upstream request was aborted with it.
            req.log.debug({ reason: (error as Error | undefined)?.message }, 'client went away before the answer')
            reply.hijack()
            reply.raw.destroy()
            return
          }
          closeIfBodyUnread(req, reply)
          reply.send(classifyUpstreamError(error))
        },
      })
    }

    for (const url of [agency.prefix, `${agency.prefix}/*`]) {
      scope.route({ method: proxiedMethods, url, handler, exposeHeadRoute: false })
    }
  }
}
