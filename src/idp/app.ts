import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type Provider from 'oidc-provider'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.ts'
import { createJobs } from '../jobs/jobs.ts'
import type { DatabaseHandle } from '../db/create.ts'
import { recordAudit } from '../audit/audit.ts'
import { databaseRetryAfterSeconds, isDatabaseUnavailable } from '../db/errors.ts'
import { createBaseApp } from '../http/app.ts'
import { healthRoutes } from '../http/health.ts'
import { createServiceMetrics, instrumentApp, type ServiceMetrics } from '../http/metrics.ts'
import { translator } from '../http/i18n.ts'
import { mergeMessages, commonMessages } from '../http/i18n.ts'
import { pickLocale } from '../http/locale.ts'
import { registerOpenApi } from '../http/openapi.ts'
import { registerPages } from '../http/pages.ts'
import { accountMessages } from './account/messages.ts'
import { ensureAccountClient } from './account/session.ts'
import { applyClientsFile } from './oidc/clients-file.ts'
import { accountRoutes } from './account/routes.ts'
import { consoleMessages } from './console/messages.ts'
import { consoleRoutes } from './console/routes.ts'
import { documentMessages } from './documents/messages.ts'
import { documentApiRoutes } from './documents/api.ts'
import { documentConsentRoutes } from './documents/consent.ts'
import { documentPageAssets, documentPagesRoutes } from './documents/pages.ts'
import { createLinkKeyring } from '../documents/links.ts'
import { createDocumentStorage } from '../documents/create-storage.ts'
import { purgeDocuments } from '../documents/vault.ts'
import { startDelivery } from '../delivery/runtime.ts'
import { devMailboxRoutes } from './dev-mailbox.ts'
import { hostGuard, issuerForwarding } from './hosts.ts'
import { interactionRoutes } from './oidc/interactions.ts'
import { passkeyAssets } from './passkey-party.ts'
import { pruneWebauthnChallenges } from '../accounts/passkeys.ts'
import { createKeyEncryption, resolveKeyEncryptionSecret, type KeyEncryption } from '../keys/encryption.ts'
import { ensureKeys, loadKeys } from '../keys/keys.ts'
import { idpMessages } from './oidc/messages.ts'
import { purgeExpiredPayloads } from './oidc/store.ts'
import { AppError } from '../errors/app-error.ts'
import { checkSourceAllowance, pruneSourceCounters } from '../accounts/throttle.ts'
import { pruneOfficerSessions } from '../accounts/officer-sessions.ts'
import { pruneOneTimeCodes } from '../accounts/otp.ts'
import { pruneDecoys } from '../accounts/registration-decoys.ts'
import { createProviderPages } from './oidc/provider-pages.ts'
import { buildProvider, providerRoutes, type KoaContextWithOIDC } from './oidc/provider.ts'
import {
  kioskClaims,
  kioskIdOf,
  pruneDevicePolls,
  userCodeFailuresPerAddress,
  userCodeThrottleAction,
} from './oidc/kiosks.ts'
import { oidcPort } from './oidc/port.ts'
import { providerRequest } from './oidc/request-context.ts'
import { grantIdsOf, pruneRevokedSessions, recordRevokedSessions } from './oidc/session-revocation.ts'
import { loadSubjects } from './oidc/subjects.ts'

export interface IdpDeps {
  config: Config
  database: DatabaseHandle
  logger: Logger
  /** Tests pass a fixed one; by default it comes from configuration (or the dev file). */
  keyEncryption?: KeyEncryption
  /** This instance's metrics; by default a registry of its own (src/http/metrics.ts). */
  metrics?: ServiceMetrics
  /** The current time of the officer console's sessions; tests move it. */
  now?: () => Date
}

const templatesDir = fileURLToPath(new URL('./templates/', import.meta.url))

/** Paths oidc-provider answers; everything else is a Fastify route. */
const providerPaths = [
  ...Object.values(providerRoutes),
  '/.well-known/openid-configuration',
  '/.well-known/oauth-authorization-server',
]

function providerPathOf(url: string): string | undefined {
  const path = url.split('?', 1)[0] ?? ''
  return providerPaths.find((p) => path === p || path.startsWith(`${p}/`))
}

