import argon2 from 'argon2'
import type { Kysely } from 'kysely'
import t from 'tap'
import {
  authenticateCitizen,
  createCitizen,
  findCitizenById,
  findCitizenByIdentifier,
  markEmailVerified,
  markPhoneVerified,
  setCitizenPassword,
  setCitizenStatus,
  updateProfile,
  type NewCitizenInput,
} from '../../src/accounts/citizens.ts'
import { AccountError } from '../../src/accounts/errors.ts'
import { classifyIdentifier } from '../../src/accounts/identifiers.ts'
import { argon2Hasher, hashNeedsRehash, type PasswordHasher } from '../../src/accounts/passwords.ts'
import { accountKey } from '../../src/accounts/throttle.ts'
import { listAuditForSubject } from '../../src/audit/audit.ts'
import type { Database } from '../../src/db/database.ts'
import { eachDatabase } from '../helpers/db.ts'

const PASSWORD = 'kopi tubruk di pagi hujan'
const T0 = new Date('2026-11-27T08:00:00.000Z')
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000)

const budi: NewCitizenInput = {
  nik: '3201011201900001', // man, born 12 January 1990
  name: 'Budi Santoso',
  birthDate: '1990-01-12',
  gender: 'male',
  email: 'budi@contoh.id',
  phone: '081234567890',
  password: PASSWORD,
  regencyName: 'Sukamaju',
}

const siti: NewCitizenInput = {
  nik: '3201015203850002', // woman (day 12 + 40), born 12 March 1985
  name: 'Siti Aminah',
  birthDate: '1985-03-12',
  gender: 'female',
  email: 'siti@contoh.id',
  phone: '085712345678',
  password: 'jeruk nipis manis sekali',
  regencyName: 'Sukamaju',
}

/** Counts the argon2 work sign-in does, to check the dummy verification without timing. */
function countingHasher(): { calls: { hash: number; verify: number; dummy: number }; hasher: PasswordHasher } {
  const calls = { hash: 0, verify: 0, dummy: 0 }
  return {
    calls,
    hasher: {
      hashPassword: async (p) => (calls.hash++, argon2Hasher.hashPassword(p)),
      verifyPassword: async (h, p) => (calls.verify++, argon2Hasher.verifyPassword(h, p)),
      verifyAgainstDummy: async (p) => (calls.dummy++, argon2Hasher.verifyAgainstDummy(p)),
    },
  }
}

/** A citizen who finished registering: the e-mail verified (an account may not sign in before). */
async function signUp(db: Kysely<Database>, input: NewCitizenInput, context?: Parameters<typeof createCitizen>[2]) {
  const c = await createCitizen(db, input, context)
  await markEmailVerified(db, c.id, input.email as string)
  return c
}

async function countRows(db: Kysely<Database>): Promise<{ citizens: number; audit: number }> {
  const c = await db
    .selectFrom('citizens')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow()
  const a = await db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow()
  return { citizens: Number(c.n), audit: Number(a.n) }
}

t.test('registers a citizen with normalised data, an argon2id hash and an audit entry', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await createCitizen(
      db,
      { ...budi, name: '  Budi   Santoso ', email: ' Budi@Contoh.ID', phone: '0812-3456-7890' },
      { ip: '192.0.2.1', now: T0 },
    )
    t.match(citizen, {
      nik: '3201011201900001',
      name: 'Budi Santoso',
      birthDate: '1990-01-12',
      gender: 'male',
      email: 'budi@contoh.id',
      emailVerified: false,
      phone: '+6281234567890',
      phoneVerified: false,
      nikStatus: 'claimed',
      status: 'active',
      hasPassword: true,
    })
    t.match(citizen.id, /^[0-9a-f-]{36}$/)
    t.notOk('passwordHash' in citizen || 'password_hash' in citizen, 'the hash never leaves the module')
    const row = await db
      .selectFrom('citizens')
      .select(['password_hash', 'password_changed_at'])
      .where('id', '=', citizen.id)
      .executeTakeFirstOrThrow()
    t.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/)
    t.same(row.password_changed_at, T0)
    const audit = await listAuditForSubject(db, citizen.id)
    t.match(audit, [{ event: 'account.registered', actor: `citizen:${citizen.id}`, ip: '192.0.2.1' }])
    t.strictSame(await findCitizenById(db, citizen.id), citizen)
    t.equal(await findCitizenById(db, 'not-a-uuid'), undefined)
  })
})

t.test('an officer can register a citizen without a password (its NIK only claimed until proven)', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const { password: _, ...noPassword } = siti
    const citizen = await createCitizen(
      db,
      { ...noPassword, email: undefined },
      { actor: 'officer:00000000-0000-4000-8000-000000000001' },
    )
    t.match(citizen, { hasPassword: false, nikStatus: 'claimed', email: null, phone: '+6285712345678' })
    t.match(await listAuditForSubject(db, citizen.id), [{ actor: 'officer:00000000-0000-4000-8000-000000000001' }])
  })
})

