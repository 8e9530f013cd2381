// Akun Saya's identity section (issue 14), in plain Bahasa Indonesia: the level in words,
// and the NIK's state with what to do: not verified yet (where to go), verified (where and
// when), or verified on another account (why this one does not carry it).
import t from 'tap'
import { createCitizen, markEmailVerified } from '../../src/accounts/citizens.ts'
import { addCitizen, budi, proveInPerson } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, signInAt, startIdp } from '../helpers/idp.ts'

/** The identity card's text, tags removed. */
function identitySection(html: string): string {
  const m = /<section class="card" aria-labelledby="akun-identitas">([\s\S]*?)<\/section>/.exec(html)
  return (m?.[1] ?? '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
}

t.test('Akun Saya says how well the identity was proven, and what to do', async (t) => {
  await eachDatabase(t, async (t, db) => {
    const { issuer } = await startIdp(t, db)
    const owner = await addCitizen(db.db)
    const other = await createCitizen(db.db, {
      ...budi,
      name: 'Orang Lain',
      email: 'lain@contoh.id',
      phone: '081311112222',
      regencyName: 'Sukamaju',
    })
    await markEmailVerified(db.db, other.id, 'lain@contoh.id')

    const before = await signInAt(new Browser(), `${issuer}/akun`, issuer, { nik: budi.email, password: budi.password })
    const claimed = identitySection(before.html)
    t.match(claimed, 'Tingkat identitas akun Anda: E-mail atau nomor HP sudah diverifikasi.')
    t.match(claimed, 'NIK belum terverifikasi')
    t.match(claimed, 'loket Mal Pelayanan Publik (MPP) atau ke mobil layanan keliling')

    await proveInPerson(db.db, owner.id, 'MPP Sukamaju, loket 2')
    const after = await signInAt(new Browser(), `${issuer}/akun`, issuer, { nik: budi.nik, password: budi.password })
    const proven = identitySection(after.html)
    t.match(proven, 'Diperiksa petugas dengan KTP-el')
    t.match(proven, 'NIK terverifikasi')
    t.match(proven, /Petugas memeriksa KTP-el Anda di MPP Sukamaju, loket 2 pada \d{1,2} \w+ \d{4}\./)
    t.notMatch(proven, 'belum terverifikasi')

    const withdrawn = identitySection(
      (await signInAt(new Browser(), `${issuer}/akun`, issuer, { nik: 'lain@contoh.id', password: budi.password }))
        .html,
    )
    t.match(withdrawn, 'NIK tidak tercatat pada akun ini')
    t.match(withdrawn, 'sudah diverifikasi petugas pada akun lain')
    t.match(withdrawn, 'loket Mal Pelayanan Publik')
  })
})
