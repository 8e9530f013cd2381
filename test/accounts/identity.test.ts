// Identity proofing (issue 14): a NIK is only claimed until an officer proves it in person;
// an unproven claim never blocks anyone; a proof moves the NIK to one account and tells the
// others; an account signs in only with a verified contact; a NIK typed at sign-in stands
// for its proven holder, else its one claimant, else for nobody.
import type { Kysely } from 'kysely'
import t from 'tap'
import {
  authenticateCitizen,
  createCitizen,
  findCitizenById,
  markEmailVerified,
  type NewCitizenInput,
  setCitizenStatus,
} from '../../src/accounts/citizens.ts'
import { accountIdentity, identityLevelOf, meetsIdentity, proveIdentityInPerson } from '../../src/accounts/identity.ts'
import { createOfficer, setOfficerStatus } from '../../src/accounts/officers.ts'
import type { PasswordHasher } from '../../src/accounts/passwords.ts'
import { listAuditForSubject } from '../../src/audit/audit.ts'
import type { Database } from '../../src/db/database.ts'
import { eachDatabase } from '../helpers/db.ts'

const quickHasher: PasswordHasher = {
  hashPassword: async (p) => `test:${p}`,
  verifyPassword: async (h, p) => ({ ok: h === `test:${p}`, needsRehash: false }),
  verifyAgainstDummy: async () => false,
}

const nik = '3201011201900001'
const owner: NewCitizenInput = {
  nik,
  name: 'Budi Santoso',
  birthDate: '1990-01-12',
  gender: 'male',
  email: 'budi@contoh.id',
  phone: null,
  password: 'kopi tubruk di teras rumah',
  regencyName: 'Sukamaju',
}
const stranger: NewCitizenInput = {
  ...owner,
  name: 'Orang Lain',
  email: 'lain@contoh.id',
  password: 'layang layang merah di sawah',
}

async function register(db: Kysely<Database>, input: NewCitizenInput, verified = true) {
  const c = await createCitizen(db, input, { passwords: quickHasher })
  if (verified) await markEmailVerified(db, c.id, input.email as string)
  return c
}

async function officer(db: Kysely<Database>) {
  return createOfficer(
    db,
    {
      username: 'petugas.rina',
      name: 'Rina Petugas',
      roles: ['counter_officer'],
      password: 'meja loket nomor tiga biru',
      regencyName: 'Sukamaju',
    },
    { passwords: quickHasher },
  )
}

const signIn = (db: Kysely<Database>, identifier: string, password: string) =>
  authenticateCitizen(db, identifier, password, { passwords: quickHasher, regencyName: 'Sukamaju' })

t.test('the identity level follows the facts, and dukcapil ranks with in_person', async (t) => {
  const none = { emailVerified: false, phoneVerified: false, nikStatus: 'claimed' as const, proofLevels: [] }
  t.equal(identityLevelOf(none), 'self_asserted')
  t.equal(identityLevelOf({ ...none, phoneVerified: true }), 'contact_verified')
  t.equal(identityLevelOf({ ...none, nikStatus: 'proven', proofLevels: ['in_person'] }), 'in_person')
  t.equal(identityLevelOf({ ...none, nikStatus: 'proven', proofLevels: ['in_person', 'dukcapil'] }), 'dukcapil')
  t.equal(
    identityLevelOf({ ...none, emailVerified: true, nikStatus: 'withdrawn', proofLevels: ['in_person'] }),
    'contact_verified',
    'a proof counts only while the NIK is held proven',
  )
  t.ok(meetsIdentity('dukcapil', 'in_person'))
  t.ok(meetsIdentity('in_person', 'dukcapil'))
  t.notOk(meetsIdentity('contact_verified', 'in_person'))
  t.notOk(meetsIdentity('toString', 'self_asserted'), 'an inherited key is no level')
  t.notOk(meetsIdentity(undefined, 'self_asserted'))
})

