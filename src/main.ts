import fs from 'node:fs'
import type { Logger } from 'pino'
import { buildDemoAgency } from '../examples/demo-agency/app.ts'
import type { Config } from './config/schema.ts'
import { openDatabase, type DatabaseHandle } from './db/create.ts'
import { migrateToLatestOrThrow, pendingMigrations } from './db/migrator.ts'
import { servePglite, type PgliteServer } from './db/pglite-server.ts'
import { buildGateway } from './gateway/app.ts'
import { buildIdp } from './idp/app.ts'
import { createKeyEncryption, resolveKeyEncryptionSecret, type KeyEncryption } from './keys/encryption.ts'
import { documentsResource } from './idp/oidc/provider.ts'
import { demoDocumentService, ensureDemoData, type DemoData } from './demo.ts'
import { ensureGatewayClient, gatewaySitesFrom } from './idp/oidc/gateway-client.ts'
import { loadAgencies, tableDefaults, type AgencyTable } from './gateway/agencies.ts'
import { createProcessLogger } from './http/logging.ts'
import { createServiceMetrics, serveMetrics, type MetricsListener, type ServiceMetrics } from './http/metrics.ts'
import { listen, type Listening } from './server.ts'

export type ServiceName = 'idp' | 'gateway' | 'demo-agency'

export interface Running {
  readonly services: readonly Listening[]
  /** `/metrics` listeners (metrics.idpPort, metrics.gatewayPort), apart from the services'. */
  readonly metrics: readonly MetricsListener[]
  readonly database: DatabaseHandle | undefined
  readonly logger: Logger
  /** Demo credentials when config `demo` is on (quick start). */
  readonly demo: DemoData | undefined
  /** When the gateway runs: each agency's own origin (issue 10 §2). */
  readonly agencies: readonly { readonly id: string; readonly origin: string }[]
  /**
   * Graceful stop: readiness 503 for http.drainDelayMs (a load balancer stops sending),
   * then the servers stop accepting and in-flight requests finish, then the database.
   */
  stop(): Promise<void>
}

/** A start-up refusal that the CLI prints as one line (pending migrations, for instance). */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StartupError'
  }
}

/**
 * The composition root: config → logger → database → migration check → apps → listeners.
 * `services` chooses what this process runs: everything for the quick start, or one
 * service per process in production.
 */
