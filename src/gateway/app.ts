import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { createJobs } from '../jobs/jobs.ts'
import type { Config } from '../config/schema.ts'
import type { DatabaseHandle } from '../db/create.ts'
import { createBaseApp } from '../http/app.ts'
import { healthRoutes } from '../http/health.ts'
import { createServiceMetrics, instrumentApp, type ServiceMetrics } from '../http/metrics.ts'
import { registerOpenApi } from '../http/openapi.ts'
import { registerPages } from '../http/pages.ts'
import { createKeyEncryption, resolveKeyEncryptionSecret, type KeyEncryption } from '../keys/encryption.ts'
import { loadAgencies, tableDefaults, type AgencyTable } from './agencies.ts'
import { createAssertionSigner } from './proxy/assertion.ts'
import { callbackPath, createGatewayAuth, logoutPath } from './auth/authenticate.ts'
import { consentReturnPath, registerGatewayDocuments } from './proxy/documents.ts'
import { gatewayMessages } from './messages.ts'
import { portalRoutes } from './portal.ts'
import { refusedRedirectRoute, registerProxy } from './proxy/proxy.ts'
import { createRevocationPoller } from './auth/revocations.ts'
import { createSites, gatewayAssetsPrefix, guardSites } from './sites.ts'

export interface GatewayDeps {
  config: Config
  database: DatabaseHandle
  logger: Logger
  /** Tests pass their own; by default read from gateway.agenciesFile. */
  agencies?: AgencyTable
  keyEncryption?: KeyEncryption
  /** The gateway's client secret at the idp, when not in configuration (quick start). */
  clientSecret?: string
  /** This instance's metrics; by default a registry of its own (src/http/metrics.ts). */
  metrics?: ServiceMetrics
}

/**
 * The public keys of the assertion (RFC 7517 JWK Set). The keys' members are listed for
 * the document; any other member a key has is kept (the schema also serialises).
 */
const jwksSchema = {
  tags: ['assertion'],
  summary: 'The public keys that sign X-Satupintu-Assertion',
  description:
    'A JWK Set (RFC 7517 §5). Cache it (`Cache-Control: public, max-age=300`) and fetch it again when an assertion names a `kid` you do not have: keys are published before they sign.',
  response: {
    200: {
      description: 'The JWK Set: ES256 keys (`kty` EC, `crv` P-256).',
      type: 'object',
      required: ['keys'],
      properties: {
        keys: {
          type: 'array',
          items: {
            type: 'object',
            required: ['kty', 'kid'],
            additionalProperties: true,
            properties: {
              kty: { type: 'string' },
              crv: { type: 'string' },
              x: { type: 'string' },
              y: { type: 'string' },
              kid: { type: 'string' },
              alg: { type: 'string' },
              use: { type: 'string' },
            },
          },
        },
      },
    },
  },
} as const

const templatesDir = fileURLToPath(new URL('./templates/', import.meta.url))

/**
 * The gateway as a Fastify app. It never imports src/idp: it talks to the idp over OIDC
 * only (discovery, JWKS, tokens, logout), so it can run on another machine.
 */
