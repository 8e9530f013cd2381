import fs from 'node:fs'
import type { Command } from 'commander'
import type { Config } from '../config/schema.ts'
import { openDatabase, type DatabaseHandle } from '../db/create.ts'
import { pendingMigrations } from '../db/migrator.ts'
import {
  ClientError,
  authMethods,
  findClient,
  insertClient,
  listClients,
  prepareClient,
  removeClient,
  rotateClientSecret,
  upsertClient,
  type AuthMethod,
  type ClientInput,
  type ClientPolicy,
} from '../idp/oidc/clients.ts'
import { applyClientsFile, ClientsFileError } from '../idp/oidc/clients-file.ts'
import { verifySectorIdentifier } from '../idp/oidc/sector-identifier.ts'
import { findKioskByClientId } from '../idp/oidc/kiosks.ts'
import { ensureGatewayClient, gatewaySitesFrom } from '../idp/oidc/gateway-client.ts'
import { loadAgencies, tableDefaults } from '../gateway/agencies.ts'
import { createKeyEncryption, resolveKeyEncryptionSecret } from '../keys/encryption.ts'
import { listKeys, rotateKeys } from '../keys/keys.ts'
import { recordAudit } from '../audit/audit.ts'
import { counted, printJson, printTable, type Io } from './output.ts'

/** A failure of an admin verb: one line on stderr, exit 1 (or 2 for usage). */
export class AdminError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.name = 'AdminError'
    this.exitCode = exitCode
  }
}

export interface AdminContext {
  io: Io
  config: () => Config
}

/** Opens the database for an admin verb; refuses to work on an unmigrated schema. */
export async function withDatabase<T>(
  ctx: AdminContext,
  fn: (h: DatabaseHandle, config: Config) => Promise<T>,
): Promise<T> {
  const config = ctx.config()
  const handle = await openDatabase(config.database, { viaRunningServer: true })
  try {
    const pending = await pendingMigrations(handle.db)
    if (pending.length > 0)
      throw new AdminError(`database: ${counted(pending.length, 'migration')} pending; run \`satupintu migrate\` first`)
    return await fn(handle, config)
  } finally {
    await handle.close()
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

function longestTokenLifetime(config: Config): number {
  const t = config.idp.ttl
  // Everything signed with a key: ID tokens, JWT access tokens, logout tokens (120 s).
  return Math.max(t.idTokenSeconds, t.accessTokenSeconds, t.clientCredentialsSeconds, 120) + 60
}

export function registerKeyCommands(program: Command, ctx: AdminContext): void {
  const keys = program.command('keys').description('Signing keys of the idp (and cookie keys): list and rotate.')
  keys
    .command('list')
    .description('List keys with their state (pending, active, retiring, expired).')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const rows = await listKeys(db)
        if (opts.json) return printJson(ctx.io, rows)
        printTable(ctx.io, [
          ['KID', 'PURPOSE', 'ALG', 'STATE', 'ACTIVATES', 'EXPIRES'],
          ...rows.map((k) => [
            k.kid,
            k.purpose,
            k.alg,
            k.state,
            k.activatesAt.toISOString(),
            k.expiresAt?.toISOString() ?? '-',
          ]),
        ])
      })
    })
  keys
    .command('rotate')
    .description(
      'Add new keys: published now, signing after the publish delay; old keys retire once their tokens expired.',
    )
    .option('--purpose <purpose>', 'oidc (token signing), cookie, or gateway (the assertion sent to agencies)', 'oidc')
    .option('--now', 'sign with the new key at once (emergency: a key was exposed)')
    .option(
      '--revoke-old',
      'with --now: stop accepting everything the replaced keys signed, at once (a key was stolen; signed-in users sign in again)',
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { purpose: string; now?: boolean; revokeOld?: boolean; json?: boolean }) => {
      if (opts.purpose !== 'oidc' && opts.purpose !== 'cookie' && opts.purpose !== 'gateway') {
        throw new AdminError('--purpose must be oidc, cookie or gateway', 2)
      }
      if (opts.revokeOld && !opts.now)
        throw new AdminError('--revoke-old needs --now: the new key must sign before the old ones stop counting', 2)
      await withDatabase(ctx, async ({ db }, config) => {
        const kek = createKeyEncryption(resolveKeyEncryptionSecret(config, (m) => ctx.io.err(`warning: ${m}`)))
        // A replaced key stays published until everything it signed has expired.
        const retireAfter =
          opts.purpose === 'cookie'
            ? Math.max(config.idp.ttl.sessionAbsoluteSeconds, config.gateway.session.absoluteSeconds)
            : opts.purpose === 'gateway'
              ? config.gateway.assertionSeconds + 300
              : longestTokenLifetime(config)
        const created = await rotateKeys(db, kek, opts.purpose as 'oidc' | 'cookie' | 'gateway', {
          publishDelaySeconds: opts.now ? 0 : config.idp.keys.publishDelaySeconds,
          // A stolen key: what it signed stops counting now, not after the longest lifetime.
          retireAfterSeconds: opts.revokeOld ? 0 : retireAfter,
          revokeOld: opts.revokeOld === true,
        })
        await recordAudit(db, {
          event: 'keys.rotated',
          actor: 'cli',
          data: { purpose: opts.purpose, kids: created.map((k) => k.kid), revokedOld: opts.revokeOld === true },
        })
        if (opts.json) return printJson(ctx.io, created)
        for (const k of created) ctx.io.out(`added ${k.kid} (${k.alg}), signing from ${k.activatesAt.toISOString()}`)
      })
    })
}