export async function startServices(
  config: Config,
  services: readonly ServiceName[],
  options: { logger?: Logger; portOverride?: number } = {},
): Promise<Running> {
  const logger =
    options.logger ?? (await createProcessLogger({ level: config.log.level, name: 'satupintu', env: config.env }))
  const needsDb = services.some((s) => s !== 'demo-agency')
  const database = needsDb
    ? await openDatabase(config.database, {
        // The process keeps running: the pool replaces the connection, requests answer
        // 503 meanwhile, readiness says so (docs/operations.md, "Database outage").
        onConnectionError: (err, where) => logger.warn({ reason: err.message, where }, 'database connection lost'),
      })
    : undefined
  const started: Listening[] = []
  const metrics: MetricsListener[] = []
  // Each service's /metrics on its own port, never on the public one (docs/operations.md, "Metrics").
  const serveMetricsOf = async (
    app: { metrics: { registry: Parameters<typeof serveMetrics>[0] } },
    port: number | undefined,
  ) => {
    if (port === undefined) return
    metrics.push(
      await serveMetrics(app.metrics.registry, { host: config.metrics.host, port, allow: config.metrics.allow }),
    )
  }
  let demo: DemoData | undefined
  let served: PgliteServer | undefined
  let agencies: { id: string; origin: string }[] = []
  try {
    if (database) await ensureMigrated(config, database, logger)
    // The embedded database, served to the CLI on this machine while this process runs.
    if (database?.pglite) {
      served = await servePglite(database.pglite.client, database.pglite.gate, {
        dir: config.database.pgliteDir,
        onError: (err) => logger.warn({ reason: err.message }, 'embedded database server: client error'),
      })
    }
    const demoAgencyUrl = `http://localhost:${options.portOverride ?? config.demoAgency.port}`
    // The idp's key encryption, made once here: the demo officer's authenticator key is sealed with it.
    let keyEncryption: KeyEncryption | undefined
    if (services.includes('idp')) {
      keyEncryption = createKeyEncryption(resolveKeyEncryptionSecret(config, (msg) => logger.warn(msg)))
    }
    if (config.demo && database && keyEncryption && services.includes('demo-agency')) {
      demo = await ensureDemoData(database.db, config, demoAgencyUrl, keyEncryption)
    }
    // One process running both: register the gateway at the idp and give it its secret.
    let gatewaySecret = config.gateway.clientSecret
    if (gatewaySecret === undefined && database && services.includes('gateway')) {
      if (!services.includes('idp')) {
        throw new StartupError(
          'config: gateway.clientSecret (env GATEWAY_CLIENT_SECRET) is required when the gateway runs without the idp; register it with `satupintu clients add` (docs/agency-integration.md)',
        )
      }
      // One callback per agency host (issue 10 §2): the gateway's agencies file names them.
      const table = loadAgencies(config.gateway.agenciesFile, tableDefaults(config))
      gatewaySecret = await ensureGatewayClient(database.db, config, gatewaySitesFrom(table.agencies))
    }
    if (services.includes('gateway')) {
      agencies = loadAgencies(config.gateway.agenciesFile, tableDefaults(config)).agencies.map((a) => ({
        id: a.id,
        origin: a.origin,
      }))
    }
    for (const name of services) {
      const port = options.portOverride ?? portOf(config, name)
      if (name === 'idp') {
        const app = await buildIdp({
          config,
          database: database as DatabaseHandle,
          logger,
          ...(keyEncryption ? { keyEncryption } : {}),
        })
        started.push(await listen('idp', app, config.http.host, port))
        await serveMetricsOf(app, config.metrics.idpPort)
      } else if (name === 'gateway') {
        // One set of metrics across reloads: the /metrics listener keeps its registry.
        const gatewayMetrics = createServiceMetrics({ service: 'gateway', ...(database ? { database } : {}) })
        const app = await buildGateway({
          config,
          database: database as DatabaseHandle,
          logger,
          metrics: gatewayMetrics,
          ...(gatewaySecret === undefined ? {} : { clientSecret: gatewaySecret }),
        })
        const listening = await listen('gateway', app, config.http.host, port)
        // The one-process quick start takes agencies added while it runs (`satupintu dev
        // agency`, or an edit of the file): see reloadingGateway.
        started.push(
          database && services.includes('idp') && config.gateway.clientSecret === undefined
            ? reloadingGateway(listening, { config, database, logger, metrics: gatewayMetrics })
            : listening,
        )
        await serveMetricsOf(app, config.metrics.gatewayPort)
      } else {
        const app = await buildDemoAgency({
          logger,
          // Behind the gateway (agency id as in config/agencies.yaml) ...
          gateway: { url: config.gateway.publicUrl, agencyId: 'dinas-contoh' },
          // ... and, with demo data, also as a direct OIDC relying party.
          ...(demo
            ? {
                oidc: {
                  issuer: config.idp.issuer,
                  clientId: demo.clientId,
                  clientSecret: demo.clientSecret,
                  baseUrl: demoAgencyUrl,
                },
                // Its backend fetches the document links the gateway attaches.
                documentsClient: {
                  tokenUrl: `${config.idp.issuer}/token`,
                  clientId: demo.backendClientId,
                  clientSecret: demo.backendClientSecret,
                  resource: config.idp.gatewayResource ?? config.gateway.publicUrl,
                  // ... and the links the idp lists for its direct integration.
                  idpResource: documentsResource(config),
                },
                documentService: demoDocumentService,
              }
            : {}),
        })
        started.push(await listen('demo-agency', app, config.http.host, port))
      }
    }
  } catch (err) {
    await Promise.allSettled([...started.map((s) => s.close(1000)), ...metrics.map((m) => m.close())])
    await served?.close().catch(() => {})
    await database?.close().catch(() => {})
    throw err
  }
  return {
    services: started,
    metrics,
    database,
    logger,
    demo,
    agencies,
    async stop() {
      for (const s of started) s.drain()
      if (config.http.drainDelayMs > 0) {
        logger.info({ drainDelayMs: config.http.drainDelayMs }, 'draining: readiness is 503, still serving')
        await new Promise((r) => setTimeout(r, config.http.drainDelayMs))
      }
      await Promise.allSettled(started.map((s) => s.close(config.http.shutdownTimeoutMs)))
      // Last: a scrape during the drain still sees the instance.
      await Promise.allSettled(metrics.map((m) => m.close()))
      await served?.close()
      await database?.close()
    },
  }
}