t.test('refuses each invalid field with its own code and writes nothing', async (t) => {
  const cases: Array<[string, Partial<NewCitizenInput>, string, string?]> = [
    ['a NIK with a bad structure', { nik: '3201011201900000' }, 'nik_invalid', 'serial'],
    ['a NIK with an unknown province', { nik: '9901011201900001' }, 'nik_invalid', 'province'],
    ['a birth date that does not match the NIK', { birthDate: '1990-01-13' }, 'nik_birth_date_mismatch'],
    ['a gender that does not match the NIK', { gender: 'female' }, 'nik_gender_mismatch'],
    ['a birth date that does not exist', { birthDate: '1990-02-30' }, 'birth_date_invalid'],
    ['an unknown gender', { gender: 'other' }, 'gender_invalid'],
    ['a name with digits', { name: 'Budi 123' }, 'name_invalid'],
    ['an empty name', { name: '   ' }, 'name_invalid'],
    ['a name of 101 letters', { name: 'a'.repeat(101) }, 'name_invalid'],
    ['an invalid email', { email: 'budi@contoh' }, 'email_invalid'],
    ['a landline number', { phone: '0221234567' }, 'phone_invalid'],
    ['neither email nor phone', { email: '', phone: undefined }, 'contact_required'],
    ['a common password', { password: 'password123' }, 'password_weak', 'common'],
    ['a password made of the NIK', { password: 'nik3201011201900001' }, 'password_weak', 'uses_nik'],
    ['a password made of the name and birth year', { password: 'Budi Santoso 1990' }, 'password_weak', 'uses_name'],
    ['a password made of the regency name', { password: 'sukamaju2024' }, 'password_weak', 'uses_regency'],
    ['a short password', { password: 'abc' }, 'password_weak', 'too_short'],
    ['a password over 1024 bytes', { password: 'x'.repeat(1025) }, 'password_too_long'],
  ]
  await eachDatabase(t, async (t, { db }) => {
    for (const [what, change, code, reason] of cases) {
      const { calls, hasher } = countingHasher()
      const err = await createCitizen(db, { ...budi, ...change }, { passwords: hasher }).then(
        () => undefined,
        (e: unknown) => e,
      )
      t.ok(err instanceof AccountError, what)
      t.match(err, { code, ...(reason === undefined ? {} : { reason }) }, what)
      t.equal(calls.hash, 0, `${what}: refused before any hashing`)
    }
    t.strictSame(await countRows(db), { citizens: 0, audit: 0 })
  })
})

t.test('an error carries plain-language messages and maps to a registry code', async (t) => {
  const err = new AccountError('password_weak', { reason: 'common' })
  t.match(err.messages.id, /terlalu umum/)
  t.match(err.messages.en, /too common/)
  const app = err.toAppError()
  t.match(app, {
    code: 'validation_failed',
    statusCode: 400,
    details: { field: 'password', code: 'password_weak', reason: 'common' },
  })
  t.match(new AccountError('nik_taken').toAppError(), { code: 'conflict', statusCode: 409 })
})

t.test('a NIK already registered is claimed once more: two accounts, both unproven (issue 14)', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const first = await createCitizen(db, budi)
    const second = await createCitizen(db, { ...siti, nik: budi.nik, birthDate: budi.birthDate, gender: 'male' })
    t.not(second.id, first.id)
    t.equal(first.nikStatus, 'claimed')
    t.equal(second.nikStatus, 'claimed')
    t.strictSame(await countRows(db), { citizens: 2, audit: 2 })
  })
})

t.test('two registrations of one NIK at the same moment: both are claims', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const results = await Promise.allSettled([
      createCitizen(db, budi),
      createCitizen(db, { ...budi, email: 'lain@contoh.id', phone: '081299990000' }),
    ])
    t.equal(results.filter((r) => r.status === 'fulfilled').length, 2)
    t.strictSame(await countRows(db), { citizens: 2, audit: 2 })
  })
})

t.test('signs in with the NIK, the verified email or the verified phone number, in any usual form', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const created = await createCitizen(db, budi)
    await markEmailVerified(db, created.id, budi.email as string)
    await markPhoneVerified(db, created.id, budi.phone as string)
    const citizen = await findCitizenById(db, created.id)
    if (citizen === undefined) throw new Error('the citizen vanished')
    for (const identifier of [
      '3201011201900001',
      '3201 0112 0190 0001',
      'BUDI@contoh.id',
      '+62 812-3456-7890',
      '081234567890',
    ]) {
      const result = await authenticateCitizen(db, identifier, PASSWORD, { ip: '192.0.2.1', regencyName: 'Sukamaju' })
      t.strictSame(result, { ok: true, citizen, weakPassword: null }, identifier)
    }
    t.strictSame(await findCitizenByIdentifier(db, classifyIdentifier('0812 3456 7890')), citizen)
    const audit = await listAuditForSubject(db, citizen.id)
    t.equal(audit.filter((e) => e.event === 'auth.login.succeeded').length, 5)
  })
})

