import t from 'tap'
import {
  authenticateOfficer,
  createOfficer,
  findOfficerById,
  findOfficerByUsername,
  setOfficerStatus,
  validateRoles,
  type NewOfficerInput,
} from '../../src/accounts/officers.ts'
import { argon2Hasher, type PasswordHasher } from '../../src/accounts/passwords.ts'
import { eachDatabase } from '../helpers/db.ts'

const PASSWORD = 'Petugas loket yang ramah'
const T0 = new Date('2026-11-27T08:00:00.000Z')
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000)

const rina: NewOfficerInput = {
  username: 'Rina.Loket',
  name: 'Rina Wulandari',
  roles: ['counter_officer'],
  password: PASSWORD,
  regencyName: 'Sukamaju',
}

function countingHasher(): { calls: { verify: number; dummy: number }; hasher: PasswordHasher } {
  const calls = { verify: 0, dummy: 0 }
  return {
    calls,
    hasher: {
      hashPassword: argon2Hasher.hashPassword,
      verifyPassword: async (h, p) => (calls.verify++, argon2Hasher.verifyPassword(h, p)),
      verifyAgainstDummy: async (p) => (calls.dummy++, argon2Hasher.verifyAgainstDummy(p)),
    },
  }
}

t.test('validates roles: at least one, known, no duplicates, in canonical order', async (t) => {
  t.strictSame(validateRoles(['system_admin', 'counter_officer']), ['counter_officer', 'system_admin'])
  for (const roles of [[], ['root'], ['counter_officer', 'counter_officer']]) {
    t.throws(() => validateRoles(roles), { code: 'roles_invalid' }, JSON.stringify(roles))
  }
})

t.test('creates an officer with a normalised username and an audit entry', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const { enrolment, ...officer } = await createOfficer(db, rina, { actor: 'cli' })
    t.match(enrolment.code, /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/)
    t.match(officer, {
      username: 'rina.loket',
      name: 'Rina Wulandari',
      roles: ['counter_officer'],
      agencyId: null,
      status: 'active',
    })
    t.strictSame(await findOfficerByUsername(db, ' RINA.LOKET '), officer)
    t.strictSame(await findOfficerById(db, officer.id), officer)
    const audit = await db.selectFrom('audit_events').selectAll().orderBy('at').orderBy('id').execute()
    t.equal(audit.length, 2)
    t.match(
      audit.find((a) => a.event === 'officer.created'),
      { actor: 'cli', subject_id: null, data: { officerId: officer.id, roles: ['counter_officer'] } },
    )
    t.match(
      audit.find((a) => a.event === 'officer.enrolment_code_issued'),
      { actor: 'cli', subject_id: null, data: { officerId: officer.id } },
    )
    t.notMatch(JSON.stringify(audit), enrolment.code.replace(/-/g, ''), 'the code is in no audit entry')
  })
})

t.test(
  'refuses a bad username, unknown roles, an agency admin without agency, a weak password, a taken username',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      await createOfficer(db, rina)
      await t.rejects(createOfficer(db, { ...rina, username: 'x' }), { code: 'username_invalid' })
      await t.rejects(createOfficer(db, { ...rina, username: 'rina loket' }), { code: 'username_invalid' })
      await t.rejects(createOfficer(db, { ...rina, username: 'b', roles: ['superuser'] }), { code: 'username_invalid' })
      await t.rejects(createOfficer(db, { ...rina, username: 'budi', roles: ['superuser'] }), { code: 'roles_invalid' })
      await t.rejects(createOfficer(db, { ...rina, username: 'budi', roles: ['agency_admin'] }), {
        code: 'agency_required',
      })
      await t.rejects(createOfficer(db, { ...rina, username: 'budi', password: 'sukamaju123' }), {
        code: 'password_weak',
      })
      await t.rejects(createOfficer(db, { ...rina, username: 'RINA.loket' }), { code: 'username_taken' })
      const admin = await createOfficer(db, {
        ...rina,
        username: 'admin.dukcapil',
        roles: ['agency_admin'],
        agencyId: 'dukcapil',
      })
      t.match(admin, { roles: ['agency_admin'], agencyId: 'dukcapil' })
      t.equal((await db.selectFrom('officers').select('id').execute()).length, 2)
    })
  },
)

t.test('signs an officer in; unknown, disabled and wrong password look the same', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const officer = await createOfficer(db, rina)
    t.match(await authenticateOfficer(db, 'rina.loket', PASSWORD), { ok: true, officer: { id: officer.id } })

    const wrong = countingHasher()
    const unknown = countingHasher()
    const r1 = await authenticateOfficer(db, 'rina.loket', 'bukan kata sandinya', { passwords: wrong.hasher })
    const r2 = await authenticateOfficer(db, 'tidak.ada', 'bukan kata sandinya', { passwords: unknown.hasher })
    t.strictSame(r1, { ok: false, reason: 'invalid_credentials' })
    t.strictSame(r2, r1)
    t.strictSame(wrong.calls, { verify: 1, dummy: 0 })
    t.strictSame(unknown.calls, { verify: 0, dummy: 1 })

    await setOfficerStatus(db, officer.id, 'disabled')
    const disabled = countingHasher()
    t.strictSame(await authenticateOfficer(db, 'rina.loket', PASSWORD, { passwords: disabled.hasher }), r1)
    t.strictSame(disabled.calls, { verify: 0, dummy: 1 })
  })
})

t.test('officer sign-in is throttled after the fifth failure', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    await createOfficer(db, rina)
    for (let i = 1; i <= 5; i++)
      await authenticateOfficer(db, 'rina.loket', 'bukan kata sandinya', { ip: '192.0.2.1', now: at(i) })
    t.strictSame(await authenticateOfficer(db, 'rina.loket', PASSWORD, { ip: '192.0.2.1', now: at(6) }), {
      ok: false,
      reason: 'throttled',
      retryAfterSeconds: 29,
      permanent: false,
    })
    t.match(await authenticateOfficer(db, 'rina.loket', PASSWORD, { ip: '192.0.2.1', now: at(40) }), { ok: true })
  })
})
