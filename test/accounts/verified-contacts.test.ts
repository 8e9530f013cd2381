// SECURITY.md line 37: only verified contacts identify an account; an unverified one
// blocks nobody; registration does not tell a stranger whether a contact is registered.
import t from 'tap'
import {
  authenticateCitizen,
  createCitizen,
  findCitizenByIdentifier,
  markEmailVerified,
  markPhoneVerified,
  updateProfile,
} from '../../src/accounts/citizens.ts'
import { classifyIdentifier } from '../../src/accounts/identifiers.ts'
import { budi, siti } from '../helpers/citizens.ts'
import { eachDatabase } from '../helpers/db.ts'
import { Browser, csrfFrom, formAction, startIdp } from '../helpers/idp.ts'

const context = { ip: '192.0.2.10', regencyName: 'Sukamaju' }

t.test('SECURITY 37: an unverified e-mail or phone cannot be used to sign in; once verified it can', async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    const citizen = await createCitizen(db, { ...budi, regencyName: 'Sukamaju' })
    for (const identifier of [budi.email, budi.phone]) {
      const r = await authenticateCitizen(db, identifier, budi.password, context)
      t.strictSame(r, { ok: false, reason: 'invalid_credentials' }, `${identifier}: not an identifier while unverified`)
    }
    t.equal(await findCitizenByIdentifier(db, classifyIdentifier(budi.email)), undefined)
    t.match(
      await authenticateCitizen(db, budi.nik, budi.password, context),
      { ok: false, reason: 'contact_unverified' },
      'the NIK finds the account, which may not sign in before a contact is verified (issue 14)',
    )
    await markEmailVerified(db, citizen.id, budi.email)
    await markPhoneVerified(db, citizen.id, budi.phone)
    for (const identifier of [budi.email, budi.phone]) {
      t.match(
        await authenticateCitizen(db, identifier, budi.password, context),
        { ok: true, citizen: { id: citizen.id } },
        `${identifier}: verified`,
      )
    }
  })
})

t.test("SECURITY 37: an unverified claim on someone's e-mail and phone never blocks the real owner", async (t) => {
  await eachDatabase(t, async (t, { db }) => {
    // A stranger registers with Siti's e-mail address and phone number.
    const stranger = await createCitizen(db, { ...budi, email: siti.email, phone: siti.phone, regencyName: 'Sukamaju' })
    // Siti registers with her own: not refused.
    const owner = await createCitizen(db, { ...siti, regencyName: 'Sukamaju' })
    t.equal(owner.email, siti.email)
    // She verifies them (she has the codes): they are hers.
    t.equal(await markEmailVerified(db, owner.id, siti.email), true)
    t.equal(await markPhoneVerified(db, owner.id, siti.phone), true)
    // The stranger's claim can no longer be verified, and signs nobody in.
    await t.rejects(markEmailVerified(db, stranger.id, siti.email), { code: 'email_taken' })
    await t.rejects(markPhoneVerified(db, stranger.id, siti.phone), { code: 'phone_taken' })
    t.match(await authenticateCitizen(db, siti.email, siti.password, context), { ok: true, citizen: { id: owner.id } })
    t.match(
      await authenticateCitizen(db, siti.email, budi.password, context),
      { ok: false },
      "the stranger's password is no way in",
    )
    // Claiming a verified address on another account (Akun Saya) is not refused either: it stays unverified there.
    const claimed = await updateProfile(db, stranger.id, { email: siti.email })
    t.match(claimed, { email: siti.email, emailVerified: false })
  })
})

t.test(
  'SECURITY 37: registering with an e-mail address verified on another account answers exactly as with a new one',
  async (t) => {
    await eachDatabase(t, async (t, db) => {
      const { issuer } = await startIdp(t, db)
      const owner = await createCitizen(db.db, { ...siti, regencyName: 'Sukamaju' })
      await markEmailVerified(db.db, owner.id, siti.email)

      async function register(email: string): Promise<{ status: number; location: string | null; page: string }> {
        const browser = new Browser()
        const form = await (await browser.request(`${issuer}/daftar`)).text()
        const res = await browser.request(new URL(formAction(form, '/daftar'), issuer).toString(), {
          form: {
            _csrf: csrfFrom(form),
            nik: budi.nik,
            name: budi.name,
            day: '12',
            month: '1',
            year: '1990',
            gender: 'male',
            email,
            phone: '',
            password: budi.password,
            password2: budi.password,
          },
        })
        const location = res.headers.get('location')
        const next = location ? await browser.request(new URL(location, issuer).toString()) : res
        const page = (await next.text())
          .replace(/name="_csrf" value="[^"]+"/g, '')
          .replace(/[a-z]\*\*\*@contoh\.id/g, 'X')
        return { status: res.status, location, page }
      }

      const taken = await register(siti.email)
      // A fresh database state for the comparison: the first registration's NIK is now taken,
      // so remove it again (what is compared is the answer to the contact, not the NIK).
      await db.db.deleteFrom('citizens').where('nik', '=', budi.nik).execute()
      const fresh = await register('orang.baru@contoh.id')
      t.equal(taken.status, 303)
      t.equal(taken.status, fresh.status, 'the same status')
      t.equal(taken.location, fresh.location, 'the same next step')
      t.equal(taken.page.replace(/requestId[^<]*/g, ''), fresh.page.replace(/requestId[^<]*/g, ''), 'the same page')
      t.notMatch(taken.page, /sudah dipakai/, 'no word of the other account')
    })
  },
)
