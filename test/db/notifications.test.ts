// LISTEN/NOTIFY (src/db/notifications.ts) and the trigger that announces document changes
// (migrations/20261203T1450-document-change-notify.ts), on both databases: a committed
// change to a grant, a document or a version tells its citizen's id; a rolled-back one
// tells nothing; a listener whose connection is killed says so and comes back.
import { sql } from 'kysely'
import t from 'tap'
import { createGrant, revokeGrant } from '../../src/documents/grants.ts'
import { documentChangesChannel } from '../../src/documents/link-facts-cache.ts'
import { eachDatabase } from '../helpers/db.ts'
import { vaultFixture } from '../documents/fixtures.ts'

const DAY = 86_400_000

async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await new Promise((r) => setTimeout(r, 10))
  }
  return check()
}

t.test(
  'a committed document change notifies its citizen, a rolled-back one nothing; a lost listener comes back',
  async (t) => {
    await eachDatabase(t, async (t, handle) => {
      const { db } = handle
      const f = await vaultFixture(t, db)
      const heard: string[] = []
      const states: string[] = []
      const sub = await handle.listen(documentChangesChannel, {
        onNotify: (p) => heard.push(p),
        onUp: () => states.push('up'),
        onDown: () => states.push('down'),
      })
      t.teardown(() => sub.close())
      t.ok(await until(() => sub.up), 'listening')

      const grant = await createGrant(db, f.config, {
        citizenId: f.a.id,
        agencyId: 'dinas-a',
        serviceId: null,
        documentTypes: ['ktp'],
        purpose: 'Uji',
        expiresAt: new Date(Date.now() + DAY),
      })
      t.ok(await until(() => heard.includes(f.a.id)), 'a grant given: the citizen is named')
      heard.length = 0
      await db
        .transaction()
        .execute(async (trx) => {
          await trx.updateTable('document_grants').set({ revoked_at: new Date() }).where('id', '=', grant.id).execute()
          throw new Error('changed my mind')
        })
        .catch(() => {})
      await new Promise((r) => setTimeout(r, 200))
      t.same(heard, [], 'a rolled-back change tells nothing')
      t.ok(await revokeGrant(db, f.a.id, grant.id))
      t.ok(await until(() => heard.includes(f.a.id)), 'a grant withdrawn: told')
      heard.length = 0
      await sql`update documents set deleted_at = now() where citizen_id = ${f.b.id}`.execute(db)
      await createGrant(db, f.config, {
        citizenId: f.b.id,
        agencyId: 'dinas-a',
        serviceId: null,
        documentTypes: ['ktp'],
        purpose: 'Uji',
        expiresAt: new Date(Date.now() + DAY),
      })
      t.ok(await until(() => heard.includes(f.b.id)), "another citizen's change names that citizen")
      t.notOk(heard.includes(f.a.id), 'and not the first')

      if (handle.kind === 'postgres') {
        // The listener's own connection is cut (a restart, a failover): down, then up again.
        await sql`select pg_terminate_backend(pid) from pg_stat_activity
        where query ilike 'LISTEN%' and datname = current_database() and pid <> pg_backend_pid()`.execute(db)
        t.ok(await until(() => states.includes('down')), 'the loss is told')
        t.ok(await until(() => sub.up && states.at(-1) === 'up', 5000), 'and it listens again')
        heard.length = 0
        await createGrant(db, f.config, {
          citizenId: f.a.id,
          agencyId: 'dinas-b',
          serviceId: null,
          documentTypes: ['ktp'],
          purpose: 'Uji',
          expiresAt: new Date(Date.now() + DAY),
        })
        t.ok(await until(() => heard.includes(f.a.id)), 'heard again after the reconnection')
      }
      await sub.close()
      t.notOk(sub.up, 'closed')
    })
  },
)
