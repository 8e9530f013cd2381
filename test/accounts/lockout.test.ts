// SECURITY.md line 38 (with line 9): a stranger with the NIK cannot keep the owner out,
// the owner is told of the attempts, and never more than 100 failures in a row.
import type { Kysely } from 'kysely'
import t from 'tap'
import {
  authenticateCitizen,
  createCitizen,
  markEmailVerified,
  setCitizenPassword,
} from '../../src/accounts/citizens.ts'
import { newDeviceId, recordSignInDevice } from '../../src/accounts/devices.ts'
import type { PasswordHasher } from '../../src/accounts/passwords.ts'
import type { Database } from '../../src/db/database.ts'
import { defaultSignInPolicy, pruneSourceCounters, unknownSourceCap } from '../../src/accounts/throttle.ts'
import { budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'

/** A hasher without the argon2 cost: these tests make hundreds of attempts. */
const quickHasher: PasswordHasher = {
  hashPassword: async (p) => `test:${p}`,
  verifyPassword: async (h, p) => ({ ok: h === `test:${p}`, needsRehash: false }),
  verifyAgainstDummy: async () => false,
}

const start = Date.parse('2026-12-01T08:00:00Z')
const at = (seconds: number) => new Date(start + seconds * 1000)
/** Failures in a row after which unknown sources are refused (90: the bar of 100 less the known devices' 10). */
const unknownCap = unknownSourceCap(defaultSignInPolicy)

/** The owner, registered with the e-mail verified (an account may not sign in before, issue 14). */
async function owner(db: Kysely<Database>) {
  const c = await createCitizen(db, { ...budi, regencyName: 'Sukamaju' }, { passwords: quickHasher })
  await markEmailVerified(db, c.id, budi.email)
  return c
}

function attempt(db: Kysely<Database>, password: string, ip: string, seconds: number, deviceId?: string) {
  return authenticateCitizen(db, budi.nik, password, {
    ip,
    now: at(seconds),
    passwords: quickHasher,
    regencyName: 'Sukamaju',
    deviceId,
  })
}

/** A browser the account signed in from before (its device cookie's id). */
async function knownDevice(db: Kysely<Database>, citizenId: string): Promise<string> {
  const deviceId = newDeviceId()
  await recordSignInDevice(db, { citizenId, deviceId, userAgent: 'Mozilla/5.0 (Linux; Android 14) Chrome/131.0' })
  return deviceId
}

t.test(
  'SECURITY 38: a stranger hammering the NIK from one address locks that address only: the owner signs in from theirs at once',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      await owner(db)
      for (let i = 0; i < 8; i++) await attempt(db, `tebakan ke ${i} salah`, '198.51.100.66', i)
      const stranger = await attempt(db, budi.password, '198.51.100.66', 9)
      t.match(
        stranger,
        { ok: false, reason: 'throttled' },
        "the stranger's address is locked, even with the right password",
      )
      const real = await attempt(db, budi.password, '203.0.113.5', 10)
      t.match(real, { ok: true }, 'the owner, from their own address, is not')
    })
  },
)