/**
 * Whether `url` is routed to oidc-provider's route at `route`, by its router's own rules
 * (lib/helpers/router.js: case folded, one trailing slash ignored), so that a check made
 * here before the provider cannot be stepped round with `/device/`. Errs towards yes.
 */
function isRoute(url: string | undefined, route: string): boolean {
  let path = (url ?? '').split('?', 1)[0] ?? ''
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1)
  return path.toUpperCase() === route.toUpperCase()
}

function isProviderPath(url: string): boolean {
  return providerPathOf(url) !== undefined
}

const forwardedHeaders = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded']

/**
 * A kiosk's verification_uri_complete, `GET /device?user_code=…` (RFC 8628 §3.3.1): the
 * code is taken off the URL, and our code page shows it filled in for the citizen to send
 * (provider-pages.ts). oidc-provider would answer with a page that posts it by script, and
 * without script shows a bare English button.
 */
function takeUserCode(raw: { method?: string | undefined; url?: string | undefined }): string | undefined {
  if (raw.method !== 'GET' || raw.url === undefined) return undefined
  const [path = '', query] = raw.url.split('?', 2)
  if (!isRoute(path, providerRoutes.code_verification) || query === undefined) return undefined
  const params = new URLSearchParams(query)
  const code = params.get('user_code')
  if (code === null) return undefined
  params.delete('user_code')
  const rest = params.toString()
  raw.url = rest === '' ? path : `${path}?${rest}`
  return /^[A-Za-z0-9-]{1,20}$/.test(code) ? code : undefined
}

/** The provider currently serving, swapped whole when the key set changes. */
interface Current {
  provider: Provider
  handler: ReturnType<Provider['callback']>
  fingerprint: string
}

/**
 * The identity provider as a Fastify app: oidc-provider for the protocol endpoints, our
 * own routes for the pages a citizen sees. Tests drive it with inject() or a real port;
 * src/server.ts only adds the listener.
 */