/** How often the quick start looks at the agencies file (fs.watchFile polls: it sees a file replaced by rename, as editors and `satupintu dev agency` write it). */
const agenciesPollMs = 500

/**
 * The quick start's gateway, rebuilt whole when the agencies file changes (pomerium's
 * "swap immutable state on config change", at the level of the whole app): the file is
 * read and validated, the gateway's client at the idp gets the new agencies' callbacks
 * (and a new secret), a new gateway app is built and made ready, and only then the old
 * one is closed (in-flight requests finish) and the new one listens on the same port.
 * An invalid file is logged and the running gateway keeps its table.
 *
 * Only where one process runs both the idp and the gateway and the gateway's secret is
 * its own (the quick start): elsewhere the gateway's client is registered by an operator
 * (`satupintu clients gateway`) and a new agency is a deployment.
 */
function reloadingGateway(
  first: Listening,
  deps: { config: Config; database: DatabaseHandle; logger: Logger; metrics: ServiceMetrics },
): Listening {
  const { config, database, logger } = deps
  const file = config.gateway.agenciesFile
  const port = Number(new URL(first.url).port)
  let current = first
  let stopped = false
  let queue: Promise<void> = Promise.resolve()

  async function reload(): Promise<void> {
    if (stopped) return
    let table: AgencyTable
    try {
      table = loadAgencies(file, tableDefaults(config))
    } catch (err) {
      logger.warn(
        { reason: (err as Error).message },
        'agencies file changed but is not valid: the gateway keeps its agencies',
      )
      return
    }
    try {
      const clientSecret = await ensureGatewayClient(database.db, config, gatewaySitesFrom(table.agencies))
      const app = await buildGateway({ config, database, logger, metrics: deps.metrics, agencies: table, clientSecret })
      await app.ready()
      if (stopped) return void (await app.close())
      await current.close(config.http.shutdownTimeoutMs)
      try {
        current = await listen('gateway', app, config.http.host, port)
      } catch (err) {
        await app.close()
        throw err
      }
      logger.info({ agencies: table.agencies.map((a) => a.id) }, 'agencies file changed: gateway reloaded')
    } catch (err) {
      logger.error({ err }, 'agencies file changed but the gateway could not be rebuilt: restart the quick start')
    }
  }
  const onChange = (now: fs.Stats, before: fs.Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return
    queue = queue.then(reload)
  }
  fs.watchFile(file, { interval: agenciesPollMs, persistent: false }, onChange)
  return {
    name: first.name,
    url: first.url,
    drain() {
      current.drain()
    },
    async close(timeoutMs: number) {
      stopped = true
      fs.unwatchFile(file, onChange)
      await queue
      await current.close(timeoutMs)
    },
  }
}

function portOf(config: Config, name: ServiceName): number {
  switch (name) {
    case 'idp':
      return config.idp.port
    case 'gateway':
      return config.gateway.port
    case 'demo-agency':
      return config.demoAgency.port
  }
}

async function ensureMigrated(config: Config, database: DatabaseHandle, logger: Logger): Promise<void> {
  if (config.database.autoMigrate) {
    const results = await migrateToLatestOrThrow(database.db)
    for (const r of results) logger.info({ migration: r.migrationName }, 'migration applied')
    return
  }
  const pending = await pendingMigrations(database.db)
  if (pending.length > 0) {
    throw new StartupError(
      `database: ${pending.length} migration(s) pending (${pending.join(', ')}); run \`satupintu migrate\` first`,
    )
  }
}
