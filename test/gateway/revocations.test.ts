/**
 * The gateway's memory of sessions the idp ended (src/gateway/auth/revocations.ts): the set on
 * its own, then the poller against revoked_sessions on each database.
 */
import { sql } from 'kysely'
import t from 'tap'
import {
  createRevocationPoller,
  pollOverlapMs,
  revocationLeewayMs,
  RevocationSet,
} from '../../src/gateway/auth/revocations.ts'
import { memoryLogger } from '../helpers/config.ts'
import { eachDatabase } from '../helpers/db.ts'

const hashA = 'A'.repeat(43)
const hashB = 'B'.repeat(43)
const hashC = 'C'.repeat(43)

t.test("the set refuses a session's tokens issued before it ended, and only those", async (t) => {
  const set = new RevocationSet()
  const endedAt = Date.UTC(2026, 11, 2, 10, 0, 0)
  set.add([{ session_hash: hashA, revoked_at: new Date(endedAt), expires_at: new Date(endedAt + 720_000) }])
  t.equal(set.size, 1)
  t.ok(set.refuses(hashA, endedAt - 60_000), 'a token issued a minute before the sign-out')
  t.ok(set.refuses(hashA, endedAt + revocationLeewayMs), 'and one issued within the clock leeway after it')
  t.notOk(
    set.refuses(hashA, endedAt + revocationLeewayMs + 1000),
    'a token issued later in that session (it went on) passes',
  )
  t.notOk(set.refuses(hashB, endedAt - 60_000), "another session's token passes")
  t.notOk(set.refuses(undefined, endedAt - 60_000), "a token without a session (a client's own) passes")

  // The same session ended again later: the later moment counts, an older row changes nothing.
  set.add([{ session_hash: hashA, revoked_at: new Date(endedAt + 60_000), expires_at: new Date(endedAt + 780_000) }])
  set.add([{ session_hash: hashA, revoked_at: new Date(endedAt - 60_000), expires_at: new Date(endedAt + 660_000) }])
  t.ok(set.refuses(hashA, endedAt + 30_000), 'ended again: tokens up to the second end are refused')
  t.equal(set.size, 1)

  set.sweep(endedAt + 779_999)
  t.equal(set.size, 1, 'kept until its row expires')
  set.sweep(endedAt + 780_000)
  t.equal(set.size, 0, 'then dropped: memory is bounded by the rows still in force')
  t.notOk(set.refuses(hashA, endedAt - 60_000))
})

t.test('the poller', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const insert = (hash: string, revokedAgoMs: number, expiresInMs = 600_000) =>
      db.db
        .insertInto('revoked_sessions')
        .values({
          session_hash: hash,
          revoked_at: sql<Date>`now() - make_interval(secs => ${revokedAgoMs / 1000})`,
          expires_at: sql<Date>`now() + make_interval(secs => ${expiresInMs / 1000})`,
        })
        .execute()
    const log = memoryLogger('info')
    let clock = Date.now()
    const poller = createRevocationPoller(db.db, log.logger, { pollMs: 1000, now: () => clock })
    t.notOk(poller.healthy(), 'not healthy before the first load')

    await insert(hashA, 10_000)
    await insert(hashC, 10_000, -1000)
    await poller.poll()
    t.ok(poller.healthy())
    t.equal(poller.revoked.size, 1, 'the first poll loads every row in force, none that expired')
    t.ok(poller.revoked.refuses(hashA, Date.now() - 60_000))

    // After the first load, a poll reads only rows newer than the newest seen (less the
    // overlap): a row older than that is not read again, a new one is.
    await insert(hashB, 10_000 + pollOverlapMs + 60_000)
    await poller.poll()
    t.notOk(
      poller.revoked.refuses(hashB, Date.now() - 600_000),
      'an old row appearing late is outside the incremental read',
    )
    await db.db.deleteFrom('revoked_sessions').where('session_hash', '=', hashB).execute()
    await insert(hashB, 0)
    await poller.poll()
    t.ok(poller.revoked.refuses(hashB, Date.now() - 1000), 'a new row is read at the next poll')
    t.equal(poller.revoked.size, 2)

    // The database cannot answer: the set stays, a warning is logged (once), and the
    // poller reports itself unhealthy once the set is older than three intervals.
    await sql`alter table revoked_sessions rename to revoked_sessions_away`.execute(db.db)
    try {
      clock += 1000
      await poller.poll()
      clock += 1000
      await poller.poll()
      t.equal(poller.revoked.size, 2, 'the last set is kept')
      t.ok(poller.revoked.refuses(hashA, Date.now() - 60_000), 'and still refuses')
      const warnings = log
        .lines()
        .filter((l) => l.msg === 'could not read ended sessions: keeping the last revocation set')
      t.equal(warnings.length, 1, 'one warning, not one per poll')
      t.equal(warnings[0]?.level, 40)
      t.ok(poller.healthy(), 'two missed polls: still within the bound')
      clock += 5000
      await poller.poll()
      t.notOk(poller.healthy(), "stale: unhealthy (the gateway's /readyz says so)")
    } finally {
      await sql`alter table revoked_sessions_away rename to revoked_sessions`.execute(db.db)
    }
    await poller.poll()
    t.ok(poller.healthy(), 'back on its own when the database answers')
    t.ok(log.lines().some((l) => l.msg === 'ended sessions read again: revocation set up to date'))
    await db.db.deleteFrom('revoked_sessions').execute()
  })
})