t.test(
  "SECURITY 38: after 90 failures in a row from many addresses, unknown sources are refused; the owner's known device still signs in",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const citizen = await owner(db)
      t.equal(unknownCap, 90)
      // One guess from each of 90 addresses: no per-address lock is reached.
      for (let i = 0; i < unknownCap; i++) {
        const r = await attempt(db, `tebakan ${i} salah`, `10.1.${Math.floor(i / 250)}.${i % 250}`, i)
        t.match(r, { ok: false, reason: 'invalid_credentials' }, `guess ${i + 1} is checked`)
      }
      const stranger = await attempt(db, 'tebakan ke seratus satu', '10.2.0.1', 200)
      t.match(
        stranger,
        { ok: false, reason: 'invalid_credentials' },
        'the 91st guess is not even checked, and answered as a wrong one',
      )
      const newDevice = await attempt(db, budi.password, '10.2.0.2', 201)
      t.match(
        newDevice,
        { ok: false, reason: 'invalid_credentials' },
        'an unknown device is refused too, even with the right password',
      )
      const refusals = await db
        .selectFrom('audit_events')
        .select('data')
        .where('event', '=', 'auth.login.throttled')
        .where('subject_id', '=', citizen.id)
        .execute()
      t.same(
        refusals.map((r) => (r.data as { scope?: string }).scope),
        ['account_wide', 'account_wide'],
        'the audit trail says why',
      )
      const failed = await db
        .selectFrom('audit_events')
        .select('id')
        .where('event', '=', 'auth.login.failed')
        .where('subject_id', '=', citizen.id)
        .execute()
      t.equal(failed.length, unknownCap, 'no more failures were checked')

      const stolenLooking = await attempt(db, budi.password, '10.2.0.3', 202, newDeviceId())
      t.match(
        stolenLooking,
        { ok: false, reason: 'invalid_credentials' },
        'a device cookie the account never signed in from counts as unknown',
      )
      const known = await attempt(db, budi.password, '10.2.0.3', 202, await knownDevice(db, citizen.id))
      t.match(known, { ok: true }, "the owner's known device signs in")
      const after = await attempt(db, budi.password, '10.2.0.4', 203)
      t.match(after, { ok: true }, 'and that success lifts the refusal for every source')
    })
  },
)

t.test(
  'SECURITY 9: a known device has its own limit: it cannot be used to guess past 10 failures in a row',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const citizen = await owner(db)
      const device = await knownDevice(db, citizen.id)
      let refused = -1
      for (let i = 0; i < 40 && refused < 0; i++) {
        const r = await attempt(db, `tebakan ${i} salah`, `10.3.0.${i}`, i * 3600, device)
        if (!r.ok && r.reason === 'throttled') refused = i
      }
      t.ok(refused > 0 && refused <= 10, `refused after at most 10 failures (at attempt ${refused + 1})`)
      const stillRefused = await attempt(db, budi.password, '10.3.1.1', 100 * 3600, device)
      t.match(stillRefused, { ok: false, reason: 'throttled', permanent: true })
    })
  },
)

t.test('SECURITY 38: a password reset lifts the refusal of unknown sources', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await owner(db)
    for (let i = 0; i < unknownCap; i++) await attempt(db, `tebakan ${i} salah`, `10.4.0.${i}`, i)
    t.match(
      await attempt(db, budi.password, '10.4.1.1', 200),
      { ok: false, reason: 'invalid_credentials' },
      'refused, as a wrong password',
    )
    await setCitizenPassword(db, citizen.id, 'sandi baru yang panjang sekali', {
      regencyName: 'Sukamaju',
      passwords: quickHasher,
    })
    t.match(await attempt(db, 'sandi baru yang panjang sekali', '10.4.1.2', 201), { ok: true })
  })
})

t.test(
  "SECURITY 38: the owner's verified contact is told of a run of failed sign-ins, at 10 and when unknown sources are refused",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const citizen = await owner(db)
      await markEmailVerified(db, citizen.id, budi.email)
      const notices = async () =>
        db
          .selectFrom('outbox')
          .select(['recipient', 'subject', 'body'])
          .where('kind', '=', 'sign_in_attempts')
          .execute()
      for (let i = 0; i < 9; i++) await attempt(db, `tebakan ${i} salah`, `10.5.0.${i}`, i)
      t.equal((await notices()).length, 0, 'nothing for a few mistakes')
      await attempt(db, 'tebakan ke sepuluh salah', '10.5.0.9', 9)
      const first = await notices()
      t.equal(first.length, 1, 'told at the 10th failure in a row')
      t.equal(first[0]?.recipient, budi.email, 'on the verified e-mail only (the phone is unverified)')
      t.match(first[0]?.body, /\b10\b/, 'with the number of failures')
      for (let i = 10; i < unknownCap; i++) await attempt(db, `tebakan ${i} salah`, `10.5.1.${i}`, i)
      t.equal((await notices()).length, 2, 'told again at the 90th, when unknown sources are refused')
    })
  },
)