interface ClientFlags {
  name: string
  agency: string
  redirectUri?: string[]
  postLogoutRedirectUri?: string[]
  backchannelLogoutUri?: string
  authMethod: string
  scope?: string[]
  subject?: string
  firstParty?: boolean
  sectorIdentifierUri?: string
  applicationType: string
  dpop?: boolean
  grant?: string[]
  clientId?: string
  resource?: string[]
  jwksFile?: string
  json?: boolean
}

export function registerClientCommands(program: Command, ctx: AdminContext): void {
  const clients = program
    .command('clients')
    .description('Relying parties (agency applications): add, list, show, remove, rotate-secret, apply.')
  const policy = (config: Config) => ({
    allowLoopbackHttp: config.env !== 'production',
    documentTypes: config.documents.types.map((t) => t.id),
  })

  clients
    .command('add')
    .description('Register a relying party. A client secret is printed once and stored only as a digest.')
    .requiredOption('--name <name>', 'display name citizens see on the consent page')
    .requiredOption('--agency <id>', 'agency id, e.g. disdukcapil')
    .option('--client-id <id>', 'client id (default: generated from the agency)')
    .option('--redirect-uri <uri>', 'redirect URI (repeatable)', collect)
    .option('--post-logout-redirect-uri <uri>', 'post-logout redirect URI (repeatable)', collect)
    .option('--backchannel-logout-uri <uri>', 'back-channel logout URI')
    .option('--auth-method <method>', `token endpoint authentication: ${authMethods.join(', ')}`, 'client_secret_basic')
    .option('--scope <scope>', 'allowed scope (repeatable; default openid profile)', collect)
    .option('--subject <type>', 'pairwise (default) or public; public only with --first-party')
    .option(
      '--first-party',
      "one of the regency's own services (portal, account pages, its own app), not an agency's: citizens are not asked for consent (except for the NIK)",
    )
    .option(
      '--sector-identifier-uri <uri>',
      'https URL of a JSON array of every redirect URI: one pairwise sector for redirect URIs on several hosts',
    )
    .option('--application-type <type>', 'web, or native for an app on a phone or computer (RFC 8252)', 'web')
    .option('--dpop', 'access tokens only with a DPoP proof (RFC 9449): recommended for native apps')
    .option('--grant <type>', 'grant type (repeatable): authorization_code, refresh_token, client_credentials', collect)
    .option('--resource <uri>', 'resource server the client may get tokens for (repeatable)', collect)
    .option('--jwks-file <file>', 'public JWKS for private_key_jwt')
    .option('--json', 'machine-readable output')
    .action(async (flags: ClientFlags) => {
      await withDatabase(ctx, async ({ db }, config) => {
        const input = clientInputFrom(flags)
        const prepared = prepare(input, policy(config))
        if (await findClient(db, prepared.clientId)) throw new AdminError(`client ${prepared.clientId} already exists`)
        await verifySector(prepared.metadata)
        await insertClient(db, prepared)
        await recordAudit(db, {
          event: 'client.registered',
          actor: 'cli',
          clientId: prepared.clientId,
          data: { agency: prepared.agencyId },
        })
        if (flags.json)
          return printJson(ctx.io, {
            client_id: prepared.clientId,
            client_secret: prepared.secret ?? null,
            metadata: redact(prepared.metadata),
          })
        ctx.io.out(`client_id:     ${prepared.clientId}`)
        if (prepared.secret) {
          ctx.io.out(`client_secret: ${prepared.secret}`)
          ctx.io.out('Store the secret now: it is not shown again and cannot be recovered.')
        }
      })
    })

  clients
    .command('list')
    .description('List relying parties.')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const rows = await listClients(db)
        if (opts.json)
          return printJson(
            ctx.io,
            rows.map((r) => ({ client_id: r.client_id, agency: r.agency_id, name: r.name, source: r.source })),
          )
        printTable(ctx.io, [
          ['CLIENT ID', 'AGENCY', 'NAME', 'TYPE', 'AUTH', 'SUBJECT', 'SOURCE'],
          ...rows.map((r) => [
            r.client_id,
            r.agency_id,
            r.name,
            String(r.metadata.application_type ?? 'web'),
            String(r.metadata.token_endpoint_auth_method),
            String(r.metadata.subject_type ?? 'public'),
            r.source,
          ]),
        ])
      })
    })

  clients
    .command('show <clientId>')
    .description('Show one relying party (never its secret).')
    .option('--json', 'machine-readable output')
    .action(async (clientId: string, opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const row = await findClient(db, clientId)
        if (!row) throw new AdminError(`no client ${clientId}`)
        const out = {
          client_id: row.client_id,
          agency: row.agency_id,
          name: row.name,
          source: row.source,
          metadata: redact(row.metadata),
        }
        if (opts.json) return printJson(ctx.io, out)
        for (const [k, v] of Object.entries(out.metadata))
          ctx.io.out(`${k.padEnd(38)} ${Array.isArray(v) ? v.join(' ') : JSON.stringify(v)}`)
      })
    })

  clients
    .command('remove <clientId>')
    .description('Remove a relying party with its tokens and grants.')
    .action(async (clientId: string) => {
      await withDatabase(ctx, async ({ db }) => {
        // A kiosk's client goes with its kiosk, which the audit trail keeps naming.
        const kiosk = await findKioskByClientId(db, clientId)
        if (kiosk)
          throw new AdminError(
            `client ${clientId} is kiosk ${kiosk.id}'s: use \`satupintu kiosks disable ${kiosk.id}\``,
          )
        if (!(await removeClient(db, clientId))) throw new AdminError(`no client ${clientId}`)
        await recordAudit(db, { event: 'client.removed', actor: 'cli', clientId })
        ctx.io.out(`removed ${clientId}`)
      })
    })

  clients
    .command('rotate-secret <clientId>')
    .description('Issue a new client secret (printed once); the old one stops working at once.')
    .option('--json', 'machine-readable output')
    .action(async (clientId: string, opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        let secret: string | undefined
        try {
          secret = await rotateClientSecret(db, clientId)
        } catch (err) {
          if (err instanceof ClientError) throw new AdminError(err.message)
          throw err
        }
        if (secret === undefined) throw new AdminError(`no client ${clientId}`)
        await recordAudit(db, { event: 'client.secret_rotated', actor: 'cli', clientId })
        if (opts.json) return printJson(ctx.io, { client_id: clientId, client_secret: secret })
        ctx.io.out(`client_secret: ${secret}`)
        ctx.io.out('Store the secret now: it is not shown again and cannot be recovered.')
      })
    })

  clients
    .command('gateway')
    .description(
      "Register (or update) the gateway's own client from the configuration and the agencies file: one sign-in callback per agency host, the portal's, and the document services; prints a new client secret (GATEWAY_CLIENT_SECRET).",
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }, config) => {
        const table = loadAgencies(config.gateway.agenciesFile, tableDefaults(config))
        let secret: string
        try {
          secret = await ensureGatewayClient(db, config, gatewaySitesFrom(table.agencies))
        } catch (err) {
          if (err instanceof ClientError) throw new AdminError(`client ${err.message}`)
          throw err
        }
        await recordAudit(db, { event: 'client.secret_rotated', actor: 'cli', clientId: config.gateway.clientId })
        if (opts.json)
          return printJson(ctx.io, {
            client_id: config.gateway.clientId,
            client_secret: secret,
            origins: table.agencies.map((a) => a.origin),
          })
        ctx.io.out(
          `${config.gateway.clientId}: registered for ${[config.gateway.publicUrl, ...table.agencies.map((a) => a.origin)].join(', ')}`,
        )
        ctx.io.out(`client_secret: ${secret}`)
        ctx.io.out('Give it to the gateway as GATEWAY_CLIENT_SECRET; it is not shown again.')
      })
    })

  clients
    .command('apply <file>')
    .description('Register or update the relying parties listed in a YAML file (infrastructure as code).')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }, config) => {
        let results: Awaited<ReturnType<typeof applyClientsFile>>
        try {
          results = await applyClientsFile(db, file, policy(config))
        } catch (err) {
          if (err instanceof ClientsFileError) throw new AdminError(err.message)
          throw err
        }
        if (opts.json) return printJson(ctx.io, results)
        for (const r of results) {
          ctx.io.out(
            `${r.client_id}: ${r.created ? 'created' : 'updated'}${r.client_secret ? `, client_secret: ${r.client_secret}` : ''}`,
          )
        }
      })
    })
}

