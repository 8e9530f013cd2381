/**
 * Pieces for the gateway's proxy tests: real upstream HTTP servers on 127.0.0.1, a route
 * table, an assertion signer over an in-memory key, a test double of GatewayAuth (the
 * contract in src/gateway/contracts.ts), and the gateway itself on a real port.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { exportJWK, generateKeyPair, type JWK } from 'jose'
import type { Test } from 'tap'
import type { Config } from '../../src/config/schema.ts'
import { AppError } from '../../src/errors/app-error.ts'
import { createBaseApp } from '../../src/http/app.ts'
import { errorHandling, wantsHtml } from '../../src/http/errors.ts'
import { buildAgencyTable, type AgencyTable } from '../../src/gateway/agencies.ts'
import { createAssertionSignerFrom } from '../../src/gateway/proxy/assertion.ts'
import type { AssertionSigner, GatewayAuth, Requirement } from '../../src/gateway/contracts.ts'
import type { Identity } from '../../src/gateway/auth/identity.ts'
import { callbackPath, logoutPath } from '../../src/gateway/auth/authenticate.ts'
import { consentReturnPath } from '../../src/gateway/proxy/documents.ts'
import { refusedRedirectRoute, registerProxy } from '../../src/gateway/proxy/proxy.ts'
import { createSites, guardSites, type Sites } from '../../src/gateway/sites.ts'
import { silentLogger, testConfig } from '../helpers/config.ts'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  rawHeaders: string[]
  body: Buffer
}

export interface Upstream {
  url: string
  port: number
  server: http.Server
  seen: SeenRequest[]
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

/** Answers with what it received, as JSON: method, url, headers. */
export const echo: UpstreamHandler = (req, res, body) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8') }))
}

/**
 * A real upstream on 127.0.0.1. By default it reads the whole body (kept in `seen`) and
 * then calls `handler`; with `streaming` the handler gets the request unread.
 */
export async function startUpstream(
  t: Test,
  handler: UpstreamHandler = echo,
  opts: { streaming?: (req: IncomingMessage, res: ServerResponse) => void } = {},
): Promise<Upstream> {
  const seen: SeenRequest[] = []
  const sockets = new Set<net.Socket>()
  const server = http.createServer((req, res) => {
    if (opts.streaming) {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.alloc(0),
      })
      opts.streaming(req, res)
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      })
      handler(req, res, body)
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${port}`, port, server, seen }
}

/** A port with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

export interface ServiceSpec {
  id?: string
  path: string
  access: 'public' | 'signed_in'
  scopes?: string[]
  minAcr?: string
  minIdentity?: string
  channels?: ('web' | 'app' | 'kiosk')[]
  timeoutMs?: number
  maxBodyBytes?: number
}

export interface AgencySpec {
  id: string
  upstream: string
  releaseNik?: boolean
  prefix?: string
  host?: string
  /** Default: [testAppClient]. */
  appClients?: string[]
  services: ServiceSpec[]
}

/** The gateway's public URL in these tests (startGateway's configuration). */
export const testPublicUrl = 'https://layanan.sukamaju.go.id'
/** The app client whose tokens the harness's agencies accept (identity()'s clientId). */
export const testAppClient = 'aplikasi-uji'

/** An agency's origin in these tests: `{agency}.` + the gateway's host (the default gateway.agencyHost). */
export function agencyOrigin(id: string): string {
  return `https://${id}.layanan.sukamaju.go.id`
}

/** A validated route table, exactly as config/agencies.yaml would give it. */
export function agencyTable(
  specs: AgencySpec[],
  defaults = { timeoutMs: 5000, maxBodyBytes: 1024 * 1024, publicUrl: testPublicUrl },
): AgencyTable {
  return buildAgencyTable(
    {
      agencies: specs.map((a) => ({
        id: a.id,
        name: { id: `Dinas ${a.id}`, en: `Agency ${a.id}` },
        upstream: a.upstream,
        ...(a.prefix ? { prefix: a.prefix } : {}),
        ...(a.host ? { host: a.host } : {}),
        appClients: a.appClients ?? [testAppClient],
        releaseNik: a.releaseNik ?? false,
        services: a.services.map((s, i) => ({
          id: s.id ?? `svc-${i}`,
          name: { id: `Layanan ${i}`, en: `Service ${i}` },
          path: s.path,
          access: s.access,
          ...(s.scopes ? { scopes: s.scopes } : {}),
          ...(s.minAcr ? { minAcr: s.minAcr } : {}),
          ...(s.minIdentity ? { minIdentity: s.minIdentity } : {}),
          ...(s.channels ? { channels: s.channels } : {}),
          ...(s.timeoutMs ? { timeoutMs: s.timeoutMs } : {}),
          ...(s.maxBodyBytes !== undefined ? { maxBodyBytes: s.maxBodyBytes } : {}),
        })),
      })),
    },
    defaults,
  )
}

