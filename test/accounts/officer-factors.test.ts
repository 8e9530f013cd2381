/**
 * Officers' second factors and console sessions (issue 14, Officers): the enrolment code
 * works once and expires, a TOTP code is taken once, wrong codes are throttled, sessions
 * end after 15 idle minutes or 12 hours, and disabling or resetting ends them at once.
 * The clock is passed in (`now`), never slept on.
 */
import t from 'tap'
import {
  checkEnrolmentCode,
  confirmOfficerTotp,
  officerFactorStatus,
  pendingOfficerTotp,
  resetOfficerFactors,
  verifyOfficerTotp,
} from '../../src/accounts/officer-factors.ts'
import {
  completeOfficerSession,
  createOfficerSession,
  endOfficerSession,
  readOfficerSession,
} from '../../src/accounts/officer-sessions.ts'
import { createOfficer, listOfficers, setOfficerStatus } from '../../src/accounts/officers.ts'
import { eachDatabase, type TestDatabase } from '../helpers/db.ts'
import { testKek } from '../helpers/idp.ts'
import { codeAt } from '../helpers/totp.ts'

const T0 = new Date('2026-12-03T02:00:00.000Z')
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000)

async function newOfficer(db: TestDatabase) {
  return createOfficer(
    db.db,
    {
      username: 'sri.loket',
      name: 'Sri Wahyuni',
      roles: ['counter_officer'],
      password: 'Petugas loket yang ramah',
      regencyName: 'Sukamaju',
    },
    { now: T0 },
  )
}

t.test("SECURITY 39: an officer's enrolment code opens one enrolment, once, and expires after 72 hours", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const officer = await newOfficer(db)
    const code = officer.enrolment.code
    t.match(await checkEnrolmentCode(db.db, officer.id, 'AAAA-AAAA-AAAA', { now: at(10) }), {
      ok: false,
      reason: 'wrong',
    })
    t.match(await checkEnrolmentCode(db.db, officer.id, code.toLowerCase().replace(/-/g, ' '), { now: at(10) }), {
      ok: true,
    })
    const enrolment = await pendingOfficerTotp(db.db, testKek, officer.id, 'sri.loket')
    if (!enrolment) throw new Error('no enrolment')
    t.match(enrolment.uri, /^otpauth:\/\/totp\/Satu%20Pintu:sri\.loket\?/)
    t.same(await pendingOfficerTotp(db.db, testKek, officer.id, 'sri.loket'), enrolment, 'the same secret twice')
    const sealed = await db.db.selectFrom('officer_second_factors').select('secret_enc').executeTakeFirstOrThrow()
    t.notMatch(sealed.secret_enc, enrolment.secret, 'sealed at rest')

    t.match(await confirmOfficerTotp(db.db, testKek, officer.id, '000000', { now: at(20) }), {
      ok: false,
      reason: 'wrong',
    })
    t.match(
      await confirmOfficerTotp(db.db, testKek, officer.id, codeAt(enrolment.secret, at(20).getTime()), { now: at(20) }),
      {
        ok: true,
      },
    )
    t.match(await officerFactorStatus(db.db, officer.id, at(30)), { totp: true, enrolmentCodeLive: false })
    // Spent: the code opens nothing again.
    t.match(await checkEnrolmentCode(db.db, officer.id, code, { now: at(40) }), { ok: false, reason: 'wrong' })

    // A new code (reset) that is left unused expires.
    const reset = await resetOfficerFactors(db.db, officer.id, { now: at(100) })
    t.match(await officerFactorStatus(db.db, officer.id, at(100)), { totp: false, enrolmentCodeLive: true })
    t.match(await checkEnrolmentCode(db.db, officer.id, code, { now: at(110) }), { ok: false }, 'the old code is gone')
    const later = at(100 + 72 * 3600)
    t.match(await checkEnrolmentCode(db.db, officer.id, reset.code, { now: later }), { ok: false, reason: 'wrong' })
    const again = await pendingOfficerTotp(db.db, testKek, officer.id, 'sri.loket')
    if (!again) throw new Error('no enrolment')
    t.not(again.secret, enrolment.secret, 'a reset makes a new secret')
    t.match(
      await confirmOfficerTotp(db.db, testKek, officer.id, codeAt(again.secret, later.getTime()), { now: later }),
      {
        ok: false,
        reason: 'no_enrolment_code',
      },
    )
    t.match(await officerFactorStatus(db.db, officer.id, later), { totp: false })
    const events = (await db.db.selectFrom('audit_events').select('event').execute()).map((e) => e.event)
    for (const e of ['account.second_factor_added', 'account.second_factor_removed', 'officer.factors_reset'])
      t.ok(events.includes(e), e)
  })
})

async function enrolled(db: TestDatabase) {
  const officer = await newOfficer(db)
  await checkEnrolmentCode(db.db, officer.id, officer.enrolment.code, { now: at(0) })
  const enrolment = await pendingOfficerTotp(db.db, testKek, officer.id, 'x')
  if (!enrolment) throw new Error('no enrolment')
  const ok = await confirmOfficerTotp(db.db, testKek, officer.id, codeAt(enrolment.secret, at(0).getTime()), {
    now: at(0),
  })
  if (!ok.ok) throw new Error('not confirmed')
  return { officer, secret: enrolment.secret }
}

