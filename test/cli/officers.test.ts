/**
 * `satupintu officers add|list|disable|reset-factors`, run in-process against a database
 * of each kind: add prints a one-time enrolment code, list shows factors and last
 * sign-in, disable and reset-factors end the officer's sessions at once; each is audited.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { checkEnrolmentCode } from '../../src/accounts/officer-factors.ts'
import { createOfficerSession, readOfficerSession } from '../../src/accounts/officer-sessions.ts'
import { findOfficerByUsername } from '../../src/accounts/officers.ts'
import { main } from '../../src/cli/main.ts'
import type { Io } from '../../src/cli/output.ts'
import { openDatabase, type DatabaseHandle } from '../../src/db/create.ts'
import { migrateToLatestOrThrow } from '../../src/db/migrator.ts'
import { testConfig } from '../helpers/config.ts'
import { databaseKinds, freshDatabase } from '../helpers/db.ts'

interface CliDb {
  overrides: Record<string, unknown>
  open(): Promise<DatabaseHandle>
}

async function cliDatabase(t: Test, kind: 'pglite' | 'postgres'): Promise<CliDb> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-cli-officers-'))
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

async function run(db: CliDb, args: string[], stdin?: string) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l) }
  const code = await main(args, {
    io,
    env: { NODE_ENV: 'test' },
    overrides: db.overrides,
    ...(stdin !== undefined ? { stdin: Readable.from([stdin]) } : {}),
  })
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

const add = ['officers', 'add', '--username', 'sri.loket', '--name', 'Sri Wahyuni', '--role', 'counter_officer']
const codeLine = /^enrolment code \(shown once, usable once, until (\S+)\): ([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})$/m

for (const kind of databaseKinds()) {
  t.test(`on ${kind}`, async (t) => {
    const db = await cliDatabase(t, kind)

    const created = await run(db, add, 'Petugas loket yang ramah\n')
    t.equal(created.code, 0, created.err)
    t.match(created.out, /^created officer sri\.loket \(counter_officer\)$/m)
    const [, expires, code] = created.out.match(codeLine) ?? []
    t.ok(code, 'an enrolment code is printed')
    t.ok(Math.abs(new Date(expires as string).getTime() - Date.now() - 72 * 3600 * 1000) < 60_000, 'valid for 72 hours')
    t.match(created.out, /sign in at http:\/\/\S+\/petugas\/masuk/)
    t.notMatch(created.out, /Petugas loket yang ramah/, 'the password is never printed')

    const officer = await withDb(db, async (h) => {
      const o = await findOfficerByUsername(h.db, 'sri.loket')
      if (!o) throw new Error('no officer')
      return o
    })

    await t.test('list shows roles, status, factors and last sign-in; --json for machines', async (t) => {
      const r = await run(db, ['officers', 'list'])
      t.equal(r.code, 0, r.err)
      t.match(r.out, /^USERNAME\s+NAME\s+ROLES\s+STATUS\s+FACTORS\s+LAST SIGN-IN$/m)
      t.match(r.out, /^sri\.loket\s+Sri Wahyuni\s+counter_officer\s+active\s+none \(enrolment code issued\)\s+never$/m)
      const json = await run(db, ['officers', 'list', '--json'])
      t.strictSame(JSON.parse(json.out), [
        {
          username: 'sri.loket',
          name: 'Sri Wahyuni',
          roles: ['counter_officer'],
          agency_id: null,
          status: 'active',
          factors: [],
          enrolment_pending: true,
          last_sign_in_at: null,
        },
      ])
    })

    await t.test('reset-factors ends the sessions and issues a new code; the old one stops working', async (t) => {
      const session = await withDb(db, (h) => createOfficerSession(h.db, officer.id))
      const r = await run(db, ['officers', 'reset-factors', 'sri.loket'])
      t.equal(r.code, 0, r.err)
      t.match(r.out, /^sri\.loket: second factors removed, 1 session ended$/m)
      const [, , fresh] = r.out.match(codeLine) ?? []
      t.ok(fresh)
      t.not(fresh, code)
      await withDb(db, async (h) => {
        t.equal(await readOfficerSession(h.db, session.token), undefined, 'the session ended at once')
        t.match(await checkEnrolmentCode(h.db, officer.id, code as string), { ok: false })
        t.match(await checkEnrolmentCode(h.db, officer.id, fresh as string), { ok: true })
        const events = await h.db
          .selectFrom('audit_events')
          .select(['event', 'actor'])
          .where('event', 'in', ['officer.factors_reset', 'officer.enrolment_code_issued'])
          .execute()
        t.equal(events.filter((e) => e.event === 'officer.factors_reset').length, 1)
        t.equal(events.filter((e) => e.event === 'officer.enrolment_code_issued').length, 2)
      })
    })

    await t.test('disable ends every session at once, and is audited', async (t) => {
      const session = await withDb(db, (h) => createOfficerSession(h.db, officer.id))
      const r = await run(db, ['officers', 'disable', 'sri.loket'])
      t.equal(r.code, 0, r.err)
      t.match(r.out, /^sri\.loket disabled; their sessions ended$/m)
      await withDb(db, async (h) => {
        t.equal(await readOfficerSession(h.db, session.token), undefined)
        const revoked = await h.db.selectFrom('officer_sessions').select('revoked_at').execute()
        t.ok(
          revoked.every((s) => s.revoked_at !== null),
          'revoked in the table',
        )
        const audit = await h.db
          .selectFrom('audit_events')
          .select('data')
          .where('event', '=', 'account.disabled')
          .execute()
        t.match(audit, [{ data: { officerId: officer.id } }])
      })
      const list = await run(db, ['officers', 'list', '--json'])
      t.match(JSON.parse(list.out), [{ username: 'sri.loket', status: 'disabled' }])
      const unknown = await run(db, ['officers', 'disable', 'tidak.ada'])
      t.equal(unknown.code, 1)
      t.match(unknown.err, /no officer with that username/)
    })
  })
}
