import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import type { Command } from 'commander'
import { parseDocument, YAMLSeq } from 'yaml'
import { recordAudit } from '../audit/audit.ts'
import type { Config } from '../config/schema.ts'
import { buildAgencyTable, tableDefaults, type Agency } from '../gateway/agencies.ts'
import { gatewayAssetsPrefix } from '../gateway/sites.ts'
import {
  ClientError,
  findClient,
  insertClient,
  prepareClient,
  type ClientInput,
  type PreparedClient,
} from '../idp/oidc/clients.ts'
import { documentsResource, gatewayResource } from '../idp/oidc/provider.ts'
import { AdminError, withDatabase, type AdminContext } from './admin.ts'
import { printJson } from './output.ts'

/**
 * `satupintu dev …`: local development beside the quick start (`npm start`), never in
 * production.
 *
 * `dev agency --id my-agency --upstream http://localhost:9000` puts a developer's own
 * backend behind the running gateway in one step:
 *  1. the new entry is validated together with the agencies already in the file (the
 *     same checks as at start-up), and its client ids must be free;
 *  2. its clients are registered at the idp, through the quick start's embedded database
 *     (served to the CLI while it runs, src/db/pglite-server.ts) or PostgreSQL: the
 *     backend's client-credentials client (fetches document links; listed in the agency's
 *     `clients`) and a web client for a direct OpenID Connect sign-in at the upstream;
 *  3. the entry is appended to the agencies file the quick start reads, comments kept,
 *     written whole (temporary file, then rename);
 *  4. the running quick start sees the change, registers the new callback for its own
 *     client and swaps in a gateway with the new table (src/main.ts reloadingGateway);
 *     this command waits until the agency's host is served, and says so.
 */

const waitForGatewayMs = 20_000

interface DevAgencyFlags {
  id: string
  upstream: string
  name?: string
  access: string
  json?: boolean
}

/** The new agency's entry, as the agencies file writes it. */
function agencyEntry(flags: DevAgencyFlags, name: string, backendClientId: string): Record<string, unknown> {
  const signedIn = flags.access === 'signed_in'
  return {
    id: flags.id,
    name: { id: name, en: name },
    upstream: flags.upstream,
    releaseNik: false,
    clients: [backendClientId],
    appClients: [],
    services: [
      {
        id: 'beranda',
        name: { id: name, en: name },
        path: '/',
        access: flags.access,
        ...(signedIn ? { scopes: ['openid', 'profile'], minAcr: 'urn:satupintu:acr:pwd' } : {}),
      },
    ],
  }
}

function prepared(input: ClientInput, config: Config): PreparedClient {
  try {
    return prepareClient(input, { allowLoopbackHttp: true, documentTypes: config.documents.types.map((t) => t.id) })
  } catch (err) {
    if (err instanceof ClientError) throw new AdminError(`client ${err.message}`)
    throw err
  }
}

/**
 * The status the gateway answers for `host` (a Host header) on a path it answers itself on
 * every host it serves (its stylesheets: 404 for this one), so nothing reaches the
 * developer's backend; 421 for a host it does not serve; undefined when nothing listens.
 */
function statusFor(publicUrl: URL, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: publicUrl.hostname === 'localhost' ? '127.0.0.1' : publicUrl.hostname,
        port: publicUrl.port || 80,
        path: `${gatewayAssetsPrefix}/-`,
        headers: { host, accept: 'application/json' },
        timeout: 2000,
      },
      (res) => {
        res.resume()
        resolve(res.statusCode)
      },
    )
    req.on('timeout', () => req.destroy())
    req.on('error', () => resolve(undefined))
    req.end()
  })
}

/**
 * Waits until the running gateway serves `agency` (its host no longer gets 421): 'absent'
 * when nothing answers at the gateway's address (the quick start is not running).
 */
async function gatewayServes(config: Config, agency: Agency): Promise<'served' | 'absent' | 'timeout'> {
  const publicUrl = new URL(config.gateway.publicUrl)
  const deadline = Date.now() + waitForGatewayMs
  let answered = false
  while (Date.now() < deadline) {
    const status = await statusFor(publicUrl, agency.host)
    // Refused later on is the moment the gateway is swapped: keep waiting.
    if (status === undefined && !answered) return 'absent'
    answered = true
    if (status !== undefined && status !== 421) return 'served'
    await new Promise((r) => setTimeout(r, 250))
  }
  return 'timeout'
}

