// The idp schedules its housekeeping: expired sign-in counters are pruned without anyone
// calling pruneSourceCounters by hand.
import t from 'tap'
import { eachDatabase } from '../helpers/db.ts'
import { startIdp } from '../helpers/idp.ts'

t.test('the idp prunes idle sign-in counters by itself, and keeps account-wide ones', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const old = new Date(Date.now() - 3 * 24 * 3600 * 1000)
    await db.db
      .insertInto('login_attempts')
      .values([
        { key: 'ip:198.51.100.1', failures: 3, first_failure_at: old, last_failure_at: old, locked_until: null },
        {
          key: 'account:00000000-0000-4000-8000-000000000001|ip:198.51.100.1',
          failures: 3,
          first_failure_at: old,
          last_failure_at: old,
          locked_until: null,
        },
        {
          key: 'account:00000000-0000-4000-8000-000000000001',
          failures: 3,
          first_failure_at: old,
          last_failure_at: old,
          locked_until: null,
        },
      ])
      .execute()
    await startIdp(t, db)
    let left: string[] = []
    for (let i = 0; i < 50; i++) {
      left = (await db.db.selectFrom('login_attempts').select('key').execute()).map((r) => r.key)
      if (left.length === 1) break
      await new Promise((r) => setTimeout(r, 100))
    }
    t.same(
      left,
      ['account:00000000-0000-4000-8000-000000000001'],
      'the source and pair counters went; the account counter stays',
    )
  })
})

t.test('the idp prunes one-time codes and registration decoys older than two days, and keeps newer ones', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { addCitizen, budi } = await import('../helpers/citizens.ts')
    const citizen = await addCitizen(db.db, budi)
    const old = new Date(Date.now() - 3 * 24 * 3600 * 1000)
    const recent = new Date(Date.now() - 3600 * 1000)
    const code = (id: string, at: Date) => ({
      id,
      purpose: 'reset_password' as const,
      citizen_id: citizen.id,
      destination: budi.email,
      code_hash: 'x',
      expires_at: at,
      created_at: at,
    })
    await db.db
      .insertInto('one_time_codes')
      .values([code('00000000-0000-4000-8000-00000000000a', old), code('00000000-0000-4000-8000-00000000000b', recent)])
      .execute()
    const decoy = (id: string, at: Date) => ({
      id,
      chain: id,
      destination: 'lain@contoh.id',
      expires_at: at,
      created_at: at,
    })
    await db.db
      .insertInto('registration_decoys')
      .values([
        decoy('00000000-0000-4000-8000-00000000000c', old),
        decoy('00000000-0000-4000-8000-00000000000d', recent),
      ])
      .execute()
    await startIdp(t, db)
    let left: string[] = []
    for (let i = 0; i < 50; i++) {
      left = [
        ...(await db.db.selectFrom('one_time_codes').select('id').execute()),
        ...(await db.db.selectFrom('registration_decoys').select('id').execute()),
      ].map((r) => r.id)
      if (left.length === 2) break
      await new Promise((r) => setTimeout(r, 100))
    }
    t.same(
      left.sort(),
      ['00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000d'],
      'the old rows went; the hour-old ones stay',
    )
  })
})