export async function buildIdp(deps: IdpDeps): Promise<FastifyInstance> {
  const { config, database } = deps
  const db = database.db
  const logger = deps.logger.child({ service: 'idp' })
  // Document uploads from phones on poor connections may take long, as long as they keep moving.
  const app = createBaseApp({ config, logger, longBodyMs: config.documents.uploadTimeoutSeconds * 1000 })
  // Before any route: it learns them as they are added (src/http/openapi.ts).
  await registerOpenApi(app, {
    title: 'Satu Pintu identity provider: documents API',
    description:
      'For agencies integrated as OpenID Connect relying parties (docs/agency-integration.md). The OpenID Connect endpoints themselves (authorization, token, userinfo, end-session, JWKS) are described by the discovery document at /.well-known/openid-configuration; pages for citizens are not listed.',
    serverUrl: config.idp.issuer,
    tags: [
      { name: 'documents', description: "The citizen's documents, as signed links, for an agency the citizen allowed" },
      { name: 'operations', description: 'Liveness and readiness, for load balancers and orchestrators' },
    ],
  })
  const metrics = deps.metrics ?? createServiceMetrics({ service: 'idp', database })
  // oidc-provider's paths have no Fastify route: the provider path names them.
  instrumentApp(app, metrics, { routeOf: (req) => providerPathOf(req.url) })
  const kek = deps.keyEncryption ?? createKeyEncryption(resolveKeyEncryptionSecret(config, (msg) => logger.warn(msg)))
  const pages = createProviderPages()
  // The document vault's bytes (under dataDir unless configured elsewhere) and the key of
  // its signed links, derived from the key-encryption secret every instance holds.
  const documentStorage = createDocumentStorage(config, db)
  const linkKeyring = createLinkKeyring([kek.derive('document links').toString('base64url')])

  await ensureAccountClient(db, config)
  if (config.idp.clientsFile !== undefined) {
    // Infrastructure as code: the file's relying parties are created or updated at every
    // start. A secret made here is never shown (it would land in a log): a new
    // confidential client needs `satupintu clients rotate-secret` once.
    const applied = await applyClientsFile(db, config.idp.clientsFile, {
      allowLoopbackHttp: config.env !== 'production',
      documentTypes: config.documents.types.map((t) => t.id),
    })
    for (const c of applied) {
      if (c.client_secret !== undefined) {
        logger.warn(
          { clientId: c.client_id },
          'client created from idp.clientsFile: issue its secret with `satupintu clients rotate-secret`',
        )
      }
    }
    logger.info({ clients: applied.length }, 'relying parties applied from idp.clientsFile')
  }
  for (const purpose of ['oidc', 'cookie'] as const) {
    const created = await ensureKeys(db, kek, purpose)
    if (created.length > 0) logger.info({ purpose, kids: created }, 'signing keys created')
  }
  // The pairwise subject key: made by the first instance to start, then the same for all.
  const subjects = await loadSubjects(db, kek)

  async function build(): Promise<Current> {
    const [signing, cookies] = await Promise.all([loadKeys(db, kek, 'oidc'), loadKeys(db, kek, 'cookie')])
    const provider = buildProvider({
      config,
      db,
      logger,
      jwks: signing.jwks,
      cookieKeys: cookies.cookieKeys,
      pages,
      subjects,
    })
    // Outermost: sees every answer, including those of oidc-provider's error handlers.
    provider.use(databaseOutageAnswers)
    wireEvents(provider)
    // Before oidc-provider writes its response: wait for the audit rows its events began.
    provider.use(async (_ctx, next) => {
      await next()
      const pending = providerRequest.getStore()?.audits
      if (pending !== undefined && pending.length > 0) await Promise.all(pending)
    })
    return { provider, handler: provider.callback(), fingerprint: `${signing.fingerprint}/${cookies.fingerprint}` }
  }

  function wireEvents(provider: Provider): void {
    provider.on('server_error', (ctx, err) => {
      if (isDatabaseUnavailable(err)) {
        databaseFailed.add(ctx)
        logger.warn({ reason: (err as Error).message, path: ctx.path }, 'database unavailable: 503')
      } else {
        logger.error({ err }, 'oidc-provider server error')
      }
    })
    provider.on('backchannel.error', (_ctx, err, client) =>
      logger.warn(
        { err: { message: (err as Error).message }, clientId: client.clientId },
        'back-channel logout failed',
      ),
    )
    provider.on('grant.revoked', (_ctx, grantId) => logger.info({ grantId }, 'grant revoked'))
    provider.on('grant.success', (ctx) => {
      metrics.tokenGrants.inc({ grant_type: String(ctx.oidc.params?.grant_type ?? 'unknown') })
      const client = ctx.oidc.client
      const token = ctx.oidc.entities.AccessToken ?? ctx.oidc.entities.ClientCredentials
      const accountId = ctx.oidc.entities.Account?.accountId
      awaitBeforeAnswer(
        recordAudit(db, {
          event: 'token.issued',
          actor: client ? `client:${client.clientId}` : 'system',
          subjectId: accountId,
          clientId: client?.clientId,
          ip: ctx.ip,
          requestId: providerRequest.getStore()?.request.id,
          data: {
            grantType: String(ctx.oidc.params?.grant_type ?? ''),
            scope: token?.scope ?? '',
            ...kioskClaims(kioskIdOf(client?.metadata())),
          },
        }),
      )
    })
    provider.on('end_session.success', (ctx) => {
      const accountId = ctx.oidc.session?.accountId
      if (!accountId) return
      awaitBeforeAnswer(
        recordEndedSession(ctx),
        'session revocation write failed: the gateways accept its tokens until they expire',
      )
      awaitBeforeAnswer(
        recordAudit(db, {
          event: 'auth.logout',
          actor: `citizen:${accountId}`,
          subjectId: accountId,
          clientId: ctx.oidc.client?.clientId,
          ip: ctx.ip,
          requestId: providerRequest.getStore()?.request.id,
        }),
      )
    })
  }

  /** Requests of oidc-provider that failed because the database could not serve them. */
  const databaseFailed = new WeakSet<object>()

  /**
   * oidc-provider answers every unexpected failure as `server_error` with 500. When the
   * database was the cause, the truth is "try again soon": 503 with Retry-After (RFC 9110
   * §15.6.4, §10.2.3), the same error shape for JSON callers, and at the authorization
   * endpoint, whose redirect cannot carry a status, the code RFC 6749 §4.1.2.1 defines for
   * it: `temporarily_unavailable`. Pages are rendered as 503 by provider-pages.ts.
   */
  async function databaseOutageAnswers(
    ctx: Parameters<Parameters<Provider['use']>[0]>[0],
    next: () => Promise<unknown>,
  ): Promise<void> {
    await next()
    if (!databaseFailed.has(ctx)) return
    ctx.set('retry-after', String(databaseRetryAfterSeconds))
    ctx.set('cache-control', 'no-store')
    if (ctx.status === 500) ctx.status = 503
    const body = ctx.body as { error?: unknown } | undefined
    if (ctx.status === 503 && typeof body === 'object' && body !== null && body.error === 'server_error') {
      ctx.body = { ...body, error_description: 'the service is temporarily unavailable, try again later' }
    }
    const location = ctx.response.get('location')
    if (ctx.status >= 300 && ctx.status < 400 && location !== '') {
      const url = new URL(location)
      for (const params of [url.searchParams, new URLSearchParams(url.hash.slice(1))]) {
        if (params.get('error') !== 'server_error') continue
        params.set('error', 'temporarily_unavailable')
        params.set('error_description', 'the service is temporarily unavailable, try again later')
        if (params !== url.searchParams) url.hash = params.toString()
      }
      ctx.set('location', url.href)
    }
  }

  /** A write begun by a provider event: the response waits for it; a failure is logged. */
  function awaitBeforeAnswer(write: Promise<unknown>, failure = 'audit write failed'): void {
    const settled = write.catch((err: unknown) => logger.error({ err }, failure))
    providerRequest.getStore()?.audits.push(settled)
  }

  /**
   * A sign-out at end_session, for the gateways (session-revocation.ts): with `logout` the
   * whole session ended, every client it signed in to; without, only the one client that
   * asked (oidc-provider revoked that client's grant in the session, and the session
   * goes on). The event comes after oidc-provider destroyed the session; the object still
   * holds its uid and authorizations.
   */
  async function recordEndedSession(ctx: KoaContextWithOIDC): Promise<void> {
    const session = ctx.oidc.session
    if (typeof session?.uid !== 'string') return
    const clientIds = ctx.oidc.params?.logout
      ? Object.keys(session.authorizations ?? {})
      : ctx.oidc.client
        ? [ctx.oidc.client.clientId]
        : []
    const grantIds = grantIdsOf(Object.entries(session.authorizations ?? {}).filter(([c]) => clientIds.includes(c)))
    await recordRevokedSessions(db, [{ uid: session.uid, clientIds, grantIds }])
  }

  let current = await build()

  // Every instance picks up a changed key set within idp.keys.refreshSeconds: reload, and
  // when what it would sign or publish changed, build a new provider and swap it in.
  let reloading = false
  const reload = async () => {
    if (reloading) return
    reloading = true
    try {
      const [signing, cookies] = await Promise.all([loadKeys(db, kek, 'oidc'), loadKeys(db, kek, 'cookie')])
      const fingerprint = `${signing.fingerprint}/${cookies.fingerprint}`
      if (fingerprint !== current.fingerprint) {
        current = await build()
        logger.info('key set changed: provider rebuilt')
      }
    } catch (err) {
      // Keep serving with the keys we have; readiness still reflects the database.
      logger.warn({ err }, 'key reload failed')
    } finally {
      reloading = false
    }
  }
  // Background work, in one list (src/jobs/jobs.ts): a job's runs never overlap, a failure
  // is logged with its name and tried again at the next interval, and all stop on close.
  //  - key reload: every instance picks up a rotation within idp.keys.refreshSeconds;
  //  - housekeeping, once soon after start and then every 10 minutes: expired OIDC rows,
  //    records of ended sessions no token can need any more (session-revocation.ts),
  //    the sign-in throttle's source and per-pair counters that have run out, and officers'
  //    console sessions a day past their 12 hours (accounts/officer-sessions.ts); hourly,
  //    one-time codes and registration decoys older than two days;
  //  - document retention: replaced and deleted documents' bytes go after documents.retentionDays.
  const jobs = createJobs(logger, [
    { name: 'key reload', everyMs: config.idp.keys.refreshSeconds * 1000, run: reload },
    {
      name: 'expired OIDC rows purge',
      everyMs: 10 * 60 * 1000,
      firstAfterMs: 1000,
      run: () => purgeExpiredPayloads(db),
    },
    {
      name: 'kiosk poll records pruning',
      everyMs: 10 * 60 * 1000,
      firstAfterMs: 1000,
      run: () => pruneDevicePolls(db),
    },
    {
      name: 'ended sessions pruning',
      everyMs: 10 * 60 * 1000,
      firstAfterMs: 1000,
      run: () => pruneRevokedSessions(db),
    },
    {
      name: 'sign-in counter pruning',
      everyMs: 10 * 60 * 1000,
      firstAfterMs: 1000,
      run: () => pruneSourceCounters(db),
    },
    {
      name: 'ended officer sessions pruning',
      everyMs: 10 * 60 * 1000,
      firstAfterMs: 1000,
      run: () => pruneOfficerSessions(db),
    },
    {
      name: 'expired passkey challenges pruning',
      everyMs: 10 * 60 * 1000,
      firstAfterMs: 1000,
      run: () => pruneWebauthnChallenges(db),
    },
    {
      name: 'old one-time codes pruning',
      everyMs: 60 * 60 * 1000,
      firstAfterMs: 1000,
      run: async () => (await pruneOneTimeCodes(db)) + (await pruneDecoys(db)),
    },
    {
      name: 'document retention purge',
      everyMs: 60 * 60 * 1000,
      run: async () =>
        logger.info(
          { report: await purgeDocuments(db, documentStorage, config.documents) },
          'document retention purge done',
        ),
    },
  ])
  jobs.start()
  // The outbox worker (and in development the local mailbox): stopped with the app.
  const delivery = await startDelivery({ config, db, logger: logger.child({ component: 'outbox' }) })
  app.addHook('onClose', async () => {
    await jobs.stop()
    await delivery.stop()
  })

  app.decorate('reloadKeys', reload)

  // Before everything else: a request for a host that is not ours is refused (hosts.ts).
  app.addHook('onRequest', hostGuard(config))
  const forwarding = issuerForwarding(config)
  const discoveryPaths = new Set(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])

  // oidc-provider's routes. A hook rather than @fastify/middie's mount: it sees the Fastify
  // request and reply, which the provider's pages render through (request-context.ts),
  // and it runs before any body parsing, so the provider reads the raw stream itself.
  app.addHook('onRequest', async (request, reply) => {
    if (!isProviderPath(request.url)) return
    const raw = request.raw
    // oidc-provider builds every URL from the request (Koa's host and protocol): what it
    // reads is set from the issuer, so discovery, redirects and form actions name the
    // issuer whatever Host or X-Forwarded-* said (docs/security.md line 34). The client's
    // address is the one Fastify worked out from the trusted proxies only (docs/security.md
    // line 17); Koa would take the leftmost, client-written X-Forwarded-For entry.
    for (const h of forwardedHeaders) delete raw.headers[h]
    raw.headers.host = forwarding.host
    raw.headers['x-forwarded-host'] = forwarding.host
    raw.headers['x-forwarded-proto'] = forwarding.proto
    raw.headers['x-forwarded-for'] = request.ip
    // Too many wrong kiosk codes from this address (provider.ts counts them): no more tries
    // for a while, before oidc-provider looks any code up.
    if (request.method === 'POST' && isRoute(request.url, providerRoutes.code_verification)) {
      const allowance = await checkSourceAllowance(db, userCodeThrottleAction, request.ip, userCodeFailuresPerAddress)
      if (!allowance.allowed) {
        throw new AppError('too_many_requests', undefined, {
          headers: { 'retry-after': String(allowance.retryAfterSeconds) },
        })
      }
    }
    reply.hijack()
    // The discovery document no longer depends on the request: caches may keep it a while
    // (OpenID Connect Discovery 1.0 §4 leaves caching to HTTP; RFC 9111 §5.2.2.10).
    if (discoveryPaths.has(request.url.split('?', 1)[0] ?? ''))
      reply.raw.setHeader('cache-control', 'public, max-age=300')
    reply.raw.setHeader('x-request-id', request.id)
    // oidc-provider's own pages (its self-posting forms) carry no CSP: none of its
    // responses may be framed. Our pages (provider-pages.ts) replace this with the full policy.
    reply.raw.setHeader('content-security-policy', "frame-ancestors 'none'")
    reply.raw.setHeader('x-frame-options', 'DENY')
    // Not a resource any other origin embeds (CORS fetches of discovery and JWKS are not
    // affected: CORP governs no-cors loads), and no shared window (issue 10 §2).
    reply.raw.setHeader('cross-origin-opener-policy', 'same-origin')
    reply.raw.setHeader('cross-origin-resource-policy', 'same-origin')
    const userCode = takeUserCode(raw)
    const { handler } = current
    await providerRequest.run(
      {
        request,
        reply,
        graceReplays: new Set(),
        audits: [],
        providerPath: request.url.split('?', 1)[0] ?? '',
        ...(userCode === undefined ? {} : { userCode }),
      },
      () => handler(raw, reply.raw),
    )
  })

  // Every answer of ours: no window shared with another origin, no embedding by another
  // origin (issue 10 §2). Pages also carry the strict CSP (src/http/views.ts).
  app.addHook('onSend', async (_req, reply) => {
    reply.header('cross-origin-opener-policy', 'same-origin')
    reply.header('cross-origin-resource-policy', 'same-origin')
  })
  // "Home" names the issuer: on the 421 page of a refused host a relative `/` would lead
  // back to that same refused host.
  await registerPages(app, {
    config,
    homeHref: `${config.idp.issuer.replace(/\/+$/, '')}/`,
    templateDirs: [templatesDir],
    // The passkey pages' scripts (passkey-party.ts) and the upload pages' (documents/pages.ts);
    // no other page loads them.
    assets: { ...passkeyAssets, ...documentPageAssets },
    messages: mergeMessages(
      mergeMessages(mergeMessages(idpMessages, accountMessages), documentMessages),
      consoleMessages,
    ),
  })
  const catalogue = mergeMessages(commonMessages, idpMessages)
  app.decorate('idpText', (req: FastifyRequest, key: string, params?: Record<string, string | number>) => {
    const t = translator(catalogue, pickLocale(req)) as unknown as (
      k: string,
      p?: Record<string, string | number>,
    ) => string
    return t(key, params)
  })
  // CSRF tokens are HMACs keyed with this (forms.ts), the same on every instance.
  app.decorate('csrfKey', kek.derive('csrf tokens'))
  await app.register(healthRoutes, { ping: (ms) => database.ping(ms) })
  // TOTP secrets sealed like keys at rest; recovery codes hashed under a key of their own.
  const secondFactors = { sealer: kek, recoveryKey: kek.derive('recovery codes') }
  const otpSecret = kek.derive('one-time codes')
  await app.register(interactionRoutes, { config, db, provider: () => current.provider, secondFactors, otpSecret })
  // The other areas reach the provider through this port only (src/idp/oidc/port.ts).
  const oidc = oidcPort(() => current.provider, {
    lifetimes: config.signInLevels,
    sessionIdleSeconds: config.idp.ttl.sessionIdleSeconds,
  })
  await app.register(accountRoutes, {
    config,
    db,
    oidc,
    otpSecret,
    secondFactors,
  })
  // The officers' console (/petugas), its own sign-in and sessions (console/routes.ts).
  await app.register(consoleRoutes, { config, db, sealer: kek, ...(deps.now ? { now: deps.now } : {}) })
  await app.register(documentPagesRoutes, { config, db, oidc, storage: documentStorage })
  await app.register(documentConsentRoutes, {
    config,
    db,
    oidc,
    questionKey: kek.derive('document questions'),
    subjects,
  })
  await app.register(documentApiRoutes, {
    config,
    db,
    oidc,
    storage: documentStorage,
    keyring: linkKeyring,
  })

  await app.register(devMailboxRoutes, { config, mailbox: delivery.mailbox })

  app.get('/', async (_req, reply) => reply.page('home', {}))
  return app
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Reloads the key set now (tests, and `satupintu keys rotate` in a one-process setup). */
    reloadKeys(): Promise<void>
  }
}