export function identity(overrides: Partial<Identity> = {}): Identity {
  return {
    via: 'bearer',
    sub: 'sub-budi-0001',
    acr: 'urn:satupintu:loa:1',
    authTime: Math.floor(Date.now() / 1000),
    lastUsedAt: undefined,
    amr: ['pwd'],
    scopes: ['openid', 'profile'],
    claims: { name: 'Budi Santoso', nik: '3201010101900001' },
    clientId: testAppClient,
    // A citizen's app token for the agencies these tests use (their origins).
    audience: ['dinas-a', 'dinas-b', 'dinas-contoh', 'dinas-macet', 'dinas-mati', 'dinas-nik', 'dinas-sehat'].map(
      agencyOrigin,
    ),
    sessionId: undefined,
    ...overrides,
  }
}

/**
 * A test double of GatewayAuth: `Authorization: Bearer <token>` names one of `tokens`.
 * An unknown token is a 401 (as the real one: RFC 6750 §3). The challenge answers a
 * browser with a redirect to sign in and an API caller with 401, and records the need.
 */
export class FakeAuth implements GatewayAuth {
  readonly logoutPath = '/keluar'
  readonly tokens: Map<string, Identity>
  readonly challenges: { need: Requirement; identity: Identity | undefined }[] = []
  identifyCalls = 0

  constructor(tokens: Record<string, Identity> = {}) {
    this.tokens = new Map(Object.entries(tokens))
  }

  async idTokenHint(): Promise<string | undefined> {
    return undefined
  }

  async trySilentSignIn(): Promise<FastifyReply | undefined> {
    return undefined
  }

  async identify(req: FastifyRequest): Promise<Identity | undefined> {
    this.identifyCalls++
    const h = req.headers.authorization
    if (h === undefined) return undefined
    const token = /^Bearer (.+)$/.exec(h)?.[1]
    const id = token === undefined ? undefined : this.tokens.get(token)
    if (id === undefined)
      throw new AppError('unauthorized', 'The access token is not valid.', {
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      })
    return id
  }

  async challenge(
    req: FastifyRequest,
    reply: FastifyReply,
    need: Requirement,
    id: Identity | undefined,
  ): Promise<FastifyReply> {
    this.challenges.push({ need, identity: id })
    if (wantsHtml(req)) return reply.redirect(`/masuk?kembali=${encodeURIComponent(req.originalUrl)}`, 303)
    const acr = need.acr === undefined ? '' : `, acr_values="${need.acr}"`
    return reply
      .code(401)
      .header('www-authenticate', `Bearer error="insufficient_user_authentication"${acr}`)
      .send({ error: 'unauthorized', message: 'Sign-in is required.', request_id: req.id })
  }
}

export interface TestKeys {
  jwks: JWK[]
  fingerprint: string
}

