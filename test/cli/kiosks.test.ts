/**
 * `satupintu kiosks add|list|disable|rotate-key` (issue 16), run in-process against a
 * database of each kind: the kiosk's client is confidential with the public half of a key
 * whose private half only the key file holds, device grant only, DPoP-bound; disabling it
 * stops the client at once and revokes what it holds.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CompactSign, compactVerify, importJWK, type JWK } from 'jose'
import t, { type Test } from 'tap'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { findClientMetadata } from '../../src/idp/oidc/clients.ts'
import { sessionHash } from '../../src/idp/oidc/session-revocation.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'

interface Run {
  code: number
  out: string
  err: string
}

interface CliDb {
  dir: string
  overrides: Record<string, unknown>
  open(): Promise<DatabaseHandle>
}

async function cliDatabase(t: Test, kind: 'pglite' | 'postgres'): Promise<CliDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-kiosks-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const database =
    kind === 'pglite' ? { pgliteDir: path.join(dir, 'pglite') } : { url: (await freshDatabase(t, 'postgres')).url }
  const overrides = { dataDir: dir, database }
  const config = testConfig(overrides)
  const open = () => openDatabase(config.database)
  const h = await open()
  await migrateToLatestOrThrow(h.db)
  await h.close()
  return { dir, overrides, open }
}

async function run(db: CliDb, args: string[]): Promise<Run> {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await main(args, { io, env: { NODE_ENV: 'test' }, overrides: db.overrides })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

async function withDb<T>(db: CliDb, fn: (h: DatabaseHandle) => Promise<T>): Promise<T> {
  const h = await db.open()
  try {
    return await fn(h)
  } finally {
    await h.close()
  }
}

/** Signs with the key file's private key and verifies with the public key the client holds. */
async function keyMatches(privateJwk: JWK, publicJwks: { keys: JWK[] }): Promise<boolean> {
  const jws = await new CompactSign(new TextEncoder().encode('kiosk'))
    .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid as string })
    .sign(await importJWK(privateJwk, 'ES256'))
  const pub = publicJwks.keys.find((k) => k.kid === privateJwk.kid)
  if (pub === undefined) return false
  try {
    await compactVerify(jws, await importJWK(pub, 'ES256'))
    return true
  } catch {
    return false
  }
}

const addArgs = (keyOut: string) => [
  'kiosks',
  'add',
  '--name',
  'Kiosk Lantai 1',
  '--location',
  'MPP Kabupaten Sukamaju, lantai 1',
  '--key-out',
  keyOut,
  '--json',
]