t.test('an account may not sign in before a contact is verified; the right password is told so', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const c = await register(db, owner, false)
    const refused = await signIn(db, owner.email as string, owner.password as string)
    t.strictSame(refused, { ok: false, reason: 'invalid_credentials' }, 'an unverified e-mail names no account')
    const byNik = await signIn(db, nik, owner.password as string)
    t.match(byNik, { ok: false, reason: 'contact_unverified', citizen: { id: c.id } }, 'the one claimant, by its NIK')
    t.strictSame(await signIn(db, nik, 'bukan kata sandinya'), { ok: false, reason: 'invalid_credentials' })
    await markEmailVerified(db, c.id, owner.email as string)
    t.match(await signIn(db, nik, owner.password as string), { ok: true, citizen: { id: c.id } })
    t.match(await signIn(db, owner.email as string, owner.password as string), { ok: true })
    const events = await listAuditForSubject(db, c.id)
    t.ok(
      events.some(
        (e) => e.event === 'auth.login.failed' && (e.data as { reason?: string })?.reason === 'contact_unverified',
      ),
      'the refusal is in the audit trail',
    )
  })
})

t.test(
  'two accounts claim one NIK; a NIK sign-in finds the one with a verified contact, or nobody; a proof moves the NIK and tells the other',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const intruder = await register(db, stranger)
      const real = await register(db, owner, false)
      t.equal(intruder.nikStatus, 'claimed')
      t.equal(real.nikStatus, 'claimed', 'an unproven claim blocks nobody')

      // Only the intruder has a verified contact: the NIK stands for that account.
      t.match(await signIn(db, nik, stranger.password as string), { ok: true, citizen: { id: intruder.id } })
      // Both verified: the NIK is ambiguous and names nobody; each signs in by e-mail.
      await markEmailVerified(db, real.id, owner.email as string)
      t.strictSame(await signIn(db, nik, owner.password as string), { ok: false, reason: 'invalid_credentials' })
      t.strictSame(await signIn(db, nik, stranger.password as string), { ok: false, reason: 'invalid_credentials' })
      t.match(await signIn(db, owner.email as string, owner.password as string), { ok: true, citizen: { id: real.id } })
      t.equal((await accountIdentity(db, real.id))?.level, 'contact_verified')

      // The owner shows the KTP-el at the counter.
      const rina = await officer(db)
      const result = await proveIdentityInPerson(
        db,
        { citizenId: real.id, officerId: rina.id, location: 'MPP Sukamaju, loket 2', evidence: 'ktp_el' },
        { ip: '192.0.2.9' },
      )
      t.strictSame(result, { withdrawn: [intruder.id] })
      t.equal((await findCitizenById(db, real.id))?.nikStatus, 'proven')
      t.equal((await findCitizenById(db, intruder.id))?.nikStatus, 'withdrawn')
      const identity = await accountIdentity(db, real.id)
      t.match(identity, {
        level: 'in_person',
        nikStatus: 'proven',
        proof: {
          level: 'in_person',
          evidenceType: 'ktp_el',
          verifier: 'officer',
          officerId: rina.id,
          location: 'MPP Sukamaju, loket 2',
          trustFramework: 'id_satupintu',
        },
      })
      t.match(await accountIdentity(db, intruder.id), {
        level: 'contact_verified',
        nikStatus: 'withdrawn',
        proof: null,
      })

      // The NIK now stands for the proven account, whatever else claims it.
      t.match(await signIn(db, nik, owner.password as string), { ok: true, citizen: { id: real.id } })
      t.strictSame(await signIn(db, nik, stranger.password as string), { ok: false, reason: 'invalid_credentials' })
      t.match(
        await signIn(db, stranger.email as string, stranger.password as string),
        { ok: true, citizen: { id: intruder.id } },
        'the withdrawn account still signs in with its own e-mail',
      )

      // Each is told, in Bahasa Indonesia, without the NIK.
      const mail = await db.selectFrom('outbox').select(['recipient', 'kind', 'body']).orderBy('created_at').execute()
      const toIntruder = mail.find((m) => m.recipient === 'lain@contoh.id' && m.kind === 'nik_withdrawn')
      t.match(toIntruder?.body, /tidak lagi tercatat pada akun Anda/)
      t.match(toIntruder?.body, /loket Mal Pelayanan Publik/)
      t.notMatch(toIntruder?.body, nik, 'no NIK in a notice')
      const toOwner = mail.find((m) => m.recipient === 'budi@contoh.id' && m.kind === 'identity_proven')
      t.match(toOwner?.body, /MPP Sukamaju, loket 2/)

      t.ok(
        (await listAuditForSubject(db, real.id)).some(
          (e) => e.event === 'account.identity_proven' && e.actor === `officer:${rina.id}`,
        ),
        'audited, with the officer',
      )
      t.ok((await listAuditForSubject(db, intruder.id)).some((e) => e.event === 'account.nik_withdrawn'))

      // The withdrawn account cannot be proven over the holder; a later registration is born withdrawn.
      await t.rejects(
        proveIdentityInPerson(db, { citizenId: intruder.id, officerId: rina.id, location: 'MPP', evidence: 'ktp_el' }),
        { code: 'nik_proven_elsewhere' },
      )
      const late = await register(db, { ...stranger, email: 'telat@contoh.id' })
      t.equal(late.nikStatus, 'withdrawn', 'a registration of a proven NIK is allowed, without the NIK')
      t.match(await signIn(db, nik, owner.password as string), { ok: true, citizen: { id: real.id } })
    })
  },
)

