import t from 'tap'
import type { Kysely } from 'kysely'
import { Secret, TOTP } from 'otpauth'
import { markEmailVerified, setCitizenPassword } from '../../src/accounts/citizens.ts'
import {
  confirmTotpEnrolment,
  hasSecondFactor,
  pendingTotpEnrolment,
  removeTotp,
  renewRecoveryCodes,
  secondFactorStatus,
  verifySecondFactor,
  type SecondFactorKeys,
} from '../../src/accounts/second-factors.ts'
import type { Database } from '../../src/db/database.ts'
import { createKeyEncryption } from '../../src/keys/encryption.ts'
import { addCitizen, budi } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'

const kek = createKeyEncryption('a test key-encryption secret of enough length')
const keys: SecondFactorKeys = { sealer: kek, recoveryKey: kek.derive('recovery codes') }
const T = new Date('2026-12-02T10:00:05Z')

function codeAt(secret: string, at: Date): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({
    timestamp: at.getTime(),
  })
}

async function enrolled(db: Kysely<Database>) {
  const c = await addCitizen(db, budi)
  await markEmailVerified(db, c.id, budi.email)
  const enrolment = await pendingTotpEnrolment(db, keys, c.id, budi.email)
  if (!enrolment) throw new Error('no enrolment')
  const confirmed = await confirmTotpEnrolment(db, keys, c.id, codeAt(enrolment.secret, T), {
    now: T,
    ip: '198.51.100.7',
  })
  if (!confirmed.ok) throw new Error('not confirmed')
  return { citizen: c, secret: enrolment.secret, recoveryCodes: confirmed.recoveryCodes }
}

t.test(
  'enrolment: a pending secret, confirmed with a current code, then ten recovery codes; the citizen is told',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const c = await addCitizen(db, budi)
      await markEmailVerified(db, c.id, budi.email)
      const first = await pendingTotpEnrolment(db, keys, c.id, budi.email)
      const again = await pendingTotpEnrolment(db, keys, c.id, budi.email)
      t.ok(first)
      t.equal(again?.secret, first?.secret, 'the same secret until confirmed')
      t.match(
        first?.uri,
        /^otpauth:\/\/totp\/Satu%20Pintu:budi%40contoh\.id\?issuer=Satu%20Pintu&secret=[A-Z2-7]+&algorithm=SHA1&digits=6&period=30$/,
      )
      t.notOk(await hasSecondFactor(db, c.id), 'not a factor before it is confirmed')
      const secret = first?.secret ?? ''
      t.match(await confirmTotpEnrolment(db, keys, c.id, '000000', { now: T }), { ok: false, reason: 'wrong' })
      const ok = await confirmTotpEnrolment(db, keys, c.id, codeAt(secret, T), { now: T })
      t.equal(ok.ok, true)
      if (!ok.ok) return
      t.equal(ok.recoveryCodes.length, 10)
      t.equal(new Set(ok.recoveryCodes).size, 10)
      t.ok(await hasSecondFactor(db, c.id))
      t.match(await secondFactorStatus(db, c.id), { totp: true, totpPending: false, recoveryCodesLeft: 10 })
      t.equal(
        await pendingTotpEnrolment(db, keys, c.id, budi.email),
        undefined,
        'no second enrolment while one is active',
      )
      const notices = await db.selectFrom('outbox').select(['kind', 'body']).where('citizen_id', '=', c.id).execute()
      t.match(notices, [{ kind: 'second_factor_added' }])
    })
  },
)

t.test('the secret in the database is sealed, not the plain secret, and bound to the account', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const { citizen, secret, recoveryCodes } = await enrolled(db)
    const row = await db
      .selectFrom('second_factors')
      .selectAll()
      .where('citizen_id', '=', citizen.id)
      .executeTakeFirstOrThrow()
    t.notOk(row.secret_enc.includes(secret), 'the base32 secret is not stored')
    t.notOk(
      row.secret_enc.includes(Buffer.from(Secret.fromBase32(secret).bytes).toString('base64url')),
      'nor its bytes',
    )
    t.match(row.secret_enc, /^v1\./)
    t.throws(
      () => kek.decrypt(row.secret_enc, 'second-factor:totp:00000000-0000-0000-0000-000000000000'),
      'another account cannot open it',
    )
    const hashes = await db
      .selectFrom('recovery_codes')
      .select('code_hash')
      .where('citizen_id', '=', citizen.id)
      .execute()
    t.equal(hashes.length, 10)
    for (const h of hashes) for (const c of recoveryCodes) t.notOk(h.code_hash.includes(c))
  })
})

