/**
 * `satupintu citizens show` and `satupintu outbox`, run in-process against a database of
 * each kind (a PGlite directory, or a PostgreSQL database of its own).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { createCitizen, markEmailVerified } from '../../src/accounts/citizens.ts'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { budi } from '../helpers/citizens.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'

interface CliDb {
  overrides: Record<string, unknown>
  open(): Promise<DatabaseHandle>
}

async function cliDatabase(t: Test, kind: 'pglite' | 'postgres'): Promise<CliDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-people-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const database =
    kind === 'pglite' ? { pgliteDir: path.join(dir, 'pglite') } : { url: (await freshDatabase(t, 'postgres')).url }
  const overrides = { dataDir: dir, database }
  const open = () => openDatabase(testConfig(overrides).database)
  const h = await open()
  await migrateToLatestOrThrow(h.db)
  await h.close()
  return { overrides, open }
}

async function run(db: CliDb, args: string[]) {
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

for (const kind of databaseKinds()) {
  t.test(`on ${kind}`, async (t) => {
    const db = await cliDatabase(t, kind)
    const citizen = await withDb(db, async (h) => {
      const c = await createCitizen(h.db, { ...budi, regencyName: 'Sukamaju' })
      await markEmailVerified(h.db, c.id, budi.email)
      return c
    })

    await t.test('citizens show records the look-up and tells the citizen why, together', async (t) => {
      const r = await run(db, ['citizens', 'show', budi.nik, '--reason', 'Pelayanan izin usaha, loket 2'])
      t.equal(r.code, 0, r.err)
      t.match(r.out, new RegExp(`^id\\s+${citizen.id}$`, 'm'))
      t.match(r.out, /^phone\s+0812-3456-7890$/m, 'the number as every page shows it')
      await withDb(db, async (h) => {
        const notices = await h.db.selectFrom('outbox').selectAll().where('kind', '=', 'officer_lookup').execute()
        t.equal(notices.length, 1)
        t.match(notices[0], {
          recipient: 'budi@contoh.id',
          citizen_id: citizen.id,
          subject: 'Petugas membuka data akun Anda',
          status: 'queued',
        })
        t.match(
          notices[0]?.body,
          /Administrator sistem membuka data akun Satu Pintu Anda pada .*\n\nAlasan yang dicatat: Pelayanan izin usaha, loket 2/,
        )
        const audit = await h.db
          .selectFrom('audit_events')
          .select(['event', 'data'])
          .where('event', '=', 'citizen.looked_up')
          .execute()
        t.match(audit, [{ data: { reason: 'Pelayanan izin usaha, loket 2' } }])
      })
    })

    await t.test("outbox shows each message's state and the counts per state", async (t) => {
      await withDb(db, async (h) => {
        await h.db
          .updateTable('outbox')
          .set({ status: 'dead', attempts: 8, last_error: 'smtp: 550: mailbox unavailable' })
          .execute()
        await h.db
          .insertInto('outbox')
          .values({ channel: 'sms', recipient: '+6281234567890', body: '123456 adalah kode verifikasi Satu Pintu.' })
          .execute()
      })
      const r = await run(db, ['outbox'])
      t.equal(r.code, 0, r.err)
      const lines = r.out.split('\n')
      t.equal(lines[0], 'queued 1 · sending 0 · sent 0 · failed 0 · dead 1')
      t.match(lines[1], /^CREATED\s+STATUS\s+CHANNEL\s+KIND\s+RECIPIENT\s+TRIES\s+MESSAGE \/ LAST ERROR$/)
      t.match(
        r.out,
        /queued\s+sms\s+code\s+0812-3456-7890\s+0\s+123456 adalah kode verifikasi/,
        'the number as every page shows it',
      )
      t.match(
        r.out,
        /dead\s+email\s+officer_lookup\s+budi@contoh\.id\s+8\s+smtp: 550: mailbox unavailable \| Administrator sistem/,
      )
      const dead = await run(db, ['outbox', '--status', 'dead', '--json'])
      t.equal(dead.code, 0, dead.err)
      const json = JSON.parse(dead.out) as { counts: Record<string, number>; messages: Array<{ status: string }> }
      t.strictSame(json.counts, { queued: 1, sending: 0, sent: 0, failed: 0, dead: 1 })
      t.strictSame(
        json.messages.map((m) => m.status),
        ['dead'],
      )
      const bad = await run(db, ['outbox', '--status', 'lost'])
      t.equal(bad.code, 2)
      t.match(bad.err, /--status must be one of queued, sending, sent, failed, dead/)
    })

    await t.test('citizens show refuses an empty reason, and nothing is recorded or sent', async (t) => {
      const before = await withDb(db, async (h) => (await h.db.selectFrom('outbox').select('id').execute()).length)
      const r = await run(db, ['citizens', 'show', budi.nik, '--reason', '   '])
      t.equal(r.code, 2)
      t.match(r.err, /--reason must say why/)
      t.equal(await withDb(db, async (h) => (await h.db.selectFrom('outbox').select('id').execute()).length), before)
    })

    await t.test('citizens show --json keeps the number in E.164, for machines', async (t) => {
      const r = await run(db, ['citizens', 'show', budi.nik, '--reason', 'Pemeriksaan data', '--json'])
      t.equal(r.code, 0, r.err)
      t.equal((JSON.parse(r.out) as { phone: string }).phone, '+6281234567890')
    })
  })
}