t.test('the partial unique index keeps one proven holder even without the check', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const a = await register(db, owner)
    const b = await register(db, stranger)
    await db.updateTable('citizens').set({ nik_status: 'proven' }).where('id', '=', a.id).execute()
    await t.rejects(db.updateTable('citizens').set({ nik_status: 'proven' }).where('id', '=', b.id).execute(), {
      code: '23505',
    })
  })
})

t.test(
  'only an active counter officer proves an identity: a disabled one, or one without the counter role, is refused',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const citizen = await register(db, owner)
      const admin = await createOfficer(
        db,
        {
          username: 'admin.sistem',
          name: 'Andi Admin',
          roles: ['system_admin'],
          password: 'meja loket nomor tiga biru',
          regencyName: 'Sukamaju',
        },
        { passwords: quickHasher },
      )
      const prove = (officerId: string) =>
        proveIdentityInPerson(db, { citizenId: citizen.id, officerId, location: 'MPP Sukamaju', evidence: 'ktp_el' })
      await t.rejects(prove(admin.id), { code: 'officer_not_allowed' }, 'no counter role')
      const rina = await officer(db)
      await setOfficerStatus(db, rina.id, 'disabled')
      await t.rejects(prove(rina.id), { code: 'officer_not_allowed' }, 'a disabled officer')
      await t.rejects(prove('7c9e6679-7425-40de-944b-e07fc1f90ae7'), { code: 'officer_not_allowed' }, 'no such officer')
      t.equal((await accountIdentity(db, citizen.id))?.level, 'contact_verified', 'nothing was proven')
      await setOfficerStatus(db, rina.id, 'active')
      await prove(rina.id)
      t.equal((await accountIdentity(db, citizen.id))?.level, 'in_person')
    })
  },
)

t.test(
  'a disabled account does not keep a NIK: it stands for no sign-in, and the real holder proven in person takes it',
  async (t) => {
    await eachDatabase(t, async (t, { db }) => {
      const rina = await officer(db)
      const impostor = await register(db, stranger)
      const real = await register(db, { ...owner, email: 'budi.asli@contoh.id' })
      await proveIdentityInPerson(db, {
        citizenId: impostor.id,
        officerId: rina.id,
        location: 'MPP Sukamaju',
        evidence: 'ktp_el',
      })
      await t.rejects(
        proveIdentityInPerson(db, { citizenId: real.id, officerId: rina.id, location: 'MPP', evidence: 'ktp_el' }),
        { code: 'nik_proven_elsewhere' },
        'while the impostor is active, the proof is not moved at the counter',
      )
      await setCitizenStatus(db, impostor.id, 'disabled', { actor: 'cli' })
      const bynik = await signIn(db, nik, stranger.password as string)
      t.notOk(bynik.ok, 'the disabled holder does not sign in by NIK')
      const result = await proveIdentityInPerson(db, {
        citizenId: real.id,
        officerId: rina.id,
        location: 'MPP Sukamaju, loket 3',
        evidence: 'ktp_el',
      })
      t.same(result.withdrawn, [impostor.id], "the disabled account's proof is withdrawn")
      t.equal((await findCitizenById(db, impostor.id))?.nikStatus, 'withdrawn')
      t.equal((await accountIdentity(db, real.id))?.level, 'in_person')
      t.ok((await signIn(db, nik, owner.password as string)).ok, 'and the NIK signs the real holder in')
    })
  },
)