t.test('an unknown account and a wrong password give the identical result after the same argon2 work', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await createCitizen(db, budi)
    const disabled = await createCitizen(db, siti)
    await setCitizenStatus(db, disabled.id, 'disabled')
    const { password: _, ...noPassword } = {
      ...siti,
      nik: '3201011201920003',
      birthDate: '1992-01-12',
      gender: 'male',
      email: 'tanpa@contoh.id',
      phone: '081311112222',
    }
    await createCitizen(db, noPassword)

    const outcomes: Array<{ what: string; result: unknown; calls: { verify: number; dummy: number } }> = []
    for (const [what, identifier, password] of [
      ['wrong password', budi.nik, 'bukan kata sandinya'],
      ['unknown NIK', '3201011201900009', PASSWORD],
      ['unknown email', 'siapa@contoh.id', PASSWORD],
      ['not an identifier at all', "' OR 1=1 --", PASSWORD],
      ['disabled account, right password', siti.nik, siti.password as string],
      ['account without a password', '3201011201920003', PASSWORD],
    ] as const) {
      const { calls, hasher } = countingHasher()
      const result = await authenticateCitizen(db, identifier, password, { passwords: hasher, ip: '192.0.2.1' })
      outcomes.push({ what, result, calls: { verify: calls.verify, dummy: calls.dummy } })
    }
    for (const o of outcomes) {
      t.strictSame(o.result, { ok: false, reason: 'invalid_credentials' }, `${o.what}: the same result`)
      t.equal(o.calls.verify + o.calls.dummy, 1, `${o.what}: exactly one argon2 verification`)
    }
    t.strictSame(outcomes[0]?.calls, { verify: 1, dummy: 0 }, 'a wrong password is checked against the real hash')
    t.ok(
      outcomes.slice(1).every((o) => o.calls.dummy === 1),
      'the others against the dummy hash',
    )
  })
})

t.test('refuses an oversized password before any argon2 work', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await createCitizen(db, budi)
    const { calls, hasher } = countingHasher()
    await t.rejects(authenticateCitizen(db, budi.nik, 'x'.repeat(10 * 1024 * 1024), { passwords: hasher }), {
      code: 'password_too_long',
    })
    t.strictSame(calls, { hash: 0, verify: 0, dummy: 0 })
  })
})

t.test('after the fifth failure sign-in is throttled with a retry time, even with the right password', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await signUp(db, budi)
    const options = (s: number) => ({ ip: '192.0.2.1', now: at(s) })
    for (let i = 1; i <= 5; i++) {
      t.strictSame(await authenticateCitizen(db, budi.nik, `salah ${i} kali ya`, options(i)), {
        ok: false,
        reason: 'invalid_credentials',
      })
    }
    const { calls, hasher } = countingHasher()
    t.strictSame(await authenticateCitizen(db, budi.nik, PASSWORD, { ...options(10), passwords: hasher }), {
      ok: false,
      reason: 'throttled',
      retryAfterSeconds: 25,
      permanent: false,
    })
    t.equal(calls.verify + calls.dummy, 0, 'no hashing while locked')
    t.match(
      await authenticateCitizen(db, budi.nik, PASSWORD, options(36)),
      { ok: true },
      'after the lock, the right password works',
    )
    t.equal(
      await db.selectFrom('login_attempts').select('key').where('key', '=', accountKey(citizen.id)).executeTakeFirst(),
      undefined,
      'and the account counter is cleared',
    )
    const events = (await listAuditForSubject(db, citizen.id)).map((e) => e.event)
    t.strictSame(events.slice(0, 3), ['auth.login.succeeded', 'auth.login.throttled', 'auth.login.failed'])
  })
})

t.test('an unknown identifier is throttled exactly like a real account', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await createCitizen(db, budi)
    const known: unknown[] = []
    const unknown: unknown[] = []
    for (let i = 1; i <= 7; i++) {
      known.push(await authenticateCitizen(db, budi.nik, 'bukan kata sandinya', { now: at(i) }))
      unknown.push(await authenticateCitizen(db, '3201011201900009', 'bukan kata sandinya', { now: at(i) }))
    }
    t.strictSame(unknown, known)
    t.match(known[6], { reason: 'throttled' })
  })
})