t.test('SECURITY 9: with known devices too, failures in a row on one account never exceed 100', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await owner(db)
    for (let i = 0; i < unknownCap; i++) await attempt(db, `tebakan ${i} salah`, `10.6.0.${i}`, i)
    // Three of the owner's devices (or someone holding them) each guess up to their own limit.
    const devices = [
      await knownDevice(db, citizen.id),
      await knownDevice(db, citizen.id),
      await knownDevice(db, citizen.id),
    ]
    let n = 0
    for (const device of devices)
      for (let i = 0; i < 12; i++)
        await attempt(db, `tebakan perangkat ${n++} salah`, `10.6.1.${n}`, 1000 + n * 3600, device)
    const failed = await db
      .selectFrom('audit_events')
      .select('id')
      .where('event', '=', 'auth.login.failed')
      .where('subject_id', '=', citizen.id)
      .execute()
    t.equal(failed.length, 100, `100 failures were checked, not ${unknownCap} + ${devices.length} × 10`)
    const row = await db
      .selectFrom('login_attempts')
      .select('failures')
      .where('key', '=', `account:${citizen.id}`)
      .executeTakeFirst()
    t.ok(row === undefined || row.failures <= 100, 'the account counter stays at the bar')
  })
})

t.test('the per-pair sign-in counters are pruned when idle and unlocked; the account-wide counter stays', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await owner(db)
    for (let i = 0; i < 3; i++) await attempt(db, `tebakan ${i} salah`, `10.7.0.${i}`, i)
    const count = async (like: string) =>
      (await db.selectFrom('login_attempts').select('key').where('key', 'like', like).execute()).length
    t.equal(await count('%|%'), 3, 'one pair per address')
    t.equal((await pruneSourceCounters(db, { now: at(3600) })) >= 0, true)
    t.equal(await count('%|%'), 3, 'an hour later they are kept')
    await pruneSourceCounters(db, { now: at(2 * 24 * 3600) })
    t.equal(await count('%|%'), 0, 'two days later the pairs are gone')
    t.equal(await count('account:%'), 1, 'the account-wide counter is kept')
  })
})

t.test(
  "SECURITY 37: sign-in does not tell whether an e-mail belongs to a NIK: after failures with the NIK from one address, the account's e-mail and a stranger's get the same answer",
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const c = await owner(db)
      await markEmailVerified(db, c.id, budi.email)
      const ip = '198.51.100.77'
      for (let i = 0; i < 8; i++) await attempt(db, `tebakan ke ${i} salah`, ip, i)
      t.match(
        await attempt(db, 'tebakan lagi salah', ip, 9),
        { ok: false, reason: 'throttled' },
        'the NIK from this address is locked',
      )
      const withEmail = (email: string, seconds: number) =>
        authenticateCitizen(db, email, 'tebakan salah juga', {
          ip,
          now: at(seconds),
          passwords: quickHasher,
          regencyName: 'Sukamaju',
        })
      const owners = await withEmail(budi.email, 10)
      const strangers = await withEmail('bukan-budi@contoh.id', 11)
      t.equal(owners.ok, false)
      t.same(
        owners.ok ? undefined : owners.reason,
        strangers.ok ? undefined : strangers.reason,
        "the same refusal for the account's e-mail and for any other",
      )
    })
  },
)

t.test(
  'SECURITY 37: once the account-wide count refuses unknown sources, trying e-mails from fresh addresses does not find the one that belongs to the NIK',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const c = await owner(db)
      await markEmailVerified(db, c.id, budi.email)
      for (let i = 0; i < unknownCap; i++)
        await attempt(db, `tebakan ${i} salah`, `10.5.${Math.floor(i / 250)}.${i % 250}`, i)
      const probe = async (email: string, n: number) => {
        const r = await authenticateCitizen(db, email, 'tebakan apa saja', {
          ip: `10.6.0.${n}`,
          now: at(300 + n),
          passwords: quickHasher,
          regencyName: 'Sukamaju',
        })
        return r.ok ? 'ok' : r.reason
      }
      const answers = [
        await probe('orang.lain@contoh.id', 1),
        await probe(budi.email, 2),
        await probe('siapa@contoh.id', 3),
      ]
      t.same(
        answers,
        ['invalid_credentials', 'invalid_credentials', 'invalid_credentials'],
        "the account's e-mail answers as any other",
      )
    })
  },
)
