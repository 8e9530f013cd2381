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
        { key: 'account:00000000-0000-4000-8000-000000000001|ip:198.51.100.1', failures: 3, first_failure_at: old, last_failure_at: old, locked_until: null },
        { key: 'account:00000000-0000-4000-8000-000000000001', failures: 3, first_failure_at: old, last_failure_at: old, locked_until: null },
      ])
      .execute()
    await startIdp(t, db)
    let left: string[] = []
    for (let i = 0; i < 50; i++) {
      left = (await db.db.selectFrom('login_attempts').select('key').execute()).map((r) => r.key)
      if (left.length === 1) break
      await new Promise((r) => setTimeout(r, 100))
    }
    t.same(left, ['account:00000000-0000-4000-8000-000000000001'], 'the source and pair counters went; the account counter stays')
  })
})
