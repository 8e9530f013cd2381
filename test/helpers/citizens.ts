import type { Kysely } from 'kysely'
import { createCitizen, findCitizenById, markEmailVerified } from '../../src/accounts/citizens.ts'
import { proveIdentityInPerson } from '../../src/accounts/identity.ts'
import { createOfficer } from '../../src/accounts/officers.ts'
import type { Database } from '../../src/db/database.ts'

/** A valid male NIK for 12 Jan 1990 in Kabupaten Bogor (32.01), serial 0001. */
export const budi = {
  nik: '3201011201900001',
  name: 'Budi Santoso',
  birthDate: '1990-01-12',
  gender: 'male' as const,
  email: 'budi@contoh.id',
  phone: '081234567890',
  password: 'kopi tubruk di teras rumah',
}

/** A valid female NIK (day + 40) for 3 Mar 1985, serial 0002. */
export const siti = {
  nik: '3201014303850002',
  name: 'Siti Aminah',
  birthDate: '1985-03-03',
  gender: 'female' as const,
  email: 'siti@contoh.id',
  phone: '081298765432',
  password: 'sepeda biru ke pasar pagi',
}

/**
 * Registers a citizen with its e-mail verified, as a citizen who finished registering has
 * it: an account may not sign in before a contact is verified (issue 14). `verified:
 * false` leaves it as a registration that stopped before the code.
 */
export async function addCitizen(
  db: Kysely<Database>,
  who: typeof budi | typeof siti = budi,
  options: { verified?: boolean } = {},
) {
  const citizen = await createCitizen(db, { ...who, regencyName: 'Sukamaju' })
  if (options.verified === false) return citizen
  await markEmailVerified(db, citizen.id, who.email)
  const verified = await findCitizenById(db, citizen.id)
  if (verified === undefined) throw new Error('the citizen just added is gone')
  return verified
}

/**
 * An officer checks the citizen's KTP-el at the counter (issue 14): the account holds its
 * NIK proven, and the NIK and verified claims are released from it. Makes the officer.
 */
export async function proveInPerson(db: Kysely<Database>, citizenId: string, location = 'MPP Sukamaju, loket 2') {
  const officer = await createOfficer(db, {
    username: `petugas.${citizenId.slice(0, 8)}`,
    name: 'Rina Petugas',
    roles: ['counter_officer'],
    password: 'meja loket nomor tiga biru',
    regencyName: 'Sukamaju',
  })
  return proveIdentityInPerson(db, { citizenId, officerId: officer.id, location, evidence: 'ktp_el' })
}