t.test(
  "SECURITY 39: an officer's authenticator code is taken once: a replay in the same step is refused, the next step passes",
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { officer, secret } = await enrolled(db)
      const now = at(300)
      const code = codeAt(secret, now.getTime())
      t.match(await verifyOfficerTotp(db.db, testKek, officer.id, code, { now }), { ok: true })
      t.match(await verifyOfficerTotp(db.db, testKek, officer.id, code, { now: at(305) }), {
        ok: false,
        reason: 'wrong',
      })
      t.match(
        await verifyOfficerTotp(db.db, testKek, officer.id, codeAt(secret, at(330).getTime()), { now: at(330) }),
        {
          ok: true,
        },
      )
    })
  },
)

t.test("SECURITY 9: an officer's wrong codes are throttled like passwords, the enrolment code too", async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { officer, secret } = await enrolled(db)
    for (let i = 1; i <= 5; i++) {
      t.match(await verifyOfficerTotp(db.db, testKek, officer.id, '000000', { ip: '192.0.2.7', now: at(600 + i) }), {
        ok: false,
        reason: 'wrong',
      })
    }
    t.match(
      await verifyOfficerTotp(db.db, testKek, officer.id, codeAt(secret, at(606).getTime()), {
        ip: '192.0.2.7',
        now: at(606),
      }),
      { ok: false, reason: 'throttled' },
      'even the right code waits',
    )
    const throttled = await db.db
      .selectFrom('audit_events')
      .select(['actor', 'data'])
      .where('event', '=', 'auth.second_factor.throttled')
      .execute()
    t.match(throttled, [{ actor: `officer:${officer.id}`, data: { accountKind: 'officer', officerId: officer.id } }])

    const other = await createOfficer(db.db, {
      username: 'joko.loket',
      name: 'Joko Susilo',
      roles: ['counter_officer'],
      password: 'Petugas loket yang ramah',
      regencyName: 'Sukamaju',
    })
    for (let i = 1; i <= 5; i++) await checkEnrolmentCode(db.db, other.id, 'AAAA-AAAA-AAAA', { now: at(i) })
    t.match(await checkEnrolmentCode(db.db, other.id, other.enrolment.code, { now: at(6) }), {
      ok: false,
      reason: 'throttled',
    })
    // An admin's reset lifts the lock: the new code works at once.
    const reset = await resetOfficerFactors(db.db, other.id, { now: at(7) })
    t.match(await checkEnrolmentCode(db.db, other.id, reset.code, { now: at(8) }), { ok: true })
  })
})

t.test('sessions: 15 idle minutes, 12 hours at most, and disabling or a reset ends them at once', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { officer } = await enrolled(db)
    const s = await createOfficerSession(db.db, officer.id, at(0))
    t.match(await readOfficerSession(db.db, s.token, at(60)), { complete: false, officer: { id: officer.id } })
    const token = await completeOfficerSession(db.db, s.token, at(60))
    if (!token) throw new Error('not completed')
    t.equal(await readOfficerSession(db.db, s.token, at(61)), undefined, 'the id before the second factor is dead')
    t.match(await readOfficerSession(db.db, token, at(61)), { complete: true })
    // Active every 14 minutes: alive until the 12th hour, not a second more.
    let clock = 61
    while (clock + 14 * 60 < 12 * 3600) {
      clock += 14 * 60
      t.ok(await readOfficerSession(db.db, token, at(clock)), `alive at ${clock}`)
    }
    t.equal(await readOfficerSession(db.db, token, at(12 * 3600)), undefined, 'ends at 12 hours')
    t.match((await listOfficers(db.db))[0], { username: 'sri.loket', factors: ['totp'], lastSignInAt: at(60) })

    const idle = await createOfficerSession(db.db, officer.id, at(0))
    t.ok(await readOfficerSession(db.db, idle.token, at(15 * 60 - 1)))
    t.equal(await readOfficerSession(db.db, idle.token, at(30 * 60 - 1)), undefined, '15 minutes idle ends it')

    const now = new Date()
    const a = await createOfficerSession(db.db, officer.id, now)
    t.ok(await readOfficerSession(db.db, a.token, now))
    t.ok(await endOfficerSession(db.db, a.token, now))
    t.equal(await readOfficerSession(db.db, a.token, now), undefined, 'signed out')

    const b = await createOfficerSession(db.db, officer.id, now)
    await resetOfficerFactors(db.db, officer.id, { now })
    t.equal(await readOfficerSession(db.db, b.token, now), undefined, 'a reset ends it')

    const c = await createOfficerSession(db.db, officer.id, now)
    await setOfficerStatus(db.db, officer.id, 'disabled')
    t.equal(await readOfficerSession(db.db, c.token, now), undefined, 'disabling ends it')
    await setOfficerStatus(db.db, officer.id, 'active')
    t.equal(await readOfficerSession(db.db, c.token, now), undefined, 'and it stays ended')
  })
})
