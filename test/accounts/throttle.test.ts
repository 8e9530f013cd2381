import type { Kysely } from 'kysely'
import t from 'tap'
import {
  accountKey,
  checkThrottle,
  defaultThrottlePolicy,
  pruneSourceCounters,
  recordFailure,
  recordSuccess,
  reserveAttempt,
  sourceKey,
  unknownAccountKey,
  validateThrottlePolicy,
  type ThrottlePolicy,
} from '../../src/accounts/throttle.ts'
import { openDatabase } from '../../src/db/create.ts'
import type { Database } from '../../src/db/database.ts'
import { eachDatabase } from '../helpers/db.ts'

const T0 = new Date('2026-11-27T08:00:00.000Z')
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000)
const ACCOUNT = accountKey('5b0c3f3e-3f7e-4f7e-9a43-0c9a3c1e2b11')

/** A second "instance": its own pool on the same PostgreSQL database. */
async function withSecondInstance(url: string, fn: (other: Kysely<Database>) => Promise<void>): Promise<void> {
  const handle = await openDatabase({
    url,
    pgliteDir: '',
    autoMigrate: false,
    poolMax: 5,
    connectTimeoutMs: 5000,
    statementTimeoutMs: 30000,
    queryTimeoutMs: 35000,
  })
  try {
    await fn(handle.db)
  } finally {
    await handle.close()
  }
}

async function failuresOf(db: Kysely<Database>, key: string): Promise<number | undefined> {
  const row = await db.selectFrom('login_attempts').select('failures').where('key', '=', key).executeTakeFirst()
  return row?.failures
}

t.test('counts IPv6 clients per /64 and IPv4-mapped clients as IPv4', async (t) => {
  t.equal(sourceKey('2001:db8:1:2:3:4:5:6'), 'ip:2001:db8:1:2::/64')
  t.equal(sourceKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff'), 'ip:2001:db8:1:2::/64')
  t.equal(sourceKey('2001:db8:1:2::1'), 'ip:2001:db8:1:2::/64')
  t.equal(sourceKey('2001:db8::1'), 'ip:2001:db8:0:0::/64')
  t.equal(sourceKey('fe80::1%eth0'), 'ip:fe80:0:0:0::/64')
  t.equal(sourceKey('[2001:db8:1:2::7]'), 'ip:2001:db8:1:2::/64')
  t.equal(sourceKey('::ffff:192.0.2.7'), 'ip:192.0.2.7')
  t.equal(sourceKey('192.0.2.7'), 'ip:192.0.2.7')
  t.equal(sourceKey('not an address'), undefined)
  t.equal(sourceKey(undefined), undefined)
})

t.test('an unknown identifier gets a key that does not contain it', async (t) => {
  const key = unknownAccountKey('nik', '3201011201900001')
  t.match(key, /^account:unknown:[A-Za-z0-9_-]{43}$/)
  t.notOk(key.includes('3201011201900001'))
  t.not(key, unknownAccountKey('email', '3201011201900001'))
})

t.test('SECURITY 9: refuses a policy that would allow more than 100 failures in a row', async (t) => {
  t.throws(
    () =>
      validateThrottlePolicy({
        ...defaultThrottlePolicy,
        account: { ...defaultThrottlePolicy.account, maxConsecutiveFailures: 101 },
      }),
    /maxConsecutiveFailures must be at most 100/,
  )
  t.throws(
    () => validateThrottlePolicy({ ...defaultThrottlePolicy, source: { maxFailures: 0, windowSeconds: 60 } }),
    /source.maxFailures/,
  )
  t.equal(validateThrottlePolicy(defaultThrottlePolicy), defaultThrottlePolicy)
})

t.test('four failures are free; the fifth locks the account for 30 s, then 1 min, 2 min… at most 15 min', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const keys = { account: ACCOUNT }
    for (let i = 1; i <= 5; i++)
      t.strictSame(await reserveAttempt(db, keys, { now: at(i) }), { allowed: true }, `attempt ${i} goes ahead`)
    t.strictSame(await reserveAttempt(db, keys, { now: at(6) }), {
      allowed: false,
      scope: 'account',
      retryAfterSeconds: 29,
      permanent: false,
    })
    t.strictSame(await checkThrottle(db, keys, { now: at(6) }), {
      allowed: false,
      scope: 'account',
      retryAfterSeconds: 29,
      permanent: false,
    })
    t.equal(await failuresOf(db, ACCOUNT), 5, 'a refused attempt is not counted')

    // Each further failure doubles the lock, up to 15 minutes.
    let now = 5
    const locks: number[] = []
    for (let failure = 6; failure <= 12; failure++) {
      const lock = ((await checkThrottle(db, keys, { now: at(now) })) as { retryAfterSeconds: number })
        .retryAfterSeconds
      locks.push(lock)
      now += lock
      t.strictSame(
        await reserveAttempt(db, keys, { now: at(now) }),
        { allowed: true },
        `failure ${failure} after the lock`,
      )
    }
    t.strictSame(locks, [30, 60, 120, 240, 480, 900, 900])
  })
})

t.test('SECURITY 9: never more than 100 failures in a row on one account, then locked until cleared', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const keys = { account: ACCOUNT }
    let allowed = 0
    let seconds = 0
    for (let i = 0; i < 130; i++) {
      seconds += 901 // always after the longest lock
      if ((await reserveAttempt(db, keys, { now: at(seconds) })).allowed) allowed++
    }
    t.equal(allowed, 100)
    t.equal(await failuresOf(db, ACCOUNT), 100)
    t.strictSame(
      await reserveAttempt(db, keys, { now: at(seconds + 86400 * 365) }),
      {
        allowed: false,
        scope: 'account',
        retryAfterSeconds: 900,
        permanent: true,
      },
      'still locked a year later',
    )
    const counted = await recordFailure(db, keys, { now: at(seconds + 1) })
    t.equal(await failuresOf(db, ACCOUNT), 100, 'recordFailure does not count past the cap either')
    t.match(counted, { allowed: false, permanent: true })
    await recordSuccess(db, keys)
    t.strictSame(await reserveAttempt(db, keys, { now: at(seconds + 2) }), { allowed: true }, 'a reset clears it')
  })
})