export function registerDevCommands(program: Command, ctx: AdminContext): void {
  const dev = program
    .command('dev')
    .description('Local development beside the quick start (npm start); refused in production.')

  dev
    .command('agency')
    .description(
      'Put your own backend behind the running quick start: adds the agency to the agencies file, registers its clients at the idp (secrets printed once), and the running gateway serves it at http://<id>.localhost:<gateway port>/ without a restart.',
    )
    .requiredOption('--id <id>', 'agency id: lowercase letters, digits and dashes, e.g. my-agency')
    .requiredOption('--upstream <url>', 'your backend, e.g. http://localhost:9000')
    .option('--name <name>', 'the name citizens see (default: the id)')
    .option('--access <access>', 'signed_in (the gateway signs citizens in first) or public', 'signed_in')
    .option('--json', 'machine-readable output')
    .action(async (flags: DevAgencyFlags) => {
      const config = ctx.config()
      if (config.env === 'production')
        throw new AdminError(
          '`satupintu dev` is for local development; in production add agencies to the agencies file and deploy (docs/agency-integration.md)',
          2,
        )
      if (flags.access !== 'signed_in' && flags.access !== 'public')
        throw new AdminError('--access must be signed_in or public', 2)
      const name = flags.name ?? flags.id
      const backendClientId = `${flags.id}-backend`
      const webClientId = `${flags.id}-web`

      // 1. The file with the new entry must be valid as a whole, as the gateway will read it.
      const file = path.resolve(config.gateway.agenciesFile)
      let text: string
      try {
        text = fs.readFileSync(file, 'utf8')
      } catch (err) {
        throw new AdminError(
          `gateway.agenciesFile cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${config.gateway.agenciesFile}`,
        )
      }
      const doc = parseDocument(text)
      if (doc.errors.length > 0)
        throw new AdminError(`gateway.agenciesFile is not valid YAML: ${doc.errors[0]?.message.split('\n')[0] ?? ''}`)
      const current = (doc.toJS() as { agencies?: unknown[] } | null)?.agencies ?? []
      if (current.some((a) => (a as { id?: unknown }).id === flags.id)) {
        throw new AdminError(`agency ${flags.id} is already in ${config.gateway.agenciesFile}`)
      }
      const entry = agencyEntry(flags, name, backendClientId)
      const table = buildAgencyTable({ agencies: [...current, entry] }, tableDefaults(config), 'gateway.agencies')
      const agency = table.agencies.find((a) => a.id === flags.id) as Agency
      const upstream = flags.upstream.replace(/\/+$/, '')

      // 2. Its clients at the idp.
      const backend = prepared(
        {
          clientId: backendClientId,
          name: `${name} (backend)`,
          agencyId: flags.id,
          redirectUris: [],
          authMethod: 'client_secret_basic',
          scopes: ['openid'],
          grantTypes: ['client_credentials'],
          // Document links the gateway attaches, and those the idp's documents API lists.
          resources: [gatewayResource(config), documentsResource(config)],
        },
        config,
      )
      const web = prepared(
        {
          clientId: webClientId,
          name,
          agencyId: flags.id,
          redirectUris: [`${upstream}/oidc/callback`],
          postLogoutRedirectUris: [`${upstream}/`],
          authMethod: 'client_secret_basic',
          scopes: ['openid', 'profile', 'email'],
        },
        config,
      )
      await withDatabase(ctx, async ({ db }) => {
        for (const c of [backend, web]) {
          if (await findClient(db, c.clientId))
            throw new AdminError(
              `client ${c.clientId} already exists (remove it with \`satupintu clients remove ${c.clientId}\`)`,
            )
        }
        for (const c of [backend, web]) {
          await insertClient(db, c)
          await recordAudit(db, {
            event: 'client.registered',
            actor: 'cli',
            clientId: c.clientId,
            data: { agency: flags.id },
          })
        }
      })

      // 3. The agencies file, comments kept, replaced whole (the gateway never reads half a file).
      let list = doc.get('agencies')
      if (!(list instanceof YAMLSeq)) {
        list = new YAMLSeq()
        doc.set('agencies', list)
      }
      ;(list as YAMLSeq).add(doc.createNode(entry))
      const tmp = `${file}.${process.pid}.tmp`
      fs.writeFileSync(tmp, doc.toString())
      fs.renameSync(tmp, file)

      // 4. The running quick start picks it up.
      const gateway = await gatewayServes(config, agency)
      const result = {
        agency: flags.id,
        origin: `${agency.origin}/`,
        upstream: flags.upstream,
        agencies_file: config.gateway.agenciesFile,
        gateway,
        clients: [
          {
            role: 'backend',
            client_id: backend.clientId,
            client_secret: backend.secret ?? null,
            grant: 'client_credentials',
            resources: [gatewayResource(config), documentsResource(config)],
          },
          {
            role: 'web',
            client_id: web.clientId,
            client_secret: web.secret ?? null,
            redirect_uri: `${upstream}/oidc/callback`,
          },
        ],
      }
      if (flags.json) return printJson(ctx.io, result)
      const out = ctx.io.out
      out(`agency ${flags.id} added to ${config.gateway.agenciesFile}`)
      out(`  origin:        ${result.origin}  (the gateway forwards to ${flags.upstream})`)
      out(`  issuer:        ${config.idp.issuer}`)
      out('')
      out('Behind the gateway: your backend verifies X-Satupintu-Assertion (docs/agency-integration.md, part B);')
      out('it fetches document links with a client-credentials token of:')
      out(`  client_id:     ${backend.clientId}`)
      out(`  client_secret: ${backend.secret ?? ''}`)
      out('')
      out(`Direct OpenID Connect sign-in (part A), redirect URI ${upstream}/oidc/callback:`)
      out(`  client_id:     ${web.clientId}`)
      out(`  client_secret: ${web.secret ?? ''}`)
      out('')
      out('Store the secrets now: they are not shown again.')
      if (gateway === 'served') out(`The running gateway serves it now: open ${result.origin}`)
      else if (gateway === 'absent')
        out(`The quick start is not running: start it with \`npm start\`, then open ${result.origin}`)
      else
        out('The gateway did not pick it up in time: see its log (is it the quick start, `npm start`?), or restart it.')
    })
}