t.test('SECURITY 39: a second-factor code is accepted once; the same code again in its step is refused', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const { citizen, secret } = await enrolled(db)
    const later = new Date(T.getTime() + 60_000)
    const code = codeAt(secret, later)
    t.match(await verifySecondFactor(db, keys, citizen.id, code, { now: later }), { ok: true, method: 'totp' })
    t.match(
      await verifySecondFactor(db, keys, citizen.id, code, { now: new Date(later.getTime() + 5000) }),
      { ok: false, reason: 'wrong' },
      'replay in the same step',
    )
    // The code of the step before, still inside the window, is refused too: the step moved on.
    t.match(
      await verifySecondFactor(db, keys, citizen.id, codeAt(secret, new Date(later.getTime() - 30_000)), {
        now: later,
      }),
      { ok: false, reason: 'wrong' },
    )
    const next = new Date(later.getTime() + 30_000)
    t.match(
      await verifySecondFactor(db, keys, citizen.id, codeAt(secret, next), { now: next }),
      { ok: true },
      'the next step is fine',
    )
    const failed = await db
      .selectFrom('audit_events')
      .select('event')
      .where('subject_id', '=', citizen.id)
      .where('event', '=', 'auth.second_factor.failed')
      .execute()
    t.equal(failed.length, 2)
  })
})

t.test('SECURITY 39: two requests racing with one code: exactly one is accepted', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const { citizen, secret } = await enrolled(db)
    const later = new Date(T.getTime() + 90_000)
    const code = codeAt(secret, later)
    const results = await Promise.all(
      Array.from({ length: 5 }, () => verifySecondFactor(db, keys, citizen.id, code, { now: later })),
    )
    t.equal(results.filter((r) => r.ok).length, 1)
  })
})

t.test('wrong codes are throttled like passwords, on their own counters, with Retry-After', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const { citizen, secret } = await enrolled(db)
    const at = new Date(T.getTime() + 120_000)
    const right = codeAt(secret, at)
    const wrong = right === '123456' ? '654321' : '123456'
    for (let i = 0; i < 5; i++)
      t.match(await verifySecondFactor(db, keys, citizen.id, wrong, { now: at, ip: '198.51.100.7' }), {
        ok: false,
        reason: 'wrong',
      })
    const held = await verifySecondFactor(db, keys, citizen.id, right, { now: at, ip: '198.51.100.7' })
    t.match(held, { ok: false, reason: 'throttled', permanent: false })
    t.ok(
      !held.ok && held.reason === 'throttled' && held.retryAfterSeconds >= 1 && held.retryAfterSeconds <= 30,
      'the first lock is 30 seconds',
    )
    const keysInTable = (await db.selectFrom('login_attempts').select('key').execute()).map((r) => r.key).sort()
    t.same(
      keysInTable,
      [`second-factor:account:${citizen.id}`, 'second-factor:ip:198.51.100.7'],
      'distinct from the password counters',
    )
    const after = new Date(at.getTime() + 31_000)
    t.match(
      await verifySecondFactor(db, keys, citizen.id, codeAt(secret, after), { now: after, ip: '198.51.100.7' }),
      { ok: true },
      'after the lock the right code passes',
    )
    t.equal(
      (await db.selectFrom('login_attempts').select('key').where('key', 'like', 'second-factor:account:%').execute())
        .length,
      0,
      'a success clears the account counter',
    )
    t.ok(
      (await db.selectFrom('audit_events').select('id').where('event', '=', 'auth.second_factor.throttled').execute())
        .length >= 1,
    )
  })
})