t.test('a success clears the account counter but not the address counter', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const keys = { account: ACCOUNT, source: 'ip:192.0.2.7' }
    for (let i = 1; i <= 4; i++) await reserveAttempt(db, keys, { now: at(i) })
    await reserveAttempt(db, keys, { now: at(5) })
    await recordSuccess(db, keys)
    t.equal(await failuresOf(db, ACCOUNT), undefined, 'the account counter is gone')
    t.equal(
      await failuresOf(db, 'ip:192.0.2.7'),
      4,
      'the four failures from the address stay; the success is given back',
    )
    for (let i = 6; i <= 9; i++) t.strictSame(await reserveAttempt(db, keys, { now: at(i) }), { allowed: true })
  })
})

t.test('an address gets 50 failures per 15-minute window, across accounts', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const source = sourceKey('2001:db8:aa:bb::1')
    for (let i = 0; i < 50; i++) {
      const r = await reserveAttempt(
        db,
        { account: accountKey(`acc-${i}`), source: sourceKey(`2001:db8:aa:bb::${i.toString(16)}`) },
        { now: at(i) },
      )
      if (!r.allowed) t.fail(`attempt ${i} refused`)
    }
    const refused = await reserveAttempt(db, { account: accountKey('acc-x'), source }, { now: at(60) })
    t.strictSame(refused, { allowed: false, scope: 'source', retryAfterSeconds: 840, permanent: false })
    t.equal(await failuresOf(db, accountKey('acc-x')), undefined, 'the refused attempt counts against no account')
    t.strictSame(
      await reserveAttempt(db, { account: accountKey('acc-x'), source }, { now: at(900) }),
      { allowed: true },
      'a new window',
    )
    t.equal(await failuresOf(db, source as string), 1)
    t.equal(await pruneSourceCounters(db, { now: at(1800) }), 1, 'housekeeping removes ended windows')
  })
})

t.test(
  'housekeeping also removes the per-address counters of other actions, a day after their window began',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const source = sourceKey('198.51.100.7') as string
      const rows = [
        { key: `second-factor:${source}`, first: at(0) },
        { key: `register:${source}`, first: at(0) },
        { key: `reset:${source}`, first: at(23 * 3600) },
        // A pair counter with a prefixed account key is not a source counter.
        { key: `second-factor:${ACCOUNT}|${source}`, first: at(0) },
      ]
      for (const r of rows)
        await db
          .insertInto('login_attempts')
          .values({
            key: r.key,
            failures: 3,
            first_failure_at: r.first,
            last_failure_at: at(24 * 3600),
            locked_until: null,
          })
          .execute()
      await pruneSourceCounters(db, { now: at(24 * 3600 + 1) })
      const left = (await db.selectFrom('login_attempts').select('key').execute()).map((r) => r.key).sort()
      t.same(
        left,
        [`reset:${source}`, `second-factor:${ACCOUNT}|${source}`].sort(),
        'the two whose windows began a day ago are gone; a recent one and the pair counter stay',
      )
    })
  },
)

t.test('a locked account does not use up the address allowance', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const keys = { account: ACCOUNT, source: 'ip:192.0.2.9' }
    for (let i = 1; i <= 5; i++) await reserveAttempt(db, keys, { now: at(i) })
    for (let i = 0; i < 10; i++) await reserveAttempt(db, keys, { now: at(6) })
    t.equal(await failuresOf(db, 'ip:192.0.2.9'), 5)
  })
})

t.test('parallel attempts cannot slip past a lock: of 20 at once, exactly 5 go ahead', async (t) => {
  await eachDatabase(t, async (t, { db, url }) => {
    const keys = { account: ACCOUNT }
    const run = async (other: Kysely<Database>) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => reserveAttempt(i % 2 === 0 ? db : other, keys, { now: at(1) })),
      )
      t.equal(results.filter((r) => r.allowed).length, 5)
      t.equal(await failuresOf(db, ACCOUNT), 5)
    }
    if (url === undefined) await run(db)
    else await withSecondInstance(url, run)
  })
})

t.test('SECURITY 9: two instances on one database count every failure, and together stop at 100', async (t) => {
  await eachDatabase(t, async (t, { db, url }) => {
    // No exponential lock here, only the cap, so that all 150 race for the last places.
    const policy: ThrottlePolicy = {
      ...defaultThrottlePolicy,
      account: { ...defaultThrottlePolicy.account, lockAfterFailures: 100 },
    }
    const run = async (other: Kysely<Database>) => {
      const counted = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          recordFailure(i % 2 === 0 ? db : other, { account: 'account:counted' }, { now: at(1) }),
        ),
      )
      t.equal(counted.length, 40)
      t.equal(await failuresOf(db, 'account:counted'), 40, 'no lost updates')
      const results = await Promise.all(
        Array.from({ length: 150 }, (_, i) =>
          reserveAttempt(i % 2 === 0 ? db : other, { account: ACCOUNT }, { policy, now: at(1) }),
        ),
      )
      t.equal(results.filter((r) => r.allowed).length, 100)
      t.equal(await failuresOf(other, ACCOUNT), 100)
    }
    if (url === undefined) await run(db)
    else await withSecondInstance(url, run)
  })
})