export async function buildGateway(deps: GatewayDeps): Promise<FastifyInstance> {
  const { config, database } = deps
  const logger = deps.logger.child({ service: 'gateway' })
  const table = deps.agencies ?? loadAgencies(config.gateway.agenciesFile, tableDefaults(config))
  const kek = deps.keyEncryption ?? createKeyEncryption(resolveKeyEncryptionSecret(config, (m) => logger.warn(m)))
  // The gateway proxies bodies as streams: its own routes keep the small default limit,
  // proxied routes set theirs per service (proxy.ts).
  // Each agency on its own host (sites.ts): Fastify routes an agency host's requests into
  // that agency's routes before anything else sees them.
  const sites = createSites(config, table, { own: [callbackPath, logoutPath, consentReturnPath] })
  const app = createBaseApp({ config, logger, rewriteUrl: (raw) => sites.rewriteUrl(raw) })
  // Before any route: it learns them as they are added (src/http/openapi.ts). On the
  // portal's host only: on an agency's host every other path is the agency's.
  await registerOpenApi(app, {
    title: 'Satu Pintu gateway',
    description:
      "The gateway's own endpoints for agencies behind it (docs/agency-integration.md): the keys that sign `X-Satupintu-Assertion`, document link fetches, back-channel logout (called by the idp) and health. Requests to an agency's own host go to the agency's backend and are not listed; pages for citizens are not listed either. `/metrics` is on a port of its own (docs/operations.md).",
    serverUrl: config.gateway.publicUrl,
    tags: [
      { name: 'assertion', description: 'Verifying the X-Satupintu-Assertion header' },
      { name: 'documents', description: 'Signed document links attached to proxied requests' },
      { name: 'oidc', description: 'Called by the idp (OpenID Connect Back-Channel Logout 1.0)' },
      { name: 'operations', description: 'Liveness and readiness, for load balancers and orchestrators' },
    ],
  })
  // Metrics (src/http/metrics.ts): every answer by route; an agency's routes also by agency.
  const agencyRoutes = new Map(
    table.agencies.flatMap(
      (a) =>
        [
          [a.prefix, a.id],
          [`${a.prefix}/*`, a.id],
        ] as const,
    ),
  )
  instrumentApp(app, deps.metrics ?? createServiceMetrics({ service: 'gateway', database }), {
    agencyOf: (route) => agencyRoutes.get(route),
  })
  guardSites(app, { sites, table })

  const signer = await createAssertionSigner({ db: database.db, kek, config, logger })
  // Sessions the idp ended (revocations.ts): read whole before the first request, then
  // what is new at every poll.
  const revocations = createRevocationPoller(database.db, logger.child({ component: 'revocations' }), {
    pollMs: config.gateway.revocationPollMs,
  })
  await revocations.poll()

  // The gateway's pages are also shown on agency hosts (sign-out, errors): their stylesheet
  // lives under a path no agency uses, which the gateway keeps on every host (sites.ts).
  // "Home" is the portal, absolute: on an agency host "/" is the agency's, and on a host we
  // refuse (421) a relative link would lead straight back to the refusal.
  await registerPages(app, {
    config,
    templateDirs: [templatesDir],
    messages: gatewayMessages,
    assetsPrefix: gatewayAssetsPrefix,
    homeHref: `${new URL(config.gateway.publicUrl).origin}/`,
  })
  // Not ready while the set of ended sessions is stale: a signed-out citizen's token could pass.
  await app.register(healthRoutes, {
    ping: (ms) => database.ping(ms),
    checks: { revocations: () => revocations.healthy() },
  })

  const clientSecret = deps.clientSecret ?? config.gateway.clientSecret
  const auth = await createGatewayAuth(app, {
    config,
    db: database.db,
    logger,
    kek,
    clientSecret,
    table,
    sites,
    revoked: revocations.revoked,
  })
  // Background work, in one list (src/jobs/jobs.ts): no overlap, failures logged with the
  // job's name and tried again at the next interval, all stopped on close.
  const jobs = createJobs(logger, [
    { name: 'assertion key reload', everyMs: config.idp.keys.refreshSeconds * 1000, run: () => signer.reload() },
    { name: 'ended sessions poll', everyMs: config.gateway.revocationPollMs, run: () => revocations.poll() },
    ...auth.background,
  ])
  jobs.start()
  app.addHook('onClose', async () => jobs.stop())

  // Agencies verify the assertion with these keys (docs/agency-integration.md).
  app.get('/.well-known/jwks.json', { schema: jwksSchema }, async (_req, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(signer.jwks()),
  )

  await app.register(portalRoutes, { config, table, auth })
  await app.register(refusedRedirectRoute, { table })
  // Document links, consent and link fetches (issue 5): the same storage directory and
  // link key as the idp (documents.ts gatewayLinkKeyring).
  const extras = await registerGatewayDocuments(app, {
    config,
    db: database.db,
    table,
    auth,
    kek,
    sites,
    listen: (channel, listener) => database.listen(channel, listener),
  })
  await registerProxy(app, { config, table, auth, signer, logger, extras, sites })
  return app
}
