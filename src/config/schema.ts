import { z } from 'zod'

/**
 * The configuration schema. Defaults live in config/default.yaml (and the per-environment
 * overlays beside it), not here: the schema only says what a valid value is, so that a
 * file, an overlay or an environment variable is checked by the same rules. Every key has
 * a description; docs/configuration.md is generated from this file (npm run docs:config)
 * and a test fails when the two drift.
 */

const portMessage = 'must be a port number from 1 to 65535'
const port = z.number().int(portMessage).min(1, portMessage).max(65535, portMessage)
const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
const duration = (what: string) => z.number().int().positive().describe(what)

export const environments = ['development', 'production', 'test'] as const

export const configSchema = z
  .strictObject({
    env: z.enum(environments).describe('Deployment environment. `production` turns on the strict checks (https issuer, required secrets).'),
    dataDir: z.string().min(1).describe('Directory for local state: the embedded database, generated development secrets, stored documents.'),
    regency: z
      .strictObject({
        name: z.string().min(2).describe('Name of the regency without the word "Kabupaten", e.g. "Sukamaju": shown on pages, and refused inside passwords.'),
      })
      .describe('The regional government this deployment serves.'),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).describe('Minimum level written to the JSON log.'),
      })
      .describe('Logging.'),
    database: z
      .strictObject({
        url: z
          .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
          .optional()
          .describe('PostgreSQL connection URL. When unset, the embedded PGlite database under `database.pgliteDir` is used.'),
        pgliteDir: z.string().min(1).describe('Data directory of the embedded PGlite database (used when `database.url` is unset).'),
        autoMigrate: z.boolean().describe('Apply pending migrations at start-up. When false, a server refuses to start while migrations are pending.'),
        poolMax: z.number().int().min(1).max(1000).describe('Maximum connections in the PostgreSQL pool of one process.'),
        connectTimeoutMs: duration('How long to wait for a database connection before failing, in milliseconds.'),
        statementTimeoutMs: duration('Server-side statement timeout for PostgreSQL sessions, in milliseconds.'),
      })
      .describe('Database.'),
    http: z
      .strictObject({
        host: z.string().min(1).describe('Address the servers listen on.'),
        port: port
          .optional()
          .describe('Port for a single service started by `satupintu idp` or `satupintu gateway` (the common PaaS convention). `satupintu start` uses the per-service ports.'),
        trustProxy: z
          .array(z.string().min(1))
          .describe('Addresses or CIDR ranges of trusted reverse proxies. Only from these are X-Forwarded-* headers believed.'),
        bodyLimitBytes: z.number().int().min(1024).describe('Largest request body the services accept on their own routes, in bytes.'),
        maxHeaderBytes: z.number().int().min(4096).max(1048576).describe('Largest total size of request headers, in bytes (larger requests get 431).'),
        requestTimeoutMs: duration('Time a client has to send a whole request, in milliseconds.'),
        keepAliveTimeoutMs: duration('How long an idle keep-alive connection stays open, in milliseconds.'),
        shutdownTimeoutMs: duration('On SIGTERM, how long in-flight requests may take to finish before the process exits, in milliseconds.'),
      })
      .describe('HTTP servers.'),
    idp: z
      .strictObject({
        issuer: httpUrl.describe('Issuer identifier of the identity provider: its public base URL (https in production).'),
        port: port.describe('Port of the identity provider.'),
      })
      .describe('Identity provider.'),
    gateway: z
      .strictObject({
        publicUrl: httpUrl.describe('Public base URL of the gateway (the portal).'),
        port: port.describe('Port of the gateway.'),
      })
      .describe('Gateway.'),
    demoAgency: z
      .strictObject({
        port: port.describe('Port of the demo agency backend started by `satupintu start`.'),
      })
      .describe('Demo agency backend (quick start only).'),
    secrets: z
      .strictObject({
        keyEncryptionKey: z
          .string()
          .min(32, 'must be at least 32 characters')
          .optional()
          .describe('Secret that encrypts signing keys at rest. Required in production; in development a generated one is kept under `dataDir` with a warning.'),
      })
      .describe('Secrets. Give them through the environment, never in a committed file.'),
    demo: z.boolean().describe('Create demo data (a demo relying party and a demo citizen) at start-up. On for the quick start only.'),
  })
  .superRefine((c, ctx) => {
    // Production refuses combinations that cannot be safe, naming the keys involved.
    if (c.env !== 'production') return
    if (!c.idp.issuer.startsWith('https://')) {
      ctx.addIssue({ code: 'custom', path: ['idp', 'issuer'], message: 'must be an https URL when env is production' })
    }
    if (!c.gateway.publicUrl.startsWith('https://')) {
      ctx.addIssue({ code: 'custom', path: ['gateway', 'publicUrl'], message: 'must be an https URL when env is production' })
    }
    if (c.secrets.keyEncryptionKey === undefined) {
      ctx.addIssue({ code: 'custom', path: ['secrets', 'keyEncryptionKey'], message: 'is required when env is production' })
    }
    if (c.demo) {
      ctx.addIssue({ code: 'custom', path: ['demo'], message: 'must be false when env is production' })
    }
  })

export type Config = z.infer<typeof configSchema>

/** How an environment variable's text is turned into a value before validation. */
export type EnvKind = 'string' | 'int' | 'bool' | 'list'

/**
 * Environment variables and the configuration key each one sets. Environment variables
 * override the files. This table is the only mapping; the docs are generated from it.
 */
export const envVars = [
  { name: 'NODE_ENV', key: 'env', kind: 'string' },
  { name: 'SATUPINTU_DATA_DIR', key: 'dataDir', kind: 'string' },
  { name: 'SATUPINTU_REGENCY_NAME', key: 'regency.name', kind: 'string' },
  { name: 'LOG_LEVEL', key: 'log.level', kind: 'string' },
  { name: 'DATABASE_URL', key: 'database.url', kind: 'string' },
  { name: 'PGLITE_DATA_DIR', key: 'database.pgliteDir', kind: 'string' },
  { name: 'DATABASE_AUTO_MIGRATE', key: 'database.autoMigrate', kind: 'bool' },
  { name: 'DATABASE_POOL_MAX', key: 'database.poolMax', kind: 'int' },
  { name: 'HOST', key: 'http.host', kind: 'string' },
  { name: 'PORT', key: 'http.port', kind: 'int' },
  { name: 'TRUST_PROXY', key: 'http.trustProxy', kind: 'list' },
  { name: 'SHUTDOWN_TIMEOUT_MS', key: 'http.shutdownTimeoutMs', kind: 'int' },
  { name: 'ISSUER', key: 'idp.issuer', kind: 'string' },
  { name: 'IDP_PORT', key: 'idp.port', kind: 'int' },
  { name: 'GATEWAY_URL', key: 'gateway.publicUrl', kind: 'string' },
  { name: 'GATEWAY_PORT', key: 'gateway.port', kind: 'int' },
  { name: 'DEMO_AGENCY_PORT', key: 'demoAgency.port', kind: 'int' },
  { name: 'SATUPINTU_KEY_ENCRYPTION_SECRET', key: 'secrets.keyEncryptionKey', kind: 'string' },
  { name: 'SATUPINTU_DEMO', key: 'demo', kind: 'bool' },
] as const satisfies readonly { name: string; key: string; kind: EnvKind }[]