t.test('a password hashed with older parameters is rehashed at sign-in', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await signUp(db, budi)
    const old = await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 })
    await db.updateTable('citizens').set({ password_hash: old }).where('id', '=', citizen.id).execute()
    t.match(await authenticateCitizen(db, budi.nik, PASSWORD), { ok: true })
    const row = await db
      .selectFrom('citizens')
      .select('password_hash')
      .where('id', '=', citizen.id)
      .executeTakeFirstOrThrow()
    t.not(row.password_hash, old)
    t.equal(hashNeedsRehash(row.password_hash as string), false)
    t.match(await authenticateCitizen(db, budi.nik, PASSWORD), { ok: true }, 'the new hash verifies')
  })
})

t.test('tells the caller when a password that still verifies would no longer be accepted', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await signUp(db, { ...budi, password: 'cianjur2024!' })
    t.match(await authenticateCitizen(db, budi.nik, 'cianjur2024!', { regencyName: 'Cianjur' }), {
      ok: true,
      weakPassword: 'uses_regency',
    })
  })
})

t.test('a new password is checked, hashed, audited and lifts a lock', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await signUp(db, budi)
    for (let i = 1; i <= 6; i++) await authenticateCitizen(db, budi.nik, 'bukan kata sandinya', { now: at(i) })
    await t.rejects(setCitizenPassword(db, citizen.id, 'Budi Santoso 1990', { regencyName: 'Sukamaju' }), {
      code: 'password_weak',
      reason: 'uses_name',
    })
    await setCitizenPassword(db, citizen.id, 'jeruk nipis manis sekali', { regencyName: 'Sukamaju', now: at(7) })
    t.match(
      await authenticateCitizen(db, budi.nik, 'jeruk nipis manis sekali', { now: at(8) }),
      { ok: true },
      'no longer locked',
    )
    t.match(await authenticateCitizen(db, budi.nik, PASSWORD, { now: at(9) }), {
      ok: false,
      reason: 'invalid_credentials',
    })
    t.same((await findCitizenById(db, citizen.id))?.passwordChangedAt, at(7))
    t.ok((await listAuditForSubject(db, citizen.id)).some((e) => e.event === 'account.password_changed'))
    await t.rejects(
      setCitizenPassword(db, '00000000-0000-4000-8000-000000000000', 'jeruk nipis manis sekali', {
        regencyName: 'Sukamaju',
      }),
      {
        code: 'account_not_found',
      },
    )
  })
})

t.test('marks an email or phone verified only while it is still the one the code went to', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await createCitizen(db, budi)
    t.equal(await markEmailVerified(db, citizen.id, 'lain@contoh.id'), false)
    t.equal(await markEmailVerified(db, citizen.id, 'Budi@contoh.id'), true)
    t.equal(await markPhoneVerified(db, citizen.id, '0812 3456 7890'), true)
    t.match(await findCitizenById(db, citizen.id), { emailVerified: true, phoneVerified: true })
  })
})

t.test('a changed email or phone is unverified again', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await createCitizen(db, budi)
    await createCitizen(db, siti)
    await markEmailVerified(db, citizen.id, budi.email as string)
    await markPhoneVerified(db, citizen.id, budi.phone as string)
    const updated = await updateProfile(db, citizen.id, { name: 'Budi  Santoso Jr.', email: 'budi.baru@contoh.id' })
    t.match(updated, {
      name: 'Budi Santoso Jr.',
      email: 'budi.baru@contoh.id',
      emailVerified: false,
      phoneVerified: true,
    })
    await t.rejects(updateProfile(db, citizen.id, { email: null, phone: null }), { code: 'contact_required' })
    const noEmail = await updateProfile(db, citizen.id, { email: null })
    t.match(noEmail, { email: null, phone: '+6281234567890' })
    const changes = (await listAuditForSubject(db, citizen.id)).filter((e) => e.event === 'account.profile_changed')
    t.strictSame(
      changes.map((e) => e.data),
      [{ fields: ['email'] }, { fields: ['name', 'email'] }],
    )
  })
})

t.test('a disabled citizen cannot sign in; enabling restores it; both are audited', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await signUp(db, budi)
    t.equal(
      await setCitizenStatus(db, citizen.id, 'disabled', { actor: 'officer:00000000-0000-4000-8000-000000000001' }),
      true,
    )
    t.equal(await setCitizenStatus(db, citizen.id, 'disabled'), false, 'no change, no entry')
    t.strictSame(await authenticateCitizen(db, budi.nik, PASSWORD), { ok: false, reason: 'invalid_credentials' })
    await setCitizenStatus(db, citizen.id, 'active')
    t.match(await authenticateCitizen(db, budi.nik, PASSWORD), { ok: true })
    const events = (await listAuditForSubject(db, citizen.id)).map((e) => e.event)
    t.ok(events.includes('account.disabled') && events.includes('account.enabled'))
  })
})