function redact(metadata: Record<string, unknown>): Record<string, unknown> {
  const { client_secret: secret, ...rest } = metadata
  return secret === undefined ? rest : { ...rest, client_secret: '(stored as a digest)' }
}

function prepare(input: ClientInput, policy: ClientPolicy) {
  try {
    return prepareClient(input, policy)
  } catch (err) {
    if (err instanceof ClientError) throw new AdminError(`client ${err.message}`)
    throw err
  }
}

async function verifySector(metadata: Record<string, unknown>): Promise<void> {
  try {
    await verifySectorIdentifier(metadata)
  } catch (err) {
    if (err instanceof ClientError) throw new AdminError(`client ${err.message}`)
    throw err
  }
}

function clientInputFrom(flags: ClientFlags): ClientInput {
  if (flags.subject !== undefined && flags.subject !== 'public' && flags.subject !== 'pairwise')
    throw new AdminError('--subject must be public or pairwise', 2)
  if (flags.applicationType !== 'web' && flags.applicationType !== 'native')
    throw new AdminError('--application-type must be web or native', 2)
  const grants = flags.grant ?? ['authorization_code', 'refresh_token']
  for (const g of grants) {
    if (!['authorization_code', 'refresh_token', 'client_credentials'].includes(g))
      throw new AdminError(`unknown grant type ${g}`, 2)
  }
  const input: ClientInput = {
    name: flags.name,
    agencyId: flags.agency,
    redirectUris: flags.redirectUri ?? [],
    postLogoutRedirectUris: flags.postLogoutRedirectUri ?? [],
    authMethod: flags.authMethod as AuthMethod,
    scopes: flags.scope ?? ['openid', 'profile'],
    applicationType: flags.applicationType,
    grantTypes: grants as ClientInput['grantTypes'] & object,
    resources: flags.resource ?? [],
  }
  if (flags.clientId !== undefined) input.clientId = flags.clientId
  if (flags.subject !== undefined) input.subjectType = flags.subject
  if (flags.firstParty === true) input.firstParty = true
  if (flags.sectorIdentifierUri !== undefined) input.sectorIdentifierUri = flags.sectorIdentifierUri
  if (flags.dpop === true) input.dpopBound = true
  if (flags.backchannelLogoutUri !== undefined) input.backchannelLogoutUri = flags.backchannelLogoutUri
  if (flags.jwksFile !== undefined) {
    try {
      input.jwks = JSON.parse(fs.readFileSync(flags.jwksFile, 'utf8')) as { keys: Record<string, unknown>[] }
    } catch (err) {
      throw new AdminError(`--jwks-file: cannot read a JWKS from ${flags.jwksFile}: ${(err as Error).message}`)
    }
  }
  return input
}