t.test(
  'SECURITY 39: a recovery code works once, the citizen is told how many are left, and renewing replaces the set',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const { citizen, recoveryCodes } = await enrolled(db)
      const [first = '', second = ''] = recoveryCodes
      const typed = `${first.slice(0, 5).toLowerCase()} - ${first.slice(5)}`
      t.match(
        await verifySecondFactor(db, keys, citizen.id, typed, { now: T }),
        { ok: true, method: 'recovery', recoveryCodesLeft: 9 },
        'lower case, with spaces and a dash',
      )
      t.match(
        await verifySecondFactor(db, keys, citizen.id, first, { now: T }),
        { ok: false, reason: 'wrong' },
        'not twice',
      )
      const notices = await db
        .selectFrom('outbox')
        .select(['kind', 'body'])
        .where('citizen_id', '=', citizen.id)
        .where('kind', '=', 'recovery_code_used')
        .execute()
      t.equal(notices.length, 1)
      t.match(notices[0]?.body, /Sisa kode pemulihan: 9/)
      t.notOk(notices[0]?.body.includes(first), 'the notice carries no code')
      const renewed = await renewRecoveryCodes(db, keys, citizen.id, { now: T })
      t.equal(renewed?.length, 10)
      t.match(
        await verifySecondFactor(db, keys, citizen.id, second, { now: T }),
        { ok: false, reason: 'wrong' },
        'old codes stop working',
      )
      t.match(await verifySecondFactor(db, keys, citizen.id, renewed?.[0] ?? '', { now: T }), {
        ok: true,
        method: 'recovery',
      })
      t.equal(
        (
          await db
            .selectFrom('outbox')
            .select('id')
            .where('citizen_id', '=', citizen.id)
            .where('kind', '=', 'recovery_codes_renewed')
            .execute()
        ).length,
        1,
      )
    })
  },
)

t.test('removing the authenticator app removes the recovery codes and tells the citizen', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const { citizen, recoveryCodes } = await enrolled(db)
    t.equal(await removeTotp(db, citizen.id, { now: T }), true)
    t.notOk(await hasSecondFactor(db, citizen.id))
    t.equal(
      (await db.selectFrom('recovery_codes').select('id').where('citizen_id', '=', citizen.id).execute()).length,
      0,
    )
    t.match(await verifySecondFactor(db, keys, citizen.id, recoveryCodes[0] ?? '', { now: T }), { ok: false })
    t.equal(await renewRecoveryCodes(db, keys, citizen.id), undefined, 'no codes without a factor')
    t.equal(
      (
        await db
          .selectFrom('outbox')
          .select('id')
          .where('citizen_id', '=', citizen.id)
          .where('kind', '=', 'second_factor_removed')
          .execute()
      ).length,
      1,
    )
  })
})

t.test(
  'a new password lifts the lock of the second-factor step (whoever ran it up knew the old password)',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const { citizen, secret } = await enrolled(db)
      const at = new Date(T.getTime() + 60_000)
      const policy = {
        account: { lockAfterFailures: 1, baseLockSeconds: 30, maxLockSeconds: 60, maxConsecutiveFailures: 2 },
        source: { maxFailures: 50, windowSeconds: 900 },
      }
      for (let i = 0; i < 2; i++)
        await verifySecondFactor(db, keys, citizen.id, '000000', {
          now: new Date(at.getTime() + i * 31_000),
          throttlePolicy: policy,
        })
      const later = new Date(at.getTime() + 3_600_000)
      t.match(
        await verifySecondFactor(db, keys, citizen.id, codeAt(secret, later), { now: later, throttlePolicy: policy }),
        { ok: false, reason: 'throttled', permanent: true },
      )
      await setCitizenPassword(db, citizen.id, 'lampu teras menyala terang', { regencyName: 'Sukamaju' })
      t.match(
        await verifySecondFactor(db, keys, citizen.id, codeAt(secret, later), { now: later, throttlePolicy: policy }),
        { ok: true, method: 'totp' },
      )
    })
  },
)