/** An ES256 private JWK as src/keys gives them (kid, alg, use). */
export async function es256Key(kid: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  return { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' }
}

/** The real assertion signer over in-memory keys (no database); `keys` may be changed, then reload(). */
export async function testSigner(
  config: Config,
  keys?: TestKeys,
  now?: () => number,
): Promise<{ signer: AssertionSigner; keys: TestKeys }> {
  const k = keys ?? { jwks: [await es256Key('gateway-test-1')], fingerprint: 'one' }
  const signer = await createAssertionSignerFrom(
    { load: async () => ({ jwks: [...k.jwks], fingerprint: k.fingerprint }) },
    { config, logger: silentLogger(), ...(now ? { now } : {}) },
  )
  return { signer, keys: k }
}

/**
 * A test double of the Sites seam (src/gateway/sites.ts) for tests of the authentication
 * alone, whose instances all stand for the one portal host (several instances behind one
 * load balancer, each reached on its own port): every request is for the portal.
 */
export function portalOnly(publicUrl: string): Sites {
  const url = new URL(publicUrl)
  const portal = Object.freeze({ kind: 'portal' as const, host: url.host, origin: url.origin })
  return {
    siteOf: () => portal,
    portal,
    all: [portal],
    rewriteUrl: (req) => req.url ?? '/',
    isOwnPath: () => false,
    isProxied: () => false,
  }
}

/** The proxy as buildGateway composes it (sites, guard, routes), without the rest of the gateway. */
export async function proxyApp(deps: {
  config: Config
  table: AgencyTable
  auth: GatewayAuth
  signer: AssertionSigner
  logger: import('pino').Logger
}): Promise<FastifyInstance> {
  const { config, table, auth, signer, logger } = deps
  const sites = createSites(config, table, { own: [callbackPath, logoutPath, consentReturnPath] })
  const app = createBaseApp({ config, logger, rewriteUrl: (raw) => sites.rewriteUrl(raw) })
  await app.register(errorHandling)
  guardSites(app, { sites, table })
  await app.register(refusedRedirectRoute, { table })
  await registerProxy(app, { config, table, auth, signer, logger, sites })
  return app
}

export interface RunningGateway {
  app: FastifyInstance
  /** The portal's address (Host: layanan.sukamaju.go.id is sent by request()). */
  url: string
  /** An agency's address: its own host, reached on this port (request() sends the Host). */
  at(agencyId: string): string
  port: number
  config: Config
  auth: FakeAuth
  signer: AssertionSigner
}

/** The proxy on a real port, with the project's base app and error handling. */
export async function startGateway(
  t: Test,
  table: AgencyTable,
  opts: {
    auth?: FakeAuth
    signer?: AssertionSigner
    overrides?: Record<string, unknown>
    logger?: import('pino').Logger
  } = {},
): Promise<RunningGateway> {
  const config = testConfig({ gateway: { publicUrl: testPublicUrl }, ...opts.overrides })
  const logger = opts.logger ?? silentLogger()
  const auth = opts.auth ?? new FakeAuth()
  const signer = opts.signer ?? (await testSigner(config)).signer
  const app = await proxyApp({ config, table, auth, signer, logger })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const port = (app.server.address() as AddressInfo).port
  return {
    app,
    url: `http://layanan.sukamaju.go.id:${port}`,
    at: (id) => `http://${id}.layanan.sukamaju.go.id:${port}`,
    port,
    config,
    auth,
    signer,
  }
}

/**
 * Sends raw bytes on a new connection and returns everything the server answered until
 * it closed the connection (or `waitMs` passed).
 */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const done = () => {
      clearTimeout(timer)
      socket.destroy()
      resolve(Buffer.concat(chunks).toString('latin1'))
    }
    const timer = setTimeout(done, waitMs)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('end', done)
    socket.on('error', done)
    socket.write(bytes)
  })
}

/** The status code of the first response in a raw exchange. */
export function rawStatus(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)
}

/**
 * A request with Node's http client, the path sent exactly as written: a URL string would
 * go through the WHATWG parser, which resolves "%2e%2e" and "\\" before sending. A URL
 * whose host is a name (the portal's or an agency's, RunningGateway.at) is sent to
 * 127.0.0.1 on its port with that name, without the port, as `Host` — what a browser sends
 * through the TLS terminator in front of the gateway.
 */
export function request(
  url: string,
  opts: {
    method?: string
    headers?: Record<string, string | string[]>
    body?: string | Buffer
    agent?: http.Agent
  } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const m = /^http:\/\/([^/:]+):(\d+)(\/.*)$/.exec(url)
  if (!m) throw new Error(`request(): not an http://host:port/path URL: ${url}`)
  const named = !/^[0-9.]+$/.test(m[1] as string)
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...(named ? { host: m[1] as string } : {}), ...opts.headers }
    // Node's client frames a DELETE or OPTIONS body only with an explicit length.
    if (opts.body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))) {
      headers['content-length'] = String(Buffer.byteLength(opts.body))
    }
    const options = {
      host: named ? '127.0.0.1' : m[1],
      port: Number(m[2]),
      path: m[3],
      method: opts.method ?? 'GET',
      headers,
      agent: opts.agent ?? false,
    }
    const req = http.request(options, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

export function json<T = Record<string, unknown>>(body: string): T {
  return JSON.parse(body) as T
}

/** The default lifetimes of the levels of sign-in (config/default.yaml, signInLevels). */
export const levelLifetimes = { phrSeconds: 900, mfaSeconds: 43_200, mfaIdleSeconds: 1_800 } as const
