import fs from 'node:fs'
import type { Command } from 'commander'
import type { Config } from '../config/schema.ts'
import { recordAudit } from '../audit/audit.ts'
import {
  addKiosk,
  disableKiosk,
  generateKioskKey,
  KioskError,
  listKiosks,
  rotateKioskKey,
  type KioskKey,
} from '../idp/oidc/kiosks.ts'
import { gatewayResource } from '../idp/oidc/provider.ts'
import type { KioskRow } from '../db/tables/kiosks.ts'
import { AdminError, withDatabase, type AdminContext } from './admin.ts'
import { counted, printJson, printTable } from './output.ts'

/**
 * `satupintu kiosks …`: the self-service kiosks of the service halls (issue 16). A kiosk's
 * private key is written once, to the file the operator names, for the kiosk's set-up; we
 * keep only its public half (in the kiosk's client).
 */

/**
 * Writes the kiosk's private key where the operator asked, readable by its owner only, and
 * never over an existing file (another kiosk's key, or anything else, is not replaced).
 */
function writeKeyFile(file: string, key: KioskKey): void {
  const body = `${JSON.stringify(key.privateJwk, null, 2)}\n`
  let fd: number
  try {
    fd = fs.openSync(file, 'wx', 0o600)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new AdminError(
      e.code === 'EEXIST'
        ? `--key-out: ${file} exists already; name a new file (a kiosk key is never written over another file)`
        : `--key-out: cannot create ${file}: ${e.message}`,
    )
  }
  try {
    // The mode of openSync is filtered by the umask; the file is the owner's only whatever it is.
    fs.fchmodSync(fd, 0o600)
    fs.writeSync(fd, body)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * The key is written before the database changes, and removed again if they fail: a kiosk
 * is never registered (or re-keyed) with a key nobody could be given.
 */
async function withKeyFile<T>(file: string, fn: (key: KioskKey) => Promise<T>): Promise<T> {
  const key = await generateKioskKey()
  writeKeyFile(file, key)
  try {
    return await fn(key)
  } catch (err) {
    fs.rmSync(file, { force: true })
    throw err
  }
}

function policy(config: Config) {
  return { allowLoopbackHttp: config.env !== 'production' }
}

function kioskJson(k: KioskRow) {
  return {
    id: k.id,
    client_id: k.client_id,
    name: k.name,
    location: k.location,
    status: k.status,
    created_at: k.created_at.toISOString(),
    disabled_at: k.disabled_at?.toISOString() ?? null,
  }
}

function kioskFailure(err: unknown): never {
  if (err instanceof KioskError) throw new AdminError(err.message)
  throw err
}

export function registerKioskCommands(program: Command, ctx: AdminContext): void {
  const kiosks = program
    .command('kiosks')
    .description('Self-service kiosks in the service halls: add, list, disable, rotate-key.')

  kiosks
    .command('add')
    .description(
      "Register a kiosk: its own client (private_key_jwt, device grant only, DPoP-bound tokens). Its private key is written to --key-out for the kiosk's set-up and is not kept here.",
    )
    .requiredOption('--name <name>', 'the kiosk\'s name, shown on the citizen\'s phone (e.g. "Kiosk Lantai 1")')
    .requiredOption(
      '--location <text>',
      'where it stands, shown on the phone too (e.g. "MPP Kabupaten Sukamaju, lantai 1")',
    )
    .requiredOption('--key-out <file>', "a new file for the kiosk's private key (written with mode 0600)")
    .option('--json', 'machine-readable output')
    .action(async (opts: { name: string; location: string; keyOut: string; json?: boolean }) => {
      await withDatabase(ctx, async ({ db }, config) => {
        const added = await withKeyFile(opts.keyOut, (key) =>
          addKiosk(
            db,
            { name: opts.name, location: opts.location },
            { gatewayResource: gatewayResource(config), policy: policy(config), key },
          ).catch(kioskFailure),
        )
        await recordAudit(db, {
          event: 'kiosk.registered',
          actor: 'cli',
          clientId: added.kiosk.client_id,
          data: {
            kiosk: added.kiosk.id,
            name: added.kiosk.name,
            location: added.kiosk.location,
            kid: added.key.publicJwk.kid,
          },
        })
        if (opts.json) return printJson(ctx.io, { ...kioskJson(added.kiosk), key_file: opts.keyOut })
        ctx.io.out(`kiosk:     ${added.kiosk.id}`)
        ctx.io.out(`client_id: ${added.kiosk.client_id}`)
        ctx.io.out(`key:       ${opts.keyOut} (private; install it on the kiosk, then delete this copy)`)
      })
    })

  kiosks
    .command('list')
    .description('List kiosks with their client and status.')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const rows = await listKiosks(db)
        if (opts.json) return printJson(ctx.io, rows.map(kioskJson))
        if (rows.length === 0) return ctx.io.out('no kiosks')
        printTable(ctx.io, [
          ['ID', 'CLIENT ID', 'STATUS', 'NAME', 'LOCATION'],
          ...rows.map((k) => [k.id, k.client_id, k.status, k.name, k.location]),
        ])
        ctx.io.out(counted(rows.length, 'kiosk'))
      })
    })

  kiosks
    .command('disable <id>')
    .description(
      'Disable a kiosk at once: its client stops working, its codes, grants and tokens are revoked (the gateways refuse them).',
    )
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const done = await disableKiosk(db, id)
        if (!done) throw new AdminError(`no kiosk ${id}`)
        if (done.changed) {
          await recordAudit(db, {
            event: 'kiosk.disabled',
            actor: 'cli',
            clientId: done.kiosk.client_id,
            data: { kiosk: done.kiosk.id, revokedSessions: done.revokedSessions },
          })
        }
        if (opts.json) return printJson(ctx.io, { ...kioskJson(done.kiosk), revoked_sessions: done.revokedSessions })
        ctx.io.out(
          done.changed
            ? `disabled ${done.kiosk.id} (${done.kiosk.name}); ${counted(done.revokedSessions, 'session')} of it revoked`
            : `${done.kiosk.id} was disabled already`,
        )
      })
    })

  kiosks
    .command('rotate-key <id>')
    .description('Give a kiosk a new key pair: the old private key stops working at once.')
    .requiredOption('--key-out <file>', "a new file for the kiosk's new private key (written with mode 0600)")
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { keyOut: string; json?: boolean }) => {
      await withDatabase(ctx, async ({ db }) => {
        const rotated = await withKeyFile(opts.keyOut, async (key) => {
          const r = await rotateKioskKey(db, id, key).catch(kioskFailure)
          if (!r) throw new AdminError(`no kiosk ${id}`)
          return r
        })
        await recordAudit(db, {
          event: 'kiosk.key_rotated',
          actor: 'cli',
          clientId: rotated.kiosk.client_id,
          data: { kiosk: rotated.kiosk.id, kid: rotated.key.publicJwk.kid },
        })
        if (opts.json) return printJson(ctx.io, { ...kioskJson(rotated.kiosk), key_file: opts.keyOut })
        ctx.io.out(`new key for ${rotated.kiosk.id}: ${opts.keyOut} (the old key no longer works)`)
      })
    })
}