for (const kind of databaseKinds()) {
  t.test(`on ${kind}`, async (t) => {
    t.test(
      'kiosks add registers a private_key_jwt, device-grant-only, DPoP-bound client; the key file is the only private key',
      async (t) => {
        const db = await cliDatabase(t, kind)
        const keyOut = path.join(db.dir, 'kiosk-1.jwk.json')
        const r = await run(db, addArgs(keyOut))
        t.equal(r.code, 0, r.err)
        const out = JSON.parse(r.out) as Record<string, string>
        t.equal(out.name, 'Kiosk Lantai 1')
        t.equal(out.location, 'MPP Kabupaten Sukamaju, lantai 1')
        t.equal(out.status, 'active')
        t.match(out.client_id, /^kiosk-[0-9a-f]{12}$/)

        const mode = fs.statSync(keyOut).mode & 0o777
        t.equal(mode, 0o600, 'the key file is readable by its owner only')
        const privateJwk = JSON.parse(fs.readFileSync(keyOut, 'utf8')) as JWK
        t.equal(privateJwk.kty, 'EC')
        t.equal(privateJwk.crv, 'P-256')
        t.equal(privateJwk.alg, 'ES256')
        t.type(privateJwk.d, 'string', 'the file holds the private key')

        await withDb(db, async (h) => {
          const row = await h.db.selectFrom('kiosks').selectAll().executeTakeFirstOrThrow()
          t.equal(row.id, out.id)
          t.equal(row.client_id, out.client_id)
          t.equal(row.disabled_at, null)
          const client = await h.db
            .selectFrom('oidc_clients')
            .selectAll()
            .where('client_id', '=', out.client_id as string)
            .executeTakeFirstOrThrow()
          const m = client.metadata
          t.equal(m.token_endpoint_auth_method, 'private_key_jwt')
          t.same(m.grant_types, ['urn:ietf:params:oauth:grant-type:device_code'], 'the device grant only: no refresh')
          t.same(m.response_types, [])
          t.same(m.redirect_uris, [])
          t.equal(m.dpop_bound_access_tokens, true)
          t.equal(m['urn:satupintu:kiosk'], out.id)
          t.notOk('client_secret' in m, 'no secret')
          t.notOk(JSON.stringify(m).includes(privateJwk.d as string), 'the private key is not stored')
          const jwks = m.jwks as { keys: JWK[] }
          t.equal(jwks.keys.length, 1)
          t.notOk('d' in (jwks.keys[0] as JWK), 'only the public key')
          t.ok(await keyMatches(privateJwk, jwks), 'the key file signs what the client verifies')
          const audit = await h.db
            .selectFrom('audit_events')
            .selectAll()
            .where('event', '=', 'kiosk.registered')
            .executeTakeFirstOrThrow()
          t.equal(audit.client_id, out.client_id)
          t.equal(audit.actor, 'cli')
          t.notOk(JSON.stringify(audit.data).includes(privateJwk.d as string), 'no key in the audit row')
        })

        const list = await run(db, ['kiosks', 'list', '--json'])
        t.equal(list.code, 0, list.err)
        const rows = JSON.parse(list.out) as Record<string, unknown>[]
        t.same(
          rows.map((k) => [k.id, k.name, k.location, k.status]),
          [[out.id, 'Kiosk Lantai 1', 'MPP Kabupaten Sukamaju, lantai 1', 'active']],
        )
        const plain = await run(db, ['kiosks', 'list'])
        t.equal(plain.code, 0, plain.err)
        t.match(plain.out, /Kiosk Lantai 1/)
        t.match(plain.out, /1 kiosk$/)
      },
    )

    t.test('kiosks add never writes over a file, and registers nothing then; --key-out is required', async (t) => {
      const db = await cliDatabase(t, kind)
      const keyOut = path.join(db.dir, 'taken.json')
      fs.writeFileSync(keyOut, 'something else')
      const r = await run(db, addArgs(keyOut))
      t.equal(r.code, 1)
      t.match(r.err, /exists already/)
      t.equal(fs.readFileSync(keyOut, 'utf8'), 'something else', 'the file is untouched')
      const missing = await run(db, ['kiosks', 'add', '--name', 'Kiosk', '--location', 'MPP'])
      t.equal(missing.code, 2)
      t.match(missing.err, /--key-out/)
      const bad = await run(db, [
        'kiosks',
        'add',
        '--name',
        'K',
        '--location',
        'MPP',
        '--key-out',
        path.join(db.dir, 'k.json'),
      ])
      t.equal(bad.code, 1)
      t.match(bad.err, /--name must be 2 to 100 characters/)
      t.notOk(fs.existsSync(path.join(db.dir, 'k.json')), 'a refused kiosk leaves no key file behind')
      await withDb(db, async (h) => {
        t.equal((await h.db.selectFrom('kiosks').selectAll().execute()).length, 0, 'no kiosk registered')
        const clients = await h.db
          .selectFrom('oidc_clients')
          .select('client_id')
          .where('agency_id', '=', 'kiosk')
          .execute()
        t.equal(clients.length, 0, 'no client registered')
      })
    })

    t.test('kiosks rotate-key replaces the public key: the old private key no longer matches', async (t) => {
      const db = await cliDatabase(t, kind)
      const first = path.join(db.dir, 'first.json')
      const added = JSON.parse((await run(db, addArgs(first))).out) as { id: string; client_id: string }
      const second = path.join(db.dir, 'second.json')
      const r = await run(db, ['kiosks', 'rotate-key', added.id, '--key-out', second])
      t.equal(r.code, 0, r.err)
      t.equal(fs.statSync(second).mode & 0o777, 0o600)
      const oldKey = JSON.parse(fs.readFileSync(first, 'utf8')) as JWK
      const newKey = JSON.parse(fs.readFileSync(second, 'utf8')) as JWK
      t.not(oldKey.kid, newKey.kid)
      await withDb(db, async (h) => {
        const m = await findClientMetadata(h.db, added.client_id)
        const jwks = m?.jwks as { keys: JWK[] }
        t.ok(await keyMatches(newKey, jwks), 'the new key works')
        t.notOk(await keyMatches(oldKey, jwks), 'the old key does not')
        const audit = await h.db
          .selectFrom('audit_events')
          .selectAll()
          .where('event', '=', 'kiosk.key_rotated')
          .executeTakeFirstOrThrow()
        t.equal(audit.client_id, added.client_id)
      })
      const unknown = await run(db, [
        'kiosks',
        'rotate-key',
        '00000000-0000-4000-8000-000000000000',
        '--key-out',
        path.join(db.dir, 'x.json'),
      ])
      t.equal(unknown.code, 1)
      t.equal(unknown.err, 'satupintu: no kiosk 00000000-0000-4000-8000-000000000000')
      t.notOk(fs.existsSync(path.join(db.dir, 'x.json')), 'no key file for an unknown kiosk')
    })

    t.test('kiosks disable stops its client at once and revokes its codes, grants and tokens', async (t) => {
      const db = await cliDatabase(t, kind)
      const added = JSON.parse((await run(db, addArgs(path.join(db.dir, 'k.json')))).out) as {
        id: string
        client_id: string
      }
      // What a kiosk holds after a citizen signed in on it: a grant and an approved device code.
      const other = 'portal-client'
      await withDb(db, async (h) => {
        t.ok(await findClientMetadata(h.db, added.client_id), 'the client is there before')
        const row = (model: string, id: string, clientId: string, extra: Record<string, unknown> = {}) => ({
          model,
          id,
          payload: JSON.stringify({ clientId, grantId: `g-${clientId}`, ...extra }),
          grant_id: `g-${clientId}`,
          expires_at: new Date(Date.now() + 60_000),
        })
        await h.db
          .insertInto('oidc_payloads')
          .values([
            row('Grant', 'grant-kiosk', added.client_id),
            row('DeviceCode', 'dc-kiosk', added.client_id, { sessionUid: 'session-uid-1', accountId: 'a' }),
            row('Grant', 'grant-other', other),
          ])
          .execute()
      })
      const r = await run(db, ['kiosks', 'disable', added.id, '--json'])
      t.equal(r.code, 0, r.err)
      const out = JSON.parse(r.out) as { status: string; disabled_at: string; revoked_sessions: number }
      t.equal(out.status, 'disabled')
      t.ok(out.disabled_at)
      t.equal(out.revoked_sessions, 1)
      await withDb(db, async (h) => {
        t.equal(await findClientMetadata(h.db, added.client_id), undefined, 'oidc-provider finds no such client')
        const left = await h.db.selectFrom('oidc_payloads').select('id').execute()
        t.same(
          left.map((x) => x.id),
          ['grant-other'],
          "the kiosk's grant and codes are gone, another client's stay",
        )
        const revoked = await h.db.selectFrom('revoked_sessions').select('session_hash').execute()
        t.same(
          revoked.map((x) => x.session_hash),
          [sessionHash('session-uid-1', added.client_id)],
          "the gateways refuse the kiosk's tokens of that session",
        )
        const audit = await h.db.selectFrom('audit_events').selectAll().where('event', '=', 'kiosk.disabled').execute()
        t.equal(audit.length, 1)
        t.equal(audit[0]?.client_id, added.client_id)
      })
      const again = await run(db, ['kiosks', 'disable', added.id])
      t.equal(again.code, 0, again.err)
      t.match(again.out, /was disabled already/)
      const rotate = await run(db, ['kiosks', 'rotate-key', added.id, '--key-out', path.join(db.dir, 'n.json')])
      t.equal(rotate.code, 1)
      t.match(rotate.err, /is disabled/)
      const list = JSON.parse((await run(db, ['kiosks', 'list', '--json'])).out) as { status: string }[]
      t.same(
        list.map((k) => k.status),
        ['disabled'],
      )
      const remove = await run(db, ['clients', 'remove', added.client_id])
      t.equal(remove.code, 1)
      t.match(remove.err, /use `satupintu kiosks disable/, 'a kiosk keeps its client row')
      const unknown = await run(db, ['kiosks', 'disable', 'not-a-kiosk'])
      t.equal(unknown.code, 1)
      t.equal(unknown.err, 'satupintu: no kiosk not-a-kiosk')
    })
  })
}
